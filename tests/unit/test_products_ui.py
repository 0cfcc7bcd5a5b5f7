"""Data-product screens through the browser's path (session login, CSRF tokens, forms): the
store and product pages for every role, review and listing, a product designed from the form,
subscription, a credit check run from the browser and its result for the calling bank alone,
authorizations, statements, ratings and correction tickets; every service refusal shown on
the page with nothing changed, and forms without their CSRF token rejected."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from grants.demo import DemoGovernance, seed_governance
from products import calls, catalog
from products.demo import DemoProducts, seed_products
from products.models import (
    CorrectionTicket,
    EnterpriseAuthorization,
    Product,
    ProductCall,
    ProductVersion,
    Rating,
    Subscription,
)
from sandbox.clock import utcnow
from sandbox.datasets.models import Dataset
from sandbox.domains.models import Domain
from sandbox.identifiers import credit_code_check_char
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.models import LedgerEntry
from sandbox.tickets import TicketSigner
from tests.conftest import RecordingEnqueuer, World
from tests.helpers import as_user, drive
from tests.unit.test_auth import logged_in
from tests.unit.test_governance_ui import count, message, page, post, token

ENTERPRISES = 150  # the seeded test world's size


def seed_shop(world: World) -> tuple[DemoGovernance, DemoProducts]:
    """The demo's governance and products: the credit check approved by the CDOs (awaiting
    the bureau), the exposure product listed with bank-a subscribed, authorizations on file."""
    now = utcnow()
    with world.factory() as session:
        g = seed_governance(session, now=now)
        p = seed_products(session, now=now, governance=g, enterprises=ENTERPRISES)
        session.commit()
    return g, p


@pytest.fixture
def shop(world: World) -> Iterator[tuple[DemoGovernance, DemoProducts]]:
    yield seed_shop(world)


def list_credit_check(world: World, p: DemoProducts, *, subscribe: str | None = None) -> None:
    """The bureau approves and lists the credit check; optionally a bank subscribes."""
    from products import subscriptions

    now = utcnow()
    with world.factory() as session:
        bureau = as_user(session, "bureau")
        catalog.review(session, bureau, p.credit_check_id, 1, decision="approve", now=now)
        catalog.list_product(session, bureau, p.credit_check_id, 1, now)
        if subscribe:
            sub = subscriptions.subscribe(
                session,
                as_user(session, subscribe),
                p.credit_check_id,
                accept_terms=True,
                now=now,
            )
            subscriptions.decide(
                session, as_user(session, "operator"), sub.id, approve=True, now=now
            )
        session.commit()


def dataset_id(world: World, domain: str, name: str) -> uuid.UUID:
    with world.factory() as session:
        found = session.scalar(
            select(Dataset.id).join(Domain).where(Domain.name == domain, Dataset.name == name)
        )
        assert found is not None
        return found


def call_via_service(world: World, product_id: uuid.UUID, bank: str = "bank-a") -> ProductCall:
    """A call made through the service (its jobs queued, not run)."""
    applicants = dataset_id(world, bank, "applicants")
    with world.factory() as session:
        call = calls.run(
            session,
            as_user(session, bank),
            product_id,
            input_dataset_id=applicants,
            reference_column="authorization_ref",
            signer=TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 600),
            now=utcnow(),
        )
        for job_id in call.job_ids:
            engine.advance(session, JobId(uuid.UUID(job_id)), now=utcnow())
        session.commit()
        session.expunge(call)
        return call


def valid_code(first17: str = "91110108MA01ABCDE") -> str:
    """A unified social credit code with its right check character."""
    return first17 + credit_code_check_char(first17)


def run_to_end(world: World, call: ProductCall) -> None:
    for job_id in call.job_ids:
        job = drive(world.settings, world.factory, uuid.UUID(job_id))
        assert job.state == "succeeded", (job.error_code, job.error_message)


def ledger_actions(world: World, action: str) -> int:
    with world.factory() as session:
        return (
            session.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.action == action)
            )
            or 0
        )


# --- every role's pages -----------------------------------------------------------------------


PAGES = ("/products", "/calls", "/subscriptions", "/authorizations", "/statements", "/tickets")
ALLOWED = {
    "bureau": {"/products", "/calls", "/subscriptions", "/statements", "/tickets"},
    "tax-cdo": {"/products", "/tickets"},
    "operator": {"/products", "/calls", "/subscriptions", "/statements", "/tickets"},
    "bank-a": set(PAGES),
    "auditor": {"/products", "/calls", "/subscriptions", "/statements", "/tickets"},
}


@pytest.mark.parametrize("username", sorted(ALLOWED))
def test_each_role_gets_its_product_pages_and_no_others(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts], username: str
) -> None:
    client = logged_in(app, world, username)
    home = page(client, "/home")
    assert 'href="/products"' in home  # the top navigation
    for path in PAGES:
        expected = 200 if path in ALLOWED[username] else 403
        html = page(client, path, expected)
        if expected == 200:
            assert 'aria-label="Data products"' in html, path  # the products sub-navigation


def test_the_store_shows_terms_price_sources_and_labels_never_data(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    _, p = shop
    list_credit_check(world, p)
    html = page(logged_in(app, world, "bank-b"), "/products")
    assert 'data-slug="sme-credit-check"' in html and 'data-slug="multi-lender-exposure"' in html
    assert "¥2.00 a call + ¥0.50 per identifier" in html  # 200 fen + 50 fen
    assert "¥5.00 a call + ¥0.20 per identifier" in html
    assert "sme_credit_assessment" in html and "tax/tax_ratings" in html
    assert "<code>tax_grade_band</code>" in html and "<code>total</code>" in html
    assert "(map of tax_credit_grade)" in html and "(bands of insured_headcount)" in html
    assert "Only for assessing SME loan applications" in html  # the terms
    detail = page(logged_in(app, world, "bank-b"), f"/products/{p.credit_check_id}")
    assert "<code>tax_credit_grade</code>" in detail  # the rule's source column, by name
    assert "<code>A</code>→<code>good</code>" in detail  # the map rule
    assert "bands at 10, 50, 100" in detail
    assert "30% operator's fee · 70% public finance" in detail
    assert 'class="subscribe"' in detail and 'name="accept_terms"' in detail
    assert 'class="run-product"' not in detail  # no subscription yet


def test_bureau_approves_then_lists_the_credit_check_through_the_forms(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    _, p = shop
    client = logged_in(app, world, "bureau")
    store = page(client, "/products")
    assert 'id="review-queue"' in store and f"/products/{p.credit_check_id}" in store
    path = f"/products/{p.credit_check_id}"
    detail = page(client, path)
    assert (
        'class="decision review approve"' in detail
        and 'class="decision list-product"' not in detail
    )
    # refusing needs a reason: the service's message, nothing changed
    refused = post(client, f"{path}/versions/1/review", {"decision": "refuse"}, form_page=path)
    assert refused.status_code == 400 and "reason" in message(refused)
    done = post(client, f"{path}/versions/1/review", {"decision": "approve"}, form_page=path)
    assert done.status_code == 302 and "notice=Approved" in done.headers["Location"]
    detail = page(client, path)
    assert "My decision" not in detail and 'class="decision list-product"' in detail
    # listing a version that is not approved is refused with the service's message
    wrong = post(client, f"{path}/listing", {"version": "2"}, form_page=path)
    assert wrong.status_code == 404
    listed = post(client, f"{path}/listing", {"version": "1"}, form_page=path)
    assert listed.status_code == 302
    detail = page(client, path)
    assert 'data-state="listed"' in detail and 'class="decision delist-product"' in detail
    again = post(client, f"{path}/listing", {"version": "1"}, form_page=path)
    assert again.status_code == 409
    with world.factory() as session:
        product = session.get(Product, p.credit_check_id)
        assert product is not None and product.state == "listed" and product.listed_version == 1
    # 下架 needs a reason; then the bank no longer finds the product
    assert post(client, f"{path}/delisting", {"reason": ""}, form_page=path).status_code == 400
    assert post(client, f"{path}/delisting", {"reason": "audit"}, form_page=path).status_code == 302
    assert page(logged_in(app, world, "bank-a"), path, 404)


def test_reviewers_other_than_the_required_ones_get_no_form_and_are_refused(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    _, p = shop
    path = f"/products/{p.credit_check_id}"
    court = logged_in(app, world, "court-cdo")  # no court data in the credit check
    assert page(court, path, 404)
    tax = logged_in(app, world, "tax-cdo")  # decided already
    detail = page(tax, path)
    assert "My decision" not in detail and "tax" in detail
    response = post(tax, f"{path}/versions/1/review", {"decision": "approve"}, form_page=path)
    assert response.status_code == 409 and "already decided" in message(response)
    bank = logged_in(app, world, "bank-a")
    store_token = token(bank, "/products")
    forbidden = bank.post(
        f"{path}/versions/1/review", data={"csrf_token": store_token, "decision": "approve"}
    )
    assert forbidden.status_code == 403


def test_operator_designs_a_product_from_the_form_and_submits_it(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    g, _ = shop
    client = logged_in(app, world, "operator")
    store = page(client, "/products")
    assert 'class="new-product"' in store and "tax/tax_ratings" in store
    assert "tax_grade_band" in store  # the prefilled labels example
    tax = dataset_id(world, "tax", "tax_ratings")
    key = f"col:{g.approved_grant_id}:{tax}"
    labels = {"tax/tax_ratings": [{"name": "arrears_flag", "column": "arrears", "rule": "flag"}]}
    form: dict[str, Any] = {
        "title": "Tax arrears check",
        "slug": "tax-arrears",
        "kind": "credit_check",
        "license_id": str(g.license_id),
        "purpose": "sme_credit_assessment",
        key: ["credit_code", "arrears"],
        "labels": json.dumps(labels),
        "consumer": ["bank-a"],
        "price_per_call": "1.50",
        "price_per_identifier": "0.05",
        "operator_fee_share": "0.25",
        "calls_per_month": "50",
        "identifiers_per_month": "5000",
        "max_identifiers_per_call": "1000",
        "terms_text": "Only SME lending.",
    }
    before = count(world, Product)
    for bad, expected in (
        ({"labels": "{not json"}, "labels: not valid JSON"),
        ({"labels": "[1, 2]"}, "labels: a JSON object"),
        ({"price_per_call": "1.505"}, "price per call: an amount in yuan"),
        ({"price_per_call": "-1"}, "price per call: an amount in yuan"),
        ({"calls_per_month": "12e3"}, "calls per month must be a whole number"),
        ({"operator_fee_share": "lots"}, "fee share"),
        ({"operator_fee_share": "1.5"}, "operator_fee_share"),
        ({"labels": json.dumps({"court/judgments": []})}, "without ticked columns"),
        ({"slug": "Bad Slug"}, "slug"),
        ({"labels": " " * 100_001}, "labels: at most 100000 characters"),
        ({"title": "t" * 201}, "title"),
        ({"license_id": "nope"}, "choose a license"),
    ):
        response = post(client, "/products", {**form, **bad}, form_page="/products")
        assert response.status_code == 400, bad
        assert expected in message(response), (bad, message(response))
        # the form keeps what was typed
        typed = response.get_data(as_text=True)
        assert 'value="Tax arrears check"' in typed or "t" * 201 in typed
    huge = post(client, "/products", {**form, "labels": "x" * (2 << 20)}, form_page="/products")
    assert huge.status_code == 413
    assert count(world, Product) == before
    created = post(client, "/products", form, form_page="/products")
    assert created.status_code == 302, message(created)
    path = created.headers["Location"].split("?")[0]
    with world.factory() as session:
        product = session.scalar(select(Product).where(Product.slug == "tax-arrears"))
        assert product is not None and product.state == "draft"
        row = session.scalar(select(ProductVersion).where(ProductVersion.product_id == product.id))
        assert row is not None
        assert row.spec["price_per_call_fen"] == 150 and row.spec["price_per_identifier_fen"] == 5
        assert row.spec["sources"][0]["columns"] == ["credit_code", "arrears"]
    detail = page(client, path)
    assert 'class="inline submit-version"' in detail and 'class="new-version"' in detail
    assert post(client, f"{path}/versions/1/submit", {}, form_page=path).status_code == 302
    again = post(client, f"{path}/versions/1/submit", {}, form_page=path)
    assert again.status_code == 409 and "submitted" in message(again)
    # the reviewers: the bureau and the tax department
    assert 'id="review-queue"' in page(logged_in(app, world, "tax-cdo"), "/products")
    # a second version while one is in review is refused; a malformed spec too
    spec = json.dumps({"title": "x"})
    bad_spec = post(client, f"{path}/versions", {"spec": spec}, form_page=path)
    assert bad_spec.status_code == 400 and "invalid product spec" in message(bad_spec)
    open_version = post(client, f"{path}/versions", {"spec": json.dumps(row.spec)}, form_page=path)
    assert open_version.status_code == 409
    # another operator's page: there is none, and a bank cannot see a draft
    assert page(logged_in(app, world, "bank-a"), path, 404)


def test_bank_subscribes_and_operator_approves_with_quotas(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    _, p = shop
    list_credit_check(world, p)
    bank = logged_in(app, world, "bank-b")
    path = f"/products/{p.credit_check_id}"
    unticked = post(bank, f"{path}/subscription", {}, form_page=path)
    assert unticked.status_code == 400 and "terms" in message(unticked)
    assert count(world, Subscription) == 1  # bank-a's exposure subscription only
    done = post(bank, f"{path}/subscription", {"accept_terms": "yes"}, form_page=path)
    assert done.status_code == 302
    assert "waiting for the operator" in page(bank, path)
    twice = post(bank, f"{path}/subscription", {"accept_terms": "yes"}, form_page=path)
    assert twice.status_code == 409
    with world.factory() as session:
        sub = session.scalar(
            select(Subscription).where(Subscription.product_id == p.credit_check_id)
        )
        assert sub is not None and sub.state == "requested"
        sub_id = sub.id
    # bank-a does not see bank-b's subscription; the operator does, with a decision form
    assert str(sub_id) not in page(logged_in(app, world, "bank-a"), "/subscriptions")
    operator = logged_in(app, world, "operator")
    listing = page(operator, "/subscriptions")
    assert f'data-subscription="{sub_id}"' in listing and "decide-subscription approve" in listing
    target = f"/subscriptions/{sub_id}/decision"
    no_reason = post(operator, target, {"action": "reject"}, form_page="/subscriptions")
    assert no_reason.status_code == 400 and "reason" in message(no_reason)
    bad_quota = post(
        operator,
        target,
        {"action": "approve", "calls_per_month": "ten"},
        form_page="/subscriptions",
    )
    assert bad_quota.status_code == 400
    approved = post(
        operator,
        target,
        {"action": "approve", "calls_per_month": "7", "identifiers_per_month": "700"},
        form_page="/subscriptions",
    )
    assert approved.status_code == 302
    with world.factory() as session:
        sub = session.get(Subscription, sub_id)
        assert sub is not None and sub.state == "active" and sub.calls_per_month == 7
    detail = page(bank, path)
    assert "this month 0 of 7 calls" in detail and 'class="run-product"' in detail
    assert 'value="authorization_ref"' in detail  # the reference column's default
    # a bank cannot decide; bank-a cannot even see bank-b's subscription
    bank_a = logged_in(app, world, "bank-a")
    forged = bank_a.post(
        f"/subscriptions/{sub_id}/cancel", data={"csrf_token": token(bank_a, "/subscriptions")}
    )
    assert forged.status_code == 404


def test_bank_runs_a_credit_check_and_only_it_reads_the_result(
    app: Flask,
    world: World,
    shop: tuple[DemoGovernance, DemoProducts],
    enqueuer: RecordingEnqueuer,
) -> None:
    _, p = shop
    list_credit_check(world, p, subscribe="bank-a")
    bank = logged_in(app, world, "bank-a")
    path = f"/products/{p.credit_check_id}"
    applicants = dataset_id(world, "bank-a", "applicants")
    wrong = post(
        bank,
        f"{path}/calls",
        {"input_dataset": str(applicants), "reference_column": "no_such_column"},
        form_page=path,
    )
    assert wrong.status_code == 400 and "column" in message(wrong)
    assert not enqueuer.steps
    response = post(
        bank,
        f"{path}/calls",
        {"input_dataset": str(applicants), "reference_column": "authorization_ref"},
        form_page=path,
    )
    assert response.status_code == 302, message(response)
    assert enqueuer.steps  # the first steps, queued after the commit
    call_path = response.headers["Location"].split("?")[0]
    call_id = call_path.rsplit("/", 1)[1]
    running = page(bank, call_path)
    assert 'class="call-state status running"' in running and 'data-finished="no"' in running
    assert 'class="call-jobs"' in running
    status = bank.get(f"{call_path}/status").get_json()
    assert status["state"] == "running" and len(status["jobs"]) == 3
    with world.factory() as session:
        call = session.get(ProductCall, uuid.UUID(call_id))
        assert call is not None
        session.expunge(call)
    run_to_end(world, call)
    done = page(bank, call_path)
    assert 'class="call-state status succeeded"' in done and 'data-finished="yes"' in done
    assert 'class="call-result sample"' in done and 'class="button download-result"' in done
    assert "<th>tax_grade_band</th>" in done and "unauthorized" in done
    csv_response = bank.get(f"{call_path}/result.csv")
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_response.get_data(as_text=True))))
    assert rows[0][:3] == ["identifier", "status", "tax_grade_band"]
    assert {r[1] for r in rows[1:]} <= {"found", "not_found", "unauthorized", "malformed"}
    assert any(r[1] == "found" for r in rows[1:]) and any(r[1] == "unauthorized" for r in rows[1:])
    assert ledger_actions(world, "result.downloaded") == 2  # the page and the download
    # the bank's calls list and the statement show it, with its charge
    assert call_id[:8] in page(bank, "/calls") and call_id[:8] in page(bank, "/home")
    # another bank: nothing at all
    other = logged_in(app, world, "bank-b")
    assert page(other, call_path, 404)
    assert other.get(f"{call_path}/status").status_code == 404
    assert other.get(f"{call_path}/result.csv").status_code == 404
    assert call_id[:8] not in page(other, "/calls")
    # the operator: counts only, no result, no job links
    operator = logged_in(app, world, "operator")
    seen = page(operator, call_path)
    assert "download-result" not in seen and "call-result" not in seen and "/jobs/" not in seen
    assert "only its users can read it" in seen
    assert operator.get(f"{call_path}/result.csv").status_code == 403
    # the bureau and the auditor see the record and the jobs, never the result
    for username in ("bureau", "auditor"):
        html = page(logged_in(app, world, username), call_path)
        assert "/jobs/" in html and "call-result" not in html
    assert ledger_actions(world, "result.downloaded") == 2


def test_a_call_without_subscription_or_over_quota_is_refused_on_the_page(
    app: Flask,
    world: World,
    shop: tuple[DemoGovernance, DemoProducts],
    enqueuer: RecordingEnqueuer,
) -> None:
    _, p = shop
    list_credit_check(world, p)
    bank = logged_in(app, world, "bank-b")
    path = f"/products/{p.credit_check_id}"
    data = {"input_dataset": str(dataset_id(world, "bank-b", "applicants"))}
    response = post(bank, f"{path}/calls", data, form_page=path)
    assert response.status_code == 403 and "subscription" in message(response)
    # recorded in the ledger, nothing queued, nothing charged
    assert ledger_actions(world, "product.call_refused") == 1
    assert not enqueuer.steps and count(world, ProductCall) == 0
    # someone else's dataset as the input
    list_bank = logged_in(app, world, "bank-a")
    exposure = f"/products/{p.exposure_id}"
    foreign = {"input_dataset": str(dataset_id(world, "bank-b", "applicants"))}
    refused = post(list_bank, f"{exposure}/calls", foreign, form_page=exposure)
    assert refused.status_code == 404
    not_an_id = post(list_bank, f"{exposure}/calls", {"input_dataset": "x"}, form_page=exposure)
    assert not_an_id.status_code == 400 and "choose a dataset" in message(not_an_id)


def test_authorizations_are_registered_listed_by_reference_and_revoked(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    first17 = "91110108MA01ABCDE"
    code = valid_code(first17)
    bank = logged_in(app, world, "bank-a")
    form_page = "/authorizations"
    until = (utcnow() + dt.timedelta(days=30)).date().isoformat()
    before = count(world, EnterpriseAuthorization)
    bad_code = post(
        bank,
        "/authorizations",
        {"credit_code": first17 + "0", "reference": "REF-1", "valid_until": until},
        form_page=form_page,
    )
    assert bad_code.status_code == 400 and "credit code" in message(bad_code)
    bad_day = post(
        bank,
        "/authorizations",
        {"credit_code": code, "reference": "REF-1", "valid_until": "soon"},
        form_page=form_page,
    )
    assert bad_day.status_code == 400 and "valid until" in message(bad_day)
    assert count(world, EnterpriseAuthorization) == before
    done = post(
        bank,
        "/authorizations",
        {"credit_code": f" {code.lower()} ", "reference": "ref-web-1", "valid_until": until},
        form_page=form_page,
    )
    assert done.status_code == 302
    html = page(bank, "/authorizations")
    assert 'data-reference="REF-WEB-1"' in html
    assert code not in html  # never a credit code
    duplicate = post(
        bank,
        "/authorizations",
        {"credit_code": code, "reference": "REF-WEB-1", "valid_until": until},
        form_page=form_page,
    )
    assert duplicate.status_code == 409
    with world.factory() as session:
        row = session.scalar(
            select(EnterpriseAuthorization).where(EnterpriseAuthorization.reference == "REF-WEB-1")
        )
        assert row is not None
        auth_id = row.id
    other = logged_in(app, world, "bank-b")
    assert "REF-WEB-1" not in page(other, "/authorizations")
    stolen = other.post(
        f"/authorizations/{auth_id}/revoke", data={"csrf_token": token(other, form_page)}
    )
    assert stolen.status_code == 404
    revoked = post(bank, f"/authorizations/{auth_id}/revoke", {}, form_page=form_page)
    assert revoked.status_code == 302
    assert 'class="status revoked"' in page(bank, "/authorizations")
    twice = post(bank, f"/authorizations/{auth_id}/revoke", {}, form_page=form_page)
    assert twice.status_code == 409


def _settled_call(world: World, p: DemoProducts) -> ProductCall:
    """An exposure call by bank-a, run to the end and settled."""
    call = call_via_service(world, p.exposure_id)
    run_to_end(world, call)
    with world.factory() as session:
        row = session.get(ProductCall, call.id)
        assert row is not None
        calls.settle(session, row, utcnow())
        session.commit()
        session.expunge(row)
        assert row.state == "succeeded", row.refusal_code
        return row


def test_statements_per_role_with_the_revenue_split_and_csv(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    _, p = shop
    call = _settled_call(world, p)
    assert call.charge_fen == 500 + 20 * call.identifiers
    fee = round(call.charge_fen * 0.3)
    bank = logged_in(app, world, "bank-a")
    html = page(bank, "/statements")
    assert f'class="total-amount">{_cny(call.charge_fen)}' in html
    assert f'class="total-fee">{_cny(fee)}' in html
    assert f'class="total-public">{_cny(call.charge_fen - fee)}' in html
    download = bank.get(f"/statements.csv?period={call.period}")
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert lines[-1][1] == "TOTAL" and str(call.charge_fen) in lines[-1]
    for username in ("operator", "bureau", "auditor"):
        assert _cny(call.charge_fen) in page(logged_in(app, world, username), "/statements")
    other = page(logged_in(app, world, "bank-b"), "/statements")
    assert "No charged calls" in other and _cny(call.charge_fen) not in other
    # another period is empty; a malformed one is refused
    assert "No charged calls" in page(bank, "/statements?period=2001-01")
    bad = bank.get("/statements?period=2026-13x")
    assert bad.status_code == 400 and "YYYY-MM" in message(bad)
    assert bank.get("/statements.csv?period=nope").status_code == 400
    assert page(logged_in(app, world, "tax-cdo"), "/statements", 403)


def _cny(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def test_home_pages_chart_usage_and_revenue(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    _, p = shop
    call = _settled_call(world, p)
    for username in ("bureau", "operator"):
        html = page(logged_in(app, world, username), "/home")
        assert 'id="product-usage"' in html and '<svg class="usage"' in html
        assert f"1 calls and {_cny(call.charge_fen)} over the last 30 days" in html
    bank_home = page(logged_in(app, world, "bank-a"), "/home")
    assert 'id="my-product-calls"' in bank_home and str(call.id)[:8] in bank_home
    assert str(call.id)[:8] not in page(logged_in(app, world, "bank-b"), "/home")


def test_calls_list_settles_and_scopes(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    _, p = shop
    first = call_via_service(world, p.exposure_id)
    second = call_via_service(world, p.exposure_id)
    for call in (first, second):
        run_to_end(world, call)  # ended, not yet settled
    with world.factory() as session:
        assert session.scalars(select(ProductCall.state)).all() == ["running", "running"]
    html = page(logged_in(app, world, "operator"), "/calls")
    for call in (first, second):
        assert f'data-call="{call.id}"' in html
    assert 'class="status running"' not in html and 'class="status succeeded"' in html
    with world.factory() as session:
        rows = [session.get(ProductCall, c.id) for c in (first, second)]
        assert all(r is not None and r.state == "succeeded" and r.charge_fen > 0 for r in rows)
    assert str(first.id) not in page(logged_in(app, world, "bank-b"), "/calls")
    # the product page settles its recent calls too
    third = call_via_service(world, p.exposure_id)
    run_to_end(world, third)
    detail = page(logged_in(app, world, "bank-a"), f"/products/{p.exposure_id}")
    assert f'data-call="{third.id}"' in detail and 'class="status running"' not in detail


def test_bank_rates_and_files_a_ticket_that_the_department_answers(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    _, p = shop
    list_credit_check(world, p, subscribe="bank-a")
    bank = logged_in(app, world, "bank-a")
    path = f"/products/{p.credit_check_id}"
    assert post(bank, f"{path}/rating", {"stars": "9"}, form_page=path).status_code == 400
    rated = post(bank, f"{path}/rating", {"stars": "4", "comment": "useful"}, form_page=path)
    assert rated.status_code == 302 and count(world, Rating) == 1
    assert "4.0" in page(bank, "/products")
    tax = str(dataset_id(world, "tax", "tax_ratings"))
    code = valid_code()
    ticket = {"dataset_id": tax, "field": "tax_grade_band", "subject": code, "description": "!"}
    bad_field = post(bank, f"{path}/tickets", {**ticket, "field": "nope"}, form_page=path)
    assert bad_field.status_code == 400 and "field" in message(bad_field)
    bad_subject = post(bank, f"{path}/tickets", {**ticket, "subject": "123"}, form_page=path)
    assert bad_subject.status_code == 400
    too_long = post(bank, f"{path}/tickets", {**ticket, "description": "x" * 5000}, form_page=path)
    assert too_long.status_code == 400
    assert count(world, CorrectionTicket) == 0
    assert post(bank, f"{path}/tickets", ticket, form_page=path).status_code == 302
    with world.factory() as session:
        row = session.scalar(select(CorrectionTicket))
        assert row is not None
        ticket_id = row.id
    assert code in page(bank, "/tickets")
    cdo = logged_in(app, world, "tax-cdo")
    listing = page(cdo, "/tickets")
    assert code in listing and 'class="answer-ticket"' in listing and "overdue" not in listing
    assert str(ticket_id) not in page(logged_in(app, world, "social-cdo"), "/tickets")
    assert str(ticket_id) not in page(logged_in(app, world, "bank-b"), "/tickets")
    operator_view = page(logged_in(app, world, "operator"), "/tickets")
    assert str(ticket_id) in operator_view and code not in operator_view
    # past the deadline the department sees it marked
    with world.factory() as session:
        row = session.get(CorrectionTicket, ticket_id)
        assert row is not None
        row.due_at = utcnow() - dt.timedelta(days=1)
        session.commit()
    assert 'class="overdue"' in page(cdo, "/tickets")
    social = logged_in(app, world, "social-cdo")
    stranger = social.post(
        f"/tickets/{ticket_id}/answer",
        data={"csrf_token": token(social, "/tickets"), "answer": "no"},
    )
    assert stranger.status_code == 404
    empty = post(cdo, f"/tickets/{ticket_id}/answer", {"answer": " "}, form_page="/tickets")
    assert empty.status_code == 400
    answered = post(
        cdo,
        f"/tickets/{ticket_id}/answer",
        {"answer": "Checked: grade B is right.", "close": "yes"},
        form_page="/tickets",
    )
    assert answered.status_code == 302
    assert "Checked: grade B is right." in page(bank, "/tickets")
    closed = post(cdo, f"/tickets/{ticket_id}/answer", {"answer": "more"}, form_page="/tickets")
    assert closed.status_code == 409


# --- hostile requests -------------------------------------------------------------------------


def test_forms_without_a_csrf_token_are_rejected(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    _, p = shop
    list_credit_check(world, p, subscribe="bank-a")
    path = f"/products/{p.credit_check_id}"
    cases = {
        "bank-a": [
            (f"{path}/subscription", {"accept_terms": "yes"}),
            (f"{path}/calls", {"input_dataset": str(dataset_id(world, "bank-a", "applicants"))}),
            (f"{path}/rating", {"stars": "5"}),
            ("/authorizations", {"credit_code": "x", "reference": "y", "valid_until": "z"}),
        ],
        "bureau": [(f"{path}/delisting", {"reason": "x"})],
        "operator": [("/products", {"title": "x"})],
    }
    before = ledger_actions(world, "product.delisted")
    for username, posts in cases.items():
        client = logged_in(app, world, username)
        page(client, path)  # a session with a CSRF secret exists
        for target, data in posts:
            for forged in ({}, {"csrf_token": "forged"}):
                response = client.post(target, data={**data, **forged})
                assert response.status_code == 400, (target, forged)
                assert "CSRF" in response.get_data(as_text=True), target
    assert ledger_actions(world, "product.delisted") == before
    assert count(world, Rating) == 0 and count(world, ProductCall) == 0


def test_unknown_and_malformed_ids_are_not_found(
    app: Flask, world: World, shop: tuple[DemoGovernance, DemoProducts]
) -> None:
    client = logged_in(app, world, "bureau")
    unknown = uuid.uuid4()
    for path in (
        "/products/not-an-id",
        f"/products/{unknown}",
        "/calls/123",
        f"/calls/{unknown}",
        f"/calls/{unknown}/status",
        f"/calls/{unknown}/result.csv",
        f"/products/{unknown}/versions/99999999999/review",
    ):
        assert client.get(path).status_code in (404, 405), path
    response = post(
        client,
        f"/products/{unknown}/versions/1/review",
        {"decision": "approve"},
        form_page="/products",
    )
    assert response.status_code == 404
    response = post(
        client, f"/subscriptions/{unknown}/decision", {"action": "approve"}, form_page="/products"
    )
    assert response.status_code == 404
    assert re.search(r"no such (subscription|product)", message(response))
