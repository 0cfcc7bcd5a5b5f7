"""Running one step in a domain worker: claim under a lease, verify the ticket, act, record.

Idempotent by construction: a claim is a conditional update, completion requires still holding
the lease, and an action's only effect is its result. A worker killed at any point leaves a
lease that expires; the reaper queues the step again and another attempt starts from scratch.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox.db.engine import session_scope
from sandbox.domains.store import DomainStore
from sandbox.errors import SandboxError, TicketRejected
from sandbox.exchange.store import Exchange
from sandbox.ids import JobId, StepId
from sandbox.jobs import engine
from sandbox.jobs.actions import ACTIONS
from sandbox.jobs.context import StepContext, Upstream
from sandbox.jobs.models import Step, StepState
from sandbox.tickets import verify

log = logging.getLogger(__name__)
PROGRESS_MIN_INTERVAL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class DomainRuntime:
    factory: sessionmaker[Session]
    domain: str
    store: DomainStore
    ticket_key: Ed25519PublicKey
    worker_id: str
    lease_seconds: float
    clock: Callable[[], dt.datetime]
    exchange: Exchange


class _LeaseKeeper(threading.Thread):
    """Renews the lease at a third of its length while the action runs."""

    def __init__(self, rt: DomainRuntime, step_id: StepId) -> None:
        super().__init__(name=f"lease-{step_id}", daemon=True)
        self.rt, self.step_id, self.stopped = rt, step_id, threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.rt.lease_seconds / 3):
            with session_scope(self.rt.factory) as session:
                held = engine.renew(
                    session,
                    self.step_id,
                    worker=self.rt.worker_id,
                    now=self.rt.clock(),
                    lease_seconds=self.rt.lease_seconds,
                )
            if not held:
                self.lost.set()
                return


def run_step(rt: DomainRuntime, step_id: StepId) -> engine.Followups:
    now = rt.clock()
    with session_scope(rt.factory) as session:
        step = engine.claim(
            session, step_id, worker=rt.worker_id, now=now, lease_seconds=rt.lease_seconds
        )
        claimed = (
            None
            if step is None
            else (
                UUID(str(step.job_id)),
                step.domain,
                step.action,
                step.ticket,
                _upstream(session, step),
            )
        )
    if claimed is None:
        log.info("step %s: not claimable (finished, or held by another worker)", step_id)
        return engine.Followups()
    job_id, domain, action, token, upstream = claimed
    try:
        if domain != rt.domain:
            raise TicketRejected()
        ticket = verify(
            rt.ticket_key,
            token,
            now=now,
            job=str(job_id),
            step=str(step_id),
            domain=rt.domain,
            action=action,
        )
    except TicketRejected as exc:
        log.warning("step %s: ticket rejected; store not opened", step_id)
        return _fail(rt, step_id, exc.code, exc.message)

    keeper = _LeaseKeeper(rt, step_id)
    keeper.start()
    last = [0.0]

    def progress(fraction: float) -> None:
        stamp = rt.clock().timestamp()
        if stamp - last[0] >= PROGRESS_MIN_INTERVAL_SECONDS:
            last[0] = stamp
            with session_scope(rt.factory) as session:
                engine.report_progress(session, step_id, worker=rt.worker_id, fraction=fraction)

    try:
        result = ACTIONS[action](
            StepContext(rt.factory, rt.store, rt.domain, ticket, progress, rt.exchange, upstream)
        )
    except SandboxError as exc:
        return _fail(rt, step_id, exc.code, exc.message)
    except Exception as exc:  # noqa: BLE001  (any bug must fail the step, not kill the worker)
        # Frames only: an exception's message could quote a raw value from the store.
        log.error(
            "step %s: %s in action %s\n%s",
            step_id,
            type(exc).__name__,
            action,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        return _fail(rt, step_id, "step.internal", "internal error while running the step")
    finally:
        keeper.stopped.set()
        keeper.join()
    with session_scope(rt.factory) as session:
        out = engine.complete(session, step_id, worker=rt.worker_id, result=result, now=rt.clock())
        if not out.jobs:
            log.warning("step %s: lease lost before completion; result discarded", step_id)
            return out
        # Advance the job in the same transaction: the next steps are queued without a round
        # trip through the coordinator (which still advances jobs the reaper finds stalled).
        advanced = engine.advance(session, JobId(job_id), now=rt.clock())
    return advanced


def _upstream(session: Session, step: Step) -> tuple[Upstream, ...]:
    deps = step.depends_on
    if not deps:
        return ()
    rows = session.execute(
        select(Step.seq, Step.domain, Step.action, Step.result_json)
        .where(
            Step.job_id == step.job_id,
            Step.seq.in_(deps),
            Step.state == StepState.SUCCEEDED.value,
        )
        .order_by(Step.seq)
    ).all()
    return tuple(
        Upstream(seq=r.seq, domain=r.domain, action=r.action, result=dict(r.result_json or {}))
        for r in rows
    )


def _fail(rt: DomainRuntime, step_id: StepId, code: str, message: str) -> engine.Followups:
    with session_scope(rt.factory) as session:
        out = engine.fail(
            session, step_id, worker=rt.worker_id, code=code, message=message, now=rt.clock()
        )
        for job_id in out.jobs:  # the job fails now, and its waiting steps with it
            out.extend(engine.advance(session, job_id, now=rt.clock()))
        return engine.Followups(steps=out.steps)
