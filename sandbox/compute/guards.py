"""Guards a requester's domain applies before its identifiers enter a protocol.

Membership must not be probed one identifier at a time: a cardinality query needs a minimum
set size (checked here against the ticket's bound), and two successive cardinality queries
under the same grant may not overlap more than the grant allows (a query that differs from
the previous one by a single identifier would reveal that identifier's membership by
difference). Identical repeats reveal nothing new and are allowed.

The previous query is remembered *inside the requester's domain* as keyed 8-byte digests
(the key never leaves the domain), so no other party learns the set.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence

from sandbox.compute.inputs import read_bytes, write_bytes
from sandbox.domains.store import DomainStore
from sandbox.errors import SandboxError
from sandbox.write_once import read_or_create

DIGEST_BYTES = 8


def _key(store: DomainStore) -> bytes:
    """The domain's key for overlap digests: made once (two jobs' first steps may ask at once;
    an empty key read mid-write would silently make digests no later job can match)."""
    return read_or_create(store.root / "guards" / "key", lambda: os.urandom(32))


def _digests(key: bytes, items: Sequence[str]) -> set[bytes]:
    return {
        hashlib.blake2b(item.encode(), key=key, digest_size=DIGEST_BYTES).digest() for item in items
    }


def check_size(count: int, *, min_items: int, max_items: int) -> None:
    if count == 0:
        raise SandboxError("the input has no valid identifiers", code="guard.empty")
    if count > max_items:
        raise SandboxError(
            f"{count} identifiers exceed the grant's {max_items} per call", code="guard.too_many"
        )
    if count < min_items:
        raise SandboxError(
            f"{count} identifiers are fewer than the grant's minimum of {min_items}",
            code="guard.too_few",
        )


def check_overlap(
    store: DomainStore, grant: str, items: Sequence[str], *, max_overlap: float
) -> None:
    """Refuse a query that overlaps the previous one under this grant more than allowed;
    remember this one otherwise."""
    path = store.root / "guards" / str(uuid.UUID(grant)) / "cardinality.bin"
    key = _key(store)
    current = _digests(key, items)
    if path.exists():
        blob = read_bytes(path)
        previous = {blob[i : i + DIGEST_BYTES] for i in range(0, len(blob), DIGEST_BYTES)}
        if current != previous and previous:
            shared = len(current & previous) / min(len(current), len(previous))
            if shared > max_overlap:
                raise SandboxError(
                    f"the query overlaps the previous one under this grant by "
                    f"{shared:.0%}, more than the {max_overlap:.0%} allowed",
                    code="guard.overlap",
                )
    write_bytes(path, b"".join(sorted(current)))
