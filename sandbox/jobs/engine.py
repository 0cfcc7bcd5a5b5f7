"""Job and step state transitions on the control DB. The broker is not the durability layer:
every transition is a conditional UPDATE, so a redelivered message, a second worker or a
crashed one can never run a step twice to completion or lose it.

Functions take a session and ``now`` and return what must be enqueued; the caller commits
first and enqueues after (DESIGN §2).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, lazyload

from sandbox.ids import JobId, StepId
from sandbox.jobs.kinds import finalize
from sandbox.jobs.models import Job, JobState, Step, StepState, depends_on
from sandbox.ledger.entry import digest
from sandbox.ledger.log import SYSTEM, append
from sandbox.parties.models import Organization

ERROR_MESSAGE_CHARS = 500


@dataclass(slots=True)
class Followups:
    """Messages to send once the transaction that produced them has committed."""

    steps: list[tuple[StepId, str]] = field(default_factory=list)
    jobs: list[JobId] = field(default_factory=list)

    def extend(self, other: Followups) -> None:
        self.steps.extend(other.steps)
        self.jobs.extend(other.jobs)


def advance(session: Session, job_id: JobId, *, now: dt.datetime) -> Followups:
    """Move a job forward: queue its next steps, or finish it. Safe to call any number of times."""
    out = Followups()
    # Called after every step: load the job without its steps, and the steps as plain rows of
    # the columns that decide what runs next, the dependencies of the pending ones only (a plan
    # of a few hundred steps is read each time; ORM objects, tickets and results would cost
    # several times as much).
    job = session.get(Job, job_id, with_for_update=True, options=[lazyload(Job.steps)])
    if job is None or JobState(job.state).finished:
        return out
    steps = session.execute(
        select(Step.seq, Step.state, Step.progress).where(Step.job_id == job_id).order_by(Step.seq)
    ).all()
    if any(s.state == StepState.FAILED for s in steps):
        failed = session.execute(
            select(Step.error_code, Step.error_message)
            .where(Step.job_id == job_id, Step.state == StepState.FAILED.value)
            .order_by(Step.seq)
            .limit(1)
        ).one()
        _finish(job, JobState.FAILED, now, code=failed.error_code, message=failed.error_message)
        _abort_waiting(session, job_id, now)
        _record(session, "job.failed", "job", job.id, job.id, now, reason=failed.error_code)
        return out
    if all(s.state == StepState.SUCCEEDED for s in steps):
        full = list(
            session.scalars(
                select(Step)
                .where(Step.job_id == job_id)
                .order_by(Step.seq)
                .execution_options(populate_existing=True)
            )
        )
        job.result_json = finalize(session, job, full, now=now)
        _finish(job, JobState.SUCCEEDED, now)
        _record(session, "job.succeeded", "job", job.id, job.id, now)
        owner = session.get(Organization, job.org_id)
        recipient = job.params_json.get("recipient") if job.params_json else None
        _record(
            session,
            "result.released",
            "job",
            job.id,
            job.id,
            now,
            result_digest=digest(job.result_json),
            recipients=[recipient or (owner.slug if owner else "?")],
        )
        return out
    if job.state == JobState.QUEUED:
        job.state = JobState.RUNNING.value
        job.started_at = now
    # A step is queued once every step it depends on has succeeded; independent steps (the
    # shards of a protocol, the two parties' first moves) are queued together.
    done = {s.seq for s in steps if s.state == StepState.SUCCEEDED}
    pending = session.execute(
        select(Step.id, Step.seq, Step.after, Step.domain).where(
            Step.job_id == job_id, Step.state == StepState.PENDING.value
        )
    ).all()
    ready = sorted(
        (s for s in pending if all(d in done for d in depends_on(s.seq, s.after))),
        key=lambda s: s.seq,
    )
    if ready:
        session.execute(
            update(Step)
            .where(Step.id.in_([s.id for s in ready]), Step.state == StepState.PENDING.value)
            .values(state=StepState.QUEUED.value, enqueued_at=now)
            .execution_options(synchronize_session=False)
        )
        out.steps.extend((StepId(s.id), s.domain) for s in ready)
    job.progress = _job_progress(steps)
    return out


def _abort_waiting(session: Session, job_id: JobId, now: dt.datetime) -> None:
    """A failed job's steps that have not started never will: no worker may claim them."""
    session.execute(
        update(Step)
        .where(
            Step.job_id == job_id,
            Step.state.in_([StepState.PENDING.value, StepState.QUEUED.value]),
        )
        .values(
            state=StepState.FAILED.value,
            error_code="job.aborted",
            error_message="another step of the job failed",
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def _finish(
    job: Job,
    state: JobState,
    now: dt.datetime,
    *,
    code: str | None = None,
    message: str | None = None,
) -> None:
    job.state = state.value
    job.finished_at = now
    job.started_at = job.started_at or now
    if state is JobState.SUCCEEDED:
        job.progress = 1.0
    job.error_code = code
    job.error_message = message


def claim(
    session: Session, step_id: StepId, *, worker: str, now: dt.datetime, lease_seconds: float
) -> Step | None:
    """Take a queued step (or one whose lease has expired) under a fresh lease, or None."""
    claimable = (Step.state == StepState.QUEUED.value) | (
        (Step.state == StepState.RUNNING.value) & (Step.lease_expires_at < now)
    )
    # One statement: the conditional update returns the claimed row (no second read).
    return session.scalars(
        update(Step)
        .where(Step.id == step_id, claimable)
        .values(
            state=StepState.RUNNING.value,
            lease_owner=worker,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            attempts=Step.attempts + 1,
            started_at=now,
        )
        .returning(Step)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()


def _held(step_id: StepId, worker: str) -> Any:
    return (
        (Step.id == step_id)
        & (Step.state == StepState.RUNNING.value)
        & (Step.lease_owner == worker)
    )


def renew(
    session: Session, step_id: StepId, *, worker: str, now: dt.datetime, lease_seconds: float
) -> bool:
    result = session.execute(
        update(Step)
        .where(_held(step_id, worker))
        .values(lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def report_progress(session: Session, step_id: StepId, *, worker: str, fraction: float) -> bool:
    fraction = min(max(fraction, 0.0), 1.0)
    result = session.execute(
        update(Step)
        .where(_held(step_id, worker))
        .values(progress=fraction)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    step = session.get(Step, step_id, populate_existing=True)
    assert step is not None
    _roll_up_progress(session, JobId(step.job_id))
    return True


def _job_progress(steps: Sequence[Any]) -> float:
    """A job's progress from its steps' (state, progress): a finished step counts whole."""
    fractions = [1.0 if s.state == StepState.SUCCEEDED else s.progress for s in steps]
    return sum(fractions) / len(fractions) if fractions else 0.0


def _roll_up_progress(session: Session, job_id: JobId) -> None:
    steps = session.execute(select(Step.state, Step.progress).where(Step.job_id == job_id)).all()
    if steps:
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(progress=_job_progress(steps))
            .execution_options(synchronize_session=False)
        )


def complete(
    session: Session, step_id: StepId, *, worker: str, result: dict[str, Any], now: dt.datetime
) -> Followups:
    """Record a step's result if this worker still holds its lease; otherwise change nothing."""
    step = _finish_step(
        session,
        _held(step_id, worker),
        now,
        state=StepState.SUCCEEDED.value,
        result_json=result,
        progress=1.0,
    )
    if step is None:
        return Followups()
    _record(
        session,
        "step.completed",
        "step",
        step.id,
        step.job_id,
        now,
        domain=step.domain,
        step_action=step.action,
        attempt=step.attempts,
        result_digest=digest(result),
        process=worker,
        # A protocol step's message name: the job's transcript, in the ledger as it happens.
        **({"message": result["message"]} if isinstance(result.get("message"), str) else {}),
    )
    return Followups(jobs=[JobId(step.job_id)])


def fail(
    session: Session,
    step_id: StepId,
    *,
    worker: str | None,
    code: str,
    message: str,
    now: dt.datetime,
) -> Followups:
    """Fail a step for good (a rejected ticket, bad data, attempts used up)."""
    held = _held(step_id, worker) if worker is not None else (Step.id == step_id)
    unfinished = Step.state.not_in([StepState.SUCCEEDED.value, StepState.FAILED.value])
    step = _finish_step(
        session,
        held & unfinished,
        now,
        state=StepState.FAILED.value,
        error_code=code[:64],
        error_message=message[:ERROR_MESSAGE_CHARS],
    )
    if step is None:
        return Followups()
    action = "ticket.refused" if code == "ticket.rejected" else "step.failed"
    _record(
        session,
        action,
        "step",
        step.id,
        step.job_id,
        now,
        domain=step.domain,
        step_action=step.action,
        attempt=step.attempts,
        reason=code,
        process=worker or "reaper",
    )
    return Followups(jobs=[JobId(step.job_id)])


def _finish_step(session: Session, where: Any, now: dt.datetime, **values: Any) -> Step | None:
    """End a step with one conditional update (``where`` names it and the state it must be in);
    the step if this call won, else None."""
    return session.scalars(
        update(Step)
        .where(where)
        .values(finished_at=now, lease_owner=None, lease_expires_at=None, **values)
        .returning(Step)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).one_or_none()


def _record(
    session: Session,
    action: str,
    object_type: str,
    object_id: uuid.UUID,
    job_id: uuid.UUID,
    now: dt.datetime,
    **details: Any,
) -> None:
    append(
        session,
        actor=SYSTEM,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        params={"job": str(job_id)},
        details=details,
        job_id=job_id,
        now=now,
    )


def reap(
    session: Session, *, now: dt.datetime, requeue_after_seconds: float, max_attempts: int
) -> Followups:
    """Recover from crashed workers and lost messages.

    - a running step whose lease expired goes back to the queue (or fails after max attempts);
    - a queued step whose message may have been lost is sent again;
    - a job whose steps are all finished but which is not, is advanced.
    Re-sending is harmless: claims are conditional, so only one delivery runs the step.
    """
    out = Followups()
    expired = session.scalars(
        select(Step).where(Step.state == StepState.RUNNING.value, Step.lease_expires_at < now)
    ).all()
    for step in expired:
        if step.attempts >= max_attempts:
            out.extend(
                fail(
                    session,
                    StepId(step.id),
                    worker=None,
                    code="step.attempts_exhausted",
                    message=f"the step's worker was lost {step.attempts} times",
                    now=now,
                )
            )
            continue
        _record(
            session,
            "step.requeued",
            "step",
            step.id,
            step.job_id,
            now,
            domain=step.domain,
            attempt=step.attempts,
            reason="lease_expired",
            lost_process=step.lease_owner,
        )
        step.state = StepState.QUEUED.value
        step.lease_owner = None
        step.lease_expires_at = None
        step.enqueued_at = now
        out.steps.append((StepId(step.id), step.domain))
    stale = session.scalars(
        select(Step).where(
            Step.state == StepState.QUEUED.value,
            Step.enqueued_at < now - dt.timedelta(seconds=requeue_after_seconds),
        )
    ).all()
    for step in stale:
        step.enqueued_at = now
        out.steps.append((StepId(step.id), step.domain))
    for job in session.scalars(
        select(Job).where(Job.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]))
    ):
        states = {s.state for s in job.steps}
        if not states & {StepState.QUEUED.value, StepState.RUNNING.value}:
            out.jobs.append(JobId(job.id))
    session.flush()
    return out
