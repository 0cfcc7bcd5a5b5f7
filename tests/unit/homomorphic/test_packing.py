"""Packing: layouts, slot-wise sums with headroom, negative values, tampering, bad input."""

from __future__ import annotations

import dataclasses
import functools
import random
from decimal import Decimal

import pytest

from homomorphic.encryption import encrypt_raw
from homomorphic.errors import (
    EmptyInput,
    InvalidValue,
    LayoutMismatch,
    MalformedCiphertext,
    Overflow,
    PlaintextTooLarge,
)
from homomorphic.packing import (
    PackingLayout,
    decrypt_packed,
    decrypt_packed_many,
    encrypt_packed,
    sum_packed,
)
from tests.unit.homomorphic.helpers import expect_error, expect_opaque, keypair, rng_from


def _amounts(seed: int, count: int, bound: int = 10**8) -> list[Decimal]:
    rnd = random.Random(seed)
    return [Decimal(rnd.randint(-bound, bound)).scaleb(-2) for _ in range(count)]


def test_layout_fit_and_arithmetic() -> None:
    public, _ = keypair(1024)
    layout = PackingLayout.fit(public, max_abs=Decimal("1000000"), max_additions=1000, decimals=2)
    # 10**8 < 2**27; sign bias: +1 bit; 1000 summands: +10 bits.
    assert (layout.value_bits, layout.slot_bits, layout.bias) == (27, 38, 2**27)
    assert layout.slots == 1023 // 38 and layout.plaintext_bits <= public.bits - 1
    assert PackingLayout.fit(public, max_abs=0, max_additions=1).slot_bits == 2
    assert PackingLayout.fit(public, max_abs=1, max_additions=2, slots=3).slots == 3
    expect_error(
        PlaintextTooLarge, lambda: PackingLayout.fit(public, max_abs=2**1100, max_additions=1)
    )
    expect_error(
        PlaintextTooLarge,
        lambda: PackingLayout.fit(public, max_abs=1, max_additions=1, slots=1000),
    )
    for bad in (dict(slots=0), dict(value_bits=0), dict(max_additions=0), dict(decimals=-1),
                dict(slots=True), dict(slots=10**6)):  # fmt: skip
        kwargs = dict(slots=4, value_bits=8, max_additions=4, decimals=0) | bad
        with pytest.raises(ValueError):
            PackingLayout(**kwargs)  # type: ignore[arg-type]


def test_values_round_trip_including_negatives_and_partial_ciphertexts() -> None:
    public, private = keypair(1024)
    layout = PackingLayout.fit(public, max_abs=Decimal("1000000"), max_additions=64, decimals=2)
    values = _amounts(1, 3 * layout.slots + 5)
    values[:4] = [Decimal("-1000000.00"), Decimal("1000000.00"), Decimal("0.00"), Decimal("-0.01")]
    packed = encrypt_packed(public, values, layout)
    assert [p.length for p in packed] == [layout.slots] * 3 + [5]
    assert all(p.count == 1 for p in packed)
    opened = [v for vs in decrypt_packed_many(private, packed) for v in vs]
    assert opened == values
    assert decrypt_packed(private, packed[-1]) == values[-5:]


def test_packed_sums_are_slotwise_for_random_vectors() -> None:
    public, private = keypair(1024)
    layout = PackingLayout.fit(public, max_abs=Decimal("1000000"), max_additions=8, decimals=2)
    width = layout.slots + 3
    vectors = [_amounts(seed, width) for seed in range(8)]
    encrypted = [encrypt_packed(public, v, layout) for v in vectors]
    totals = [sum_packed(e[i] for e in encrypted) for i in range(2)]
    assert [t.count for t in totals] == [8, 8]
    opened = decrypt_packed(private, totals[0]) + decrypt_packed(private, totals[1])
    assert opened == [sum(v[i] for v in vectors) for i in range(width)]
    pairwise = encrypted[0][0].add(encrypted[1][0]).add(encrypted[2][0])
    assert pairwise.count == 3
    assert decrypt_packed(private, pairwise) == [
        vectors[0][i] + vectors[1][i] + vectors[2][i] for i in range(layout.slots)
    ]


def test_extreme_values_fill_the_headroom_exactly() -> None:
    public, private = keypair(512)
    layout = PackingLayout.fit(public, max_abs=255, max_additions=5)
    high = encrypt_packed(public, [255] * layout.slots, layout)[0]
    low = encrypt_packed(public, [-255] * layout.slots, layout)[0]
    assert decrypt_packed(private, sum_packed([high] * 5)) == [1275] * layout.slots
    assert decrypt_packed(private, sum_packed([low] * 5)) == [-1275] * layout.slots
    mixed = sum_packed([high, low, low, high, high])
    assert decrypt_packed(private, mixed) == [255] * layout.slots


def test_vectors_of_different_lengths_add_up() -> None:
    public, private = keypair(512)
    layout = PackingLayout.fit(public, max_abs=1000, max_additions=4)
    short = encrypt_packed(public, [1, 2], layout)[0]
    longer = encrypt_packed(public, [10, 20, 30, 40], layout)[0]
    total = short.add(longer)
    assert total.length == 4 and decrypt_packed(private, total) == [11, 22, 30, 40]


def test_rerandomized_packed_ciphertexts_keep_their_slots() -> None:
    public, private = keypair(512)
    layout = PackingLayout.fit(public, max_abs=1000, max_additions=4)
    packed = encrypt_packed(public, [5, -6, 7], layout, rng=rng_from(1))[0]
    fresh = packed.rerandomized()
    assert fresh.ciphertext != packed.ciphertext and fresh.count == packed.count
    assert decrypt_packed(private, fresh) == [5, -6, 7]
    again = encrypt_packed(public, [5, -6, 7], layout, rng=rng_from(1))[0]
    assert again == packed


def test_a_value_that_would_overflow_its_slot_is_refused_before_encryption() -> None:
    public, _ = keypair(512)
    layout = PackingLayout.fit(public, max_abs=Decimal("100.00"), max_additions=4, decimals=2)
    assert layout.value_bits == 14  # 10000 < 2**14 = 16384
    for secret in (Decimal("163.84"), Decimal("-163.84"), Decimal("999999.99")):
        err = expect_error(
            Overflow,
            functools.partial(encrypt_packed, public, [Decimal(1), Decimal(2), secret], layout),
            str(secret),
            str(int(secret * 100)),
        )
        assert "#2" in str(err) and err.code == "overflow"
    assert encrypt_packed(public, [Decimal("163.83"), Decimal("-163.83")], layout)
    expect_error(InvalidValue, lambda: encrypt_packed(public, [float("nan")], layout))


def test_sums_beyond_the_headroom_are_refused() -> None:
    public, _ = keypair(512)
    layout = PackingLayout.fit(public, max_abs=100, max_additions=3)
    one = encrypt_packed(public, [1], layout)[0]
    two = one.add(one)
    three = two.add(one)
    assert three.count == 3
    err = expect_error(Overflow, lambda: three.add(one))
    assert "3" in str(err)
    expect_error(Overflow, lambda: two.add(two))
    expect_error(Overflow, lambda: sum_packed([one] * 4))


def test_mismatched_layouts_and_keys_are_refused() -> None:
    public, private = keypair(512)
    other_public, _ = keypair(512, seed=1)
    layout = PackingLayout.fit(public, max_abs=100, max_additions=3)
    other_layout = PackingLayout.fit(public, max_abs=100, max_additions=4)
    a = encrypt_packed(public, [1], layout)[0]
    b = encrypt_packed(public, [1], other_layout)[0]
    err = expect_error(LayoutMismatch, lambda: a.add(b))
    assert err.code == "layout_mismatch"
    foreign = encrypt_packed(other_public, [1], layout)[0]
    expect_opaque(MalformedCiphertext, lambda: a.add(foreign))
    expect_opaque(MalformedCiphertext, lambda: decrypt_packed(private, foreign), private.p)
    with pytest.raises(TypeError):
        a.add(5)  # type: ignore[arg-type]


def test_layouts_too_large_for_the_key_are_refused() -> None:
    small, _ = keypair(256)
    big, _ = keypair(512)
    layout = PackingLayout.fit(big, max_abs=100, max_additions=3)
    expect_error(PlaintextTooLarge, lambda: encrypt_packed(small, [1], layout))


def test_empty_inputs_are_refused() -> None:
    public, private = keypair(512)
    layout = PackingLayout.fit(public, max_abs=100, max_additions=3)
    expect_error(EmptyInput, lambda: encrypt_packed(public, [], layout))
    expect_error(EmptyInput, lambda: decrypt_packed_many(private, []))
    expect_error(EmptyInput, lambda: sum_packed([]))


def test_invalid_packed_objects_are_refused() -> None:
    public, private = keypair(512)
    layout = PackingLayout.fit(public, max_abs=100, max_additions=3)
    good = encrypt_packed(public, [1, 2], layout)[0]
    for change in (
        dict(count=0),
        dict(count=4),
        dict(count=True),
        dict(length=0),
        dict(length=layout.slots + 1),
        dict(ciphertext=0),
        dict(ciphertext=public.nsquare),
        dict(ciphertext=-1),
        dict(ciphertext=float(good.ciphertext)),
        dict(version="packed/0"),
    ):
        expect_opaque(
            MalformedCiphertext,
            functools.partial(dataclasses.replace, good, **change),
        )
    shares_p = dataclasses.replace(good, ciphertext=private.p * 3)
    expect_opaque(MalformedCiphertext, lambda: decrypt_packed(private, shares_p), private.p)


def test_tampered_or_mislabelled_ciphertexts_do_not_decode() -> None:
    public, private = keypair(512)
    layout = PackingLayout.fit(public, max_abs=100, max_additions=3)
    good = encrypt_packed(public, [1, 2], layout)[0]
    # A plaintext that is not a packing (an ordinary encryption of a big number).
    raw = dataclasses.replace(good, ciphertext=encrypt_raw(public, public.n - 1))
    expect_opaque(MalformedCiphertext, lambda: decrypt_packed(private, raw))
    # Claiming more summands than were added leaves slots below their floor.
    expect_opaque(
        MalformedCiphertext, lambda: decrypt_packed(private, dataclasses.replace(good, count=3))
    )
    # Claiming fewer used slots: the hidden slot is not an encoded zero.
    expect_opaque(
        MalformedCiphertext, lambda: decrypt_packed(private, dataclasses.replace(good, length=1))
    )
    # A slot value beyond what one summand can hold.
    forged = encrypt_raw(public, 2 * layout.bias)  # slot 0 = 2·bias: v = +bias, too large
    expect_opaque(
        MalformedCiphertext,
        lambda: decrypt_packed(private, dataclasses.replace(good, ciphertext=forged)),
    )
