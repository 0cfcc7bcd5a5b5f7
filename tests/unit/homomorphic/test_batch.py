"""Batches on executors: order, determinism, per-process tables; the package makes no pool."""

from __future__ import annotations

import random
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from decimal import Decimal

import pytest

from homomorphic import hazmat
from homomorphic.encoding import FixedPoint
from homomorphic.encryption import decrypt_many, encrypt_many
from homomorphic.packing import PackingLayout, decrypt_packed_many, encrypt_packed
from tests.unit.homomorphic.helpers import keypair, rng_from


def test_thread_pool_batches_match_the_serial_path() -> None:
    public, private = keypair(512)
    rnd = random.Random(1)
    values = [rnd.randint(-(10**6), 10**6) for _ in range(50)] + [0.5, -2.25]
    serial = encrypt_many(public, values, rng=rng_from(2))
    with ThreadPoolExecutor(max_workers=3) as pool:
        pooled = encrypt_many(public, values, rng=rng_from(2), executor=pool, chunk_size=7)
        assert [n.ciphertext() for n in pooled] == [n.ciphertext() for n in serial]
        assert decrypt_many(private, pooled, executor=pool, chunk_size=5) == values
    fp = FixedPoint(2)
    decimals = [Decimal("1.25"), Decimal("-3.50")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        numbers = encrypt_many(public, decimals, fixed_point=fp, executor=pool, chunk_size=1)
        assert decrypt_many(private, numbers, fixed_point=fp, executor=pool) == decimals


def test_process_pool_batches_for_single_and_packed_values() -> None:
    public, private = keypair(512)
    layout = PackingLayout.fit(public, max_abs=Decimal("1000"), max_additions=8, decimals=2)
    rnd = random.Random(3)
    amounts = [Decimal(rnd.randint(-100000, 100000)).scaleb(-2) for _ in range(5 * layout.slots)]
    singles = [rnd.randint(-1000, 1000) for _ in range(40)]
    serial_packed = encrypt_packed(public, amounts, layout, rng=rng_from(4))
    with ProcessPoolExecutor(max_workers=2) as pool:
        packed = encrypt_packed(
            public, amounts, layout, rng=rng_from(4), executor=pool, chunk_size=2
        )
        assert packed == serial_packed
        opened = decrypt_packed_many(private, packed, executor=pool, chunk_size=2)
        numbers = encrypt_many(public, singles, executor=pool, chunk_size=9)
        assert decrypt_many(private, numbers, executor=pool, chunk_size=9) == singles
        # An exception in a worker reaches the caller.
        with pytest.raises(ValueError, match="window_bits"):
            pool.submit(hazmat.encrypt_chunk, public, 0, [1], [1]).result()
    assert [v for vs in opened for v in vs] == amounts


def test_chunk_size_is_checked() -> None:
    public, _ = keypair(512)
    with ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(ValueError, match="chunk_size"):
        encrypt_many(public, [1], executor=pool, chunk_size=0)


def test_tables_are_cached_per_key_and_bounded() -> None:
    hazmat.clear_tables()
    keys = [keypair(256, seed=s)[0] for s in range(3)]
    first = hazmat.table_for(keys[0], 128)
    assert hazmat.table_for(keys[0], 128) is first
    assert hazmat.table_for(keys[0], 64) is not first
    hazmat.table_for(keys[1], 128)
    hazmat.table_for(keys[2], 128)
    assert hazmat.table_for(keys[0], 128) is not first  # evicted: at most two per process
    hazmat.clear_tables()
