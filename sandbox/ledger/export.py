"""Exporting the ledger for offline verification: sign a checkpoint of everything so far,
write exactly the hashed bytes of the entries it covers, and record the export itself."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.keys import public_pem
from sandbox.ledger import log as ledger
from sandbox.ledger.files import write_export
from sandbox.ledger.models import LedgerEntry


@dataclass(frozen=True, slots=True)
class Exported:
    tree_size: int
    root_hash: str


def export(
    session: Session,
    key: Ed25519PrivateKey,
    out_dir: Path,
    *,
    actor: ledger.Actor,
    now: dt.datetime,
) -> Exported:
    row = ledger.checkpoint(session, key, now=now)
    bodies = session.scalars(
        select(LedgerEntry.body).order_by(LedgerEntry.index).limit(row.tree_size)
    )
    write_export(out_dir, bodies, ledger.signed(row), public_pem(key.public_key()))
    ledger.append(
        session,
        actor=actor,
        action="ledger.exported",
        object_type="checkpoint",
        object_id=str(row.tree_size),
        params={"tree_size": row.tree_size},
        details={"root_hash": row.root_hash},
        now=now,
    )
    return Exported(row.tree_size, row.root_hash)
