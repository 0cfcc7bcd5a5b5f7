"""Paillier keys with g = n + 1 and the Damgård–Jurik–Nielsen fixed base ``hs``.

The public key is (n, hs) with ``hs = h^n mod n²`` and ``h = -x² mod n`` for a random unit x
(Damgård, Jurik, Nielsen, "A generalization of Paillier's public-key system with applications
to electronic voting", IJIS 2010, §4.2). ``hs`` is an n-th power, so every ``hs^a`` is a valid
Paillier random factor ``(h^a)^n``; encryptors use it through a fixed-base table (see
``hazmat``). Anyone can derive an ``hs`` from a bare n, which is how keys of stock ``phe`` are
imported. Generated primes are ≡ 3 (mod 4), so -1 is a non-residue modulo both and h lies in
the subgroup of Jacobi symbol 1, as in DJN; imported keys need not be.

Keys carry Python ints (and a few cached ``mpz`` copies for speed); both dataclasses pickle, so
they can be handed to executor workers. A private key's ``repr`` never shows p or q.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import phe

from homomorphic import _gmp
from homomorphic._gmp import Mpz
from homomorphic.errors import MalformedKey

__all__ = [
    "DEFAULT_KEY_BITS",
    "MAX_KEY_BITS",
    "MIN_INSECURE_KEY_BITS",
    "MIN_KEY_BITS",
    "PrivateKey",
    "PublicKey",
    "Rng",
    "check_key_bits",
    "check_modulus",
    "derive_fixed_base",
    "generate_keypair",
    "keypair_from_primes",
    "random_bits",
]

Rng = Callable[[int], int]
"""``rng(k)`` returns a uniform int in [0, 2**k), like :func:`secrets.randbits`."""

DEFAULT_KEY_BITS = 3072  # ~128-bit security (NIST SP 800-57 Part 1, table 2)
MIN_KEY_BITS = 2048  # ~112-bit security; anything smaller only with allow_insecure=True
MIN_INSECURE_KEY_BITS = 256  # tests only: small enough for textbook known answers
MAX_KEY_BITS = 8192
_MAX_DRAWS = 1000
_FERMAT_MARGIN_BITS = 100  # |p - q| must exceed 2**(bits/2 - 100) (FIPS 186-5 A.1.3)


def random_bits(rng: Rng, bits: int) -> int:
    """``rng(bits)``, checked: a broken rng is a programming error, never silently used."""
    value = rng(bits)
    if type(value) is not int or value < 0 or value >> bits:
        raise ValueError("rng must return a non-negative int of at most the bits asked for")
    return value


def check_key_bits(bits: int, *, allow_insecure: bool) -> None:
    """Raise ValueError unless ``bits`` is an allowed modulus size (even, within bounds)."""
    low = MIN_INSECURE_KEY_BITS if allow_insecure else MIN_KEY_BITS
    if type(bits) is not int or bits % 2 or not low <= bits <= MAX_KEY_BITS:
        hint = "" if allow_insecure else " (smaller test keys need allow_insecure=True)"
        raise ValueError(f"key bits must be an even number in [{low}, {MAX_KEY_BITS}]{hint}")


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PublicKey:
    """(n, hs). Construction checks only consistency; loaders also check sizes."""

    n: int
    hs: int
    nsquare: int = field(init=False)
    max_int: int = field(init=False)
    """As in ``phe``: signed plaintexts lie in [-max_int, max_int], the rest detects overflow."""
    key_id: str = field(init=False)
    """SHA-256 over (n, hs), hex: names the key in caches and messages."""
    mpz_n: Mpz = field(init=False)
    mpz_nsquare: Mpz = field(init=False)
    _phe: Any = field(init=False)

    def __post_init__(self) -> None:
        n, hs = self.n, self.hs
        if type(n) is not int or type(hs) is not int or n < 15 or n % 2 == 0:
            raise MalformedKey from None
        nsquare = n * n
        if not 1 < hs < nsquare - 1 or _gmp.gcd(hs, n) != 1:
            raise MalformedKey from None
        size = (n.bit_length() + 7) // 8
        digest = hashlib.sha256(
            b"homomorphic/paillier-public/1"
            + size.to_bytes(2, "big")
            + n.to_bytes(size, "big")
            + hs.to_bytes(2 * size, "big")
        ).hexdigest()
        object.__setattr__(self, "nsquare", nsquare)
        object.__setattr__(self, "max_int", n // 3 - 1)
        object.__setattr__(self, "key_id", digest)
        object.__setattr__(self, "mpz_n", _gmp.mpz(n))
        object.__setattr__(self, "mpz_nsquare", _gmp.mpz(nsquare))
        object.__setattr__(self, "_phe", phe.PaillierPublicKey(n))

    @property
    def bits(self) -> int:
        return self.n.bit_length()

    def to_phe(self) -> Any:
        """The equivalent ``phe.PaillierPublicKey`` (same n; ``phe`` has no use for hs)."""
        return self._phe

    @classmethod
    def from_phe(
        cls, key: Any, *, rng: Rng = secrets.randbits, allow_insecure: bool = False
    ) -> PublicKey:
        """Import a ``phe.PaillierPublicKey``, deriving a fresh fixed base from ``rng``."""
        if not isinstance(key, phe.PaillierPublicKey) or type(key.n) is not int:
            raise MalformedKey from None
        check_modulus(key.n, allow_insecure=allow_insecure)
        return cls(key.n, derive_fixed_base(key.n, rng=rng))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and (self.n, self.hs) == (other.n, other.hs)

    def __hash__(self) -> int:
        return hash((self.n, self.hs))

    def __repr__(self) -> str:
        return f"PublicKey(bits={self.bits}, key_id={self.key_id[:16]})"


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class PrivateKey:
    """The factors p < q of n with the constants of CRT decryption."""

    public_key: PublicKey
    p: int
    q: int
    mpz_p: Mpz = field(init=False)
    mpz_q: Mpz = field(init=False)
    psquare: Mpz = field(init=False)
    qsquare: Mpz = field(init=False)
    hp: Mpz = field(init=False)
    hq: Mpz = field(init=False)
    p_inverse: Mpz = field(init=False)

    def __post_init__(self) -> None:
        p, q = self.p, self.q
        if (
            not isinstance(self.public_key, PublicKey)
            or type(p) is not int
            or type(q) is not int
            or p == q
            or min(p, q) < 3
            or p * q != self.public_key.n
        ):
            raise MalformedKey from None
        if q < p:
            p, q = q, p
            object.__setattr__(self, "p", p)
            object.__setattr__(self, "q", q)
        g = self.public_key.n + 1
        object.__setattr__(self, "mpz_p", _gmp.mpz(p))
        object.__setattr__(self, "mpz_q", _gmp.mpz(q))
        object.__setattr__(self, "psquare", _gmp.mpz(p * p))
        object.__setattr__(self, "qsquare", _gmp.mpz(q * q))
        try:
            # h(p) = L_p(g^(p-1) mod p²)^-1 mod p, Paillier 1999 §7 (as in phe).
            hp = _gmp.invert((_gmp.powmod(g, p - 1, p * p) - 1) // p, p)
            hq = _gmp.invert((_gmp.powmod(g, q - 1, q * q) - 1) // q, q)
            p_inverse = _gmp.invert(p, q)
        except ZeroDivisionError:
            raise MalformedKey from None
        object.__setattr__(self, "hp", _gmp.mpz(hp))
        object.__setattr__(self, "hq", _gmp.mpz(hq))
        object.__setattr__(self, "p_inverse", _gmp.mpz(p_inverse))

    def to_phe(self) -> Any:
        """The equivalent ``phe.PaillierPrivateKey``."""
        return phe.PaillierPrivateKey(self.public_key.to_phe(), self.p, self.q)

    @classmethod
    def from_phe(
        cls,
        key: Any,
        *,
        public_key: PublicKey | None = None,
        rng: Rng = secrets.randbits,
        allow_insecure: bool = False,
    ) -> PrivateKey:
        """Import a ``phe.PaillierPrivateKey``; a fresh fixed base unless ``public_key`` (with
        the same n) is given."""
        if not isinstance(key, phe.PaillierPrivateKey):
            raise MalformedKey from None
        p, q = key.p, key.q
        if type(p) is not int or type(q) is not int:
            raise MalformedKey from None
        if public_key is not None and public_key.n != p * q:
            raise MalformedKey from None
        hs = public_key.hs if public_key is not None else None
        return keypair_from_primes(p, q, hs=hs, rng=rng, allow_insecure=allow_insecure)[1]

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PrivateKey)
            and self.public_key == other.public_key
            and (self.p, self.q) == (other.p, other.q)
        )

    def __hash__(self) -> int:
        return hash((self.public_key, self.p))

    def __repr__(self) -> str:
        return f"PrivateKey(bits={self.public_key.bits}, key_id={self.public_key.key_id[:16]})"


def derive_fixed_base(n: int, *, rng: Rng = secrets.randbits) -> int:
    """hs = (-x² mod n)^n mod n² for a random unit x of Z_n (DJN §4.2)."""
    bits = n.bit_length()
    for _ in range(_MAX_DRAWS):
        x = random_bits(rng, bits)
        if 1 < x < n and _gmp.gcd(x, n) == 1:
            h = -(x * x) % n
            return int(_gmp.powmod(h, n, n * n))
    raise ValueError("rng gave no unit of Z_n in many draws")


def generate_keypair(
    bits: int = DEFAULT_KEY_BITS, *, rng: Rng = secrets.randbits, allow_insecure: bool = False
) -> tuple[PublicKey, PrivateKey]:
    """A fresh key pair: n of exactly ``bits`` bits, p ≡ q ≡ 3 (mod 4), far apart.

    Keys smaller than 2048 bits only with ``allow_insecure=True`` (tests)."""
    check_key_bits(bits, allow_insecure=allow_insecure)
    half = bits // 2
    p = _prime(half, rng)
    for _ in range(_MAX_DRAWS):
        q = _prime(half, rng)
        if (p - q).bit_length() > half - _FERMAT_MARGIN_BITS and (p * q).bit_length() == bits:
            return keypair_from_primes(p, q, rng=rng, allow_insecure=allow_insecure)
    raise ValueError("rng gave no suitable second prime in many draws")


def keypair_from_primes(
    p: int,
    q: int,
    *,
    hs: int | None = None,
    rng: Rng = secrets.randbits,
    allow_insecure: bool = False,
) -> tuple[PublicKey, PrivateKey]:
    """The key pair of given primes (checked: distinct probable primes of equal size, n of an
    allowed size); ``hs`` derived from ``rng`` unless given, in which case it must be an n-th
    power modulo n². Raises MalformedKey."""
    if type(p) is not int or type(q) is not int or p == q:
        raise MalformedKey from None
    if p.bit_length() != q.bit_length() or not (_gmp.is_prime(p) and _gmp.is_prime(q)):
        raise MalformedKey from None
    n = p * q
    check_modulus(n, allow_insecure=allow_insecure)
    if hs is not None and type(hs) is int and 1 < hs < n * n:
        # A given hs must be an n-th power (hs^λ = 1 mod n²), or every ciphertext made with
        # it would decrypt to garbage. Only the factors can tell.
        if _gmp.powmod(hs, math.lcm(p - 1, q - 1), n * n) != 1:
            raise MalformedKey from None
    public = PublicKey(n, derive_fixed_base(n, rng=rng) if hs is None else hs)
    return public, PrivateKey(public, p, q)


def check_modulus(n: int, *, allow_insecure: bool) -> None:
    """A modulus from outside: allowed size, odd, not a square, not prime, no factor below
    2000. Raises MalformedKey."""
    bits = n.bit_length()
    try:
        check_key_bits(bits + bits % 2, allow_insecure=allow_insecure)
    except ValueError:
        raise MalformedKey from None
    if n % 2 == 0 or _gmp.is_square(n) or _gmp.gcd(n, _gmp.small_primes_product()) != 1:
        raise MalformedKey from None
    if _gmp.is_prime(n):
        raise MalformedKey from None


def _prime(bits: int, rng: Rng) -> int:
    """A random prime of exactly ``bits`` bits, ≡ 3 (mod 4), top two bits set (so that the
    product of two has exactly 2·bits bits)."""
    for _ in range(_MAX_DRAWS):
        candidate = random_bits(rng, bits) | (3 << (bits - 2)) | 3
        p = _gmp.next_prime(candidate)
        while p % 4 != 3:
            p = _gmp.next_prime(p)
        if p.bit_length() == bits:
            return p
    raise ValueError("rng gave no prime of the requested size in many draws")
