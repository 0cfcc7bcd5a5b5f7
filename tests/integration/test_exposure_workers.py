"""The multi-lender exposure total (``secure_sum`` per identifier) through real worker processes
on PostgreSQL and Redis: bank-a's applicants, bank-b's and bank-c's loan books, the gate in the
bureau's domain. The result in bank-a's domain equals the plain sums; the control DB, the
broker, the exchange and the worker logs hold no identifier, no balance and no released total
(the gate's release travels sealed to bank-a)."""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from grants import computations
from grants.demo import seed_governance
from grants.policy import Computation
from grants.terms import DatasetColumns, Kind
from sandbox.clock import utcnow
from sandbox.compute.results import result_path
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.db.engine import session_scope
from sandbox.domains.store import DomainStore
from sandbox.identifiers import IdentifierKind, check
from sandbox.jobs.celery_app import CeleryEnqueuer, make_celery
from sandbox.ledger.models import LedgerEntry
from tests.integration.stacks import build_stack
from tests.integration.test_leak_canaries import dump_control_db
from tests.integration.test_protocol_workers import _run

pytestmark = [pytest.mark.integration]
SIZING = computations.Sizing(key_bits=2048)
BANKS = ("bank-a", "bank-b", "bank-c")


def _stored(
    settings: Any, session: Any, name: str, bank: str
) -> tuple[Dataset, list[dict[str, str]]]:
    ds = next(
        d
        for d in session.scalars(select(Dataset).where(Dataset.name == name))
        if d.domain.name == bank
    )
    version = session.scalars(
        select(DatasetVersion.version).where(DatasetVersion.dataset_id == ds.id)
    ).one()
    path = DomainStore.at(settings.domain_root, bank).dataset_file(ds.name, version)
    with path.open(encoding="utf-8", newline="") as fh:
        return ds, list(csv.DictReader(fh))


def test_the_exposure_total_through_real_workers_leaves_no_value_outside_the_domains(
    tmp_path: Path, postgres_url: str, redis_url: str, workers_for: Any
) -> None:
    stack = build_stack(
        tmp_path / "var", database_url=postgres_url, broker_url=redis_url, exchange_url=redis_url
    )
    with session_scope(stack.factory) as session:
        g = seed_governance(session, now=utcnow())
    with stack.factory() as session:
        applicants, applicant_rows = _stored(stack.settings, session, "applicants", "bank-a")
        books = {b: _stored(stack.settings, session, "loan_book", b) for b in BANKS}
        rows = computations.input_rows(session, applicants.id)
    workers = workers_for(stack.settings)
    workers.start("coordinator", "--coordinator")
    for domain in ("bureau", *BANKS):
        workers.start(domain, "--domain", domain)
    enqueuer = CeleryEnqueuer(make_celery(stack.settings))
    job = _run(
        stack,
        enqueuer,
        Computation(
            grant_id=g.statistics_grant_id,
            kind=Kind.SECURE_SUM,
            datasets=(),
            purpose="sme_credit_assessment",
            recipient="bank-a",
            rows=rows,
            input_dataset=applicants.id,
            contributions=tuple(
                DatasetColumns(
                    dataset_id=books[b][0].id, columns=("credit_code", "outstanding_balance")
                )
                for b in ("bank-b", "bank-c")
            ),
        ),
        sizing=SIZING,
    )

    def code(raw: str) -> str | None:
        return check(IdentifierKind.CREDIT_CODE, raw).value

    sums: dict[str, dict[str, Decimal]] = {}
    for bank in ("bank-b", "bank-c"):
        per: dict[str, Decimal] = {}
        for r in books[bank][1]:
            if (c := code(r["credit_code"])) is not None:
                per[c] = per.get(c, Decimal(0)) + Decimal(r["outstanding_balance"])
        sums[bank] = per
    text = result_path(DomainStore.at(stack.settings.domain_root, "bank-a"), str(job.id)).read_text(
        encoding="utf-8"
    )
    result = list(csv.DictReader(text.splitlines()))
    totals: list[str] = []
    seen = set()
    for row in result:
        seen.add(row["identifier"])
        held = [s[row["identifier"]] for s in sums.values() if row["identifier"] in s]
        if len(held) == 2:
            assert (row["status"], row["lenders"]) == ("released", "≥2")
            assert Decimal(row["total"]) == sum(held, Decimal(0))
            totals.append(row["total"])
        else:
            assert (row["status"], row["total"], row["lenders"]) == ("suppressed", "", "")
    assert totals, "the demo world has applicants with loans at both other banks"
    asked = {c for r in applicant_rows if (c := code(r["credit_code"])) is not None}
    assert seen == asked
    assert job.result_json is not None and job.result_json["released"] == len(totals)

    with stack.factory() as s:
        destroyed = s.scalars(
            select(LedgerEntry.job_id).where(LedgerEntry.action == "key.destroyed")
        ).all()
    assert destroyed == [job.id]
    for domain in ("bureau", *BANKS):
        jobs = DomainStore.at(stack.settings.domain_root, domain).root / "jobs"
        assert not jobs.exists() or not list(jobs.glob("*/*")), domain

    import redis

    client = redis.Redis.from_url(redis_url)
    stored = [client.get(k) for k in client.scan_iter("sandbox:exchange:*")]
    exchange = b"".join(v for v in stored if isinstance(v, bytes))
    assert len(stored) > 5
    broker = b"".join(
        repr(client.lrange(k, 0, -1)).encode()
        for k in client.scan_iter("*")
        if client.type(k) == b"list"
    )
    control = dump_control_db(stack)
    logs = workers.logs()
    assert "step.internal" not in logs
    codes = {c for r in applicant_rows if (c := code(r["credit_code"]))}
    for _, book in books.values():
        codes |= {c for r in book if (c := code(r["credit_code"]))}
    balances = {r["outstanding_balance"] for _, book in books.values() for r in book}
    secrets = codes | balances | set(totals)
    assert len(secrets) > len(codes) + 20
    for secret in secrets:
        # As a whole token: a balance such as 430000 may stand inside a timing like
        # 0.7661146430000372 or a hex digest, which is not a leak.
        text = re.compile(rf"(?<![0-9A-Za-z.]){re.escape(secret)}(?![0-9A-Za-z])")
        raw = re.compile(text.pattern.encode())
        assert not text.search(control), (
            "an identifier, a balance or a total reached the control DB"
        )
        assert not raw.search(exchange), "…the exchange"
        assert not raw.search(broker), "…the broker"
        assert not text.search(logs), "…a worker log"
