"""Hostile protocol traffic reaches a domain worker as a failed step, never a crash and never a
result: a message replayed from another job, a message swapped in the exchange, garbage with
a valid name, a missing message. The worker goes on to run the next job normally."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.demo import DemoGovernance
from grants.terms import Kind
from sandbox.exchange.store import exchange_for, name_of
from sandbox.ids import StepId
from sandbox.jobs import runner
from sandbox.jobs.models import Job, Step, StepState
from sandbox.tickets import unverified_claims
from tests.conftest import World
from tests.helpers import domain_worker
from tests.unit.test_protocol_jobs import _submit, drive
from tests.unit.test_protocol_jobs import gov as gov

LABELS = ("credit_code", "tax_credit_grade")


def _run_until(world: World, job_id: uuid.UUID, action: str) -> Step:
    """Run the job's queued steps until the first ``action`` step is queued; return it."""
    workers: dict[str, runner.DomainRuntime] = {}
    for _ in range(200):
        with world.factory() as s:
            queued = s.scalars(
                select(Step).where(Step.job_id == job_id, Step.state == StepState.QUEUED.value)
            ).all()
            target = next((st for st in queued if st.action == action), None)
            if target is not None:
                s.expunge(target)
                return target
            todo = [(StepId(st.id), st.domain) for st in queued]
        assert todo
        for step_id, domain in todo:
            runner.run_step(
                workers.setdefault(domain, domain_worker(world.settings, world.factory, domain)),
                step_id,
            )
    raise AssertionError(f"{action} never queued")


def _set_upstream(
    world: World, job_id: uuid.UUID, action: str, message: str, shard: int = 0
) -> None:
    with world.factory() as s:
        step = next(
            st
            for st in s.scalars(select(Step).where(Step.job_id == job_id, Step.action == action))
            if st.result_json is not None and st.result_json.get("shard") == shard
        )
        assert step.result_json is not None
        step.result_json = {**step.result_json, "message": message}
        s.commit()


def _fails_with(world: World, job_id: uuid.UUID, step: Step, code: str) -> None:
    runner.run_step(domain_worker(world.settings, world.factory, step.domain), StepId(step.id))
    with world.factory() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.state == "failed"
        assert job.error_code == code, (job.error_code, job.error_message)


def _shard(world: World, job_id: uuid.UUID) -> int:
    """The shard of the job's first queued evaluate step (the one the test runs)."""
    with world.factory() as s:
        step = next(
            st
            for st in s.scalars(select(Step).where(Step.job_id == job_id))
            if st.action == "lookup.evaluate" and st.state == StepState.QUEUED.value
        )
        return int(unverified_claims(step.ticket)["scope"]["shard"])


Tamper = Callable[[World, uuid.UUID, uuid.UUID], None]


def _replay_from_other_job(world: World, first: uuid.UUID, second: uuid.UUID) -> None:
    with world.factory() as s:
        old = s.scalars(
            select(Step).where(Step.job_id == first, Step.action == "lookup.blind")
        ).first()
        assert old is not None and old.result_json is not None
        replayed = old.result_json["message"]
    _set_upstream(world, second, "lookup.blind", replayed, _shard(world, second))


def _garbage_with_a_valid_name(world: World, first: uuid.UUID, second: uuid.UUID) -> None:
    junk = b"SBXP" + bytes(200)
    name = exchange_for(world.settings).put(junk)
    assert name == name_of(junk)
    _set_upstream(world, second, "lookup.blind", name, _shard(world, second))


def _swapped_in_the_exchange(world: World, first: uuid.UUID, second: uuid.UUID) -> None:
    with world.factory() as s:
        shard = _shard(world, second)
        step = next(
            st
            for st in s.scalars(
                select(Step).where(Step.job_id == second, Step.action == "lookup.blind")
            )
            if st.result_json is not None and st.result_json.get("shard") == shard
        )
        assert step.result_json is not None
        name = step.result_json["message"]
    path = world.settings.exchange_dir / name[:2] / name
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))


def _never_sent(world: World, first: uuid.UUID, second: uuid.UUID) -> None:
    _set_upstream(world, second, "lookup.blind", "0" * 64, _shard(world, second))


@pytest.fixture
def first_job(world: World, gov: tuple[Session, DemoGovernance]) -> Iterator[uuid.UUID]:
    session, g = gov
    job = drive(world, _submit(world, session, g, Kind.LOOKUP, LABELS))
    assert job.state == "succeeded"
    yield job.id


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_replay_from_other_job, "protocol.rejected"),
        (_garbage_with_a_valid_name, "protocol.rejected"),
        (_swapped_in_the_exchange, "exchange.corrupt"),
        (_never_sent, "exchange.missing"),
    ],
    ids=["replayed-from-another-job", "garbage", "swapped", "missing"],
)
def test_a_hostile_query_fails_the_step_not_the_worker(
    world: World,
    gov: tuple[Session, DemoGovernance],
    first_job: uuid.UUID,
    tamper: Tamper,
    code: str,
) -> None:
    session, g = gov
    second = _submit(world, session, g, Kind.LOOKUP, LABELS)
    evaluate = _run_until(world, second, "lookup.evaluate")
    tamper(world, first_job, second)
    _fails_with(world, second, evaluate, code)
    # The same domain workers run the next job to the end.
    third = drive(world, _submit(world, session, g, Kind.LOOKUP, LABELS))
    assert third.state == "succeeded"


def test_a_hostile_psi_request_fails_the_provider_step(
    world: World,
    gov: tuple[Session, DemoGovernance],
) -> None:
    session, g = gov
    job_id = _submit(world, session, g, Kind.PSI_INTERSECTION, ("credit_code",))
    respond = _run_until(world, job_id, "psi.respond")
    shard = int(unverified_claims(respond.ticket)["scope"]["shard"])
    junk = b"SBXP\x01\x02" + bytes(32) + (40).to_bytes(8, "big") + bytes(40)
    name = exchange_for(world.settings).put(junk)
    _set_upstream(world, job_id, "psi.request", name, shard)
    _fails_with(world, job_id, respond, "protocol.rejected")
