"""The demo's two products give the right answers. A credit check's merged result equals the
product's derived labels computed directly from the demo world's source files; an exposure
total equals the plain sum of the other banks' loan books, released only where at least two of
them lend. Everything runs as it does in the demo: the products' seeded specs, bank-a's own
applicant list, its registered authorizations, one in-process worker per domain."""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.demo import seed_governance
from products import calls, catalog, subscriptions
from products.demo import CREDIT_CHECK_SLUG, EXPOSURE_SLUG, left_unauthorized, seed_products
from products.models import CallState, Product
from products.records import spec_of, version_row
from products.results import call_result
from sandbox.clock import utcnow
from sandbox.datasets.models import Dataset
from sandbox.demo.world import write_world
from sandbox.identifiers import IdentifierKind, check
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.keys import load_or_create_private_key
from sandbox.tickets import TicketSigner
from tests.conftest import World
from tests.helpers import as_user, drive
from tests.unit.products.helpers import SIZING
from tests.unit.test_isum_jobs import _dataset

ENTERPRISES = 150  # the test world's size (tests/conftest.py)


@pytest.fixture
def demo(world: World) -> Iterator[tuple[Session, dict[str, Product]]]:
    now = utcnow()
    with world.factory() as session:
        g = seed_governance(session, now=now)
        seed_products(session, now=now, governance=g, enterprises=ENTERPRISES)
        bureau, operator = as_user(session, "bureau"), as_user(session, "operator")
        products = {p.slug: p for p in session.scalars(select(Product))}
        credit = products[CREDIT_CHECK_SLUG]
        catalog.review(session, bureau, credit.id, 1, decision="approve", now=now)
        catalog.list_product(session, bureau, credit.id, 1, now)
        sub = subscriptions.subscribe(
            session, as_user(session, "bank-a"), credit.id, accept_terms=True, now=now
        )
        subscriptions.decide(session, operator, sub.id, approve=True, now=now)
        session.commit()
        yield session, products


def _files(tmp: Path) -> dict[tuple[str, str], list[dict[str, str]]]:
    out = {}
    for item in write_world(tmp, enterprises=ENTERPRISES):
        with item.csv_path.open(encoding="utf-8", newline="") as fh:
            out[(item.domain, item.name)] = list(csv.DictReader(fh))
    return out


def _code(raw: str) -> str | None:
    return check(IdentifierKind.CREDIT_CODE, raw).value


def _by_code(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {code: row for row in rows if (code := _code(row["credit_code"])) is not None}


def _run(world: World, session: Session, product: Product) -> tuple[Any, Any]:
    call = calls.run(
        session,
        as_user(session, "bank-a"),
        product.id,
        input_dataset_id=_dataset(session, "applicants", "bank-a").id,
        reference_column="authorization_ref",
        signer=TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 600),
        now=utcnow(),
        sizing=SIZING,
    )
    assert call.state == CallState.RUNNING.value, call.refusal_code
    for job_id in call.job_ids:
        engine.advance(session, JobId(uuid.UUID(job_id)), now=utcnow())
    session.commit()
    for job_id in call.job_ids:
        job = drive(world.settings, world.factory, uuid.UUID(job_id))
        assert job.state == "succeeded", (job.error_code, job.error_message)
    session.expire_all()
    calls.settle(session, call, utcnow() + dt.timedelta(seconds=1))
    session.commit()
    header, rows = call_result(
        session,
        as_user(session, "bank-a"),
        call.id,
        domain_root=world.settings.domain_root,
        now=utcnow(),
    )
    return call, [dict(zip(header, row, strict=True)) for row in rows]


def test_a_credit_check_equals_the_labels_derived_from_the_source_files(
    world: World, demo: tuple[Session, dict[str, Product]], tmp_path: Path
) -> None:
    session, products = demo
    product = products[CREDIT_CHECK_SLUG]
    spec = spec_of(version_row(session, product.id, 1))
    files = _files(tmp_path)
    sources = {
        "tax_ratings": _by_code(files[("tax", "tax_ratings")]),
        "social_insurance": _by_code(files[("social", "social_insurance")]),
        "enterprise_registry": _by_code(files[("market", "enterprise_registry")]),
    }
    names = {str(d.id): d.name for d in session.scalars(select(Dataset))}
    expected: dict[str, dict[str, str]] = {}
    unauthorized: set[str] = set()
    for n, row in enumerate(files[("bank-a", "applicants")], start=1):
        code = _code(row["credit_code"])
        if code is None:
            continue
        if left_unauthorized(n):
            unauthorized.add(code)
            continue
        labels: dict[str, str] = {}
        found = False
        for source in spec.sources:
            raw = sources[names[str(source.dataset_id)]].get(code)
            found = found or raw is not None
            for label in source.labels:
                d = label.derivation()
                labels[d.name] = d.apply(raw[d.column]) if raw is not None else ""
        expected[code] = {"status": "found" if found else "not_found", **labels}

    call, result = _run(world, session, product)
    got = {r["identifier"]: r for r in result}
    for code, want in expected.items():
        assert code in got, code
        row = got[code]
        assert {k: row[k] for k in want} == want, code
    assert {c for c, r in got.items() if r["status"] == "unauthorized"} == unauthorized
    assert unauthorized, "the demo leaves some applicants without an authorization"
    assert set(got) - set(expected) - unauthorized == {
        c for c, r in got.items() if r["status"] == "malformed"
    }
    found = sum(1 for w in expected.values() if w["status"] == "found")
    assert found > 0 and call.matched == found
    assert call.identifiers == len(expected) and call.unauthorized == len(unauthorized)
    assert call.charge_fen == spec.price_per_call_fen + spec.price_per_identifier_fen * len(
        expected
    )


def test_an_exposure_total_equals_the_plain_sum_where_two_lenders_hold_a_loan(
    world: World, demo: tuple[Session, dict[str, Product]], tmp_path: Path
) -> None:
    session, products = demo
    files = _files(tmp_path)
    books: dict[str, list[Decimal]] = {}
    for bank in ("bank-b", "bank-c"):
        per_bank: dict[str, Decimal] = {}
        for row in files[(bank, "loan_book")]:
            code = _code(row["credit_code"])
            if code is not None:
                per_bank[code] = per_bank.get(code, Decimal(0)) + Decimal(
                    row["outstanding_balance"]
                )
        for code, balance in per_bank.items():
            books.setdefault(code, []).append(balance)

    call, result = _run(world, session, products[EXPOSURE_SLUG])
    checked = released = 0
    for n, row in enumerate(files[("bank-a", "applicants")], start=1):
        code = _code(row["credit_code"])
        if code is None or left_unauthorized(n):
            continue
        got = next(r for r in result if r["identifier"] == code)
        lenders = books.get(code, [])
        if len(lenders) >= 2:
            assert got["status"] == "released", code
            assert Decimal(got["total"]) == sum(lenders), code
            released += 1
        else:
            assert got["status"] == "suppressed" and got["total"] == "", code
        checked += 1
    assert checked == call.identifiers and released > 0
    assert sum(r["status"] == "unauthorized" for r in result) == call.unauthorized > 0
    # bank-a's own loans never count: its book is not among the contributions.
    assert call.state == CallState.SUCCEEDED.value
