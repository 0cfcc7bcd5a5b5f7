"""Single-value and raw encryption: the algebra, phe compatibility both ways, bad input."""

from __future__ import annotations

import functools
import random
from decimal import Decimal
from typing import Any

import phe
import pytest

from homomorphic.encoding import FixedPoint
from homomorphic.encryption import (
    MIN_EXPONENT_BITS,
    decrypt,
    decrypt_many,
    decrypt_raw,
    encrypt,
    encrypt_many,
    encrypt_raw,
    exponent_bits_for,
    rerandomize,
    rerandomize_raw,
    validate_ciphertext,
)
from homomorphic.errors import (
    EmptyInput,
    InvalidValue,
    MalformedCiphertext,
    Overflow,
    PlaintextTooLarge,
)
from tests.unit.homomorphic.helpers import expect_error, expect_opaque, keypair, rng_from


def _random_value(rnd: random.Random) -> int | float:
    kind = rnd.randrange(4)
    if kind == 0:
        return rnd.randint(-(10**12), 10**12)
    if kind == 1:
        return round(rnd.uniform(-1e6, 1e6), 2)
    if kind == 2:
        return rnd.uniform(-1.0, 1.0)
    return rnd.choice([0, 1, -1, 0.5, -0.25])


def test_round_trip_and_homomorphic_sum_of_random_values() -> None:
    public, private = keypair(1024)
    rnd = random.Random(11)
    for _ in range(40):
        a, b = _random_value(rnd), _random_value(rnd)
        ea, eb = encrypt(public, a), encrypt(public, b)
        assert decrypt(private, ea) == a and decrypt(private, eb) == b
        assert decrypt(private, ea + eb) == pytest.approx(a + b, rel=1e-12, abs=1e-12)
        if isinstance(a, int) and isinstance(b, int):
            assert decrypt(private, ea + eb) == a + b
        k = rnd.randint(-50, 50)
        assert decrypt(private, ea * k) == pytest.approx(a * k, rel=1e-12, abs=1e-12)


def test_fixed_point_values_add_exactly() -> None:
    public, private = keypair(1024)
    fp = FixedPoint(2)
    rnd = random.Random(12)
    values = [Decimal(rnd.randint(-(10**10), 10**10)).scaleb(-2) for _ in range(30)]
    numbers = [encrypt(public, v, fixed_point=fp) for v in values]
    total = numbers[0]
    for number in numbers[1:]:
        total = total + number
    assert decrypt(private, total, fixed_point=fp) == sum(values)
    assert decrypt(private, numbers[3], fixed_point=fp) == values[3]
    # Stock phe sees the scaled integer.
    assert private.to_phe().decrypt(numbers[3]) == int(values[3] * 100)


def test_ciphertexts_are_randomized_and_pinnable() -> None:
    public, _private = keypair(512)
    assert encrypt_raw(public, 5) != encrypt_raw(public, 5)
    assert encrypt_raw(public, 5, rng=rng_from(1)) == encrypt_raw(public, 5, rng=rng_from(1))
    assert encrypt(public, 5, rng=rng_from(2)).ciphertext() == encrypt_raw(
        public, 5, rng=rng_from(2)
    )


def test_our_ciphertexts_are_not_reobfuscated_by_phe() -> None:
    public, _ = keypair(512)
    number = encrypt(public, 7, rng=rng_from(3))
    assert number.ciphertext() == number.ciphertext(be_secure=False)
    assert number.ciphertext() == encrypt_raw(public, 7, rng=rng_from(3))


def test_raw_api_round_trips_the_whole_range() -> None:
    public, private = keypair(512)
    n = public.n
    for m in (0, 1, 2, n // 3, n // 2, n - 2, n - 1, random.Random(4).randrange(n)):
        c = encrypt_raw(public, m)
        assert 0 < c < public.nsquare and decrypt_raw(private, c) == m
        assert decrypt_raw(private, rerandomize_raw(public, c)) == m
    c1, c2 = encrypt_raw(public, n - 1), encrypt_raw(public, 5)
    assert decrypt_raw(private, c1 * c2 % public.nsquare) == 4  # sums wrap modulo n


def test_rerandomize_keeps_value_and_exponent() -> None:
    public, private = keypair(512)
    number = encrypt(public, -3.75)
    fresh = rerandomize(public, number)
    assert fresh.exponent == number.exponent
    assert fresh.ciphertext() != number.ciphertext()
    assert decrypt(private, fresh) == -3.75


def test_stock_phe_and_this_package_open_each_other_2048() -> None:
    public, private = keypair(2048)
    stock_public, stock_private = public.to_phe(), private.to_phe()
    rnd = random.Random(5)
    ours_values: list[Any] = [0, -1, 2**60, -(2**70), 3.5, -1e-3, 123.456, rnd.uniform(-1e9, 1e9)]
    for value, number in zip(ours_values, encrypt_many(public, ours_values), strict=True):
        assert stock_private.decrypt(number) == value
    theirs: list[Any] = [stock_public.encrypt(v) for v in (7, -7, 0.125, -2.5e-7, 10**30)]
    theirs.append(stock_public.encrypt(1.0, precision=1e-4))
    theirs.append(stock_public.encrypt(3) + stock_public.encrypt(0.5))
    theirs.append(stock_public.encrypt(2.0) * 1.5)
    expected = [7, -7, 0.125, -2.5e-7, 10**30, 1.0, 3.5, 3.0]
    assert decrypt_many(private, theirs) == [stock_private.decrypt(t) for t in theirs]
    assert decrypt_many(private, theirs) == pytest.approx(expected, rel=1e-12)
    mixed = encrypt(public, 1.25) + stock_public.encrypt(-0.75)
    assert decrypt(private, mixed) == stock_private.decrypt(mixed) == 0.5


def test_exponent_length_policy() -> None:
    public, _ = keypair(1024)
    assert exponent_bits_for(public) == 512
    assert exponent_bits_for(public, MIN_EXPONENT_BITS) == 256
    for short in (1, 64, 128, 255):
        with pytest.raises(ValueError, match="insecure"):
            exponent_bits_for(public, short)
        assert exponent_bits_for(public, short, allow_insecure=True) == short
    for bad in (0, -1, 1025, 2.5, True):
        with pytest.raises(ValueError):
            exponent_bits_for(public, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="insecure"):
        encrypt(public, 1, exponent_bits=128)


def test_a_short_exponent_still_encrypts_correctly() -> None:
    public, private = keypair(1024)
    number = encrypt(public, 42, exponent_bits=256)
    assert decrypt(private, number) == 42
    c = encrypt_raw(public, 9, exponent_bits=64, allow_insecure=True)
    assert decrypt_raw(private, c) == 9


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), float("-inf")],
)
def test_nan_and_infinity_are_refused(value: float) -> None:
    public, _ = keypair(512)
    expect_error(InvalidValue, lambda: encrypt(public, value))
    expect_error(InvalidValue, lambda: encrypt(public, value, fixed_point=FixedPoint(2)))
    expect_error(InvalidValue, lambda: encrypt_many(public, [1.0, value]))


def test_values_that_cannot_be_encoded_are_refused() -> None:
    public, _ = keypair(512)
    err = expect_error(InvalidValue, lambda: encrypt(public, Decimal("1.5")))
    assert "fixed_point" in str(err)
    bad: Any
    for bad in (True, "3", None):
        expect_error(InvalidValue, functools.partial(encrypt, public, bad))
    for precision in (0, -1.0, float("nan"), float("inf")):
        expect_error(InvalidValue, functools.partial(encrypt, public, 1.5, precision=precision))
    expect_error(InvalidValue, lambda: encrypt_raw(public, -1))
    expect_error(InvalidValue, lambda: encrypt_raw(public, True))


def test_plaintexts_too_large_for_the_key_are_refused() -> None:
    public, _ = keypair(512)
    secret = public.max_int + 12345
    err = expect_error(PlaintextTooLarge, lambda: encrypt(public, secret), secret)
    assert err.code == "plaintext_too_large"
    expect_error(PlaintextTooLarge, lambda: encrypt(public, -secret), secret)
    expect_error(PlaintextTooLarge, lambda: encrypt(public, 10**200), secret)
    expect_error(
        PlaintextTooLarge,
        lambda: encrypt(public, Decimal(secret), fixed_point=FixedPoint(2)),
        secret,
    )
    expect_error(PlaintextTooLarge, lambda: encrypt_raw(public, public.n), public.n)


def test_overflowed_sums_are_detected() -> None:
    public, private = keypair(512)
    big = encrypt(public, public.max_int)
    expect_error(Overflow, lambda: decrypt(private, big + big))
    expect_error(Overflow, lambda: decrypt(private, big + big, fixed_point=FixedPoint(2)))


def test_empty_batches_are_refused() -> None:
    public, private = keypair(512)
    assert expect_error(EmptyInput, lambda: encrypt_many(public, [])).code == "empty_input"
    expect_error(EmptyInput, lambda: decrypt_many(private, []))


@pytest.mark.parametrize(
    "make",
    [
        lambda n2, n: 0,
        lambda n2, n: n2,
        lambda n2, n: n2 + 1,
        lambda n2, n: -5,
        lambda n2, n: n,
        lambda n2, n: 3 * n,
        lambda n2, n: 1.0,
        lambda n2, n: "12",
        lambda n2, n: None,
        lambda n2, n: True,
    ],
    ids=["zero", "n2", "above", "negative", "n", "multiple-of-n", "float", "str", "none", "bool"],
)
def test_out_of_range_ciphertexts_are_refused(make: Any) -> None:
    public, private = keypair(512)
    bad = make(public.nsquare, public.n)
    expect_opaque(MalformedCiphertext, lambda: validate_ciphertext(public, bad), private.p)
    expect_opaque(MalformedCiphertext, lambda: decrypt_raw(private, bad), private.p, private.q)
    expect_opaque(MalformedCiphertext, lambda: rerandomize_raw(public, bad))
    number = phe.EncryptedNumber(public.to_phe(), bad, 0)
    expect_opaque(MalformedCiphertext, lambda: decrypt(private, number), private.p)
    expect_opaque(MalformedCiphertext, lambda: decrypt_many(private, [number]), private.p)


def test_a_ciphertext_sharing_a_factor_with_n_is_refused() -> None:
    _public, private = keypair(512)
    expect_opaque(MalformedCiphertext, lambda: decrypt_raw(private, private.p * 7), private.p)
    expect_opaque(MalformedCiphertext, lambda: decrypt_raw(private, private.q), private.q)


def test_ciphertexts_under_another_key_are_refused() -> None:
    public, private = keypair(512)
    other_public, _ = keypair(512, seed=1)
    foreign = encrypt(other_public, 5)
    expect_opaque(MalformedCiphertext, lambda: decrypt(private, foreign), private.p)
    expect_opaque(MalformedCiphertext, lambda: rerandomize(public, foreign))
    bigger = encrypt_raw(keypair(1024)[0], 5)
    expect_opaque(MalformedCiphertext, lambda: decrypt_raw(private, bigger))


def test_non_numbers_and_absurd_exponents_are_refused() -> None:
    public, private = keypair(512)
    c = encrypt_raw(public, 3)
    expect_opaque(MalformedCiphertext, lambda: decrypt(private, c))
    for exponent in (10**6, -(10**6), 1.5, None):
        number = phe.EncryptedNumber(public.to_phe(), c, 0)
        number.exponent = exponent
        expect_opaque(MalformedCiphertext, functools.partial(decrypt, private, number))
    scaled = phe.EncryptedNumber(public.to_phe(), c, -2)
    expect_opaque(MalformedCiphertext, lambda: decrypt(private, scaled, fixed_point=FixedPoint(2)))
