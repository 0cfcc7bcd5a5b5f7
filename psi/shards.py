"""Keyed partition of a set into shards, so that large PSI runs can proceed shard by shard.

Both parties partition their own items with the same per-job key: an item lands in shard
``BLAKE2b-128(item, key=key) mod shards`` on either side, so the intersection of the whole sets is
the union of the per-shard intersections. The key should be fresh per job, so that shard
membership cannot be linked across jobs.

What sharding reveals: each party learns the size of the other party's set per shard (message
sizes), rather than only the total. For ``psi.cardinality`` the requester learns the intersection
size *per shard*; with few items in a shard that can pin down individual items, so the runner
should only use shards large enough (or release only the sum) for the kinds that need it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["MAX_KEY_BYTES", "MIN_KEY_BYTES", "partition", "shard_of"]

MIN_KEY_BYTES = 16
MAX_KEY_BYTES = 64
_DIGEST_BYTES = 16


def _keyed(key: bytes, shards: int) -> hashlib.blake2b:
    if not isinstance(key, bytes) or not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError("shard key must be 16 to 64 bytes")
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ValueError("shards must be an int >= 1")
    return hashlib.blake2b(key=key, digest_size=_DIGEST_BYTES)


def shard_of(item: bytes, key: bytes, shards: int) -> int:
    """The shard (0-based) of ``item``: keyed BLAKE2b-128 as a big-endian int, mod ``shards``."""
    h = _keyed(key, shards)
    h.update(item)
    return int.from_bytes(h.digest(), "big") % shards


def partition(items: Sequence[bytes], key: bytes, shards: int) -> list[list[int]]:
    """For each shard, the indices of the items that belong to it, in their original order."""
    base = _keyed(key, shards)
    out: list[list[int]] = [[] for _ in range(shards)]
    from_bytes = int.from_bytes
    for index, item in enumerate(items):
        h = base.copy()
        h.update(item)
        out[from_bytes(h.digest(), "big") % shards].append(index)
    return out
