"""Job traces and inspections (飞行检查): a real job passes every check; a changed result, a
changed ticket or a missing checkpoint each make the matching check fail."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from sandbox.clock import utcnow
from sandbox.datasets.catalog import visible_datasets
from sandbox.db.engine import session_scope
from sandbox.domains.store import DomainStore
from sandbox.exchange.store import exchange_for
from sandbox.ids import JobId, StepId
from sandbox.jobs import engine, runner
from sandbox.jobs import service as jobs
from sandbox.jobs.models import Step
from sandbox.jobs.requests import JobRequest, ProfileParams
from sandbox.keys import load_or_create_private_key
from sandbox.ledger import log as ledger
from sandbox.ledger.trace import inspect, trace
from sandbox.tickets import TicketSigner
from tests.conftest import World
from tests.helpers import as_user


def _run_profile_job(world: World) -> uuid.UUID:
    ticket_key = load_or_create_private_key(world.settings.ticket_key_path)
    with session_scope(world.factory) as session:
        who = as_user(session, "tax-cdo")
        entry = next(e for e in visible_datasets(session, who) if e.dataset.domain.name == "tax")
        job = jobs.submit(
            session,
            who,
            JobRequest(kind="dataset.profile", params=ProfileParams(dataset_id=entry.dataset.id)),
            signer=TicketSigner(ticket_key, 600),
            now=utcnow(),
        )
        engine.advance(session, JobId(job.id), now=utcnow())
        job_id, step_id = job.id, job.steps[0].id
    rt = runner.DomainRuntime(
        factory=world.factory,
        domain="tax",
        store=DomainStore.at(world.settings.domain_root, "tax"),
        ticket_key=ticket_key.public_key(),
        worker_id="t",
        lease_seconds=30,
        clock=utcnow,
        exchange=exchange_for(world.settings),
    )
    runner.run_step(rt, StepId(step_id))
    with session_scope(world.factory) as session:
        engine.advance(session, JobId(job_id), now=utcnow())
    return job_id


def _keys(world: World) -> tuple[object, object]:
    return (
        load_or_create_private_key(world.settings.ticket_key_path).public_key(),
        load_or_create_private_key(world.settings.ledger_key_path).public_key(),
    )


def _failed(world: World, job_id: uuid.UUID) -> set[str]:
    ticket_key, ledger_key = _keys(world)
    with world.factory() as session:
        traced = trace(
            session,
            job_id,
            ticket_key=ticket_key,  # type: ignore[arg-type]
            ledger_key=ledger_key,
        )  # type: ignore[arg-type]
        return {c.group for c in traced.checks if not c.ok}


def _inclusion_detail(world: World, job_id: uuid.UUID) -> str:
    ticket_key, ledger_key = _keys(world)
    with world.factory() as session:
        traced = trace(
            session,
            job_id,
            ticket_key=ticket_key,  # type: ignore[arg-type]
            ledger_key=ledger_key,
        )  # type: ignore[arg-type]
        return next(c.detail for c in traced.checks if c.group == "inclusion")


def _sign(world: World) -> None:
    with session_scope(world.factory) as session:
        ledger.checkpoint(
            session, load_or_create_private_key(world.settings.ledger_key_path), now=utcnow()
        )


def test_a_real_job_passes_and_tampering_fails_the_right_check(world: World) -> None:
    job_id = _run_profile_job(world)
    assert _failed(world, job_id) == set()
    assert "newer than the checkpoint" in _inclusion_detail(world, job_id)
    _sign(world)
    assert _failed(world, job_id) == set()
    assert "newer" not in _inclusion_detail(world, job_id)
    ticket_key, ledger_key = _keys(world)
    with world.factory() as session:
        sampled = inspect(
            session,
            5,
            ticket_key=ticket_key,  # type: ignore[arg-type]
            ledger_key=ledger_key,
        )  # type: ignore[arg-type]
        assert [t.job.id for t in sampled] == [job_id] and sampled[0].ok

    with session_scope(world.factory) as session:
        step = session.scalars(select(Step).where(Step.job_id == job_id)).one()
        forged = dict(step.result_json or {}, rows=1)
        session.execute(update(Step).where(Step.id == step.id).values(result_json=forged))
    assert _failed(world, job_id) == {"transcript"}

    with session_scope(world.factory) as session:
        step = session.scalars(select(Step).where(Step.job_id == job_id)).one()
        body, signature = step.ticket.split(".")
        # Change the signature's first character: all six of its bits are signature bits (the
        # last characters' padding bits are not, so "...AA" could leave it intact, 1 in 256).
        first = "B" if signature[0] == "A" else "A"
        session.execute(
            update(Step).where(Step.id == step.id).values(ticket=f"{body}.{first}{signature[1:]}")
        )
    assert "authority" in _failed(world, job_id)
