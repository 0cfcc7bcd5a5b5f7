"""The data-product API (/api/v1): products, versions, reviews and listing; subscriptions;
authorizations; calls and their results; statements; ratings and correction tickets. Who may
do what (a bank never sees another bank's objects: 404, as if they did not exist; the operator
never gets a result), malformed and oversized bodies, unknown ids and out-of-order actions,
each with a stable error code; and the operations in the OpenAPI document."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from grants import grants as grant_service
from grants.demo import DemoGovernance
from products.demo import DemoProducts, credit_check_spec
from products.models import CorrectionTicket, EnterpriseAuthorization, ProductCall, Rating
from sandbox.clock import utcnow
from tests.conftest import RecordingEnqueuer, World, auth
from tests.helpers import as_user
from tests.unit.test_governance_ui import count
from tests.unit.test_products_ui import (
    dataset_id,
    ledger_actions,
    list_credit_check,
    run_to_end,
    seed_shop,
    valid_code,
)

API = "/api/v1"
Shop = tuple[DemoGovernance, DemoProducts]


class Api:
    """A client that speaks as one demo account."""

    def __init__(self, client: FlaskClient, world: World, username: str) -> None:
        self.client, self.headers = client, auth(world.token(username))

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(API + path, headers=self.headers, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.client.post(API + path, json=body, headers=self.headers, **kw)

    def delete(self, path: str, body: Any = None) -> Any:
        return self.client.delete(API + path, json=body, headers=self.headers)


@pytest.fixture
def shop(world: World) -> Iterator[Shop]:
    yield seed_shop(world)


@pytest.fixture
def as_(client: FlaskClient, world: World) -> Iterator[Any]:
    yield lambda username: Api(client, world, username)


def error(response: Any, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert set(body) == {"error"} and body["error"]["message"]
    return str(body["error"]["code"])


def _spec(world: World, g: DemoGovernance, **changes: Any) -> dict[str, Any]:
    with world.factory() as session:
        spec = credit_check_spec(session, g).model_dump(mode="json")
    return {**spec, **changes}


# --- products ---------------------------------------------------------------------------------


def test_products_are_listed_per_role(as_: Any, world: World, shop: Shop) -> None:
    _, p = shop
    slugs = {
        user: {x["slug"]: x for x in as_(user).get("/products").get_json()["products"]}
        for user in ("bank-a", "operator", "bureau", "tax-cdo", "court-cdo", "auditor")
    }
    assert set(slugs["bank-a"]) == {"multi-lender-exposure"}  # the store: listed only
    assert set(slugs["operator"]) == {"multi-lender-exposure", "sme-credit-check"}
    assert set(slugs["bureau"]) == set(slugs["auditor"]) == set(slugs["operator"])
    assert set(slugs["tax-cdo"]) == {"sme-credit-check"}  # reads the tax department's data
    assert slugs["court-cdo"] == {}
    credit = slugs["operator"]["sme-credit-check"]
    assert credit["state"] == "in_review" and credit["version_state"] == "submitted"
    assert [r["org"] for r in credit["reviewers"] if r["decision"] is None] == ["bureau"]
    assert credit["spec"]["price_per_call_fen"] == 200
    assert credit["rating"] == {"average": None, "total": 0}
    assert as_("bank-a").get(f"/products/{p.credit_check_id}").status_code == 404
    one = as_("bank-a").get(f"/products/{p.exposure_id}").get_json()
    assert one["listed_version"] == 1 and one["sources"] == []


def test_the_operator_creates_versions_submits_and_the_reviewers_decide(
    as_: Any, world: World, shop: Shop
) -> None:
    g, _ = shop
    operator = as_("operator")
    body = {
        "slug": "credit-two",
        "name": "Credit check two",
        "license_id": str(g.license_id),
        "spec": _spec(world, g, title="Credit check two"),
    }
    created = operator.post("/products", body)
    assert created.status_code == 201, created.get_json()
    product = created.get_json()
    pid = product["id"]
    assert product["state"] == "draft" and product["versions"][0]["state"] == "draft"
    assert error(operator.post("/products", body), 409) == "product.slug_taken"
    # reviews before submission are out of order
    bureau = as_("bureau")
    assert (
        error(bureau.post(f"/products/{pid}/versions/1/reviews", {"decision": "approve"}), 409)
        == "product.version_state"
    )
    submitted = operator.post(f"/products/{pid}/versions/1/submit")
    assert submitted.status_code == 200 and submitted.get_json()["state"] == "submitted"
    assert error(operator.post(f"/products/{pid}/versions/1/submit"), 409) == (
        "product.version_state"
    )
    spec = {"spec": _spec(world, g)}
    assert error(operator.post(f"/products/{pid}/versions", spec), 409) == "product.version_open"
    # the bank and the wrong CDO may not know the product: they hear what a missing id hears
    decision = {"decision": "approve"}
    for stranger in ("bank-a", "court-cdo"):
        reply = as_(stranger).post(f"/products/{pid}/versions/1/reviews", decision)
        assert error(reply, 404) == "product.not_found"
    # the auditor sees it but is no reviewer
    assert error(as_("auditor").post(f"/products/{pid}/versions/1/reviews", decision), 403) == (
        "product.not_reviewer"
    )
    refuse = {"decision": "refuse", "reason": ""}
    assert error(bureau.post(f"/products/{pid}/versions/1/reviews", refuse), 400) == (
        "product.reason_required"
    )
    for user in ("bureau", "tax-cdo", "social-cdo", "market-cdo"):
        response = as_(user).post(f"/products/{pid}/versions/1/reviews", decision)
        assert response.status_code == 201, (user, response.get_json())
    assert response.get_json()["state"] == "approved"
    # only the bureau lists; then a new version while listed
    assert error(operator.post(f"/products/{pid}/listing", {"version": 1}), 403) == "forbidden.role"
    listed = bureau.post(f"/products/{pid}/listing", {"version": 1})
    assert listed.status_code == 200 and listed.get_json()["state"] == "listed"
    assert error(bureau.post(f"/products/{pid}/listing", {"version": 1}), 409) == (
        "product.already_listed"
    )
    v2 = operator.post(f"/products/{pid}/versions", spec)
    assert v2.status_code == 201 and v2.get_json()["version"] == 2
    assert error(bureau.post(f"/products/{pid}/listing", {"version": 2}), 409) == (
        "product.not_approved"
    )
    assert error(bureau.delete(f"/products/{pid}/listing", {"reason": " "}), 400)
    delisted = bureau.delete(f"/products/{pid}/listing", {"reason": "complaints"})
    assert delisted.status_code == 200 and delisted.get_json()["state"] == "delisted"
    assert error(bureau.delete(f"/products/{pid}/listing", {"reason": "again"}), 409) == (
        "product.not_listed"
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (None, "invalid_json"),
        ({"slug": "x"}, "invalid_request"),
        ({"slug": "ok-slug", "name": "n" * 201, "license_id": "x", "spec": {}}, "invalid_request"),
        ({"unknown": 1}, "invalid_request"),
    ],
)
def test_malformed_product_bodies_are_refused(
    as_: Any, world: World, shop: Shop, body: Any, code: str
) -> None:
    operator = as_("operator")
    if body is None:
        response = operator.client.post(
            f"{API}/products", data="{not json", headers=operator.headers
        )
    else:
        response = operator.post("/products", body)
    assert error(response, 400) == code


def test_a_spec_that_the_grants_do_not_allow_is_refused(as_: Any, world: World, shop: Shop) -> None:
    g, _ = shop
    body = {"slug": "greedy", "name": "Greedy", "license_id": str(g.license_id)}
    too_many = _spec(world, g, max_identifiers_per_call=1_000_000)
    assert error(as_("operator").post("/products", {**body, "spec": too_many}), 400) == (
        "product.max_identifiers"
    )
    foreign = _spec(world, g, consumers=["bank-a", "operator"])
    assert error(as_("operator").post("/products", {**body, "spec": foreign}), 400) == (
        "product.consumers"
    )
    spec = _spec(world, g)
    assert error(as_("bank-a").post("/products", {**body, "spec": spec}), 403) == "forbidden.role"


@pytest.mark.parametrize("version", ["abc", "-1", "1.0", "99999999999999999999", "٣"])
def test_odd_version_numbers_are_not_found(
    as_: Any, world: World, shop: Shop, version: str
) -> None:
    _, p = shop
    response = as_("operator").post(f"/products/{p.credit_check_id}/versions/{version}/submit")
    assert error(response, 404) == "product.version_not_found"


def test_unknown_ids_are_not_found(as_: Any, world: World, shop: Shop) -> None:
    unknown = uuid.uuid4()
    bank = as_("bank-a")
    assert error(bank.get(f"/products/{unknown}"), 404) == "product.not_found"
    assert error(bank.get("/products/nope"), 404) == "product.not_found"
    assert error(bank.get(f"/calls/{unknown}"), 404) == "call.not_found"
    assert error(bank.get(f"/calls/{unknown}/result"), 404) == "call.not_found"
    assert error(bank.delete(f"/authorizations/{unknown}"), 404) == "authorization.not_found"
    assert error(as_("tax-cdo").post(f"/tickets/{unknown}/answer", {"answer": "x"}), 404) == (
        "ticket.not_found"
    )
    decide = {"approve": True}
    assert error(as_("operator").post(f"/subscriptions/{unknown}/decision", decide), 404) == (
        "subscription.not_found"
    )
    assert error(bank.post(f"/products/{unknown}/calls", {"input_dataset_id": str(unknown)}), 404)


def test_requests_need_a_token(client: FlaskClient, shop: Shop) -> None:
    for path in ("/products", "/calls", "/subscriptions", "/authorizations", "/statements"):
        assert error(client.get(API + path), 401) == "auth.token_missing", path


# --- subscriptions ----------------------------------------------------------------------------


def test_subscriptions_are_requested_decided_and_scoped(as_: Any, world: World, shop: Shop) -> None:
    _, p = shop
    list_credit_check(world, p)
    bank_b = as_("bank-b")
    body = {"product_id": str(p.credit_check_id), "accept_terms": False}
    assert error(bank_b.post("/subscriptions", body), 400) == "subscription.terms"
    assert error(bank_b.post("/subscriptions", {**body, "accept_terms": "yes"}), 400) == (
        "invalid_request"  # strictly a boolean
    )
    created = bank_b.post("/subscriptions", {**body, "accept_terms": True})
    assert created.status_code == 201
    sub = created.get_json()
    assert sub["state"] == "requested" and sub["consumer"] == "bank-b"
    assert error(bank_b.post("/subscriptions", {**body, "accept_terms": True}), 409) == (
        "subscription.exists"
    )
    # bank-a sees only its own (the exposure), and cannot touch bank-b's
    own = as_("bank-a").get("/subscriptions").get_json()["subscriptions"]
    assert [s["consumer"] for s in own] == ["bank-a"]
    path = f"/subscriptions/{sub['id']}/decision"
    assert error(as_("bank-a").post(path, {"approve": True}), 404) == "subscription.not_found"
    assert error(bank_b.post(path, {"approve": True}), 403) == "forbidden.role"
    operator = as_("operator")
    assert error(operator.post(path, {"approve": False}), 400) == "subscription.reason_required"
    assert error(operator.post(path, {"approve": True, "calls_per_month": 0}), 400) == (
        "invalid_request"
    )
    approved = operator.post(path, {"approve": True, "calls_per_month": 3})
    assert approved.status_code == 200
    assert approved.get_json()["state"] == "active" and approved.get_json()["calls_per_month"] == 3
    assert error(operator.post(path, {"approve": True}), 409) == "subscription.decided"
    everyone = as_("auditor").get("/subscriptions").get_json()["subscriptions"]
    assert {s["consumer"] for s in everyone} == {"bank-a", "bank-b"}


# --- authorizations ---------------------------------------------------------------------------


def test_authorizations_are_registered_listed_without_codes_and_revoked(
    as_: Any, world: World, shop: Shop
) -> None:
    bank = as_("bank-a")
    code = valid_code()
    until = (utcnow() + dt.timedelta(days=90)).isoformat()
    body = {"credit_code": code, "reference": "api-ref-1", "valid_until": until}
    created = bank.post("/authorizations", body)
    assert created.status_code == 201
    row = created.get_json()
    assert row["reference"] == "API-REF-1" and code not in created.get_data(as_text=True)
    listing = bank.get("/authorizations")
    assert "API-REF-1" in listing.get_data(as_text=True)
    assert code not in listing.get_data(as_text=True)
    assert error(bank.post("/authorizations", body), 409) == "authorization.duplicate"
    for bad, expected in (
        ({"credit_code": code[:-1] + "0"}, "authorization.credit_code"),
        ({"credit_code": "9" * 65}, "invalid_request"),
        ({"reference": "bad ref!"}, "authorization.reference"),
        ({"valid_until": "2001-01-01T00:00:00+00:00"}, "authorization.valid_until"),
        ({"valid_until": "2030-01-01T00:00:00"}, "authorization.valid_until"),
        ({"extra": 1}, "invalid_request"),
    ):
        assert error(bank.post("/authorizations", {**body, **bad}), 400) == expected, bad
    assert "API-REF-1" not in as_("bank-b").get("/authorizations").get_data(as_text=True)
    assert as_("operator").get("/authorizations").get_json() == {"authorizations": []}
    assert error(as_("operator").post("/authorizations", body), 403) == "forbidden.role"
    target = f"/authorizations/{row['id']}"
    assert error(as_("bank-b").delete(target), 404) == "authorization.not_found"
    assert bank.delete(target).status_code == 204
    assert error(bank.delete(target), 409) == "authorization.revoked"
    with world.factory() as session:
        stored = session.get(EnterpriseAuthorization, uuid.UUID(row["id"]))
        assert stored is not None and stored.state == "revoked" and code not in repr(vars(stored))


# --- calls and results ------------------------------------------------------------------------


def test_a_bank_calls_a_product_and_only_it_reads_the_result(
    as_: Any, world: World, shop: Shop, enqueuer: RecordingEnqueuer
) -> None:
    _, p = shop
    list_credit_check(world, p, subscribe="bank-a")
    bank = as_("bank-a")
    applicants = str(dataset_id(world, "bank-a", "applicants"))
    response = bank.post(f"/products/{p.credit_check_id}/calls", {"input_dataset_id": applicants})
    assert response.status_code == 202, response.get_json()
    call = response.get_json()
    assert call["state"] == "running" and len(call["job_ids"]) == 3 and call["charge_fen"] == 0
    assert enqueuer.steps  # queued after the commit
    cid = call["id"]
    assert error(bank.get(f"/calls/{cid}/result"), 409) == "result.not_ready"
    with world.factory() as session:
        row = session.get(ProductCall, uuid.UUID(cid))
        assert row is not None
        session.expunge(row)
    run_to_end(world, row)
    settled = bank.get(f"/calls/{cid}").get_json()
    assert (
        settled["state"] == "succeeded"
        and settled["charge_fen"] == 200 + 50 * (settled["identifiers"])
    )
    assert settled["unauthorized"] >= 1  # the demo leaves some applicants unauthorized
    result = bank.get(f"/calls/{cid}/result")
    assert result.status_code == 200 and result.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(result.get_data(as_text=True))))
    assert table[0][:2] == ["identifier", "status"] and "registration_status" in table[0]
    as_json = bank.get(f"/calls/{cid}/result", query_string={"format": "json"}).get_json()
    assert as_json["columns"] == table[0] and as_json["row_count"] == len(table) - 1
    assert error(bank.get(f"/calls/{cid}/result", query_string={"format": "xml"}), 400) == (
        "invalid_query"
    )
    assert ledger_actions(world, "result.downloaded") == 2
    # another bank: nothing; the operator: counts only and no result; the auditor: no result
    other = as_("bank-b")
    assert error(other.get(f"/calls/{cid}"), 404) == "call.not_found"
    assert error(other.get(f"/calls/{cid}/result"), 404) == "call.not_found"
    assert other.get("/calls").get_json() == {"calls": []}
    seen = as_("operator").get(f"/calls/{cid}").get_json()
    assert seen["job_ids"] == [] and seen["matched"] is None and seen["caller"] is None
    assert seen["identifiers"] == settled["identifiers"]
    assert error(as_("operator").get(f"/calls/{cid}/result"), 403) == "result.not_recipient"
    assert error(as_("auditor").get(f"/calls/{cid}/result"), 403) == "result.not_recipient"
    assert ledger_actions(world, "result.downloaded") == 2
    listed = bank.get("/calls", query_string={"product_id": str(p.credit_check_id)})
    assert [c["id"] for c in listed.get_json()["calls"]] == [cid]
    for query in ({"limit": "0"}, {"limit": "x"}, {"period": "2026/11"}, {"product_id": "x"}):
        assert bank.get("/calls", query_string=query).status_code in (400, 404), query


def test_calls_refused_before_or_by_the_policy_are_recorded_and_never_charged(
    as_: Any, world: World, shop: Shop, enqueuer: RecordingEnqueuer
) -> None:
    g, p = shop
    list_credit_check(world, p)
    bank_b = as_("bank-b")
    body = {"input_dataset_id": str(dataset_id(world, "bank-b", "applicants"))}
    assert error(bank_b.post(f"/products/{p.credit_check_id}/calls", body), 403) == (
        "subscription.required"
    )
    assert ledger_actions(world, "product.call_refused") == 1
    bank_a = as_("bank-a")
    foreign = {"input_dataset_id": body["input_dataset_id"]}
    assert error(bank_a.post(f"/products/{p.exposure_id}/calls", foreign), 404) == (
        "call.input_not_found"
    )
    column = {
        "input_dataset_id": str(dataset_id(world, "bank-a", "applicants")),
        "reference_column": "x" * 65,
    }
    assert error(bank_a.post(f"/products/{p.exposure_id}/calls", column), 400) == (
        "invalid_request"
    )
    assert not enqueuer.steps
    # the bureau suspends the exposure grant: the policy refuses the call, which is recorded
    with world.factory() as session:
        grant_service.suspend(
            session, as_user(session, "bureau"), g.statistics_grant_id, reason="x", now=utcnow()
        )
        session.commit()
    own = {"input_dataset_id": str(dataset_id(world, "bank-a", "applicants"))}
    refused = bank_a.post(f"/products/{p.exposure_id}/calls", own)
    code = error(refused, 403)
    details = refused.get_json()["error"]["details"]
    assert details[0]["charge_fen"] == 0
    with world.factory() as session:
        row = session.get(ProductCall, uuid.UUID(details[0]["call"]))
        assert row is not None and row.state == "refused" and row.refusal_code == code
        assert row.charge_fen == 0 and row.job_ids == []
    assert not enqueuer.steps


# --- statements -------------------------------------------------------------------------------


def test_statements_are_scoped_and_exported(as_: Any, world: World, shop: Shop) -> None:
    _, p = shop
    bank = as_("bank-a")
    applicants = str(dataset_id(world, "bank-a", "applicants"))
    started = bank.post(f"/products/{p.exposure_id}/calls", {"input_dataset_id": applicants})
    assert started.status_code == 202, started.get_json()
    with world.factory() as session:
        row = session.get(ProductCall, uuid.UUID(started.get_json()["id"]))
        assert row is not None
        session.expunge(row)
    run_to_end(world, row)
    assert bank.get("/calls").get_json()["calls"][0]["state"] == "succeeded"  # settles
    period = row.period
    mine = bank.get("/statements", query_string={"period": period}).get_json()
    assert mine["consumer"] == "bank-a" and len(mine["lines"]) == 1
    totals = mine["totals"]
    assert totals["calls"] == 1 and totals["amount_fen"] > 0
    assert totals["operator_fee_fen"] + totals["public_finance_fen"] == totals["amount_fen"]
    assert totals["operator_fee_fen"] == round(totals["amount_fen"] * 0.3)
    exported = bank.get("/statements", query_string={"period": period, "format": "csv"})
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert str(totals["amount_fen"]) in exported.get_data(as_text=True).splitlines()[-1]
    other = as_("bank-b").get("/statements", query_string={"period": period}).get_json()
    assert other["lines"] == [] and other["totals"]["amount_fen"] == 0
    peek = {"period": period, "consumer": "bank-a"}
    assert error(as_("bank-b").get("/statements", query_string=peek), 403) == (
        "statement.forbidden"
    )
    assert (
        as_("operator").get("/statements", query_string={"period": period}).get_json()["totals"]
        == totals
    )
    filtered = as_("bureau").get("/statements", query_string=peek).get_json()
    assert filtered["totals"] == totals
    assert error(bank.get("/statements", query_string={"period": "2026-1"}), 400) == (
        "statement.period"
    )
    assert error(bank.get("/statements", query_string={"format": "pdf"}), 400) == "invalid_query"
    assert error(as_("tax-cdo").get("/statements"), 403) == "statement.forbidden"


# --- ratings and tickets ----------------------------------------------------------------------


def test_ratings_and_tickets(as_: Any, world: World, shop: Shop) -> None:
    _, p = shop
    list_credit_check(world, p, subscribe="bank-a")
    bank = as_("bank-a")
    path = f"/products/{p.credit_check_id}/ratings"
    assert error(bank.post(path, {"stars": 6}), 400) == "invalid_request"
    assert error(bank.post(path, {"stars": 3, "comment": "x" * 1001}), 400) == "invalid_request"
    assert error(as_("bank-b").post(path, {"stars": 5}), 403)  # no subscription
    rated = bank.post(path, {"stars": 3, "comment": "ok"})
    assert rated.status_code == 201 and rated.get_json()["summary"] == {"average": 3.0, "total": 1}
    assert bank.post(path, {"stars": 5}).get_json()["summary"] == {"average": 5.0, "total": 1}
    assert count(world, Rating) == 1
    code = valid_code()
    tax = str(dataset_id(world, "tax", "tax_ratings"))
    court = str(dataset_id(world, "court", "judgments"))
    ticket = {
        "product_id": str(p.credit_check_id),
        "dataset_id": tax,
        "subject": code,
        "field": "arrears_flag",
        "description": "The enterprise paid its arrears last month.",
    }
    assert error(bank.post("/tickets", {**ticket, "dataset_id": court}), 400) == "ticket.dataset"
    assert error(bank.post("/tickets", {**ticket, "subject": "x"}), 400) == "ticket.subject"
    assert error(bank.post("/tickets", {**ticket, "description": "x" * 4001}), 400) == (
        "invalid_request"
    )
    assert error(as_("bank-b").post("/tickets", ticket), 403)
    filed = bank.post("/tickets", ticket)
    assert filed.status_code == 201
    t = filed.get_json()
    assert t["subject"] == code and t["state"] == "open" and not t["overdue"]
    assert code in as_("tax-cdo").get("/tickets").get_data(as_text=True)
    assert as_("social-cdo").get("/tickets").get_json() == {"tickets": []}
    assert as_("bank-b").get("/tickets").get_json() == {"tickets": []}
    operator_view = as_("operator").get("/tickets").get_json()["tickets"]
    assert operator_view[0]["subject"] is None and operator_view[0]["consumer"] is None
    target = f"/tickets/{t['id']}/answer"
    assert error(as_("operator").post(target, {"answer": "x"}), 403) == "ticket.not_provider"
    assert error(as_("bank-b").post(target, {"answer": "x"}), 404) == "ticket.not_found"
    assert error(as_("tax-cdo").post(target, {"answer": ""}), 400) == "ticket.answer"
    answered = as_("tax-cdo").post(target, {"answer": "Corrected.", "close": True})
    assert answered.status_code == 200 and answered.get_json()["state"] == "closed"
    assert error(as_("tax-cdo").post(target, {"answer": "again"}), 409) == "ticket.closed"
    with world.factory() as session:
        stored = session.scalar(select(CorrectionTicket))
        assert stored is not None and stored.answer == "Corrected."


# --- the OpenAPI document ---------------------------------------------------------------------


def test_the_openapi_document_describes_the_product_operations(client: FlaskClient) -> None:
    doc = client.get(f"{API}/openapi.json").get_json()
    paths = doc["paths"]
    expected = {
        "/api/v1/products": {"get", "post"},
        "/api/v1/products/{product_id}": {"get"},
        "/api/v1/products/{product_id}/versions": {"post"},
        "/api/v1/products/{product_id}/versions/{version}/submit": {"post"},
        "/api/v1/products/{product_id}/versions/{version}/reviews": {"post"},
        "/api/v1/products/{product_id}/listing": {"post", "delete"},
        "/api/v1/products/{product_id}/calls": {"post"},
        "/api/v1/products/{product_id}/ratings": {"post"},
        "/api/v1/subscriptions": {"get", "post"},
        "/api/v1/subscriptions/{subscription_id}/decision": {"post"},
        "/api/v1/authorizations": {"get", "post"},
        "/api/v1/authorizations/{authorization_id}": {"delete"},
        "/api/v1/calls": {"get"},
        "/api/v1/calls/{call_id}": {"get"},
        "/api/v1/calls/{call_id}/result": {"get"},
        "/api/v1/statements": {"get"},
        "/api/v1/tickets": {"get", "post"},
        "/api/v1/tickets/{ticket_id}/answer": {"post"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) >= methods, path
    result = paths["/api/v1/calls/{call_id}/result"]["get"]["responses"]["200"]["content"]
    assert set(result) == {"application/json", "text/csv"}
    create = paths["/api/v1/products"]["post"]["requestBody"]["content"]["application/json"]
    assert create["schema"] == {"$ref": "#/components/schemas/ProductCreate"}
    schemas = doc["components"]["schemas"]
    assert {"ProductSpec", "LabelSpec", "CallOut", "StatementOut", "TicketOut"} <= set(schemas)
    # the governance reviewers' schema is not shadowed by the products' one
    assert "narrowed" in schemas["ReviewerOut"]["properties"]
