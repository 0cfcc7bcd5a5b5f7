"""PSI and lookup jobs end to end in one process: the production planner, policy, tickets,
step runner, exchange and domain stores, with the steps run by in-process "workers" (one per
domain). Results are compared with a plain set computation on the demo world's own files."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import computations
from grants.demo import DemoGovernance, seed_governance
from grants.models import Grant
from grants.policy import Computation, PolicyRefusal
from grants.terms import DatasetColumns, Kind
from sandbox.clock import utcnow
from sandbox.compute.delivery import deliver
from sandbox.compute.models import LookupTable
from sandbox.datasets.ingest import iter_rows
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.domains.store import DomainStore
from sandbox.errors import PermissionDenied, SandboxError
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.jobs.models import Job, Step
from sandbox.keys import load_or_create_private_key
from sandbox.tickets import TicketSigner
from tests.conftest import World
from tests.helpers import as_user
from tests.helpers import drive as drive_job

SMALL = computations.Sizing(
    psi_shard_rows=5, lookup_shard_rows=5, lookup_build_rows=60, max_shards=4
)


@pytest.fixture
def gov(world: World) -> Iterator[tuple[Session, DemoGovernance]]:
    """The demo's governance; the small test world's applicant lists (about 15 ids) are
    below the demo grant's minimum cardinality set, so the test grant allows 5."""
    with world.factory() as session:
        g = seed_governance(session, now=utcnow())
        grant = session.get(Grant, g.approved_grant_id)
        assert grant is not None and grant.approved is not None
        grant.approved = {**grant.approved, "min_set_size": 5}
        session.commit()
        yield session, g


def _dataset(session: Session, name: str) -> Dataset:
    """``tax_ratings``, or ``bank_a_applicants`` for the applicants held in bank-a's domain."""
    if name.endswith("_applicants"):
        domain = name.removesuffix("_applicants").replace("_", "-")
        return next(
            d
            for d in session.scalars(select(Dataset).where(Dataset.name == "applicants"))
            if d.domain.name == domain
        )
    return session.scalars(select(Dataset).where(Dataset.name == name)).one()


def _rows(world: World, session: Session, name: str) -> list[dict[str, str | None]]:
    ds = _dataset(session, name)
    version = session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    ).one()
    store = DomainStore.at(world.settings.domain_root, ds.domain.name)
    path = store.dataset_file(ds.name, version.version)
    return list(iter_rows(path, Schema.model_validate(version.schema_json)))


def _submit(
    world: World,
    session: Session,
    g: DemoGovernance,
    kind: Kind,
    columns: tuple[str, ...],
    *,
    who: str = "operator",
    recipient: str = "bank-a",
    applicants: str = "bank_a_applicants",
) -> uuid.UUID:
    tax = _dataset(session, "tax_ratings")
    inputs = _dataset(session, applicants)
    job = computations.submit(
        session,
        as_user(session, who),
        Computation(
            grant_id=g.approved_grant_id,
            kind=kind,
            datasets=(DatasetColumns(dataset_id=tax.id, columns=columns),),
            purpose="sme_credit_assessment",
            recipient=recipient,
            rows=computations.input_rows(session, inputs.id),
            input_dataset=inputs.id,
        ),
        signer=TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 600),
        now=utcnow(),
        sizing=SMALL,
    )
    engine.advance(session, JobId(job.id), now=utcnow())
    session.commit()
    return job.id


def drive(world: World, job_id: uuid.UUID) -> Job:
    """Run queued steps, in any domain, until the job ends."""
    job: Job = drive_job(world.settings, world.factory, job_id)
    return job


def _ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["credit_code"] for r in rows if r["credit_code"]}


def _result(world: World, session: Session, job_id: uuid.UUID, who: str) -> list[list[str]]:
    d = deliver(
        session, as_user(session, who), job_id, domain_root=world.settings.domain_root, now=utcnow()
    )
    session.commit()
    return list(csv.reader(d.path.read_text(encoding="utf-8").splitlines()))


def test_intersection_matches_a_plain_set_intersection(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job_id = _submit(world, session, g, Kind.PSI_INTERSECTION, ("credit_code",))
    job = drive(world, job_id)
    assert job.state == "succeeded", (job.error_code, job.error_message)
    expected = _ids(_rows(world, session, "bank_a_applicants")) & _ids(
        _rows(world, session, "tax_ratings")
    )
    table = _result(world, session, job_id, "bank-a")
    assert table[0] == ["identifier"]
    assert {r[0] for r in table[1:]} == expected
    assert job.result_json is not None
    assert job.result_json["matched"] == len(expected)
    assert job.result_json["shards"] > 1
    assert all(len(t["message"]) == 64 for t in job.result_json["transcript"])


def test_cardinality_gives_only_the_size(world: World, gov: tuple[Session, DemoGovernance]) -> None:
    session, g = gov
    job_id = _submit(world, session, g, Kind.PSI_CARDINALITY, ("credit_code",))
    job = drive(world, job_id)
    assert job.state == "succeeded", (job.error_code, job.error_message)
    expected = _ids(_rows(world, session, "bank_a_applicants")) & _ids(
        _rows(world, session, "tax_ratings")
    )
    assert job.result_json is not None and job.result_json["matched"] == len(expected)
    assert _result(world, session, job_id, "bank-a") == [
        ["intersection_size"],
        [str(len(expected))],
    ]
    # The same query again is allowed (nothing new is revealed) ...
    again = drive(world, _submit(world, session, g, Kind.PSI_CARDINALITY, ("credit_code",)))
    assert again.state == "succeeded"


def test_a_lookup_returns_the_granted_labels_of_present_ids(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    cols = ("credit_code", "tax_credit_grade", "arrears")
    job_id = _submit(world, session, g, Kind.LOOKUP, cols)
    job = drive(world, job_id)
    assert job.state == "succeeded", (job.error_code, job.error_message)
    tax = {r["credit_code"]: r for r in _rows(world, session, "tax_ratings")}
    mine = [r["credit_code"] for r in _rows(world, session, "bank_a_applicants")]
    table = _result(world, session, job_id, "bank-a")
    assert table[0] == ["identifier", "found", "tax_credit_grade", "arrears"]
    got = {r[0]: r[1:] for r in table[1:]}
    assert set(got) == {m for m in mine if m}
    for ident, (found, grade, arrears) in got.items():
        if ident in tax:
            assert found == "true"
            assert grade == (tax[ident]["tax_credit_grade"] or "")
            assert arrears == (tax[ident]["arrears"] or "")
        else:
            assert (found, grade, arrears) == ("false", "", "")
    # The table is now known: the next query skips the build and reuses the installed copy.
    table_row = session.scalars(select(LookupTable)).one()
    second = _submit(world, session, g, Kind.LOOKUP, cols, who="bank-a")
    with world.factory() as s:
        actions = [st.action for st in s.scalars(select(Step).where(Step.job_id == second))]
    assert "lookup.build" not in actions
    done = drive(world, second)
    assert done.state == "succeeded", (done.error_code, done.error_message)
    install = next(
        st
        for st in session.scalars(select(Step).where(Step.job_id == second))
        if st.action == "lookup.install"
    )
    assert install.result_json is not None and install.result_json["fetched"] is False
    assert done.result_json is not None
    assert done.result_json["table"]["table"] == table_row.digest


def test_only_the_recipient_reads_the_result(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job_id = _submit(world, session, g, Kind.PSI_INTERSECTION, ("credit_code",))
    assert drive(world, job_id).state == "succeeded"
    for who in ("operator", "bank-b", "tax-cdo", "bureau"):
        with pytest.raises((PermissionDenied, SandboxError)) as info:
            deliver(
                session,
                as_user(session, who),
                job_id,
                domain_root=world.settings.domain_root,
                now=utcnow(),
            )
        assert info.value.code in ("result.not_recipient", "job.not_found")
        session.rollback()


def test_a_bank_runs_under_a_grant_that_names_it_but_not_for_another(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job = drive(
        world, _submit(world, session, g, Kind.PSI_INTERSECTION, ("credit_code",), who="bank-a")
    )
    assert job.state == "succeeded"
    with pytest.raises(PolicyRefusal) as info:
        _submit(
            world,
            session,
            g,
            Kind.PSI_INTERSECTION,
            ("credit_code",),
            who="bank-a",
            recipient="bank-b",
            applicants="bank_b_applicants",
        )
    assert info.value.code == "policy.no_grant"
    session.rollback()
    # An input that is not the recipient's own dataset is refused.
    with pytest.raises(PolicyRefusal) as info:
        _submit(
            world,
            session,
            g,
            Kind.PSI_INTERSECTION,
            ("credit_code",),
            applicants="bank_b_applicants",
        )
    assert info.value.code == "policy.input"
    session.rollback()


def test_cardinality_guards(world: World, gov: tuple[Session, DemoGovernance]) -> None:
    """A query that overlaps the previous one almost entirely is refused in the requester's
    domain; too small a set is refused by the policy."""
    session, g = gov
    first = drive(world, _submit(world, session, g, Kind.PSI_CARDINALITY, ("credit_code",)))
    assert first.state == "succeeded"
    # Now the requester's set changes by a single identifier (a differencing probe).
    from sandbox.compute.guards import check_overlap

    store = DomainStore.at(world.settings.domain_root, "bank-a")
    mine = sorted(_ids(_rows(world, session, "bank_a_applicants")))
    with pytest.raises(SandboxError) as info:
        check_overlap(store, str(g.approved_grant_id), mine[:-1], max_overlap=0.9)
    assert info.value.code == "guard.overlap"
