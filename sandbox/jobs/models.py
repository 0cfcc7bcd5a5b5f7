"""Jobs and steps are rows: the durable truth. The broker only carries their ids."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sandbox.db.base import Base, HasId


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


class StepState(enum.StrEnum):
    PENDING = "pending"  # waits for earlier steps
    QUEUED = "queued"  # sent to its domain's queue
    RUNNING = "running"  # claimed under a lease
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(HasId, Base):
    __tablename__ = "jobs"
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    submitted_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    params_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Opaque to the runtime: who authorized the job (e.g. "grant:<id>"), so that the layer
    # that issued the authority can stop every job that depends on it.
    authority: Mapped[str | None] = mapped_column(String(80), index=True)
    progress: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[dt.datetime]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    result_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    steps: Mapped[list[Step]] = relationship(
        back_populates="job", order_by="Step.seq", lazy="selectin"
    )


class Step(HasId, Base):
    __tablename__ = "steps"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id"), index=True)
    seq: Mapped[int]
    domain: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    # The seqs of the steps this one waits for; None means the step before it (a chain).
    after: Mapped[list[int] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    ticket: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    enqueued_at: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    progress: Mapped[float] = mapped_column(default=0.0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    result_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    job: Mapped[Job] = relationship(back_populates="steps")

    @property
    def depends_on(self) -> list[int]:
        return depends_on(self.seq, self.after)


def depends_on(seq: int, after: list[int] | None) -> list[int]:
    """The seqs a step waits for: its ``after`` list, or (None) the step before it."""
    if after is not None:
        return list(after)
    return [seq - 1] if seq > 0 else []
