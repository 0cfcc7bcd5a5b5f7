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


def registry_copy(
    settings: Settings, factory: sessionmaker[Session], session: Session, grant_id: Any, domain: str
) -> Any:
    """The demo's enterprise registry loaded a second time into ``domain``, reviewed, zoned and
    added to the grant (with the columns the grant has for the original): two domains holding
    the same columns, for a cross-domain sum."""
    from grants import catalog_review, zones
    from grants.models import Grant
    from sandbox.clock import utcnow
    from sandbox.datasets.models import Dataset, DatasetVersion
    from sandbox.datasets.schema import Grade, Openness, Schema
    from sandbox.datasets.service import load_dataset
    from sandbox.domains.store import DomainStore

    first = next(
        d
        for d in session.scalars(select(Dataset).where(Dataset.name == "enterprise_registry"))
        if d.domain.name == "market"
    )
    version = session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == first.id)
    ).one()
    schema = Schema.model_validate(version.schema_json)
    source = DomainStore.at(settings.domain_root, "market").dataset_file(
        first.name, version.version
    )
    copy = settings.data_dir / f"registry-copy-{domain}.csv"
    copy.write_bytes(source.read_bytes())
    session.commit()  # the loader writes in its own transaction
    loaded = load_dataset(
        factory, settings, domain_name=domain, source=copy, schema=schema, now=utcnow()
    )
    bureau = as_user(session, "bureau")
    catalog_review.review(
        session,
        bureau,
        loaded.dataset_id,
        openness=Openness(schema.openness),
        grade=Grade(schema.grade),
        sensitivities={c.name: c.sensitivity.value for c in schema.columns},
        note="test copy",
        now=utcnow(),
    )
    grant = session.get(Grant, grant_id)
    assert grant is not None and grant.approved is not None
    zones.add_dataset(session, bureau, grant.license.zone_id, loaded.dataset_id, now=utcnow())
    columns = next(
        d["columns"] for d in grant.approved["datasets"] if d["dataset_id"] == str(first.id)
    )
    datasets = [
        *grant.approved["datasets"],
        {"dataset_id": str(loaded.dataset_id), "columns": list(columns)},
    ]
    grant.approved = {**grant.approved, "datasets": datasets}
    session.commit()
    return session.get(Dataset, loaded.dataset_id)


def run_until(settings: Settings, factory: sessionmaker[Session], job_id: Any, action: str) -> None:
    """Run a job's queued steps until ``action`` is all that is queued (to tamper before it)."""
    from sandbox.ids import StepId
    from sandbox.jobs import runner
    from sandbox.jobs.models import Step, StepState

    workers: dict[str, Any] = {}
    for _ in range(200):
        with factory() as s:
            queued = s.scalars(
                select(Step).where(Step.job_id == job_id, Step.state == StepState.QUEUED.value)
            ).all()
            todo = [(StepId(st.id), st.domain, st.action) for st in queued]
        if todo and all(a == action for _, _, a in todo):
            return
        assert todo, f"{action} was never queued"
        for step_id, domain, a in todo:
            if a != action:
                rt = workers.setdefault(domain, domain_worker(settings, factory, domain))
                runner.run_step(rt, step_id)
    raise AssertionError(f"{action} was never reached")


def swap_message(factory: sessionmaker[Session], job_id: Any, action: str, name: str) -> None:
    """Point a finished step's result at another exchange message (a hostile relay)."""
    from sandbox.jobs.models import Step

    with factory() as s:
        step = s.scalars(select(Step).where(Step.job_id == job_id, Step.action == action)).one()
        step.result_json = {**(step.result_json or {}), "message": name}
        s.commit()
