"""``aggregate`` and ``secure_sum`` through real worker processes on PostgreSQL and Redis
(broker and exchange): the gate in the bureau's domain, two data domains adding the same
registry. What the gate releases equals a plain computation; the coordinator's DB, the broker,
the exchange and the worker logs hold only ciphertexts, keys' public halves and counts: no
identifier, no row's value, and no released total (that sits in the gate's domain, for the
recipient)."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
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
from sandbox.identifiers import check
from sandbox.jobs.celery_app import CeleryEnqueuer, make_celery
from sandbox.ledger.models import LedgerEntry
from tests.helpers import registry_copy
from tests.integration.stacks import build_stack
from tests.integration.test_leak_canaries import dump_control_db
from tests.integration.test_protocol_workers import _run

pytestmark = [pytest.mark.integration]
SIZING = computations.Sizing(key_bits=2048)
K = 12


def test_aggregates_through_real_workers_hold_only_ciphertexts_and_counts(
    tmp_path: Path, postgres_url: str, redis_url: str, workers_for: Any
) -> None:
    stack = build_stack(
        tmp_path / "var", database_url=postgres_url, broker_url=redis_url, exchange_url=redis_url
    )
    with session_scope(stack.factory) as session:
        g = seed_governance(session, now=utcnow())
        grant = session.get(Grant, g.statistics_grant_id)
        assert grant is not None and grant.approved is not None
        grant.approved = {**grant.approved, "min_cohort": K, "min_set_size": 5}
    with stack.factory() as session:
        second = registry_copy(
            stack.settings, stack.factory, session, g.statistics_grant_id, "social"
        )
        registry = next(
            d
            for d in session.scalars(select(Dataset).where(Dataset.name == "enterprise_registry"))
            if d.domain.name == "market"
        )
        version = session.scalars(
            select(DatasetVersion).where(DatasetVersion.dataset_id == registry.id)
        ).one()
        schema = Schema.model_validate(version.schema_json)
        path = DomainStore.at(stack.settings.domain_root, "market").dataset_file(
            registry.name, version.version
        )
        ids = (registry.id, second.id)
        applicants = next(
            d
            for d in session.scalars(select(Dataset).where(Dataset.name == "applicants"))
            if d.domain.name == "bank-a"
        )
        applicant_rows = computations.input_rows(session, applicants.id)
        applicants_path = DomainStore.at(stack.settings.domain_root, "bank-a").dataset_file(
            applicants.name,
            session.scalars(
                select(DatasetVersion.version).where(DatasetVersion.dataset_id == applicants.id)
            ).one(),
        )
        applicants_schema = Schema.model_validate(
            session.scalars(
                select(DatasetVersion.schema_json).where(DatasetVersion.dataset_id == applicants.id)
            ).one()
        )
    rows = list(iter_rows(path, schema))
    workers = workers_for(stack.settings)
    workers.start("coordinator", "--coordinator")
    workers.start("bureau", "--domain", "bureau")
    workers.start("market", "--domain", "market")
    workers.start("social", "--domain", "social")
    workers.start("bank-a", "--domain", "bank-a")
    enqueuer = CeleryEnqueuer(make_celery(stack.settings))

    def computation(kind: Kind, columns: tuple[str, ...], datasets: tuple[Any, ...]) -> Computation:
        return Computation(
            grant_id=g.statistics_grant_id,
            kind=kind,
            datasets=tuple(DatasetColumns(dataset_id=d, columns=columns) for d in datasets),
            purpose="sme_credit_assessment",
            recipient="bank-a",
            rows=0,
        )

    gate = DomainStore.at(stack.settings.domain_root, "bureau")

    def released(job_id: Any) -> dict[str, dict[str, str]]:
        text = result_path(gate, str(job_id)).read_text(encoding="utf-8")
        return {r["industry"]: r for r in csv.DictReader(text.splitlines())}

    expected: dict[str, list[Decimal]] = defaultdict(list)
    declared = set(schema.column("industry").values or ())
    for row in rows:
        if row["industry"] in declared and row["registered_capital"] not in (None, ""):
            expected[str(row["industry"])].append(Decimal(str(row["registered_capital"])))

    cols = ("industry", "registered_capital")
    agg = _run(stack, enqueuer, computation(Kind.AGGREGATE, cols, ids[:1]), sizing=SIZING)
    both = _run(stack, enqueuer, computation(Kind.SECURE_SUM, cols, ids), sizing=SIZING)
    assert both.result_json is not None and both.result_json["parties"] == 2
    totals: list[str] = []
    for group, values in expected.items():
        one, two = released(agg.id)[group], released(both.id)[group]
        if len(values) >= K:
            assert Decimal(one["sum"]) == sum(values, Decimal(0))
            assert int(one["count"]) == len(values)
            totals += [one["sum"], one["mean"]]
        else:
            assert one["status"] == "suppressed"
        if 2 * len(values) >= K:
            assert Decimal(two["sum"]) == 2 * sum(values, Decimal(0))
            totals.append(two["sum"])

    # intersection_sum: bank-a's applicants against the registry's registered capital.
    isum = _run(
        stack,
        enqueuer,
        Computation(
            grant_id=g.statistics_grant_id,
            kind=Kind.INTERSECTION_SUM,
            datasets=(
                DatasetColumns(
                    dataset_id=registry.id, columns=("credit_code", "registered_capital")
                ),
            ),
            purpose="sme_credit_assessment",
            recipient="bank-a",
            rows=applicant_rows,
            input_dataset=applicants.id,
        ),
        sizing=computations.Sizing(psi_shard_rows=100, key_bits=2048),
    )
    mine = {
        checked.value
        for r in iter_rows(applicants_path, applicants_schema)
        if (checked := check("credit_code", str(r["credit_code"] or ""))).value
    }
    capital = {
        str(r["credit_code"]): Decimal(str(r["registered_capital"]))
        for r in rows
        if r["registered_capital"] not in (None, "")
    }
    matched = [capital[i] for i in mine if i in capital]
    text = result_path(gate, str(isum.id)).read_text(encoding="utf-8")
    (released_isum,) = list(csv.DictReader(text.splitlines()))
    if len(matched) >= K:
        assert int(released_isum["intersection_size"]) == len(matched)
        assert Decimal(released_isum["sum"]) == sum(matched, Decimal(0))
        totals.append(released_isum["sum"])
    else:
        assert released_isum["status"] == "suppressed"

    with stack.factory() as s:
        destroyed = s.scalars(
            select(LedgerEntry.job_id).where(LedgerEntry.action == "key.destroyed")
        ).all()
    assert set(destroyed) == {agg.id, both.id, isum.id}
    assert not list((gate.root / "jobs").glob("*/gate-key"))

    import redis

    client = redis.Redis.from_url(redis_url)
    messages = [client.get(k) or b"" for k in client.scan_iter("sandbox:exchange:*")]
    broker = b"".join(
        repr(client.lrange(k, 0, -1)).encode()
        for k in client.scan_iter("*")
        if client.type(k) == b"list"
    )
    # Every JSON exchange message is a vector of ciphertexts (hex); the rest are public keys and
    # PJC messages (points and ciphertexts, binary).
    for message in messages:
        if message.startswith(b"{"):
            body = json.loads(message)
            assert body["format"] == "sandbox/he-moments/1"
            for item in body["vector"]:
                int(item["ciphertext"], 16)
                assert set(item) == {
                    "format", "key_id", "layout", "count", "length", "ciphertext",
                }  # fmt: skip
    exchange = b"".join(messages)
    control = dump_control_db(stack)
    logs = workers.logs()
    assert "step.internal" not in logs

    def distinctive(text: str) -> bool:
        # A decimal point cannot hide in hex, and three digits before it no timestamp has.
        head, dot, _ = text.partition(".")
        return bool(dot) and len(head.lstrip("-")) >= 3

    codes = {str(r["credit_code"]) for r in rows if r["credit_code"]}
    values = {str(r["registered_capital"]) for r in rows} | set(totals)
    secrets = codes | {v for v in values if distinctive(v)}
    assert len(secrets) > len(codes) + 30  # the check has values to look for
    for secret in secrets:
        assert secret not in control, "a row's value or a released total reached the control DB"
        assert secret.encode() not in exchange, "…the exchange"
        assert secret.encode() not in broker, "…the broker"
        assert secret not in logs, "…a worker log"
