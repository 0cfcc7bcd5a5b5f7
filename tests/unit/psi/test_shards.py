"""Keyed sharding: deterministic, keyed, a true partition, and PSI per shard = PSI overall."""

from __future__ import annotations

import hashlib
import random

import pytest

from psi.ecdh import PsiClient, PsiServer
from psi.shards import partition, shard_of
from psi.wire import Binding

KEY = bytes(range(32))


def _items(seed: int, n: int) -> list[bytes]:
    rnd = random.Random(seed)
    return [rnd.randbytes(rnd.randrange(0, 24)) for _ in range(n)]


def test_shard_of_is_keyed_blake2b_mod_shards() -> None:
    item = b"some id"
    digest = hashlib.blake2b(item, key=KEY, digest_size=16).digest()
    assert shard_of(item, KEY, 7) == int.from_bytes(digest, "big") % 7
    assert shard_of(item, KEY, 1) == 0


def test_partition_is_deterministic_and_covers_every_index_once() -> None:
    items = _items(1, 2000)
    parts = partition(items, KEY, 8)
    assert parts == partition(list(items), KEY, 8)
    assert len(parts) == 8
    flat = sorted(i for part in parts for i in part)
    assert flat == list(range(len(items)))
    for shard, part in enumerate(parts):
        assert part == sorted(part)  # order preserved
        assert all(shard_of(items[i], KEY, 8) == shard for i in part)
    # Roughly balanced (expected 250 per shard; this bound fails only for a broken hash).
    assert all(150 < len(part) < 350 for part in parts)


def test_duplicates_land_together() -> None:
    items = [b"dup", b"x", b"dup", b"y", b"dup"]
    parts = partition(items, KEY, 4)
    home = shard_of(b"dup", KEY, 4)
    assert [0, 2, 4] == [i for i in parts[home] if items[i] == b"dup"]


def test_partition_is_keyed() -> None:
    items = _items(2, 1000)
    a = partition(items, KEY, 8)
    b = partition(items, bytes(reversed(KEY)), 8)
    assert a != b
    moved = sum(shard_of(x, KEY, 8) != shard_of(x, bytes(reversed(KEY)), 8) for x in items)
    assert moved > 700  # ~7/8 of the items change shard under another key


def test_single_shard_and_empty_input() -> None:
    items = _items(3, 10)
    assert partition(items, KEY, 1) == [list(range(10))]
    assert partition([], KEY, 3) == [[], [], []]


@pytest.mark.parametrize(
    ("key", "shards"),
    [(b"k" * 15, 2), (b"k" * 65, 2), ("k" * 16, 2), (KEY, 0), (KEY, -1), (KEY, True)],
)
def test_bad_parameters(key: object, shards: object) -> None:
    with pytest.raises(ValueError):
        partition([b"a"], key, shards)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        shard_of(b"a", key, shards)  # type: ignore[arg-type]


@pytest.mark.parametrize("reveal", [True, False])
def test_sharded_psi_equals_whole_set_psi(reveal: bool) -> None:
    rnd = random.Random(5)
    pool = [f"p{rnd.getrandbits(48):012x}" for _ in range(700)]
    client = pool[:300] + pool[:10]  # with duplicates
    server = pool[250:700] + rnd.sample(pool[:250], 60)
    shards = 3
    job_key = rnd.randbytes(32)
    client_parts = partition([x.encode() for x in client], job_key, shards)
    server_parts = partition([x.encode() for x in server], job_key, shards)
    protocol = "psi.intersection" if reveal else "psi.cardinality"
    found: list[int] = []
    total = 0
    for shard in range(shards):
        binding = Binding("job-s", shard, protocol)
        c_items = [client[i] for i in client_parts[shard]]
        s_items = [server[i] for i in server_parts[shard]]
        pc = PsiClient(binding, reveal=reveal)
        ps = PsiServer(binding, reveal=reveal)
        setup = ps.setup(s_items, client_size=len(c_items))
        response = ps.respond(pc.request(c_items), max_items=len(c_items))
        if reveal:
            found.extend(client_parts[shard][i] for i in pc.intersect(setup, response))
        else:
            total += pc.cardinality(setup, response)
    server_set = set(server)
    expected = [i for i, x in enumerate(client) if x in server_set]
    if reveal:
        assert sorted(found) == expected
    else:
        assert total == len(expected)
    # And the whole-set run agrees.
    whole = Binding("job-s", 0, protocol)
    pc = PsiClient(whole, reveal=reveal)
    ps = PsiServer(whole, reveal=reveal)
    setup = ps.setup(server, client_size=len(client))
    response = ps.respond(pc.request(client), max_items=len(client))
    if reveal:
        assert pc.intersect(setup, response) == expected
    else:
        assert pc.cardinality(setup, response) == len(expected)
