"""Worker entry points: ``sandbox worker --coordinator`` and ``sandbox worker --domain NAME``.

Each worker process opens its own engine here (never inherited across a fork) and runs Celery
with the solo pool: one step at a time per process; scale out by starting more processes.
The coordinator also runs the reaper and the ledger checkpointer on a timer thread.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from sandbox.clock import utcnow
from sandbox.db.engine import make_engine, make_session_factory, session_scope
from sandbox.domains.service import get_domain
from sandbox.domains.store import DomainStore
from sandbox.exchange.store import exchange_for
from sandbox.jobs import coordinator, runner, tasks
from sandbox.jobs.celery_app import CeleryEnqueuer, make_celery
from sandbox.jobs.queue import COORDINATOR_QUEUE, domain_queue
from sandbox.keys import load_or_create_private_key, load_public_key
from sandbox.settings import Settings

log = logging.getLogger(__name__)
EXCHANGE_SWEEP_SECONDS = 300.0


Periodic = Callable[[Session, dt.datetime], object]


def _housekeeping(
    settings: Settings, rt: tasks.WorkerRuntime, stop: threading.Event, periodic: Sequence[Periodic]
) -> None:
    """The coordinator's timer: reap what lost workers left, run the sweeps the caller gave
    (e.g. governance expiry), and sign ledger checkpoints."""
    ledger_key = load_or_create_private_key(settings.ledger_key_path)
    exchange = exchange_for(settings)
    last_sweep = 0.0
    while not stop.wait(settings.reaper_interval_seconds):
        try:
            out = coordinator.reap_once(rt.factory, rt.enqueuer, settings, utcnow)
            if out.steps:
                log.info("reaper re-queued %d step(s)", len(out.steps))
            for task in periodic:
                with session_scope(rt.factory) as session:
                    task(session, utcnow())
            coordinator.checkpoint_once(rt.factory, ledger_key, settings, utcnow)
            if time.monotonic() - last_sweep > EXCHANGE_SWEEP_SECONDS:
                last_sweep = time.monotonic()
                removed = exchange.sweep()
                if removed:
                    log.info("exchange: removed %d expired message(s)", removed)
        except Exception:
            # A DB or broker hiccup must not end the loop; the next cycle retries.
            log.exception("housekeeping cycle failed; will retry")


def run_worker(
    settings: Settings,
    *,
    coordinator_role: bool,
    domain: str | None,
    periodic: Sequence[Periodic] = (),
) -> None:
    if not coordinator_role and domain is None:
        raise ValueError("a worker serves the coordinator queue, a domain queue, or both")
    app = make_celery(settings)
    factory = make_session_factory(make_engine(settings))
    enqueuer = CeleryEnqueuer(app)
    queues: list[str] = []
    domain_rt = None
    if domain is not None:
        with session_scope(factory) as session:
            get_domain(session, domain)
        store = DomainStore.at(settings.domain_root, domain)
        store.ensure()
        domain_rt = runner.DomainRuntime(
            factory=factory,
            domain=domain,
            store=store,
            ticket_key=load_public_key(settings.ticket_key_path),
            worker_id=f"{domain}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
            lease_seconds=settings.lease_seconds,
            clock=utcnow,
            exchange=exchange_for(settings),
        )
        queues.append(domain_queue(domain))
    rt = tasks.WorkerRuntime(factory=factory, enqueuer=enqueuer, domain=domain_rt)
    tasks.bind(rt)
    if coordinator_role:
        queues.append(COORDINATOR_QUEUE)
        threading.Thread(
            target=_housekeeping,
            args=(settings, rt, threading.Event(), periodic),
            name="housekeeping",
            daemon=True,
        ).start()
    name = domain or "coordinator"
    app.worker_main(
        [
            "worker",
            "--queues",
            ",".join(queues),
            "--pool",
            "solo",
            "--hostname",
            f"{name}-{uuid.uuid4().hex[:6]}@%h",
            "--loglevel",
            settings.log_level,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
