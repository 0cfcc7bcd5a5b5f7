"""``aggregate`` and ``secure_sum`` end to end in one process: the production planner, policy,
tickets, step runner, exchange, domain stores and the output gate, with steps run by in-process
"workers". Released numbers are compared with a plain computation over the demo world's file."""

from __future__ import annotations

import csv
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import computations
from grants.demo import DemoGovernance, seed_governance
from grants.models import Grant
from grants.policy import Computation, PolicyRefusal
from grants.terms import DatasetColumns, Kind
from homomorphic.keys import generate_keypair
from homomorphic.serialization import packed_to_json
from sandbox.clock import utcnow
from sandbox.compute import he_steps
from sandbox.compute.delivery import deliver
from sandbox.datasets.ingest import iter_rows
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.domains.store import DomainStore
from sandbox.errors import InvalidInput, NotFound, PermissionDenied
from sandbox.exchange.store import exchange_for
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.jobs.models import Job, Step
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.models import LedgerEntry
from sandbox.tickets import TicketSigner
from tests.conftest import World
from tests.helpers import as_user, drive, registry_copy, run_until, swap_message

SMALL = computations.Sizing(key_bits=2048)
K = 12


@pytest.fixture
def gov(world: World) -> Iterator[tuple[Session, DemoGovernance]]:
    """The demo's statistics grant, with a minimum cohort the small test world can reach."""
    with world.factory() as session:
        g = seed_governance(session, now=utcnow())
        grant = session.get(Grant, g.statistics_grant_id)
        assert grant is not None and grant.approved is not None
        grant.approved = {**grant.approved, "min_cohort": K}
        session.commit()
        yield session, g


def _registry(session: Session) -> Dataset:
    return next(
        d
        for d in session.scalars(select(Dataset).where(Dataset.name == "enterprise_registry"))
        if d.domain.name == "market"
    )


def _second_registry(world: World, session: Session, g: DemoGovernance) -> Dataset:
    dataset: Dataset = registry_copy(
        world.settings, world.factory, session, g.statistics_grant_id, "social"
    )
    return dataset


def _submit(
    world: World,
    session: Session,
    g: DemoGovernance,
    kind: Kind,
    columns: tuple[str, ...],
    *,
    who: str = "operator",
    epsilon: float | None = None,
    bounds: tuple[float, float] | None = None,
    also: Dataset | None = None,
) -> uuid.UUID:
    datasets = [_registry(session), *([also] if also else [])]
    job = computations.submit(
        session,
        as_user(session, who),
        Computation(
            grant_id=g.statistics_grant_id,
            kind=kind,
            datasets=tuple(DatasetColumns(dataset_id=d.id, columns=columns) for d in datasets),
            purpose="sme_credit_assessment",
            recipient="bank-a",
            rows=0,
            epsilon=epsilon,
            bounds=bounds,
        ),
        signer=TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 600),
        now=utcnow(),
        sizing=SMALL,
    )
    engine.advance(session, JobId(job.id), now=utcnow())
    session.commit()
    return job.id


def _expected(world: World, session: Session, by: str) -> dict[str, list[Decimal]]:
    ds = _registry(session)
    version = session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    ).one()
    schema = Schema.model_validate(version.schema_json)
    path = DomainStore.at(world.settings.domain_root, "market").dataset_file(
        ds.name, version.version
    )
    declared = set(schema.column(by).values or ())
    out: dict[str, list[Decimal]] = defaultdict(list)
    for row in iter_rows(path, schema):
        group, capital = row[by], row["registered_capital"]
        if group in declared and capital not in (None, ""):
            out[str(group)].append(Decimal(str(capital)))
    return out


def _released(world: World, session: Session, job_id: uuid.UUID) -> list[dict[str, str]]:
    d = deliver(
        session,
        as_user(session, "bank-a"),
        job_id,
        domain_root=world.settings.domain_root,
        now=utcnow(),
    )
    session.commit()
    return list(csv.DictReader(d.path.read_text(encoding="utf-8").splitlines()))


def _keys_left(world: World) -> list[str]:
    jobs = DomainStore.at(world.settings.domain_root, "bureau").root / "jobs"
    return [p.parent.name for p in jobs.glob(f"*/{he_steps.KEY_FILE}")] if jobs.exists() else []


def test_aggregate_per_group_matches_a_plain_computation_and_suppresses_small_groups(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job_id = _submit(world, session, g, Kind.AGGREGATE, ("industry", "registered_capital"))
    job = drive(world.settings, world.factory, job_id)
    assert job.state == "succeeded", (job.error_code, job.error_message)
    expected = _expected(world, session, "industry")
    rows = {r["industry"]: r for r in _released(world, session, job_id)}
    assert set(expected) <= set(rows)
    released = suppressed = 0
    for group, row in rows.items():
        values = expected.get(group, [])
        if len(values) < K:
            assert row["status"] == "suppressed" and row["count"] == row["sum"] == ""
            suppressed += 1
            continue
        released += 1
        n, total = len(values), sum(values, Decimal(0))
        mean = total / n
        variance = sum((v * v for v in values), Decimal(0)) / n - mean * mean
        assert row["status"] == "released"
        assert int(row["count"]) == n
        assert Decimal(row["sum"]) == total
        assert abs(Decimal(row["mean"]) - mean) < Decimal("0.000001")
        assert abs(Decimal(row["variance"]) - variance) <= abs(variance) * Decimal("1e-9") + 1
    assert released and suppressed, "the small world has both kinds of groups"
    # The control DB holds counts only; the gate's key is gone, and the ledger says so.
    assert job.result_json is not None
    assert job.result_json["released"] == released and job.result_json["suppressed"] == suppressed
    assert "sum" not in json.dumps(job.result_json["transcript"])
    assert _keys_left(world) == []
    destroyed = session.scalars(
        select(LedgerEntry).where(LedgerEntry.action == "key.destroyed")
    ).all()
    assert [e.job_id for e in destroyed] == [job_id]


def test_secure_sum_releases_count_and_total_per_group(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job_id = _submit(world, session, g, Kind.SECURE_SUM, ("legal_form", "registered_capital"))
    job = drive(world.settings, world.factory, job_id)
    assert job.state == "succeeded", (job.error_code, job.error_message)
    expected = _expected(world, session, "legal_form")
    for row in _released(world, session, job_id):
        values = expected.get(row["legal_form"], [])
        assert set(row) == {"legal_form", "status", "count", "sum"}
        if len(values) >= K:
            assert int(row["count"]) == len(values)
            assert Decimal(row["sum"]) == sum(values, Decimal(0))


def test_counts_only_and_noise_under_a_budget(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    counts = drive(
        world.settings,
        world.factory,
        _submit(world, session, g, Kind.AGGREGATE, ("legal_form",)),
    )
    assert counts.state == "succeeded"
    rows = _released(world, session, counts.id)
    assert set(rows[0]) == {"legal_form", "status", "count"}
    noisy = drive(
        world.settings,
        world.factory,
        _submit(
            world,
            session,
            g,
            Kind.AGGREGATE,
            ("industry", "registered_capital"),
            epsilon=2.0,
            bounds=(0.0, 5000.0),
        ),
    )
    assert noisy.state == "succeeded", (noisy.error_code, noisy.error_message)
    assert noisy.result_json is not None and noisy.result_json["epsilon"] == 2.0
    grant = session.get(Grant, g.statistics_grant_id)
    session.refresh(grant)
    assert grant is not None and grant.epsilon_spent == pytest.approx(2.0)
    with pytest.raises(PolicyRefusal) as refused:
        _submit(
            world,
            session,
            g,
            Kind.AGGREGATE,
            ("industry", "registered_capital"),
            epsilon=9.0,
            bounds=(0.0, 5000.0),
        )
    assert "policy.budget_used" in {r.code for r in refused.value.reasons}


@pytest.mark.parametrize(
    ("columns", "epsilon", "code"),
    [
        (("industry", "registered_capital"), 1.0, "job.bounds_required"),
        (("industry", "name"), None, "job.column_kind"),
        (("industry",), None, "job.no_value"),  # secure_sum needs a value
    ],
)
def test_refusals_before_anything_runs(
    world: World,
    gov: tuple[Session, DemoGovernance],
    columns: tuple[str, ...],
    epsilon: float | None,
    code: str,
) -> None:
    session, g = gov
    kind = Kind.SECURE_SUM if code == "job.no_value" else Kind.AGGREGATE
    if code == "job.column_kind":
        # A string column is not in the grant; widen the grant to see the planner's refusal.
        grant = session.get(Grant, g.statistics_grant_id)
        assert grant is not None and grant.approved is not None
        datasets = grant.approved["datasets"]
        datasets[0]["columns"] = [*datasets[0]["columns"], "name"]
        grant.approved = {**grant.approved, "datasets": datasets}
        session.commit()
    with pytest.raises(InvalidInput) as err:
        _submit(world, session, g, kind, columns, epsilon=epsilon)
    assert err.value.code == code
    session.rollback()
    assert session.scalars(select(Job)).all() == []


def test_only_the_recipient_reads_the_release(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job_id = _submit(world, session, g, Kind.AGGREGATE, ("industry", "registered_capital"))
    assert drive(world.settings, world.factory, job_id).state == "succeeded"
    for who in ("bank-b", "operator", "bureau"):
        with pytest.raises((PermissionDenied, NotFound)):  # bank-b does not even see the job
            deliver(
                session,
                as_user(session, who),
                job_id,
                domain_root=world.settings.domain_root,
                now=utcnow(),
            )
        session.rollback()


def _run_until(world: World, job_id: uuid.UUID, action: str) -> None:
    run_until(world.settings, world.factory, job_id, action)


def _swap_combined(world: World, job_id: uuid.UUID, message: bytes) -> None:
    name = exchange_for(world.settings).put(message)
    swap_message(world.factory, job_id, he_steps.COMBINE, name)


def _vector(world: World, job_id: uuid.UUID, *, count: int, other_key: bool) -> bytes:
    """A contribution as the gate would receive it, but with a wrong summand count or key."""
    with world.factory() as s:
        step = s.scalars(
            select(Step).where(Step.job_id == job_id, Step.action == he_steps.COMBINE)
        ).one()
        name = step.result_json["message"]
    body = json.loads(exchange_for(world.settings).get(name, max_bytes=1 << 22))
    if other_key:
        public, _ = generate_keypair(2048)
        from homomorphic.packing import PackedCiphertext, PackingLayout

        layout = PackingLayout(**body["vector"][0]["layout"])
        body["vector"] = [
            packed_to_json(
                PackedCiphertext(public_key=public, layout=layout, ciphertext=12345, length=1)
            )
        ]
    else:
        for item in body["vector"]:
            item["count"] = count
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("count", "other_key", "code"),
    [(2, False, "protocol.rejected"), (1, True, "protocol.rejected")],
)
def test_the_gate_refuses_what_is_not_the_sum_of_every_party(
    world: World,
    gov: tuple[Session, DemoGovernance],
    count: int,
    other_key: bool,
    code: str,
) -> None:
    session, g = gov
    job_id = _submit(world, session, g, Kind.AGGREGATE, ("industry", "registered_capital"))
    _run_until(world, job_id, he_steps.RELEASE)
    _swap_combined(world, job_id, _vector(world, job_id, count=count, other_key=other_key))
    job = drive(world.settings, world.factory, job_id)
    assert (job.state, job.error_code) == ("failed", code)
    assert _keys_left(world) == []  # a refused release destroys the key too
    result = DomainStore.at(world.settings.domain_root, "bureau").result_file(str(job_id))
    assert not result.exists()


def test_a_key_left_by_a_failed_job_is_destroyed_by_the_next_keygen(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    first = _submit(world, session, g, Kind.AGGREGATE, ("industry", "registered_capital"))
    _run_until(world, first, he_steps.ENCRYPT)
    assert _keys_left(world) == [str(first)]
    with world.factory() as s:
        job = s.get(Job, first)
        assert job is not None
        job.state = "failed"  # as a failed contributor would leave it
        s.commit()
    second = _submit(world, session, g, Kind.AGGREGATE, ("industry", "registered_capital"))
    assert drive(world.settings, world.factory, second).state == "succeeded"
    assert _keys_left(world) == []
    destroyed = session.scalars(
        select(LedgerEntry.job_id).where(LedgerEntry.action == "key.destroyed")
    ).all()
    assert set(destroyed) == {first, second}


def test_a_secure_sum_across_two_domains_adds_both_and_the_gate_opens_only_the_sum(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    second = _second_registry(world, session, g)
    cols = ("legal_form", "registered_capital")
    job_id = _submit(world, session, g, Kind.SECURE_SUM, cols, also=second)
    job = drive(world.settings, world.factory, job_id)
    assert job.state == "succeeded", (job.error_code, job.error_message)
    assert job.result_json is not None and job.result_json["parties"] == 2
    expected = _expected(world, session, "legal_form")
    for row in _released(world, session, job_id):
        values = expected.get(row["legal_form"], [])
        if 2 * len(values) >= K:  # the same rows in both domains: twice the count and sum
            assert int(row["count"]) == 2 * len(values)
            assert Decimal(row["sum"]) == 2 * sum(values, Decimal(0))
    # Replace the sum by one party's own vector: the gate will not open it.
    again = _submit(world, session, g, Kind.SECURE_SUM, cols, also=second)
    _run_until(world, again, he_steps.RELEASE)
    with world.factory() as s:
        one = s.scalars(
            select(Step).where(Step.job_id == again, Step.action == he_steps.ENCRYPT)
        ).first()
        assert one is not None and one.result_json is not None
        name = one.result_json["message"]
    _swap_combined(world, again, exchange_for(world.settings).get(name, max_bytes=1 << 22))
    failed = drive(world.settings, world.factory, again)
    assert (failed.state, failed.error_code) == ("failed", "gate.not_aggregate")
    assert _keys_left(world) == []
