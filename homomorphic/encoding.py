"""Fixed-point encoding of decimals and the signed-integer convention of ``phe``.

:class:`FixedPoint` turns an ``int``, ``float`` or ``Decimal`` into the integer
``round(value · 10^decimals)`` (exactly, ties to even) and back into a ``Decimal`` (or an
``int`` when ``decimals == 0``). NaN and ±infinity are refused with :class:`InvalidValue`.

Signed integers map to plaintexts as in ``phe``'s ``EncodedNumber``: x in [-max_int, max_int]
with ``max_int = n // 3 - 1`` is stored as ``x mod n``; the band between max_int and
``n - max_int`` detects an overflowed sum. So a fixed-point value encrypted here is a ``phe``
ciphertext of the scaled integer with exponent 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from homomorphic.errors import InvalidValue, Overflow, PlaintextTooLarge
from homomorphic.keys import PublicKey

__all__ = ["MAX_DECIMALS", "FixedPoint", "Number", "from_signed_plaintext", "to_signed_plaintext"]

Number = int | float | Decimal
MAX_DECIMALS = 36
# A Decimal more than this many digits long cannot fit any allowed key (8192 bits ≈ 2467 digits):
# refuse it before ``as_integer_ratio`` spends time on a 10**huge.
_MAX_DIGITS = 2500


@dataclass(frozen=True, slots=True)
class FixedPoint:
    """Decimal fixed point with ``decimals`` digits after the point."""

    decimals: int = 0
    scale: int = field(init=False, repr=False, compare=False)
    """10**decimals."""

    def __post_init__(self) -> None:
        if type(self.decimals) is not int or not 0 <= self.decimals <= MAX_DECIMALS:
            raise ValueError(f"decimals must be an int in [0, {MAX_DECIMALS}]")
        object.__setattr__(self, "scale", int(10**self.decimals))

    def encode(self, value: Number) -> int:
        """``round(value · 10^decimals)``, exact, ties to even. InvalidValue for NaN, ±inf,
        bools and other types; PlaintextTooLarge for absurdly long Decimals."""
        if isinstance(value, bool):
            raise InvalidValue("cannot encode a bool")
        if isinstance(value, int):
            return int(value) * self.scale
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise InvalidValue("NaN and infinity cannot be encoded")
            if value.adjusted() < -self.decimals - 1:
                return 0  # |value| < 10**-(decimals+1): rounds to zero
            if value.adjusted() > _MAX_DIGITS:
                raise PlaintextTooLarge("value has too many digits for any key")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise InvalidValue("NaN and infinity cannot be encoded")
        else:
            kind = type(value).__name__
            raise InvalidValue(f"cannot encode a {kind}: expected int, float or Decimal")
        numerator, denominator = value.as_integer_ratio()
        quotient, remainder = divmod(numerator * self.scale, denominator)
        twice = 2 * remainder
        if twice > denominator or (twice == denominator and quotient & 1):
            quotient += 1
        return quotient

    def decode(self, scaled: int) -> Decimal | int:
        """The value of a scaled integer: an exact ``Decimal``, or an ``int`` at 0 decimals."""
        if self.decimals == 0:
            return scaled
        # Built from text, not with scaleb(): no rounding to the context's 28 digits.
        return Decimal(f"{scaled}E-{self.decimals}")


def to_signed_plaintext(public_key: PublicKey, value: int) -> int:
    """``value mod n`` for |value| <= max_int (phe's convention), else PlaintextTooLarge."""
    if abs(value) > public_key.max_int:
        raise PlaintextTooLarge(
            f"value too large for the key: the scaled value must lie within ±n/3 "
            f"(about 2**{public_key.max_int.bit_length()})"
        )
    return value % public_key.n


def from_signed_plaintext(public_key: PublicKey, plaintext: int) -> int:
    """The signed value of a decrypted plaintext; Overflow in the band (max_int, n - max_int)."""
    if plaintext <= public_key.max_int:
        return plaintext
    if plaintext >= public_key.n - public_key.max_int:
        return plaintext - public_key.n
    raise Overflow("decrypted value lies in the overflow band: a sum exceeded ±n/3")
