"""The coordinator's two duties: advance jobs, and reap what crashed workers left behind."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session, sessionmaker

from sandbox.db.engine import session_scope
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.jobs.queue import Enqueuer
from sandbox.ledger.log import checkpoint_if_due
from sandbox.settings import Settings


def dispatch(enqueuer: Enqueuer, followups: engine.Followups) -> None:
    """Send what a committed transaction produced. Never call before the commit."""
    for step_id, domain in followups.steps:
        enqueuer.run_step(step_id, domain)
    for job_id in dict.fromkeys(followups.jobs):
        enqueuer.advance_job(job_id)


def advance(
    factory: sessionmaker[Session], enqueuer: Enqueuer, job_id: JobId, *, now: dt.datetime
) -> None:
    with session_scope(factory) as session:
        out = engine.advance(session, job_id, now=now)
    dispatch(enqueuer, out)


def reap_once(
    factory: sessionmaker[Session],
    enqueuer: Enqueuer,
    settings: Settings,
    clock: Callable[[], dt.datetime],
) -> engine.Followups:
    with session_scope(factory) as session:
        out = engine.reap(
            session,
            now=clock(),
            requeue_after_seconds=settings.requeue_after_seconds,
            max_attempts=settings.max_step_attempts,
        )
    dispatch(enqueuer, out)
    return out


def checkpoint_once(
    factory: sessionmaker[Session],
    key: Ed25519PrivateKey,
    settings: Settings,
    clock: Callable[[], dt.datetime],
) -> None:
    """Sign a ledger checkpoint after each batch of entries, or when entries have waited."""
    with session_scope(factory) as session:
        checkpoint_if_due(
            session,
            key,
            now=clock(),
            batch_entries=settings.checkpoint_batch_entries,
            interval_seconds=settings.checkpoint_interval_seconds,
        )
