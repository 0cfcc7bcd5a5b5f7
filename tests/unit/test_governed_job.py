"""A grant walked to a job that runs: the policy allows it, the grant authority signs the
ticket, the job carries the grant as its authority, the provider's domain worker verifies the
ticket and runs the step, and the job finishes. Suspending the license stops a queued job, and
the worker never runs it. Refusals create no job and charge nothing.

The runtime has no protocol kinds yet (they land with the PSI and Paillier work), so this test
registers a stand-in: a planner, an action and a finalizer for ``psi.cardinality`` that count
the granted dataset's rows inside its domain. Everything else is the production path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import computations, licenses
from grants.demo import DemoGovernance, seed_governance
from grants.models import GrantUsage
from grants.policy import Allowed, Computation, PlannedStep, PolicyRefusal
from grants.terms import DatasetColumns, Kind
from sandbox.clock import utcnow
from sandbox.datasets.ingest import iter_rows
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.errors import InvalidInput
from sandbox.ids import JobId, StepId
from sandbox.jobs import actions, engine, kinds, runner
from sandbox.jobs.models import Job
from sandbox.keys import load_or_create_private_key
from sandbox.tickets import TicketSigner
from tests.conftest import World
from tests.helpers import as_user, domain_worker

ACTION = "test.count_granted_rows"


def _plan(
    session: Session, c: Computation, allowed: Allowed, sizing: computations.Sizing
) -> computations.Plan:
    (ask,) = c.datasets
    return computations.Plan(
        [PlannedStep(uuid.uuid4(), allowed.domains[ask.dataset_id], ACTION, ask.dataset_id)]
    )


def _count(ctx: actions.StepContext) -> dict[str, Any]:
    (ref,) = ctx.ticket.datasets
    with ctx.factory() as session:
        name, schema = session.execute(
            select(Dataset.name, DatasetVersion.schema_json)
            .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
            .where(Dataset.id == UUID(ref.id), DatasetVersion.version == ref.version)
        ).one()
    rows = iter_rows(ctx.store.dataset_file(name, ref.version), Schema.model_validate(schema))
    return {"rows": sum(1 for _ in rows), "columns": list(ctx.ticket.columns)}


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ran: list[str] = []

    def action(ctx: actions.StepContext) -> dict[str, Any]:
        ran.append(ctx.domain)
        return _count(ctx)

    monkeypatch.setitem(computations.PLANS, Kind.PSI_CARDINALITY, _plan)
    monkeypatch.setitem(actions.ACTIONS, ACTION, action)
    monkeypatch.setitem(
        kinds.FINALIZERS,
        Kind.PSI_CARDINALITY.value,
        lambda session, job, steps, now: dict(steps[0].result_json or {}),
    )
    return ran


@pytest.fixture
def gov(world: World) -> Iterator[tuple[Session, DemoGovernance]]:
    with world.factory() as session:
        g = seed_governance(session, now=utcnow())
        session.commit()
        yield session, g


def _computation(session: Session, g: DemoGovernance, **kw: Any) -> Computation:
    tax = session.scalars(select(Dataset.id).where(Dataset.name == "tax_ratings")).one()
    args: dict[str, Any] = {
        "grant_id": g.approved_grant_id,
        "kind": Kind.PSI_CARDINALITY,
        "datasets": (DatasetColumns(dataset_id=tax, columns=("credit_code", "arrears")),),
        "purpose": "sme_credit_assessment",
        "recipient": "bank-a",
        "rows": 40,
    }
    args.update(kw)
    return Computation(**args)


def _worker(world: World, domain: str) -> runner.DomainRuntime:
    rt: runner.DomainRuntime = domain_worker(world.settings, world.factory, domain)
    return rt


def _signer(world: World) -> TicketSigner:
    return TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 600)


def test_a_grant_to_a_job_that_runs(
    world: World, gov: tuple[Session, DemoGovernance], stand_in: list[str]
) -> None:
    session, g = gov
    job = computations.submit(
        session,
        as_user(session, "operator"),
        _computation(session, g),
        signer=_signer(world),
        now=utcnow(),
    )
    assert job.authority == f"grant:{g.approved_grant_id}"
    step_id = StepId(job.steps[0].id)
    session.commit()
    session.close()  # the worker below writes; SQLite has one writer at a time
    with world.factory() as s:
        engine.advance(s, JobId(job.id), now=utcnow())
        s.commit()
    runner.run_step(_worker(world, "tax"), step_id)
    with world.factory() as s:
        engine.advance(s, JobId(job.id), now=utcnow())
        s.commit()
        done = s.get(Job, job.id)
        assert done is not None and done.state == "succeeded", done.error_code
        tax_rows = s.scalars(
            select(DatasetVersion.row_count).join(Dataset).where(Dataset.name == "tax_ratings")
        ).one()
        assert done.result_json == {"rows": tax_rows, "columns": ["credit_code", "arrears"]}
        usage = s.get(GrantUsage, (g.approved_grant_id, utcnow().date()))
        assert usage is not None and usage.calls == 1
    assert stand_in == ["tax"]


def test_suspending_the_license_stops_a_queued_job(
    world: World, gov: tuple[Session, DemoGovernance], stand_in: list[str]
) -> None:
    session, g = gov
    job = computations.submit(
        session,
        as_user(session, "operator"),
        _computation(session, g),
        signer=_signer(world),
        now=utcnow(),
    )
    engine.advance(session, JobId(job.id), now=utcnow())
    session.commit()
    licenses.suspend(
        session, as_user(session, "bureau"), g.license_id, reason="inspection", now=utcnow()
    )
    session.commit()
    runner.run_step(_worker(world, "tax"), StepId(job.steps[0].id))
    with world.factory() as s:
        stopped = s.get(Job, job.id)
        assert stopped is not None and stopped.state == "failed"
        assert stopped.error_code == "license.suspended"
    assert stand_in == []  # the worker could not claim it


def test_refused_and_unavailable_computations_create_no_job(
    world: World,
    gov: tuple[Session, DemoGovernance],
    stand_in: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session, g = gov
    # A kind this runtime has no planner for (every kind has one now: take one away).
    monkeypatch.delitem(computations.PLANS, Kind.INTERSECTION_SUM)
    before = session.scalar(select(func.count()).select_from(Job))
    with pytest.raises(PolicyRefusal) as refused:
        computations.submit(
            session,
            as_user(session, "operator"),
            _computation(session, g, recipient="operator"),
            signer=_signer(world),
            now=utcnow(),
        )
    assert refused.value.code == "policy.recipient"
    with pytest.raises(InvalidInput) as unavailable:
        computations.submit(
            session,
            as_user(session, "operator"),
            _computation(session, g, kind=Kind.INTERSECTION_SUM),
            signer=_signer(world),
            now=utcnow(),
        )
    assert unavailable.value.code == "job.kind_unavailable"
    assert session.scalar(select(func.count()).select_from(Job)) == before
    assert session.get(GrantUsage, (g.approved_grant_id, utcnow().date())) is None
