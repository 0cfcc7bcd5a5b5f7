"""The ledger table: exactly the hashed bytes of each entry, its leaf hash, and a few columns
copied out of the entry for filtering (the body stays the truth). Append-only: triggers refuse
UPDATE and DELETE (migration 0002)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sandbox.db.base import Base, HasId


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_object", "object_type", "object_id"),)
    index: Mapped[int] = mapped_column("idx", primary_key=True, autoincrement=False)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    actor_user: Mapped[str | None] = mapped_column(String(64))
    actor_org: Mapped[str | None] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)


class LedgerCheckpoint(HasId, Base):
    __tablename__ = "ledger_checkpoints"
    tree_size: Mapped[int] = mapped_column(index=True)
    root_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]
