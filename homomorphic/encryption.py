"""Safe recipes: encrypt and decrypt single values and batches, as ordinary ``phe`` ciphertexts.

``encrypt`` returns a ``phe.EncryptedNumber`` (encoded with ``phe``'s ``EncodedNumber``, so
stock ``phe.PaillierPrivateKey.decrypt`` opens it to the same int or float), but draws its random
factor from the DJN fixed-base table instead of ``phe``'s full ``r^n mod n²``. ``decrypt``
decrypts with CRT and opens stock ``phe`` ciphertexts as well. ``encrypt_raw``/``decrypt_raw``
work on plaintext ints in [0, n) and ciphertext ints. Every ciphertext from outside is validated
first (:func:`validate_ciphertext`); a rejected one raises the opaque ``MalformedCiphertext``.

Exponent length: by default ``|n|/2`` bits (DJN). ``exponent_bits=`` may shorten it, but not
below ``MIN_EXPONENT_BITS`` (256, twice the 128-bit security level: generic discrete-log
methods find a k-bit exponent in about 2^(k/2) steps) unless ``allow_insecure=True``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from concurrent.futures import Executor
from decimal import Decimal
from typing import Any

import phe

from homomorphic import _gmp, hazmat
from homomorphic._batch import map_chunks
from homomorphic.encoding import FixedPoint, Number, from_signed_plaintext, to_signed_plaintext
from homomorphic.errors import (
    EmptyInput,
    InvalidValue,
    MalformedCiphertext,
    Overflow,
    PlaintextTooLarge,
)
from homomorphic.keys import PrivateKey, PublicKey, Rng, random_bits

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_PHE_EXPONENT",
    "MIN_EXPONENT_BITS",
    "decrypt",
    "decrypt_many",
    "decrypt_raw",
    "encrypt",
    "encrypt_many",
    "encrypt_raw",
    "exponent_bits_for",
    "rerandomize",
    "rerandomize_raw",
    "validate_ciphertext",
    "validate_number",
]

MIN_EXPONENT_BITS = 256
DEFAULT_CHUNK_SIZE = 256
MAX_PHE_EXPONENT = 4096  # |exponent| of a received phe number: floats need about 300


def exponent_bits_for(
    public_key: PublicKey, exponent_bits: int | None = None, *, allow_insecure: bool = False
) -> int:
    """The random-exponent length to use: ``|n|/2`` by default (DJN); an explicit shorter one
    of at least MIN_EXPONENT_BITS, or anything from 1 with ``allow_insecure=True``."""
    if exponent_bits is None:
        return (public_key.bits + 1) // 2
    if type(exponent_bits) is not int or not 1 <= exponent_bits <= public_key.bits:
        raise ValueError("exponent_bits must be an int in [1, bits of n]")
    if exponent_bits < MIN_EXPONENT_BITS and not allow_insecure:
        raise ValueError(
            f"exponent_bits below {MIN_EXPONENT_BITS} is insecure; pass allow_insecure=True "
            "only in tests"
        )
    return exponent_bits


def validate_ciphertext(public_key: PublicKey, ciphertext: object) -> int:
    """The ciphertext if it is an int in [1, n²) coprime with n; else MalformedCiphertext."""
    if type(ciphertext) is not int or not 0 < ciphertext < public_key.nsquare:
        raise MalformedCiphertext from None
    if _gmp.gcd(ciphertext, public_key.mpz_n) != 1:
        raise MalformedCiphertext from None
    return ciphertext


def validate_number(public_key: PublicKey, number: object) -> tuple[int, int]:
    """(ciphertext, exponent) of a ``phe.EncryptedNumber`` under this key, validated."""
    if not isinstance(number, phe.EncryptedNumber):
        raise MalformedCiphertext from None
    key, exponent = number.public_key, number.exponent
    if not isinstance(key, phe.PaillierPublicKey) or key.n != public_key.n:
        raise MalformedCiphertext from None
    if type(exponent) is not int or abs(exponent) > MAX_PHE_EXPONENT:
        raise MalformedCiphertext from None
    return validate_ciphertext(public_key, number.ciphertext(be_secure=False)), exponent


def _encode(
    public_key: PublicKey, value: Number, fixed_point: FixedPoint | None, precision: float | None
) -> tuple[int, int]:
    """(plaintext in [0, n), phe exponent) of a value."""
    if fixed_point is not None:
        return to_signed_plaintext(public_key, fixed_point.encode(value)), 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValue(
            "without fixed_point only int and float can be encrypted "
            "(pass fixed_point=FixedPoint(decimals=...) for Decimal)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidValue("NaN and infinity cannot be encrypted")
    if precision is not None and (
        isinstance(precision, bool)
        or not isinstance(precision, int | float)
        or not math.isfinite(precision)
        or precision <= 0
    ):
        raise InvalidValue("precision must be a positive finite number")
    try:
        encoded = phe.EncodedNumber.encode(public_key.to_phe(), value, precision)
    except ValueError:
        raise PlaintextTooLarge(
            f"value too large for the key: the encoded value must lie within ±n/3 "
            f"(about 2**{public_key.max_int.bit_length()})"
        ) from None
    return int(encoded.encoding), int(encoded.exponent)


def _wrap(public_key: PublicKey, ciphertext: int, exponent: int) -> Any:
    number = phe.EncryptedNumber(public_key.to_phe(), ciphertext, exponent)
    # The ciphertext already carries a fresh random factor. Say so, or phe's ciphertext()
    # would "obfuscate" it again with a full r^n mod n² (phe 1.5 keeps this flag private).
    number._EncryptedNumber__is_obfuscated = True
    return number


def encrypt(
    public_key: PublicKey,
    value: Number,
    *,
    fixed_point: FixedPoint | None = None,
    precision: float | None = None,
    rng: Rng = secrets.randbits,
    exponent_bits: int | None = None,
    allow_insecure: bool = False,
) -> Any:
    """A ``phe.EncryptedNumber`` of ``value``.

    Without ``fixed_point``: an int or float encoded exactly as ``phe`` would (``precision``
    as in ``phe``). With it: the scaled integer ``round(value·10^decimals)``, exponent 0.
    """
    plaintext, exponent = _encode(public_key, value, fixed_point, precision)
    bits = exponent_bits_for(public_key, exponent_bits, allow_insecure=allow_insecure)
    ciphertext = hazmat.raw_encrypt(public_key, plaintext, random_bits(rng, bits), bits)
    return _wrap(public_key, ciphertext, exponent)


def decrypt(
    private_key: PrivateKey, number: Any, *, fixed_point: FixedPoint | None = None
) -> int | float | Decimal:
    """The value of a ``phe.EncryptedNumber`` (ours or stock ``phe``'s), decrypted by CRT.

    With ``fixed_point`` the number must have exponent 0 (as ``encrypt(fixed_point=...)``
    makes them) and the result is a ``Decimal`` (an ``int`` at 0 decimals)."""
    public_key = private_key.public_key
    ciphertext, exponent = validate_number(public_key, number)
    return _decode(public_key, hazmat.raw_decrypt(private_key, ciphertext), exponent, fixed_point)


def _decode(
    public_key: PublicKey, plaintext: int, exponent: int, fixed_point: FixedPoint | None
) -> int | float | Decimal:
    if fixed_point is not None:
        if exponent != 0:
            raise MalformedCiphertext from None
        return fixed_point.decode(from_signed_plaintext(public_key, plaintext))
    try:
        value: int | float = phe.EncodedNumber(public_key.to_phe(), plaintext, exponent).decode()
    except OverflowError:
        raise Overflow("decrypted value lies in the overflow band: a sum exceeded ±n/3") from None
    return value


def encrypt_raw(
    public_key: PublicKey,
    plaintext: int,
    *,
    rng: Rng = secrets.randbits,
    exponent_bits: int | None = None,
    allow_insecure: bool = False,
) -> int:
    """The ciphertext int of a plaintext int in [0, n)."""
    _check_raw_plaintext(public_key, plaintext)
    bits = exponent_bits_for(public_key, exponent_bits, allow_insecure=allow_insecure)
    return hazmat.raw_encrypt(public_key, plaintext, random_bits(rng, bits), bits)


def decrypt_raw(private_key: PrivateKey, ciphertext: int) -> int:
    """The plaintext int in [0, n) of a ciphertext int (validated)."""
    valid = validate_ciphertext(private_key.public_key, ciphertext)
    return hazmat.raw_decrypt(private_key, valid)


def rerandomize_raw(
    public_key: PublicKey,
    ciphertext: int,
    *,
    rng: Rng = secrets.randbits,
    exponent_bits: int | None = None,
    allow_insecure: bool = False,
) -> int:
    """The same plaintext under a fresh random factor (validated input)."""
    valid = validate_ciphertext(public_key, ciphertext)
    bits = exponent_bits_for(public_key, exponent_bits, allow_insecure=allow_insecure)
    return hazmat.raw_rerandomize(public_key, valid, random_bits(rng, bits), bits)


def rerandomize(
    public_key: PublicKey,
    number: Any,
    *,
    rng: Rng = secrets.randbits,
    exponent_bits: int | None = None,
    allow_insecure: bool = False,
) -> Any:
    """A new ``phe.EncryptedNumber`` with the same value and exponent and a fresh random factor
    (send sums computed from someone's ciphertexts only after this)."""
    ciphertext, exponent = validate_number(public_key, number)
    bits = exponent_bits_for(public_key, exponent_bits, allow_insecure=allow_insecure)
    fresh = hazmat.raw_rerandomize(public_key, ciphertext, random_bits(rng, bits), bits)
    return _wrap(public_key, fresh, exponent)


def encrypt_many(
    public_key: PublicKey,
    values: Sequence[Number],
    *,
    fixed_point: FixedPoint | None = None,
    precision: float | None = None,
    rng: Rng = secrets.randbits,
    exponent_bits: int | None = None,
    allow_insecure: bool = False,
    executor: Executor | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[Any]:
    """``encrypt`` for each value, in order; chunks go to ``executor`` when given.

    Exponents are drawn here from ``rng`` (so any rng works and results are reproducible),
    the table lookups run in the workers."""
    if not values:
        raise EmptyInput("no values to encrypt")
    encoded = [_encode(public_key, v, fixed_point, precision) for v in values]
    bits = exponent_bits_for(public_key, exponent_bits, allow_insecure=allow_insecure)
    ciphertexts = map_chunks(
        hazmat.encrypt_chunk,
        (public_key, bits),
        ([m for m, _ in encoded], hazmat.random_exponents(rng, bits, len(encoded))),
        executor=executor,
        chunk_size=chunk_size,
    )
    return [_wrap(public_key, c, e) for c, (_, e) in zip(ciphertexts, encoded, strict=True)]


def decrypt_many(
    private_key: PrivateKey,
    numbers: Sequence[Any],
    *,
    fixed_point: FixedPoint | None = None,
    executor: Executor | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[int | float | Decimal]:
    """``decrypt`` for each number, in order; all are validated before any is decrypted."""
    if not numbers:
        raise EmptyInput("no ciphertexts to decrypt")
    public_key = private_key.public_key
    checked = [validate_number(public_key, number) for number in numbers]
    plaintexts = map_chunks(
        hazmat.decrypt_chunk,
        (private_key,),
        ([c for c, _ in checked],),
        executor=executor,
        chunk_size=chunk_size,
    )
    return [
        _decode(public_key, m, e, fixed_point)
        for m, (_, e) in zip(plaintexts, checked, strict=True)
    ]


def _check_raw_plaintext(public_key: PublicKey, plaintext: int) -> None:
    if isinstance(plaintext, bool) or not isinstance(plaintext, int) or plaintext < 0:
        raise InvalidValue("a raw plaintext must be a non-negative int (encode signs first)")
    if plaintext >= public_key.n:
        raise PlaintextTooLarge("raw plaintext must be below n")
