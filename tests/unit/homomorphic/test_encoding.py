"""Fixed-point encoding and phe's signed convention."""

from __future__ import annotations

import functools
import random
from decimal import Decimal
from fractions import Fraction

import pytest

from homomorphic.encoding import FixedPoint, from_signed_plaintext, to_signed_plaintext
from homomorphic.errors import InvalidValue, Overflow, PlaintextTooLarge
from tests.unit.homomorphic.helpers import expect_error, keypair


@pytest.mark.parametrize(
    ("decimals", "value", "scaled"),
    [
        (2, 0, 0),
        (2, 12, 1200),
        (2, -12, -1200),
        (2, Decimal("1.23"), 123),
        (2, Decimal("-1.23"), -123),
        (2, Decimal("1.005"), 100),  # ties to even
        (2, Decimal("1.015"), 102),
        (2, Decimal("-1.005"), -100),
        (2, Decimal("-1.015"), -102),
        (2, Decimal("0.0049"), 0),
        (2, Decimal("1E-40"), 0),
        (2, Decimal("-1E-999999"), 0),
        (2, Decimal("1E+3"), 100000),
        (2, 0.1, 10),
        (2, -2.675, -267),  # the double below -2.675 rounds towards it
        (0, Decimal("2.5"), 2),
        (0, Decimal("3.5"), 4),
        (0, 7, 7),
        (6, Decimal("123456789012345678901234567890.123456"), 123456789012345678901234567890123456),
    ],
)
def test_encode_is_exact_with_ties_to_even(decimals: int, value: object, scaled: int) -> None:
    assert FixedPoint(decimals).encode(value) == scaled  # type: ignore[arg-type]


def test_encode_matches_exact_fraction_rounding() -> None:
    rnd = random.Random(1)
    fp = FixedPoint(3)
    for _ in range(2000):
        value: float | Decimal = rnd.uniform(-1e9, 1e9)
        if rnd.random() < 0.5:
            value = Decimal(str(value))
        assert fp.encode(value) == round(Fraction(value) * 1000)


def test_decode_is_exact() -> None:
    fp = FixedPoint(2)
    assert fp.decode(123) == Decimal("1.23") and str(fp.decode(-5)) == "-0.05"
    assert fp.decode(0) == 0 and str(fp.decode(10**40 + 1)) == "1" + "0" * 38 + ".01"
    assert FixedPoint(0).decode(-7) == -7 and isinstance(FixedPoint(0).decode(3), int)
    for value in ("-123456.78", "0.01", "99999999999999999999999999999999.99"):
        assert fp.decode(fp.encode(Decimal(value))) == Decimal(value)


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
    ],
    ids=["nan", "inf", "-inf", "dnan", "snan", "dinf", "-dinf"],
)
def test_nan_and_infinity_are_refused(value: float | Decimal) -> None:
    err = expect_error(InvalidValue, lambda: FixedPoint(2).encode(value))
    assert "NaN and infinity" in str(err) and err.code == "invalid_value"


@pytest.mark.parametrize("value", [True, "1.5", None, 1 + 2j, Fraction(1, 3)])
def test_other_types_are_refused(value: object) -> None:
    expect_error(InvalidValue, lambda: FixedPoint(2).encode(value))  # type: ignore[arg-type]


def test_absurdly_long_decimals_are_refused_quickly() -> None:
    expect_error(PlaintextTooLarge, lambda: FixedPoint(2).encode(Decimal("1E+999999999")))


@pytest.mark.parametrize("decimals", [-1, 37, 2.0, True])
def test_decimals_are_checked(decimals: object) -> None:
    with pytest.raises(ValueError, match="decimals"):
        FixedPoint(decimals)  # type: ignore[arg-type]


def test_signed_plaintexts_follow_phe() -> None:
    public, _ = keypair(256)
    n, top = public.n, public.max_int
    for value in (0, 1, -1, top, -top, 12345, -12345):
        plaintext = to_signed_plaintext(public, value)
        assert 0 <= plaintext < n and from_signed_plaintext(public, plaintext) == value
    expect_error(PlaintextTooLarge, lambda: to_signed_plaintext(public, top + 1), top + 1)
    expect_error(PlaintextTooLarge, lambda: to_signed_plaintext(public, -top - 1), top + 1)
    for band in (top + 1, n // 2, n - top - 1):
        err = expect_error(Overflow, functools.partial(from_signed_plaintext, public, band), band)
        assert err.code == "overflow"
