"""Submitting and reading jobs. Authorization for ``dataset.profile`` is ownership: only the
organization whose domain holds the dataset may profile it. (Grant-based policy for
computations across domains comes with the governance layer, which signs the same tickets.)
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from sandbox.compute.authorized import PARAM as AUTHORIZATION_PARAM
from sandbox.datasets.catalog import CatalogEntry, get_visible
from sandbox.domains.models import Domain
from sandbox.errors import InvalidInput, NotFound, PermissionDenied
from sandbox.jobs.actions import ACTIONS
from sandbox.jobs.kinds import DATASET_PROFILE, FINALIZERS
from sandbox.jobs.models import Job, JobState, Step, StepState
from sandbox.jobs.requests import JobRequest
from sandbox.ledger.entry import digest
from sandbox.ledger.log import SYSTEM, Actor, append
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role
from sandbox.tickets import DatasetRef, TicketSigner

MAX_LIST = 200


def submit(
    session: Session,
    who: Principal,
    request: JobRequest,
    *,
    signer: TicketSigner,
    now: dt.datetime,
) -> Job:
    """Create a job and its steps with their tickets. The caller commits, then enqueues.

    A refusal is recorded in the ledger in the same session and raised with ``recorded`` set.
    """
    try:
        entry = _authorize(session, who, request)
    except (PermissionDenied, NotFound) as exc:
        append(
            session,
            actor=Actor.of(who),
            action="job.refused",
            object_type="dataset",
            object_id=str(request.params.dataset_id),
            params=request.model_dump(mode="json"),
            details={"kind": request.kind, "reason": exc.code},
            now=now,
        )
        exc.recorded = True
        raise
    job_id, step_id = uuid.uuid4(), uuid.uuid4()
    domain = entry.dataset.domain.name
    ticket = signer.sign(
        job=str(job_id),
        step=str(step_id),
        domain=domain,
        action=DATASET_PROFILE,
        datasets=(DatasetRef(id=str(entry.dataset.id), version=entry.version.version),),
        columns=entry.schema.column_names,
        now=now,
    )
    return create_job(
        session,
        job_id=job_id,
        kind=DATASET_PROFILE,
        who=who,
        params={"dataset_id": str(entry.dataset.id), "version": entry.version.version},
        request=request.model_dump(mode="json"),
        steps=[StepSpec(step_id, domain, DATASET_PROFILE, ticket)],
        authority=None,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class StepSpec:
    step_id: uuid.UUID
    domain: str
    action: str
    ticket: str
    after: tuple[int, ...] | None = None  # seqs this step waits for; None: the previous step


def create_job(
    session: Session,
    *,
    job_id: uuid.UUID,
    kind: str,
    who: Principal,
    params: dict[str, Any],
    request: Any,
    steps: Sequence[StepSpec],
    authority: str | None,
    now: dt.datetime,
) -> Job:
    """A job with its steps and their (already signed) tickets, and its ledger entry. A step
    runs once the steps it waits for have succeeded (by default, the one before it). Refuses a
    kind or action this runtime cannot run, and dependencies that are not earlier steps."""
    missing = [s.action for s in steps if s.action not in ACTIONS]
    bad_order = any(
        s.after is not None and any(not 0 <= d < seq for d in s.after)
        for seq, s in enumerate(steps)
    )
    if bad_order:
        raise ValueError("a step may only wait for earlier steps")
    if kind not in FINALIZERS or missing or not steps:
        raise InvalidInput(
            f"the computation kind {kind} is not available in this runtime",
            code="job.kind_unavailable",
        )
    job = Job(
        id=job_id,
        kind=kind,
        state=JobState.QUEUED.value,
        org_id=who.org_id,
        submitted_by=who.user_id,
        params_json=params,
        authority=authority,
        created_at=now,
    )
    session.add(job)
    for seq, spec in enumerate(steps):
        session.add(
            Step(
                id=spec.step_id,
                job_id=job.id,
                seq=seq,
                domain=spec.domain,
                action=spec.action,
                after=list(spec.after) if spec.after is not None else None,
                state=StepState.PENDING.value,
                ticket=spec.ticket,
            )
        )
    session.flush()
    append(
        session,
        actor=Actor.of(who),
        action="job.submitted",
        object_type="job",
        object_id=str(job.id),
        params=request,
        job_id=job.id,
        details={
            "kind": kind,
            "authority": authority,
            "dataset": params.get("dataset_id"),
            "version": params.get("version"),
            "steps": [
                {
                    "step": str(s.step_id),
                    "domain": s.domain,
                    "action": s.action,
                    "ticket_digest": digest(s.ticket.encode()),
                }
                for s in steps
            ],
        },
        now=now,
    )
    return job


def _authorize(session: Session, who: Principal, request: JobRequest) -> CatalogEntry:
    if who.role is Role.AUDITOR:
        raise PermissionDenied("auditors are read-only", code="forbidden.read_only")
    entry = get_visible(session, who, request.params.dataset_id)
    if entry.dataset.domain.org_id != who.org_id:
        raise PermissionDenied(
            "only the organization that holds a dataset may profile it", code="forbidden.owner"
        )
    return entry


def _visible(who: Principal) -> Select[Job]:
    query = select(Job)
    if not who.oversees_all:
        own_domains = select(Domain.name).where(Domain.org_id == who.org_id)
        touches_mine = exists().where(Step.job_id == Job.id, Step.domain.in_(own_domains))
        # A gated aggregate never touches its recipient's domain: the recipient sees it too.
        names_me = Job.params_json["recipient"].as_string() == who.org_slug
        query = query.where((Job.org_id == who.org_id) | touches_mine | names_me)
    return query


def get_visible_job(session: Session, who: Principal, job_id: UUID) -> Job:
    job = session.scalar(_visible(who).where(Job.id == job_id))
    if job is None:
        raise NotFound("no such job", code="job.not_found")
    return job


def visible_jobs(
    session: Session, who: Principal, *, limit: int = 50, state: str | None = None
) -> list[Job]:
    query = _visible(who).order_by(Job.created_at.desc()).limit(min(max(limit, 1), MAX_LIST))
    if state is not None:
        query = query.where(Job.state == state)
    return list(session.scalars(query))


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def job_to_json(job: Job) -> dict[str, Any]:
    duration = (
        (job.finished_at - job.started_at).total_seconds()
        if job.finished_at and job.started_at
        else None
    )
    return {
        "id": str(job.id),
        "kind": job.kind,
        "status": job.state,
        "progress": round(job.progress, 4),
        # The authorization digests a call carries are for the requester's worker, not for
        # display: a job's view names how many there are.
        "params": {
            k: (len(v) if k == AUTHORIZATION_PARAM and isinstance(v, list) else v)
            for k, v in (job.params_json or {}).items()
        },
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "duration_seconds": duration,
        "error": (
            {"code": job.error_code, "message": job.error_message} if job.error_code else None
        ),
        "result": job.result_json,
        "steps": [
            {
                "seq": s.seq,
                "domain": s.domain,
                "action": s.action,
                "status": s.state,
                "attempts": s.attempts,
                "progress": round(s.progress, 4),
                "started_at": _iso(s.started_at),
                "finished_at": _iso(s.finished_at),
                "error": (
                    {"code": s.error_code, "message": s.error_message} if s.error_code else None
                ),
            }
            for s in job.steps
        ],
    }


def stop_jobs(
    session: Session, *, authorities: list[str], code: str, message: str, now: dt.datetime
) -> list[Job]:
    """Stop every unfinished job whose authority is in ``authorities``: its unfinished steps
    fail at once, so queued ones can no longer be claimed and a running one's result is
    discarded (completion needs a running step). Each stop is a ledger entry."""
    if not authorities:
        return []
    stopped = list(
        session.scalars(
            select(Job).where(
                Job.authority.in_(authorities),
                Job.state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
            )
        )
    )
    for job in stopped:
        for step in job.steps:
            if step.state not in (StepState.SUCCEEDED.value, StepState.FAILED.value):
                step.state = StepState.FAILED.value
                step.error_code, step.error_message = code, message
                step.finished_at, step.lease_owner, step.lease_expires_at = now, None, None
        job.state = JobState.FAILED.value
        job.error_code, job.error_message = code, message
        job.finished_at = now
        append(
            session,
            actor=SYSTEM,
            action="job.stopped",
            object_type="job",
            object_id=str(job.id),
            params={"authority": job.authority},
            details={"reason": code, "authority": job.authority},
            job_id=job.id,
            now=now,
        )
    session.flush()
    return stopped
