"""Banks' own data in a secure sum, only under their standing consent: the multi-lender exposure
total (多头借贷) across both banks' loan books, the consent rules, withdrawal, and the API's
answers to malformed, hostile and out-of-order requests."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import computations, contributions
from grants.demo import DemoGovernance, seed_governance
from grants.models import Contribution
from grants.policy import Computation, PolicyRefusal
from grants.terms import DatasetColumns, Kind
from sandbox.clock import utcnow
from sandbox.compute.delivery import deliver
from sandbox.datasets.ingest import iter_rows
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.domains.store import DomainStore
from sandbox.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.models import LedgerEntry
from sandbox.tickets import TicketSigner
from tests.conftest import World
from tests.helpers import as_user, drive

SMALL = computations.Sizing(key_bits=2048)
API = "/api/v1"
BOOK_COLUMNS = ("credit_code", "outstanding_balance")


@pytest.fixture
def gov(world: World) -> Iterator[tuple[Session, DemoGovernance]]:
    with world.factory() as session:
        g = seed_governance(session, now=utcnow())
        session.commit()
        yield session, g


def _dataset(session: Session, name: str, domain: str) -> Dataset:
    return next(
        d
        for d in session.scalars(select(Dataset).where(Dataset.name == name))
        if d.domain.name == domain
    )


def _book_total(world: World, session: Session, bank: str) -> tuple[int, Decimal]:
    ds = _dataset(session, "loan_book", bank)
    version = session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    ).one()
    path = DomainStore.at(world.settings.domain_root, bank).dataset_file(ds.name, version.version)
    values = [
        Decimal(str(r["outstanding_balance"]))
        for r in iter_rows(path, Schema.model_validate(version.schema_json))
    ]
    return len(values), sum(values, Decimal(0))


def _exposure(
    world: World,
    session: Session,
    g: DemoGovernance,
    *,
    who: str = "bank-a",
    kind: Kind = Kind.SECURE_SUM,
    columns: tuple[str, ...] = BOOK_COLUMNS,
) -> uuid.UUID:
    books = [_dataset(session, "loan_book", b) for b in ("bank-a", "bank-b")]
    job = computations.submit(
        session,
        as_user(session, who),
        Computation(
            grant_id=g.statistics_grant_id,
            kind=kind,
            datasets=(),
            purpose="sme_credit_assessment",
            recipient="bank-a",
            rows=0,
            contributions=tuple(DatasetColumns(dataset_id=b.id, columns=columns) for b in books),
        ),
        signer=TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 600),
        now=utcnow(),
        sizing=SMALL,
    )
    engine.advance(session, JobId(job.id), now=utcnow())
    session.commit()
    return job.id


def test_the_exposure_total_adds_both_banks_books(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job = drive(world.settings, world.factory, _exposure(world, session, g))
    assert job.state == "succeeded", (job.error_code, job.error_message)
    assert {s.domain for s in job.steps} == {"bureau", "bank-a", "bank-b"}
    count_a, total_a = _book_total(world, session, "bank-a")
    count_b, total_b = _book_total(world, session, "bank-b")
    d = deliver(
        session,
        as_user(session, "bank-a"),
        job.id,
        domain_root=world.settings.domain_root,
        now=utcnow(),
    )
    session.commit()
    (row,) = list(csv.DictReader(d.path.read_text(encoding="utf-8").splitlines()))
    assert row["status"] == "released"
    assert int(row["count"]) == count_a + count_b
    assert Decimal(row["sum"]) == total_a + total_b
    # bank-b contributed but is not the recipient of this call.
    with pytest.raises((PermissionDenied, NotFound)):
        deliver(
            session,
            as_user(session, "bank-b"),
            job.id,
            domain_root=world.settings.domain_root,
            now=utcnow(),
        )


def test_withdrawn_consent_stops_the_next_sum(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    book_b = _dataset(session, "loan_book", "bank-b")
    contributions.withdraw(
        session, as_user(session, "bank-b"), g.statistics_grant_id, book_b.id, now=utcnow()
    )
    session.commit()
    with pytest.raises(PolicyRefusal) as refused:
        _exposure(world, session, g)
    assert "policy.no_consent" in {r.code for r in refused.value.reasons}
    session.rollback()
    actions = session.scalars(
        select(LedgerEntry.action).where(LedgerEntry.action.like("contribution.%"))
    ).all()
    assert actions.count("contribution.consented") == 3 and "contribution.withdrawn" in actions


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            {"columns": ("credit_code", "outstanding_balance", "overdue_days")},
            "policy.column_not_consented",
        ),
        ({"kind": Kind.AGGREGATE}, "policy.contribution_kind"),
    ],
)
def test_the_policy_holds_a_sum_to_its_consents(
    world: World, gov: tuple[Session, DemoGovernance], change: dict[str, Any], code: str
) -> None:
    session, g = gov
    with pytest.raises(PolicyRefusal) as refused:
        _exposure(world, session, g, **change)
    assert code in {r.code for r in refused.value.reasons}


@pytest.mark.parametrize(
    ("who", "grant", "dataset", "columns", "error", "code"),
    [
        (
            "bank-b",
            "statistics",
            ("loan_book", "bank-a"),
            BOOK_COLUMNS,
            NotFound,
            "dataset.not_found",
        ),
        (
            "operator",
            "statistics",
            ("loan_book", "bank-a"),
            BOOK_COLUMNS,
            PermissionDenied,
            "forbidden.role",
        ),
        (
            "bank-a",
            "approved",
            ("loan_book", "bank-a"),
            BOOK_COLUMNS,
            Conflict,
            "contribution.kind",
        ),
        (
            "bank-a",
            "statistics",
            ("loan_book", "bank-a"),
            ("credit_code", "nope"),
            InvalidInput,
            "contribution.columns",
        ),
        ("bank-a", "statistics", ("loan_book", "bank-a"), (), InvalidInput, "contribution.columns"),
        (
            "tax-cdo",
            "statistics",
            ("tax_ratings", "tax"),
            ("credit_code",),
            NotFound,
            "grant.not_found",
        ),
    ],
)
def test_consent_rules(
    gov: tuple[Session, DemoGovernance],
    who: str,
    grant: str,
    dataset: tuple[str, str],
    columns: tuple[str, ...],
    error: type[Exception],
    code: str,
) -> None:
    session, g = gov
    grant_id = g.statistics_grant_id if grant == "statistics" else g.approved_grant_id
    ds = _dataset(session, *dataset)
    with pytest.raises(error) as err:
        contributions.consent(
            session, as_user(session, who), grant_id, ds.id, columns, now=utcnow()
        )
    assert getattr(err.value, "code", None) == code
    session.rollback()


def _auth(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.token(who)}"}


def test_the_api_consents_lists_and_withdraws(
    client: FlaskClient, world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    applicants = _dataset(session, "applicants", "bank-a")
    books = [str(_dataset(session, "loan_book", b).id) for b in ("bank-a", "bank-b")]
    before = len(session.scalars(select(Contribution)).all())
    session.commit()  # SQLite: the app writes in its own transactions
    url = f"{API}/grants/{g.statistics_grant_id}/contributions"
    listed = client.get(url, headers=_auth(world, "operator")).get_json()["contributions"]
    assert {(c["owner"], c["dataset"]) for c in listed} == {
        ("bank-a", "loan_book"),
        ("bank-b", "loan_book"),
        ("bank-c", "loan_book"),
    }
    bad: list[tuple[Any, int, str]] = [
        ({"dataset_id": "not-a-uuid", "columns": ["credit_code"]}, 400, "invalid_request"),
        ({"dataset_id": str(applicants.id), "columns": []}, 400, "invalid_request"),
        ({"dataset_id": str(applicants.id)}, 400, "invalid_request"),
        ({"dataset_id": str(applicants.id), "columns": ["x"] * 51}, 400, "invalid_request"),
        (
            {"dataset_id": str(applicants.id), "columns": ["credit_code"], "extra": 1},
            400,
            "invalid_request",
        ),
        ([1, 2, 3], 400, "invalid_request"),
        ({"dataset_id": str(uuid.uuid4()), "columns": ["credit_code"]}, 404, "dataset.not_found"),
    ]
    for body, status, code in bad:
        answer = client.post(url, json=body, headers=_auth(world, "bank-a"))
        assert answer.status_code == status, (body, answer.get_json())
        assert answer.get_json()["error"]["code"].startswith(code.split(".")[0]), answer.get_json()
    with world.factory() as fresh:
        assert len(fresh.scalars(select(Contribution)).all()) == before  # nothing was stored
    made = client.post(
        url,
        json={"dataset_id": str(applicants.id), "columns": ["credit_code", "requested_amount"]},
        headers=_auth(world, "bank-a"),
    )
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["columns"] == ["credit_code", "requested_amount"]
    gone = client.delete(f"{url}/{applicants.id}", headers=_auth(world, "bank-a"))
    assert gone.status_code == 204
    again = client.delete(f"{url}/{applicants.id}", headers=_auth(world, "bank-a"))
    assert (
        again.status_code == 404 and again.get_json()["error"]["code"] == "contribution.not_found"
    )
    # A computation that names contributions and no dataset is still a valid request.
    run = client.post(
        f"{API}/grants/{g.statistics_grant_id}/computations",
        json={
            "kind": "secure_sum",
            "contributions": [{"dataset_id": b, "columns": list(BOOK_COLUMNS)} for b in books],
            "purpose": "sme_credit_assessment",
            "recipient": "bank-a",
        },
        headers=_auth(world, "bank-a"),
    )
    assert run.status_code == 202, run.get_json()
    empty = client.post(
        f"{API}/grants/{g.statistics_grant_id}/computations",
        json={"kind": "secure_sum", "purpose": "sme_credit_assessment", "recipient": "bank-a"},
        headers=_auth(world, "bank-a"),
    )
    assert empty.status_code == 400


def test_the_computations_page_consents_and_withdraws(
    app: Any, world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    from tests.unit.test_auth import alert, logged_in
    from tests.unit.test_governance_ui import page, post

    session, g = gov
    applicants = str(_dataset(session, "applicants", "bank-a").id)
    book = str(_dataset(session, "loan_book", "bank-a").id)
    session.commit()
    bank = logged_in(app, world, "bank-a")
    html = page(bank, "/compute")
    assert "Withdraw loan_book" in html and "bank-b/loan_book" in html
    grant = str(g.statistics_grant_id)
    gone = post(
        bank,
        "/compute/contributions",
        {"grant_id": grant, "dataset_id": book, "action": "withdraw"},
        form_page="/compute",
    )
    assert gone.status_code == 302
    assert "Withdraw loan_book" not in page(bank, "/compute")
    refused = post(
        bank,
        "/compute/contributions",
        {"grant_id": grant, "dataset_id": applicants, "columns": "credit_code, ghost"},
        form_page="/compute",
    )
    assert refused.status_code == 400 and "contribution.columns" in alert(refused)
    made = post(
        bank,
        "/compute/contributions",
        {"grant_id": grant, "dataset_id": book, "columns": "credit_code, outstanding_balance"},
        form_page="/compute",
    )
    assert made.status_code == 302 and "Withdraw loan_book" in page(bank, "/compute")
    forged = bank.post(
        "/compute/contributions",
        data={"csrf_token": "forged", "grant_id": grant, "dataset_id": book, "action": "withdraw"},
    )
    assert forged.status_code == 400
    assert "Withdraw loan_book" in page(bank, "/compute")
    # The operator sees who contributes, and may not consent for anyone.
    operator = logged_in(app, world, "operator")
    assert "bank-a/loan_book" in page(operator, "/compute")
    denied = post(
        operator,
        "/compute/contributions",
        {"grant_id": grant, "dataset_id": book, "columns": "credit_code"},
        form_page="/compute",
    )
    assert denied.status_code == 400 and "forbidden.role" in alert(denied)
