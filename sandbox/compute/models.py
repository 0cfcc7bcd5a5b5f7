"""What the control DB knows about providers' lookup tables: metadata only (which dataset
version and labels, the key's public id, the table's digest and size), so that a query can skip
the build when the provider's domain has a current table."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sandbox.db.base import Base, HasId


class LookupTable(HasId, Base):
    __tablename__ = "lookup_tables"
    __table_args__ = (UniqueConstraint("dataset_id", "version", "labels"),)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int]
    labels: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int]
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"))
    built_at: Mapped[dt.datetime]
