"""Appending to the ledger and reading it back with proofs.

:func:`append` runs inside the caller's transaction, so an entry is committed exactly when the
change it records is. Appends are serialized (an advisory lock on PostgreSQL; SQLite's write
lock elsewhere), which gives each entry the next index and the previous entry's hash.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from sandbox.errors import InvalidInput, SandboxError
from sandbox.ledger import merkle
from sandbox.ledger.checkpoint import SignedCheckpoint, sign_checkpoint
from sandbox.ledger.entry import make_entry
from sandbox.ledger.models import LedgerCheckpoint, LedgerEntry
from sandbox.parties.principal import Principal

_LOCK_KEY = 0x5B1ED6E5  # pg_advisory_xact_lock key owned by the ledger
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Actor:
    user: str | None
    org: str | None

    @classmethod
    def of(cls, who: Principal) -> Actor:
        return cls(who.username, who.org_slug)


SYSTEM = Actor(None, None)


def append(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    params: Any,
    details: dict[str, Any] | None = None,
    job_id: uuid.UUID | None = None,
    now: dt.datetime,
) -> int:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    last = session.execute(
        select(LedgerEntry.index, LedgerEntry.leaf_hash).order_by(LedgerEntry.index.desc()).limit(1)
    ).first()
    index = 0 if last is None else last[0] + 1
    body = make_entry(
        index=index,
        time=now,
        prev="" if last is None else last[1].hex(),
        user=actor.user,
        org=actor.org,
        action=action,
        object_type=object_type,
        object_id=object_id,
        params=params,
        details=details,
    )
    session.add(
        LedgerEntry(
            index=index,
            body=body,
            leaf_hash=merkle.leaf_hash(body),
            created_at=now,
            action=action,
            actor_user=actor.user,
            actor_org=actor.org,
            object_type=object_type,
            object_id=object_id,
            job_id=job_id,
        )
    )
    session.flush()
    return index


def size(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def leaves(session: Session, tree_size: int) -> list[bytes]:
    return list(
        session.scalars(select(LedgerEntry.leaf_hash).order_by(LedgerEntry.index).limit(tree_size))
    )


def entries(session: Session, start: int, end: int) -> list[LedgerEntry]:
    return list(
        session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.index >= start, LedgerEntry.index < end)
            .order_by(LedgerEntry.index)
        )
    )


def latest_checkpoint(session: Session) -> LedgerCheckpoint | None:
    return session.scalar(
        select(LedgerCheckpoint)
        .order_by(LedgerCheckpoint.tree_size.desc(), LedgerCheckpoint.created_at.desc())
        .limit(1)
    )


class LedgerTampered(SandboxError):
    code = "ledger.tampered"


def checkpoint(session: Session, key: Ed25519PrivateKey, *, now: dt.datetime) -> LedgerCheckpoint:
    """Sign the current tree, unless the latest checkpoint already covers it.

    Never signs over tampering: leaf hashes are recomputed from the stored bodies, each entry
    must chain to the one before it, and the last signed root must still hold for its prefix.
    """
    latest = latest_checkpoint(session)
    current = size(session)
    if latest is not None and latest.tree_size == current:
        return latest
    hashes = _recomputed_leaves(session, current)
    if latest is not None and merkle.root(hashes[: latest.tree_size]).hex() != latest.root_hash:
        raise LedgerTampered(
            f"the stored entries no longer match checkpoint {latest.tree_size}; refusing to sign"
        )
    signed = sign_checkpoint(key, tree_size=current, root_hash=merkle.root(hashes), now=now)
    return _store(session, signed, current, now)


def _recomputed_leaves(session: Session, tree_size: int) -> list[bytes]:
    hashes: list[bytes] = []
    for index, body in session.execute(
        select(LedgerEntry.index, LedgerEntry.body).order_by(LedgerEntry.index).limit(tree_size)
    ):
        parsed = json.loads(body)
        prev = hashes[-1].hex() if hashes else ""
        if index != len(hashes) or parsed.get("index") != index or parsed.get("prev") != prev:
            raise LedgerTampered(f"ledger entry {len(hashes)} is out of chain; refusing to sign")
        hashes.append(merkle.leaf_hash(body))
    return hashes


def checkpoint_if_due(
    session: Session,
    key: Ed25519PrivateKey,
    *,
    now: dt.datetime,
    batch_entries: int,
    interval_seconds: float,
) -> LedgerCheckpoint | None:
    """After each batch of entries, or when entries have waited long enough, sign a checkpoint."""
    latest = latest_checkpoint(session)
    pending = size(session) - (latest.tree_size if latest else 0)
    if pending <= 0:
        return None
    waited = latest is None or (now - latest.created_at).total_seconds() >= interval_seconds
    if pending >= batch_entries or waited:
        return checkpoint(session, key, now=now)
    return None


def _store(
    session: Session, signed: SignedCheckpoint, tree_size: int, now: dt.datetime
) -> LedgerCheckpoint:
    claims = json.loads(signed.body)
    row = LedgerCheckpoint(
        tree_size=tree_size,
        root_hash=claims["root_hash"],
        body=signed.body,
        signature=signed.signature,
        key_id=claims["key_id"],
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def signed(row: LedgerCheckpoint) -> SignedCheckpoint:
    return SignedCheckpoint(body=row.body, signature=row.signature)


def _check_size(tree_size: int, current: int) -> None:
    if not 1 <= tree_size <= current:
        raise InvalidInput(
            f"tree_size must be from 1 to the log's size ({current})", code="ledger.bad_size"
        )


def inclusion(session: Session, index: int, tree_size: int) -> dict[str, Any]:
    current = size(session)
    _check_size(tree_size, current)
    if not 0 <= index < tree_size:
        raise InvalidInput(f"index must be from 0 to {tree_size - 1}", code="ledger.bad_index")
    hashes = leaves(session, tree_size)
    return {
        "index": index,
        "tree_size": tree_size,
        "leaf_hash": hashes[index].hex(),
        "path": [h.hex() for h in merkle.inclusion_proof(hashes, index, tree_size)],
        "root_hash": merkle.root(hashes).hex(),
    }


def consistency(session: Session, first: int, second: int) -> dict[str, Any]:
    current = size(session)
    _check_size(second, current)
    if not 1 <= first <= second:
        raise InvalidInput("first must be from 1 to second", code="ledger.bad_range")
    hashes = leaves(session, second)
    return {
        "first": first,
        "second": second,
        "first_root": merkle.root(hashes[:first]).hex(),
        "second_root": merkle.root(hashes).hex(),
        "path": [h.hex() for h in merkle.consistency_proof(hashes, first, second)],
    }
