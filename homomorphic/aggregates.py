"""Safe recipes for the encrypted aggregates of DESIGN §4 (``intersection_sum``, ``secure_sum``,
``aggregate``): sums of ciphertexts, slot-wise sums of packed vectors, and per-group moments.

* ``sum_ciphertexts``: the homomorphic sum of ``phe`` numbers (``intersection_sum`` adds the
  provider's per-record ciphertexts over the intersection). Exponents are aligned as ``phe``
  does. Re-randomize the sum before it leaves the party that computed it if the receiver could
  have seen the summands.
* ``sum_packed`` / ``sum_vectors``: the slot-wise sum of packed ciphertexts, and of several
  parties' packed vectors (``secure_sum`` of per-group totals across domains).
* Moments: a provider encrypts, per group, ``(count, Σx, Σx²)`` of its own rows in three slots
  (``encrypt_moments``); the vectors of all providers are summed with ``sum_vectors``; the gate
  decrypts only the totals (``decrypt_moments``) and gets count, sum, mean and variance per group.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import phe

from homomorphic import _gmp
from homomorphic.encoding import MAX_DECIMALS, FixedPoint, Number
from homomorphic.encryption import validate_number
from homomorphic.errors import EmptyInput, LayoutMismatch, MalformedCiphertext
from homomorphic.keys import PrivateKey, PublicKey, Rng
from homomorphic.packing import (
    PackedCiphertext,
    PackingLayout,
    decrypt_packed_many,
    encrypt_packed,
    sum_packed,
)

__all__ = [
    "Moments",
    "decrypt_moments",
    "encrypt_moments",
    "moments_layout",
    "sum_ciphertexts",
    "sum_packed",
    "sum_vectors",
]


def sum_ciphertexts(public_key: PublicKey, numbers: Iterable[Any]) -> Any:
    """The ``phe.EncryptedNumber`` of the sum of ``numbers`` (validated, under this key)."""
    checked = [(number, *validate_number(public_key, number)) for number in numbers]
    if not checked:
        raise EmptyInput("no ciphertexts to add")
    exponent = min(e for _, _, e in checked)
    nsquare = public_key.mpz_nsquare
    acc = _gmp.mpz(1)
    for number, ciphertext, e in checked:
        if e != exponent:
            # phe's own alignment: multiply the plaintext by BASE**(e - exponent).
            ciphertext = number.decrease_exponent_to(exponent).ciphertext(be_secure=False)
        acc = acc * ciphertext % nsquare
    return phe.EncryptedNumber(public_key.to_phe(), int(acc), exponent)


def sum_vectors(vectors: Sequence[Sequence[PackedCiphertext]]) -> list[PackedCiphertext]:
    """Position-wise ``sum_packed`` of equally long packed vectors (one per party)."""
    if not vectors or not vectors[0]:
        raise EmptyInput("no packed vectors to add")
    width = len(vectors[0])
    if any(len(vector) != width for vector in vectors):
        raise LayoutMismatch("packed vectors of different lengths cannot be added")
    return [sum_packed([vector[i] for vector in vectors]) for i in range(width)]


@dataclass(frozen=True, slots=True)
class Moments:
    """count, Σx and Σx² of a group; mean and (population) variance derived."""

    count: int
    total: Decimal | int
    sum_squares: Decimal | int

    @property
    def mean(self) -> Decimal | None:
        return Decimal(self.total) / self.count if self.count else None

    @property
    def variance(self) -> Decimal | None:
        if not self.count:
            return None
        mean = Decimal(self.total) / self.count
        return max(Decimal(self.sum_squares) / self.count - mean * mean, Decimal(0))


def moments_layout(
    public_key: PublicKey,
    *,
    max_abs: Number,
    decimals: int,
    max_rows: int,
    max_parties: int,
) -> PackingLayout:
    """The layout for ``encrypt_moments``: each party's group has at most ``max_rows`` values
    with ``|x| <= max_abs``; at most ``max_parties`` vectors are added."""
    if type(max_rows) is not int or max_rows < 1:
        raise ValueError("max_rows must be a positive int")
    if decimals > MAX_DECIMALS // 2:
        raise ValueError(f"moments allow at most {MAX_DECIMALS // 2} decimals (x² doubles them)")
    scaled = max(abs(FixedPoint(decimals).encode(max_abs)), 1)
    return PackingLayout.fit(
        public_key, max_abs=max_rows * scaled * scaled, max_additions=max_parties, decimals=0
    )


def encrypt_moments(
    public_key: PublicKey,
    groups: Sequence[Sequence[Number]],
    layout: PackingLayout,
    *,
    fixed_point: FixedPoint,
    rng: Rng = secrets.randbits,
    exponent_bits: int | None = None,
    allow_insecure: bool = False,
    executor: Executor | None = None,
) -> list[PackedCiphertext]:
    """One party's ``(count, Σx, Σx²)`` per group (the same groups, in the same order, at every
    party; an empty group contributes zeros), packed under ``layout``. A group whose moments do
    not fit the layout raises Overflow before anything is encrypted."""
    if not groups:
        raise EmptyInput("no groups to encrypt")
    if layout.decimals != 0 or fixed_point.decimals > MAX_DECIMALS // 2:
        raise ValueError(
            f"moments are packed as scaled integers (use moments_layout()) with at most "
            f"{MAX_DECIMALS // 2} decimals"
        )
    slots: list[Number] = []
    for values in groups:
        scaled = [fixed_point.encode(v) for v in values]
        slots += [len(scaled), sum(scaled), sum(x * x for x in scaled)]
    return encrypt_packed(
        public_key,
        slots,
        layout,
        rng=rng,
        exponent_bits=exponent_bits,
        allow_insecure=allow_insecure,
        executor=executor,
    )


def decrypt_moments(
    private_key: PrivateKey,
    packed: Sequence[PackedCiphertext],
    *,
    fixed_point: FixedPoint,
    executor: Executor | None = None,
) -> list[Moments]:
    """The moments per group from a (summed) ``encrypt_moments`` vector."""
    sums = decrypt_packed_many(private_key, packed, executor=executor)
    flat = [v for values in sums for v in values]
    if len(flat) % 3 or any(not isinstance(v, int) for v in flat):
        raise MalformedCiphertext from None
    squares = FixedPoint(2 * fixed_point.decimals)
    out: list[Moments] = []
    for i in range(0, len(flat), 3):
        count, total, sum_squares = (int(v) for v in flat[i : i + 3])
        if count < 0 or sum_squares < 0:
            raise MalformedCiphertext from None
        out.append(Moments(count, fixed_point.decode(total), squares.decode(sum_squares)))
    return out
