"""Safe recipes: many fixed-point values in one plaintext, added slot by slot.

Layout (``packing/1``): a plaintext holds ``slots`` fields of ``slot_bits`` bits, slot 0 least
significant. Each summand's value is first scaled (``FixedPoint(decimals)``), must satisfy
``|v| < 2**value_bits`` (else :class:`Overflow`, before anything is encrypted), and is stored
with a bias: ``v + 2**value_bits`` in ``[1, 2**(value_bits+1))``. A slot holding the sum of
``count`` summands therefore stays below ``count · 2**(value_bits+1)``, and

    slot_bits = value_bits + 1 + ceil(log2(max_additions))

leaves room for up to ``max_additions`` summands without a carry into the next slot. Decoding
subtracts ``bias × count``; :class:`PackedCiphertext` tracks ``count``, and ``add`` refuses a
sum that would exceed ``max_additions``. Unused slots hold an encoded zero, so vectors of
different lengths add up correctly. ``slots · slot_bits <= |n| - 1``, so a packed plaintext
never wraps modulo n.

A decrypted slot outside ``[count, count·(2**(value_bits+1) - 1)]``, or an unused slot that is
not exactly ``bias × count``, cannot come from honest senders: it raises the opaque
``MalformedCiphertext``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from homomorphic import _gmp, hazmat
from homomorphic._batch import map_chunks
from homomorphic.encoding import FixedPoint, Number
from homomorphic.encryption import exponent_bits_for, validate_ciphertext
from homomorphic.errors import (
    EmptyInput,
    LayoutMismatch,
    MalformedCiphertext,
    Overflow,
    PlaintextTooLarge,
)
from homomorphic.keys import MAX_KEY_BITS, PrivateKey, PublicKey, Rng, random_bits

__all__ = [
    "DEFAULT_PACKED_CHUNK_SIZE",
    "PackedCiphertext",
    "PackingLayout",
    "decrypt_packed",
    "decrypt_packed_many",
    "encrypt_packed",
    "sum_packed",
]

DEFAULT_PACKED_CHUNK_SIZE = 32


@dataclass(frozen=True, slots=True, kw_only=True)
class PackingLayout:
    """How values sit in a packed plaintext (see the module docstring)."""

    version: Literal["packing/1"] = "packing/1"
    slots: int
    value_bits: int
    max_additions: int
    decimals: int = 0

    def __post_init__(self) -> None:
        for name in ("slots", "value_bits", "max_additions", "decimals"):
            value = getattr(self, name)
            if type(value) is not int or value < (0 if name == "decimals" else 1):
                raise ValueError(f"{name} must be a positive int")
        FixedPoint(self.decimals)  # checks the range of decimals
        if self.version != "packing/1" or self.plaintext_bits > MAX_KEY_BITS:
            raise ValueError("unknown layout version, or a layout larger than any key")

    @classmethod
    def fit(
        cls,
        public_key: PublicKey,
        *,
        max_abs: Number,
        max_additions: int,
        decimals: int = 0,
        slots: int | None = None,
    ) -> PackingLayout:
        """The layout for values with ``|value| <= max_abs`` at ``decimals``, summed at most
        ``max_additions`` times, with as many slots as the key holds (or ``slots``)."""
        scaled = abs(FixedPoint(decimals).encode(max_abs))
        value_bits = max(scaled.bit_length(), 1)
        if type(max_additions) is not int or max_additions < 1:
            raise ValueError("max_additions must be a positive int")
        slot_bits = value_bits + 1 + (max_additions - 1).bit_length()
        room = (public_key.bits - 1) // slot_bits
        if room < 1 or (slots is not None and slots > room):
            raise PlaintextTooLarge(
                f"a {public_key.bits}-bit key holds {room} slots of {slot_bits} bits"
            )
        return cls(
            slots=room if slots is None else slots,
            value_bits=value_bits,
            max_additions=max_additions,
            decimals=decimals,
        )

    @property
    def slot_bits(self) -> int:
        return self.value_bits + 1 + (self.max_additions - 1).bit_length()

    @property
    def plaintext_bits(self) -> int:
        return self.slots * self.slot_bits

    @property
    def bias(self) -> int:
        return 1 << self.value_bits

    @property
    def fixed_point(self) -> FixedPoint:
        return FixedPoint(self.decimals)

    def check_key(self, public_key: PublicKey) -> None:
        """PlaintextTooLarge unless a full plaintext stays below n."""
        if self.plaintext_bits > public_key.bits - 1:
            raise PlaintextTooLarge(
                f"layout needs {self.plaintext_bits} plaintext bits; the key holds "
                f"{public_key.bits - 1}"
            )

    def encode(self, values: Sequence[Number]) -> list[int]:
        """The plaintexts of ``values``, ``slots`` per plaintext (last one padded with zeros).
        Overflow names the position of a value that does not fit, never the value."""
        fixed_point, bias = self.fixed_point, self.bias
        biased: list[int] = []
        for index, value in enumerate(values):
            scaled = fixed_point.encode(value)
            if not -bias < scaled < bias:
                raise Overflow(
                    f"value #{index} does not fit its slot: |value| must be below "
                    f"2**{self.value_bits} / 10**{self.decimals}"
                )
            biased.append(scaled + bias)
        slots, bits = self.slots, self.slot_bits
        plaintexts: list[int] = []
        for start in range(0, len(biased), slots):
            chunk = biased[start : start + slots]
            chunk.extend([bias] * (slots - len(chunk)))
            plaintexts.append(_gmp.pack(chunk, bits))
        return plaintexts

    def decode(self, plaintext: int, count: int, length: int) -> list[Decimal | int]:
        """The first ``length`` values of a plaintext that sums ``count`` summands; any
        impossible slot raises MalformedCiphertext."""
        if plaintext >> self.plaintext_bits:
            raise MalformedCiphertext from None
        bias, fixed_point = self.bias, self.fixed_point
        low, high, zero = count, count * (2 * bias - 1), count * bias
        fields = _gmp.unpack(plaintext, self.slot_bits, self.slots)
        if any(f != zero for f in fields[length:]):
            raise MalformedCiphertext from None
        out: list[Decimal | int] = []
        for f in fields[:length]:
            if not low <= f <= high:
                raise MalformedCiphertext from None
            out.append(fixed_point.decode(f - zero))
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class PackedCiphertext:
    """A packed ciphertext with its layout, its number of summands and of used slots.

    Construction checks the cheap invariants (types, 1 <= count <= max_additions,
    1 <= length <= slots, 0 < ciphertext < n², a layout that fits the key) and raises the
    opaque MalformedCiphertext; decryption also checks that the ciphertext is a unit."""

    version: Literal["packed/1"] = "packed/1"
    public_key: PublicKey
    layout: PackingLayout
    ciphertext: int
    count: int = 1
    length: int

    def __post_init__(self) -> None:
        layout, key = self.layout, self.public_key
        if (
            self.version != "packed/1"
            or not isinstance(key, PublicKey)
            or not isinstance(layout, PackingLayout)
            or type(self.ciphertext) is not int
            or type(self.count) is not int
            or type(self.length) is not int
            or not 0 < self.ciphertext < key.nsquare
            or not 1 <= self.count <= layout.max_additions
            or not 1 <= self.length <= layout.slots
            or layout.plaintext_bits > key.bits - 1
        ):
            raise MalformedCiphertext from None

    def add(self, other: PackedCiphertext) -> PackedCiphertext:
        """The slot-wise sum of two (see :func:`sum_packed`)."""
        return sum_packed((self, other))

    def rerandomized(
        self,
        *,
        rng: Rng = secrets.randbits,
        exponent_bits: int | None = None,
        allow_insecure: bool = False,
    ) -> PackedCiphertext:
        """The same slots under a fresh random factor (send a sum only after this)."""
        key = self.public_key
        bits = exponent_bits_for(key, exponent_bits, allow_insecure=allow_insecure)
        fresh = hazmat.raw_rerandomize(key, self.ciphertext, random_bits(rng, bits), bits)
        return PackedCiphertext(
            public_key=key,
            layout=self.layout,
            ciphertext=fresh,
            count=self.count,
            length=self.length,
        )


def sum_packed(items: Iterable[PackedCiphertext]) -> PackedCiphertext:
    """The slot-wise sum of packed ciphertexts: one product, one headroom check (``other``
    under another key: MalformedCiphertext; another layout: LayoutMismatch; more summands than
    ``max_additions``: Overflow)."""
    items = list(items)
    if not items:
        raise EmptyInput("no packed ciphertexts to add")
    first = items[0]
    key, layout = first.public_key, first.layout
    count = 0
    length = 0
    nsquare = key.mpz_nsquare
    for item in items:
        if not isinstance(item, PackedCiphertext):
            raise TypeError("only PackedCiphertext can be added")
        if item.public_key.n != key.n:
            raise MalformedCiphertext from None
        if item.layout != layout:
            raise LayoutMismatch("packed ciphertexts with different layouts cannot be added")
        count += item.count
        length = max(length, item.length)
    if count > layout.max_additions:
        raise Overflow(
            f"the sum would have {count} summands; the layout leaves headroom for "
            f"{layout.max_additions}"
        )
    acc = _gmp.mpz(first.ciphertext)
    for item in items[1:]:
        acc = acc * item.ciphertext % nsquare
    return PackedCiphertext(
        public_key=key, layout=layout, ciphertext=int(acc), count=count, length=length
    )


def encrypt_packed(
    public_key: PublicKey,
    values: Sequence[Number],
    layout: PackingLayout,
    *,
    rng: Rng = secrets.randbits,
    exponent_bits: int | None = None,
    allow_insecure: bool = False,
    executor: Executor | None = None,
    chunk_size: int = DEFAULT_PACKED_CHUNK_SIZE,
) -> list[PackedCiphertext]:
    """``values`` packed ``layout.slots`` per ciphertext, in order. Every value is checked
    against its slot before anything is encrypted."""
    if not values:
        raise EmptyInput("no values to encrypt")
    layout.check_key(public_key)
    plaintexts = layout.encode(values)
    bits = exponent_bits_for(public_key, exponent_bits, allow_insecure=allow_insecure)
    ciphertexts = map_chunks(
        hazmat.encrypt_chunk,
        (public_key, bits),
        (plaintexts, hazmat.random_exponents(rng, bits, len(plaintexts))),
        executor=executor,
        chunk_size=chunk_size,
    )
    total = len(values)
    return [
        PackedCiphertext(
            public_key=public_key,
            layout=layout,
            ciphertext=c,
            length=min(layout.slots, total - i * layout.slots),
        )
        for i, c in enumerate(ciphertexts)
    ]


def decrypt_packed(private_key: PrivateKey, packed: PackedCiphertext) -> list[Decimal | int]:
    """The values of a packed ciphertext (sums, if it was added to), validated."""
    ciphertext = _check(private_key, packed)
    plaintext = hazmat.raw_decrypt(private_key, ciphertext)
    return packed.layout.decode(plaintext, packed.count, packed.length)


def decrypt_packed_many(
    private_key: PrivateKey,
    packed: Sequence[PackedCiphertext],
    *,
    executor: Executor | None = None,
    chunk_size: int = DEFAULT_PACKED_CHUNK_SIZE,
) -> list[list[Decimal | int]]:
    """``decrypt_packed`` of each, in order; all are validated before any is decrypted."""
    if not packed:
        raise EmptyInput("no packed ciphertexts to decrypt")
    ciphertexts = [_check(private_key, item) for item in packed]
    plaintexts = map_chunks(
        hazmat.decrypt_chunk,
        (private_key,),
        (ciphertexts,),
        executor=executor,
        chunk_size=chunk_size,
    )
    return [
        item.layout.decode(m, item.count, item.length)
        for m, item in zip(plaintexts, packed, strict=True)
    ]


def _check(private_key: PrivateKey, packed: PackedCiphertext) -> int:
    key = private_key.public_key
    if not isinstance(packed, PackedCiphertext) or packed.public_key.n != key.n:
        raise MalformedCiphertext from None
    return validate_ciphertext(key, packed.ciphertext)
