"""Each PSI kind runs through real worker processes on PostgreSQL and Redis (broker and
exchange), with two worker processes on the provider's domain, and gives what a plain set
computation gives. Afterwards no identifier of either side is found in the control DB, the
broker, the exchange or the worker logs: only message names, counts and the requester's own
result file in its own domain."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from grants import computations
from grants.demo import seed_governance
from grants.models import Grant
from grants.policy import Computation
from grants.terms import DatasetColumns, Kind
from sandbox.clock import utcnow
from sandbox.compute.results import result_path
from sandbox.datasets.ingest import iter_rows
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.db.engine import session_scope
from sandbox.domains.store import DomainStore
from sandbox.ids import JobId
from sandbox.jobs.celery_app import CeleryEnqueuer, make_celery
from sandbox.jobs.models import Job
from sandbox.keys import load_or_create_private_key
from sandbox.parties.models import User
from sandbox.parties.principal import Principal
from sandbox.tickets import TicketSigner
from tests.conftest import wait_for
from tests.integration.stacks import Stack, build_stack
from tests.integration.test_leak_canaries import dump_control_db

pytestmark = [pytest.mark.integration]
SIZING = computations.Sizing(psi_shard_rows=4, lookup_shard_rows=4, lookup_build_rows=50)


def _rows(stack: Stack, ds: Dataset) -> list[dict[str, Any]]:
    with stack.factory() as s:
        version = s.scalars(select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)).one()
        schema = Schema.model_validate(version.schema_json)
        store = DomainStore.at(stack.settings.domain_root, ds.domain.name)
        return list(iter_rows(store.dataset_file(ds.name, version.version), schema))


def _run(
    stack: Stack,
    enqueuer: CeleryEnqueuer,
    c: Computation,
    *,
    sizing: computations.Sizing = SIZING,
) -> Job:
    signer = TicketSigner(load_or_create_private_key(stack.settings.ticket_key_path), 3600)
    with session_scope(stack.factory) as session:
        user = session.scalar(select(User).where(User.username == "operator"))
        assert user is not None
        job = computations.submit(
            session, Principal.of(user), c, signer=signer, now=utcnow(), sizing=sizing
        )
        job_id = job.id
    enqueuer.advance_job(JobId(job_id))

    def finished() -> Job | None:
        with stack.factory() as s:
            done = s.get(Job, job_id)
            if done is not None and done.state in ("succeeded", "failed"):
                s.expunge(done)
                return done
        return None

    job = wait_for(finished, timeout=120, what="the protocol job")
    assert job.state == "succeeded", (job.error_code, job.error_message)
    return job


def test_each_psi_kind_through_real_workers(
    tmp_path: Path, postgres_url: str, redis_url: str, workers_for: Any
) -> None:
    stack = build_stack(
        tmp_path / "var", database_url=postgres_url, broker_url=redis_url, exchange_url=redis_url
    )
    with session_scope(stack.factory) as session:
        g = seed_governance(session, now=utcnow())
        grant = session.get(Grant, g.approved_grant_id)
        assert grant is not None and grant.approved is not None
        grant.approved = {**grant.approved, "min_set_size": 5}
    with stack.factory() as s:
        tax = s.scalars(select(Dataset).where(Dataset.name == "tax_ratings")).one()
        applicants = next(
            d
            for d in s.scalars(select(Dataset).where(Dataset.name == "applicants"))
            if d.domain.name == "bank-a"
        )
        s.expunge_all()
    workers = workers_for(stack.settings)
    workers.start("coordinator", "--coordinator")
    workers.start("bank-a", "--domain", "bank-a")
    workers.start("tax-1", "--domain", "tax")
    workers.start("tax-2", "--domain", "tax")
    enqueuer = CeleryEnqueuer(make_celery(stack.settings))
    mine = {r["credit_code"] for r in _rows(stack, applicants)}
    theirs = {r["credit_code"]: r for r in _rows(stack, tax)}
    with stack.factory() as s:
        rows = computations.input_rows(s, applicants.id)

    def computation(kind: Kind, columns: tuple[str, ...]) -> Computation:
        return Computation(
            grant_id=g.approved_grant_id,
            kind=kind,
            datasets=(DatasetColumns(dataset_id=tax.id, columns=columns),),
            purpose="sme_credit_assessment",
            recipient="bank-a",
            rows=rows,
            input_dataset=applicants.id,
        )

    bank_store = DomainStore.at(stack.settings.domain_root, "bank-a")

    def result(job: Job) -> list[list[str]]:
        text = result_path(bank_store, str(job.id)).read_text(encoding="utf-8")
        return list(csv.reader(text.splitlines()))

    inter = _run(stack, enqueuer, computation(Kind.PSI_INTERSECTION, ("credit_code",)))
    assert {r[0] for r in result(inter)[1:]} == mine & set(theirs)
    assert inter.result_json is not None and inter.result_json["shards"] > 1
    card = _run(stack, enqueuer, computation(Kind.PSI_CARDINALITY, ("credit_code",)))
    assert card.result_json is not None and card.result_json["matched"] == len(mine & set(theirs))
    cols = ("credit_code", "tax_credit_grade", "arrears")
    look = _run(stack, enqueuer, computation(Kind.LOOKUP, cols))
    got = {r[0]: r[1:] for r in result(look)[1:]}
    assert set(got) == mine
    for ident, (found, grade, arrears) in got.items():
        row = theirs.get(ident)
        expected = (
            ["false", "", ""]
            if row is None
            else ["true", row["tax_credit_grade"] or "", row["arrears"] or ""]
        )
        assert [found, grade, arrears] == expected, ident
    # Both tax workers took part in some job.
    logs = workers.logs()
    assert "step.internal" not in logs

    # No identifier, and no label value next to one, anywhere but the bank's own domain.
    import redis

    client = redis.Redis.from_url(redis_url)
    exchange = b"".join(client.get(k) or b"" for k in client.scan_iter("sandbox:exchange:*"))
    broker = b"".join(
        repr(client.lrange(k, 0, -1)).encode()
        for k in client.scan_iter("*")
        if client.type(k) == b"list"
    )
    control = dump_control_db(stack)
    for ident in mine | set(theirs):
        assert ident not in control, "an identifier reached the control DB"
        assert ident.encode() not in exchange, "an identifier reached the exchange"
        assert ident.encode() not in broker, "an identifier reached the broker"
        assert ident not in logs, "an identifier reached a worker log"
    assert uuid.UUID(str(look.id))
