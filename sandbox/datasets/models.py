"""Dataset metadata in the control DB: schema, counts, fingerprint, version, quality.
The rows themselves live only in the domain's store."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sandbox.db.base import Base, HasId
from sandbox.domains.models import Domain


class Dataset(HasId, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    domain_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("domains.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    openness: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str] = mapped_column(String(16))
    current_version: Mapped[int]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    domain: Mapped[Domain] = relationship(lazy="joined")


class DatasetVersion(HasId, Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        UniqueConstraint("dataset_id", "fingerprint"),
    )
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int]
    schema_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    row_count: Mapped[int]
    rejected_count: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(80))
    source_encoding: Mapped[str] = mapped_column(String(16))
    quality_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    loaded_at: Mapped[dt.datetime]

    dataset: Mapped[Dataset] = relationship(lazy="joined")


class QualitySnapshot(HasId, Base):
    """Quality figures over time: one at load, one per finished profile job (unique per job)."""

    __tablename__ = "quality_snapshots"
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id"), unique=True)
    source: Mapped[str] = mapped_column(String(16))
    quality_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
