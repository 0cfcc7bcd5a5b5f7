"""``intersection_sum`` end to end in one process (planner, policy, tickets, runner, exchange,
domain stores, the gate): bank-a's applicants against the registry's registered capital. The
released size and sum equal a plain computation over the demo world's files."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import computations
from grants.demo import DemoGovernance, seed_governance
from grants.models import Grant
from grants.policy import Computation
from grants.terms import DatasetColumns, Kind
from sandbox.clock import utcnow
from sandbox.compute import isum_steps
from sandbox.compute.delivery import deliver
from sandbox.datasets.ingest import iter_rows
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.domains.store import DomainStore
from sandbox.errors import InvalidInput
from sandbox.exchange.store import exchange_for
from sandbox.identifiers import check
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.jobs.models import Step
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.models import LedgerEntry
from sandbox.tickets import TicketSigner
from tests.conftest import World
from tests.helpers import as_user, drive, run_until, swap_message

SMALL = computations.Sizing(psi_shard_rows=100, key_bits=2048)


@pytest.fixture
def gov(world: World) -> Iterator[tuple[Session, DemoGovernance]]:
    with world.factory() as session:
        g = seed_governance(session, now=utcnow())
        grant = session.get(Grant, g.statistics_grant_id)
        assert grant is not None and grant.approved is not None
        grant.approved = {**grant.approved, "min_set_size": 5, "min_cohort": 2}
        session.commit()
        yield session, g


def _dataset(session: Session, name: str, domain: str) -> Dataset:
    return next(
        d
        for d in session.scalars(select(Dataset).where(Dataset.name == name))
        if d.domain.name == domain
    )


def _rows(world: World, session: Session, ds: Dataset) -> list[dict[str, object]]:
    version = session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    ).one()
    path = DomainStore.at(world.settings.domain_root, ds.domain.name).dataset_file(
        ds.name, version.version
    )
    return list(iter_rows(path, Schema.model_validate(version.schema_json)))


def _submit(
    world: World,
    session: Session,
    g: DemoGovernance,
    columns: tuple[str, ...] = ("credit_code", "registered_capital"),
    *,
    sizing: computations.Sizing = SMALL,
) -> uuid.UUID:
    registry = _dataset(session, "enterprise_registry", "market")
    applicants = _dataset(session, "applicants", "bank-a")
    job = computations.submit(
        session,
        as_user(session, "bank-a"),
        Computation(
            grant_id=g.statistics_grant_id,
            kind=Kind.INTERSECTION_SUM,
            datasets=(DatasetColumns(dataset_id=registry.id, columns=columns),),
            purpose="sme_credit_assessment",
            recipient="bank-a",
            rows=computations.input_rows(session, applicants.id),
            input_dataset=applicants.id,
        ),
        signer=TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 600),
        now=utcnow(),
        sizing=sizing,
    )
    engine.advance(session, JobId(job.id), now=utcnow())
    session.commit()
    return job.id


def _expected(world: World, session: Session) -> tuple[int, Decimal]:
    mine = set()
    for row in _rows(world, session, _dataset(session, "applicants", "bank-a")):
        checked = check("credit_code", str(row["credit_code"] or ""))
        if checked.value is not None:
            mine.add(checked.value)
    capital = {
        str(r["credit_code"]): Decimal(str(r["registered_capital"]))
        for r in _rows(world, session, _dataset(session, "enterprise_registry", "market"))
        if r["registered_capital"] not in (None, "")
    }
    matched = [capital[i] for i in mine if i in capital]
    return len(matched), sum(matched, Decimal(0))


@pytest.mark.parametrize("shard_rows", [100, 5_000])
def test_intersection_sum_equals_a_plain_sum(
    world: World, gov: tuple[Session, DemoGovernance], shard_rows: int
) -> None:
    session, g = gov
    job_id = _submit(
        world, session, g, sizing=computations.Sizing(psi_shard_rows=shard_rows, key_bits=2048)
    )
    job = drive(world.settings, world.factory, job_id)
    assert job.state == "succeeded", (job.error_code, job.error_message)
    size, total = _expected(world, session)
    assert size >= 2, "the small world's applicants include registered firms"
    d = deliver(
        session,
        as_user(session, "bank-a"),
        job_id,
        domain_root=world.settings.domain_root,
        now=utcnow(),
    )
    session.commit()
    (row,) = list(csv.DictReader(d.path.read_text(encoding="utf-8").splitlines()))
    assert (row["status"], int(row["intersection_size"])) == ("released", size)
    assert Decimal(row["sum"]) == total
    assert job.result_json is not None and job.result_json["released"] is True
    # Counts only in the control DB; the key is gone.
    assert row["sum"] not in str(job.result_json)
    destroyed = session.scalars(
        select(LedgerEntry.job_id).where(LedgerEntry.action == "key.destroyed")
    ).all()
    assert destroyed == [job_id]


def test_a_small_intersection_is_suppressed(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    grant = session.get(Grant, g.statistics_grant_id)
    assert grant is not None and grant.approved is not None
    grant.approved = {**grant.approved, "min_cohort": 10_000}
    session.commit()
    job = drive(world.settings, world.factory, _submit(world, session, g))
    assert job.state == "succeeded" and job.result_json is not None
    assert job.result_json["released"] is False
    path = DomainStore.at(world.settings.domain_root, "bureau").result_file(str(job.id))
    assert path.read_text(encoding="utf-8").splitlines()[1] == "suppressed,,"


def test_the_gate_refuses_a_sum_whose_count_was_changed(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    """The requester claims more summands than it added (to pass the minimum cohort): the count
    slot, added under encryption, disagrees, and the gate refuses; the key is destroyed."""
    session, g = gov
    job_id = _submit(world, session, g)
    run_until(world.settings, world.factory, job_id, isum_steps.RELEASE)
    exchange = exchange_for(world.settings)
    with world.factory() as s:
        step = s.scalars(
            select(Step).where(Step.job_id == job_id, Step.action == isum_steps.COLLECT)
        ).one()
        body = json.loads(exchange.get(step.result_json["message"], max_bytes=1 << 20))
    body["vector"][0]["count"] += 1
    swap_message(world.factory, job_id, isum_steps.COLLECT, exchange.put(json.dumps(body).encode()))
    job = drive(world.settings, world.factory, job_id)
    assert (job.state, job.error_code) == ("failed", "protocol.rejected")
    assert (
        not DomainStore.at(world.settings.domain_root, "bureau").result_file(str(job_id)).exists()
    )
    destroyed = session.scalars(
        select(LedgerEntry.job_id).where(LedgerEntry.action == "key.destroyed")
    ).all()
    assert destroyed == [job_id]


@pytest.mark.parametrize(
    ("columns", "code"),
    [
        (("credit_code", "industry"), "job.one_value"),
        (("credit_code", "registered_capital", "industry"), "job.one_value"),
    ],
)
def test_refusals(
    world: World, gov: tuple[Session, DemoGovernance], columns: tuple[str, ...], code: str
) -> None:
    session, g = gov
    with pytest.raises(InvalidInput) as err:
        _submit(world, session, g, columns)
    assert err.value.code == code


def test_the_plan_keeps_values_with_the_provider() -> None:
    """Only the provider's steps name the value column; the requester's name its ids."""
    from sandbox.compute.plans import GateControls, Limits, Party, isum_plan
    from sandbox.tickets import DatasetRef

    ref = DatasetRef(id=str(uuid.uuid4()), version=1)
    plan = isum_plan(
        "bureau",
        Party("bank-a", ref, "credit_code"),
        Party("market", ref, "credit_code"),
        "registered_capital",
        decimals=2,
        bounds=None,
        provider_rows=10,
        shards=3,
        limits=Limits(max_items=100, min_items=5, max_overlap=1.0, grant="g"),
        controls=GateControls(recipient="bank-a", min_cohort=10),
    )
    for step in plan:
        if step.domain == "bank-a":
            assert step.columns == ("credit_code",)
        if step.domain == "bureau":
            assert step.dataset is None and step.columns == ()
    assert [s.action for s in plan].count(isum_steps.FINISH) == 3
