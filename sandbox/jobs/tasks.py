"""Celery tasks: thin adapters that take an id, call one function, and dispatch followups.

The worker entry point binds a :class:`WorkerRuntime` (engine opened in this process) before
the first task runs; tasks never build a Flask app and never receive ORM objects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from celery import shared_task
from sqlalchemy.orm import Session, sessionmaker

from sandbox.clock import utcnow
from sandbox.ids import JobId, StepId, parse_uuid
from sandbox.jobs import coordinator, runner
from sandbox.jobs.celery_app import ADVANCE_JOB, RUN_STEP, CeleryEnqueuer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerRuntime:
    factory: sessionmaker[Session]
    enqueuer: CeleryEnqueuer
    domain: runner.DomainRuntime | None


_runtime: list[WorkerRuntime] = []


def bind(runtime: WorkerRuntime) -> None:
    _runtime[:] = [runtime]


def _current() -> WorkerRuntime:
    if not _runtime:
        raise RuntimeError("worker runtime not bound; start workers with `sandbox worker`")
    return _runtime[0]


def _id(text: object) -> UUID | None:
    parsed = parse_uuid(text) if isinstance(text, str) else None
    if parsed is None:
        log.warning("dropped a malformed broker message")
    return parsed


@shared_task(name=ADVANCE_JOB, acks_late=True, ignore_result=True)
def advance_job(job_id: str) -> None:
    parsed = _id(job_id)
    if parsed is not None:
        rt = _current()
        coordinator.advance(rt.factory, rt.enqueuer, JobId(parsed), now=utcnow())


@shared_task(name=RUN_STEP, acks_late=True, ignore_result=True)
def run_step(step_id: str) -> None:
    parsed = _id(step_id)
    rt = _current()
    if parsed is None or rt.domain is None:
        return
    coordinator.dispatch(rt.enqueuer, runner.run_step(rt.domain, StepId(parsed)))
