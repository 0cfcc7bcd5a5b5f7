"""Aggregation helpers: sums of phe numbers, packed vectors across parties, per-group moments."""

from __future__ import annotations

import random
import statistics
from decimal import Decimal

import pytest

from homomorphic.aggregates import (
    Moments,
    decrypt_moments,
    encrypt_moments,
    moments_layout,
    sum_ciphertexts,
    sum_vectors,
)
from homomorphic.encoding import FixedPoint
from homomorphic.encryption import decrypt, encrypt, encrypt_many, rerandomize
from homomorphic.errors import EmptyInput, LayoutMismatch, MalformedCiphertext, Overflow
from homomorphic.packing import PackingLayout, decrypt_packed_many, encrypt_packed
from tests.unit.homomorphic.helpers import expect_error, expect_opaque, keypair


def test_sum_ciphertexts_adds_ours_and_stock_numbers_with_mixed_exponents() -> None:
    public, private = keypair(1024)
    rnd = random.Random(3)
    values = [rnd.randint(-(10**9), 10**9) for _ in range(40)]
    numbers = encrypt_many(public, values)
    total = sum_ciphertexts(public, numbers)
    assert decrypt(private, total) == sum(values)
    assert private.to_phe().decrypt(total) == sum(values)
    mixed = [encrypt(public, 1.5), public.to_phe().encrypt(2), encrypt(public, -0.25)]
    assert decrypt(private, sum_ciphertexts(public, mixed)) == 3.25
    assert decrypt(private, rerandomize(public, total)) == sum(values)


def test_sum_ciphertexts_refuses_bad_input() -> None:
    public, _private = keypair(512)
    other, _ = keypair(512, seed=1)
    expect_error(EmptyInput, lambda: sum_ciphertexts(public, []))
    expect_opaque(MalformedCiphertext, lambda: sum_ciphertexts(public, [encrypt(other, 1)]))
    expect_opaque(MalformedCiphertext, lambda: sum_ciphertexts(public, [encrypt(public, 1), 5]))


def test_secure_sum_of_group_totals_across_three_parties() -> None:
    public, private = keypair(1024)
    layout = PackingLayout.fit(public, max_abs=Decimal("1e9"), max_additions=3, decimals=2)
    rnd = random.Random(4)
    groups = layout.slots + 7
    parties = [
        [Decimal(rnd.randint(-(10**11), 10**11)).scaleb(-2) for _ in range(groups)]
        for _ in range(3)
    ]
    vectors = [encrypt_packed(public, totals, layout) for totals in parties]
    summed = sum_vectors(vectors)
    assert [p.count for p in summed] == [3, 3]
    opened = [v for vs in decrypt_packed_many(private, summed) for v in vs]
    assert opened == [sum(p[g] for p in parties) for g in range(groups)]
    expect_error(Overflow, lambda: sum_vectors([*vectors, vectors[0]]))
    expect_error(LayoutMismatch, lambda: sum_vectors([vectors[0], vectors[1][:1]]))
    expect_error(EmptyInput, lambda: sum_vectors([]))


def test_moments_per_group_across_parties() -> None:
    public, private = keypair(1024)
    fp = FixedPoint(2)
    layout = moments_layout(
        public, max_abs=Decimal("10000"), decimals=2, max_rows=500, max_parties=3
    )
    assert layout.decimals == 0
    rnd = random.Random(5)
    n_groups = 9
    data = [
        [
            [Decimal(rnd.randint(-(10**6), 10**6)).scaleb(-2) for _ in range(rnd.randint(0, 40))]
            for _ in range(n_groups)
        ]
        for _ in range(3)
    ]
    vectors = [encrypt_moments(public, groups, layout, fixed_point=fp) for groups in data]
    moments = decrypt_moments(private, sum_vectors(vectors), fixed_point=fp)
    assert len(moments) == n_groups
    for g, m in enumerate(moments):
        rows = [x for party in data for x in party[g]]
        assert m.count == len(rows)
        assert m.total == sum(rows, Decimal(0))
        assert m.sum_squares == sum((x * x for x in rows), Decimal(0))
        if rows:
            assert m.mean is not None and m.variance is not None
            assert abs(m.mean - statistics.mean(rows)) < Decimal("1e-20")
            assert abs(m.variance - statistics.pvariance(rows)) < Decimal("1e-15")
        else:
            assert m.mean is None and m.variance is None


def test_moments_refuse_groups_beyond_the_layout() -> None:
    public, _ = keypair(512)
    fp = FixedPoint(0)
    layout = moments_layout(public, max_abs=10, decimals=0, max_rows=4, max_parties=2)
    assert encrypt_moments(public, [[10, -10, 10, 10]], layout, fixed_point=fp)
    expect_error(Overflow, lambda: encrypt_moments(public, [[10] * 6], layout, fixed_point=fp))
    expect_error(EmptyInput, lambda: encrypt_moments(public, [], layout, fixed_point=fp))
    scaled = PackingLayout.fit(public, max_abs=10, max_additions=2, decimals=2)
    with pytest.raises(ValueError, match="moments_layout"):
        encrypt_moments(public, [[1]], scaled, fixed_point=fp)


def test_moments_properties() -> None:
    m = Moments(count=4, total=Decimal("10"), sum_squares=Decimal("30"))
    assert m.mean == Decimal("2.5") and m.variance == Decimal("1.25")
    assert Moments(0, 0, 0).mean is None
