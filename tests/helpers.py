"""Small helpers shared by the service-level tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from sandbox.errors import SandboxError
from sandbox.parties.models import User
from sandbox.parties.principal import Principal
from sandbox.settings import Settings


def as_user(session: Session, username: str) -> Principal:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return Principal.of(user)


def snapshot(session: Session, tables: Iterable[str]) -> dict[str, list[str]]:
    """Every row of ``tables``, as the session sees them (pending changes flushed)."""
    session.flush()
    return {t: sorted(map(repr, session.execute(text(f"SELECT * FROM {t}")).all())) for t in tables}


def refused(
    session: Session, call: Callable[[], Any], code: str, *, tables: Iterable[str]
) -> SandboxError:
    """``call`` raises with ``code`` and leaves every row of ``tables`` as it was."""
    tables = tuple(tables)
    before = snapshot(session, tables)
    with pytest.raises(SandboxError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    assert snapshot(session, tables) == before
    return caught.value


def domain_worker(settings: Settings, factory: sessionmaker[Session], domain: str) -> Any:
    """An in-process domain worker (``runner.DomainRuntime``) for ``domain``, keyed as the
    real ones are, for running steps without a broker."""
    from sandbox.clock import utcnow
    from sandbox.domains.store import DomainStore
    from sandbox.exchange.store import exchange_for
    from sandbox.jobs import runner
    from sandbox.keys import load_or_create_private_key

    return runner.DomainRuntime(
        factory=factory,
        domain=domain,
        store=DomainStore.at(settings.domain_root, domain),
        ticket_key=load_or_create_private_key(settings.ticket_key_path).public_key(),
        worker_id=f"{domain}-test",
        lease_seconds=30,
        clock=utcnow,
        exchange=exchange_for(settings),
    )


def drive(settings: Settings, factory: sessionmaker[Session], job_id: Any) -> Any:
    """Run a job's queued steps with in-process "workers" (one per domain) until it ends;
    returns the finished (detached) job."""
    from sandbox.ids import StepId
    from sandbox.jobs import runner
    from sandbox.jobs.models import Job, Step, StepState

    workers: dict[str, Any] = {}
    for _ in range(500):
        with factory() as s:
            job = s.get(Job, job_id)
            assert job is not None
            if job.state in ("succeeded", "failed"):
                s.expunge_all()
                return job
            queued = s.scalars(
                select(Step).where(Step.job_id == job_id, Step.state == StepState.QUEUED.value)
            ).all()
            todo = [(StepId(st.id), st.domain) for st in queued]
        assert todo, "a job with nothing queued and not finished"
        for step_id, domain in todo:
            rt = workers.setdefault(domain, domain_worker(settings, factory, domain))
            runner.run_step(rt, step_id)
    raise AssertionError("the job did not finish")
