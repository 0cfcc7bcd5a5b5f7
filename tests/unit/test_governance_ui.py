"""Governance screens through the browser's path (session login, CSRF tokens, forms): every
role's pages render with real content, bureau forms refuse other roles, the bureau issues a
license and the reviewers approve a grant through the forms, a service's refusal is shown on
the page with nothing changed, and a form without its CSRF token is rejected."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.demo import DemoGovernance, seed_governance
from grants.models import Grant, GrantState, GrantUsage, License, LicenseState, Zone, ZoneOperator
from grants.terms import Terms
from grants.vouchers import verify_voucher
from sandbox.clock import utcnow
from sandbox.datasets.models import Dataset
from sandbox.domains.models import Domain
from sandbox.keys import load_public_key
from sandbox.ledger.models import LedgerEntry
from tests.conftest import World
from tests.unit.test_auth import CSRF_FIELD, alert, logged_in


@pytest.fixture
def demo(world: World) -> Iterator[DemoGovernance]:
    """The demo's governance (finance zone, one license, an approved and a pending grant)
    and a few calls under the approved grant today."""
    now = utcnow()
    with world.factory() as session:
        seeded = seed_governance(session, now=now)
        session.add(GrantUsage(grant_id=seeded.approved_grant_id, day=now.date(), calls=7, rows=70))
        session.commit()
    yield seeded


def page(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def token(client: FlaskClient, path: str) -> str:
    found = CSRF_FIELD.search(page(client, path))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def post(client: FlaskClient, path: str, data: dict[str, Any], *, form_page: str) -> Any:
    return client.post(path, data={"csrf_token": token(client, form_page), **data})


def message(response: Any) -> str:
    """The error shown on the page, as the service worded it."""
    return html.unescape(alert(response))


def one(world: World, model: Any, ident: uuid.UUID) -> Any:
    with world.factory() as session:
        row = session.get(model, ident)
        assert row is not None
        session.expunge(row)
        return row


def count(world: World, model: Any) -> int:
    with world.factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def dataset_id(session: Session, domain: str, name: str) -> uuid.UUID:
    found = session.scalar(
        select(Dataset.id).join(Domain).where(Domain.name == domain, Dataset.name == name)
    )
    assert found is not None
    return found


def in_a_year() -> str:
    return (utcnow() + dt.timedelta(days=300)).date().isoformat()


# --- every role's pages -----------------------------------------------------------------------


def test_bureau_pages_show_licenses_zones_purposes_queue_and_review(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    client = logged_in(app, world, "bureau")
    assert client.get("/gov").headers["Location"].endswith("/gov/licenses")
    licenses = page(client, "/gov/licenses")
    assert "City Data Group" in licenses and 'class="status active"' in licenses
    assert f"/gov/licenses/{demo.license_id}/suspend" in licenses
    zones = page(client, "/gov/zones")
    assert "Finance zone" in zones and "tax/tax_ratings" in zones and "operator" in zones
    assert "sme_credit_assessment" in page(client, "/gov/purposes")
    queue = page(client, "/gov/grants")
    assert str(demo.pending_grant_id)[:8] in queue and "court" in queue  # awaiting the court
    review = page(client, f"/gov/grants/{demo.pending_grant_id}")
    assert "What the outputs would reveal" in review and "dishonest_debtor" in review
    assert "Court-judgment flag" in review  # why the requester asked
    assert "My decision" not in review  # the bureau has decided already
    approved = page(client, f"/gov/grants/{demo.approved_grant_id}")
    assert "Suspend, reinstate or revoke" in approved


def test_bureau_home_has_the_governance_dashboard(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    now = utcnow()
    with world.factory() as session:
        from sandbox.ledger.log import SYSTEM, append

        for reasons in (["policy.quota_used"], ["policy.quota_used", "policy.recipient"]):
            append(
                session,
                actor=SYSTEM,
                action="policy.refused",
                object_type="grant",
                object_id=str(demo.approved_grant_id),
                params={},
                details={"kind": "lookup", "reasons": reasons},
                now=now,
            )
        session.commit()
    home = page(logged_in(app, world, "bureau"), "/home")
    assert "Governance" in home and "Active licenses" in home
    assert "City Data Group" in home  # the active license
    assert f"Grant {str(demo.pending_grant_id)[:8]}" in home  # a pending review, with its age
    assert "policy.quota_used" in home and "policy.recipient" in home  # refusals by reason
    assert "operator sme_credit_assessment" in home  # quota use bars
    assert "Jobs by status" in home


def test_provider_cdo_sees_grants_on_its_data_and_their_usage(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    court = logged_in(app, world, "court-cdo")
    grants = page(court, "/gov/grants")
    assert "Awaiting my decision" in grants and str(demo.pending_grant_id)[:8] in grants
    assert str(demo.approved_grant_id)[:8] not in grants  # no court data in it
    review = page(court, f"/gov/grants/{demo.pending_grant_id}")
    assert "My decision" in review and "Approve with narrower conditions" in review

    tax = logged_in(app, world, "tax-cdo")
    usage = page(tax, "/gov/usage")
    assert str(demo.approved_grant_id)[:8] in usage and "tax/tax_ratings" in usage
    assert "7 calls and 70 rows" in usage and "<svg" in usage
    assert page(tax, "/gov/licenses", 403)  # licenses are the bureau's and the operator's


def test_operator_sees_licenses_applications_quotas_and_downloads_a_voucher(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    client = logged_in(app, world, "operator")
    licenses = page(client, "/gov/licenses")
    assert "My licenses" in licenses and "Apply for a license" in licenses
    grants = page(client, "/gov/grants")
    assert "My quotas and budget left" in grants
    assert re.search(r'<td class="num">7</td><td class="num">200</td>', grants)
    assert "Apply for a grant" in grants and 'value="tax_credit_grade"' in grants
    assert 'value="tax_paid_last_year"' not in grants  # a trade secret is never offered
    assert "tax_paid_last_year (trade_secret)" in grants
    detail = page(client, f"/gov/grants/{demo.approved_grant_id}")
    assert "/voucher" in detail and "My decision" not in detail

    response = client.get(f"/gov/grants/{demo.approved_grant_id}/voucher")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    claims = verify_voucher(response.data, load_public_key(world.settings.ticket_key_path))
    assert claims["grant"] == str(demo.approved_grant_id)
    with world.factory() as session:
        assert session.scalar(
            select(LedgerEntry.index).where(LedgerEntry.action == "voucher.issued")
        )
    # A pending grant has no voucher: the service's refusal, not a 500.
    assert client.get(f"/gov/grants/{demo.pending_grant_id}/voucher").status_code == 409


def test_auditor_reads_licenses_and_grants_without_forms(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    client = logged_in(app, world, "auditor")
    assert client.get("/gov").headers["Location"].endswith("/gov/grants")
    for path in ("/gov/licenses", "/gov/grants", f"/gov/grants/{demo.pending_grant_id}"):
        html = page(client, path)
        assert 'action="/gov' not in html, path  # read-only: no governance form
    assert "City Data Group" in page(client, "/gov/licenses")
    assert str(demo.pending_grant_id)[:8] in page(client, "/gov/grants")
    assert "Licenses &amp; grants" in page(client, "/home")
    for path in ("/gov/zones", "/gov/catalog", "/gov/purposes", "/gov/usage"):
        assert client.get(path).status_code == 403, path


def test_a_bank_has_no_governance_screens(app: Flask, world: World, demo: DemoGovernance) -> None:
    client = logged_in(app, world, "bank-a")
    assert "Governance" not in page(client, "/home")
    for path in ("/gov", "/gov/grants", "/gov/licenses", f"/gov/grants/{demo.approved_grant_id}"):
        assert client.get(path).status_code == 403, path


# --- roles on bureau forms --------------------------------------------------------------------


@pytest.mark.parametrize("username", ["bank-a", "auditor", "operator"])
def test_other_roles_posting_to_bureau_forms_get_403(
    app: Flask, world: World, demo: DemoGovernance, username: str
) -> None:
    client = logged_in(app, world, username)
    form = {"csrf_token": token(client, "/account"), "reason": "because"}
    targets = (
        f"/gov/licenses/{demo.license_id}/suspend",
        f"/gov/grants/{demo.approved_grant_id}/revoke",
        f"/gov/grants/{demo.pending_grant_id}/approve",
        "/gov/zones",
        "/gov/purposes",
    )
    for path in targets:
        assert client.post(path, data=form).status_code == 403, path
    assert one(world, License, demo.license_id).state == LicenseState.ACTIVE.value
    assert one(world, Grant, demo.approved_grant_id).state == GrantState.APPROVED.value
    assert one(world, Grant, demo.pending_grant_id).state == GrantState.PENDING.value


# --- the flows through the forms --------------------------------------------------------------


def test_bureau_creates_a_zone_and_issues_the_operators_license(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    bureau = logged_in(app, world, "bureau")
    made = post(
        bureau,
        "/gov/zones",
        {"slug": "health", "name": "Health zone", "description": "Insurance checks."},
        form_page="/gov/zones",
    )
    assert made.status_code == 302 and "notice=" in made.headers["Location"]
    with world.factory() as session:
        zone = session.scalar(select(Zone).where(Zone.slug == "health"))
        assert zone is not None

    operator = logged_in(app, world, "operator")
    applied = post(
        operator,
        "/gov/licenses",
        {
            "zone_id": str(zone.id),
            "scope": "Enrolment checks for insurers",
            "qualifications": "MLPS level 3",
            "valid_from": utcnow().date().isoformat(),
            "valid_until": in_a_year(),
        },
        form_page="/gov/licenses",
    )
    assert applied.status_code == 302
    with world.factory() as session:
        lic = session.scalar(select(License).where(License.zone_id == zone.id))
        assert lic is not None and lic.state == LicenseState.SUBMITTED.value

    pending = page(bureau, "/gov/licenses")
    assert "Applications awaiting a decision" in pending and "Enrolment checks" in pending
    issued = post(
        bureau,
        f"/gov/licenses/{lic.id}/issue",
        {"reason": "Qualifications checked."},
        form_page="/gov/licenses",
    )
    assert issued.status_code == 302
    assert one(world, License, lic.id).state == LicenseState.ACTIVE.value
    with world.factory() as session:
        assert session.get(ZoneOperator, (zone.id, lic.operator_id)) is not None
    assert "Health zone" in page(bureau, "/home")  # now among the active licenses


def test_a_grant_applied_for_and_approved_through_the_forms(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    with world.factory() as session:
        tax = dataset_id(session, "tax", "tax_ratings")
    operator = logged_in(app, world, "operator")
    applied = post(
        operator,
        "/gov/grants",
        {
            "license_id": str(demo.license_id),
            f"col:{tax}": ["credit_code", "tax_credit_grade", "arrears"],
            "kind": ["lookup"],
            "purpose": "sme_credit_assessment",
            "purpose_text": "Tax grade band for loan applicants.",
            "recipient": ["bank-a", "bank-b"],
            "valid_from": utcnow().date().isoformat(),
            "valid_until": in_a_year(),
            "calls_per_day": "100",
            "rows_per_call": "5000",
            "min_cohort": "10",
            "epsilon_budget": "",
            "justification": "A lighter credit check.",
        },
        form_page="/gov/grants",
    )
    assert applied.status_code == 302, message(applied)
    with world.factory() as session:
        grant = session.scalars(select(Grant).order_by(Grant.created_at.desc())).first()
        assert grant is not None and grant.state == GrantState.PENDING.value
        grant_id = grant.id
    assert str(grant_id)[:8] in page(operator, "/gov/grants")

    # The bureau narrows: drop a column and a recipient, lower the daily quota.
    bureau = logged_in(app, world, "bureau")
    review_page = f"/gov/grants/{grant_id}"
    until = re.search(r'name="valid_until" value="([0-9-]{10})"', page(bureau, review_page))
    assert until is not None
    narrowed = post(
        bureau,
        f"/gov/grants/{grant_id}/conditions",
        {
            f"col:{tax}": ["credit_code", "tax_credit_grade"],
            "kind": ["lookup"],
            "recipient": ["bank-a"],
            "valid_until": until.group(1),
            "calls_per_day": "50",
            "rows_per_call": "5000",
            "min_cohort": "20",
            "epsilon_budget": "",
            "reason": "Arrears are not needed for a grade band.",
        },
        form_page=review_page,
    )
    assert narrowed.status_code == 302, message(narrowed)
    assert one(world, Grant, grant_id).state == GrantState.PENDING.value  # the tax CDO next

    tax_cdo = logged_in(app, world, "tax-cdo")
    assert "My decision" in page(tax_cdo, review_page)
    approved = post(tax_cdo, f"/gov/grants/{grant_id}/approve", {}, form_page=review_page)
    assert approved.status_code == 302, message(approved)
    final = one(world, Grant, grant_id)
    assert final.state == GrantState.APPROVED.value
    terms = Terms.model_validate(final.approved)
    assert terms.columns_of(tax) == {"credit_code", "tax_credit_grade"}
    assert terms.recipients == ("bank-a",)
    assert (terms.calls_per_day, terms.min_cohort) == (50, 20)
    assert "Download the signed data-asset voucher" in page(operator, review_page)


def test_the_court_cdo_approves_and_a_refusal_needs_a_reason(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    court = logged_in(app, world, "court-cdo")
    review_page = f"/gov/grants/{demo.pending_grant_id}"
    no_reason = post(
        court, f"/gov/grants/{demo.pending_grant_id}/refuse", {"reason": " "}, form_page=review_page
    )
    assert no_reason.status_code == 400
    assert message(no_reason) == "a refusal needs a reason"
    assert one(world, Grant, demo.pending_grant_id).state == GrantState.PENDING.value
    approved = post(
        court, f"/gov/grants/{demo.pending_grant_id}/approve", {}, form_page=review_page
    )
    assert approved.status_code == 302
    assert one(world, Grant, demo.pending_grant_id).state == GrantState.APPROVED.value
    again = post(
        court,
        f"/gov/grants/{demo.pending_grant_id}/refuse",
        {"reason": "late"},
        form_page=review_page,
    )
    assert again.status_code == 409 and "already" in message(again)


def test_catalog_review_through_the_form(app: Flask, world: World) -> None:
    bureau = logged_in(app, world, "bureau")
    before = page(bureau, "/gov/catalog")
    assert "tax_ratings" in before and 'name="sens:tax_paid_last_year"' in before
    with world.factory() as session:
        tax = dataset_id(session, "tax", "tax_ratings")
        schema_cols = [c["name"] for c in _schema(session, tax)["columns"]]
    form = {f"sens:{c}": "public" for c in schema_cols}
    form.update({"sens:tax_paid_last_year": "trade_secret", "openness": "conditional"})
    form.update({"grade": "core", "note": "Raised to core."})
    done = post(bureau, f"/gov/catalog/{tax}", form, form_page="/gov/catalog")
    assert done.status_code == 302, message(done)
    assert one(world, Dataset, tax).grade == "core"
    assert f"/gov/catalog/{tax}" not in page(bureau, "/gov/catalog")


def _schema(session: Session, ds_id: uuid.UUID) -> dict[str, Any]:
    from sandbox.datasets.models import DatasetVersion

    version = session.scalar(
        select(DatasetVersion)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(Dataset.id == ds_id, DatasetVersion.version == Dataset.current_version)
    )
    assert version is not None
    return dict(version.schema_json)


# --- bad values and CSRF ----------------------------------------------------------------------


def test_bad_values_show_the_services_message_and_change_nothing(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    bureau = logged_in(app, world, "bureau")
    operator = logged_in(app, world, "operator")
    entries = count(world, LedgerEntry)  # after the sign-ins, which are entries themselves
    blank = post(
        bureau, f"/gov/licenses/{demo.license_id}/revoke", {"reason": ""}, form_page="/gov/licenses"
    )
    assert blank.status_code == 400
    assert message(blank) == "reason: 1 to 2000 characters"
    assert "Admissions and operating licenses" in blank.get_data(as_text=True)  # the same page
    assert one(world, License, demo.license_id).state == LicenseState.ACTIVE.value
    taken = post(bureau, "/gov/zones", {"slug": "finance", "name": "Again"}, form_page="/gov/zones")
    assert taken.status_code == 409 and message(taken) == "zone 'finance' exists"

    with world.factory() as session:
        tax = dataset_id(session, "tax", "tax_ratings")
    grants = count(world, Grant)
    base = {
        "license_id": str(demo.license_id),
        "kind": ["lookup"],
        "purpose": "sme_credit_assessment",
        "recipient": ["bank-a"],
        "valid_from": utcnow().date().isoformat(),
        "valid_until": in_a_year(),
        "calls_per_day": "10",
        "rows_per_call": "10",
        "justification": "x",
    }
    secret = post(
        operator,
        "/gov/grants",
        {**base, f"col:{tax}": ["credit_code", "tax_paid_last_year"]},
        form_page="/gov/grants",
    )
    assert secret.status_code == 400
    assert "tax_paid_last_year" in message(secret) and "never be granted" in message(secret)
    zero = post(
        operator,
        "/gov/grants",
        {**base, f"col:{tax}": ["credit_code"], "calls_per_day": "0"},
        form_page="/gov/grants",
    )
    assert zero.status_code == 400 and "calls_per_day" in message(zero)
    bad_date = post(
        operator,
        "/gov/grants",
        {**base, f"col:{tax}": ["credit_code"], "valid_until": "next year"},
        form_page="/gov/grants",
    )
    assert bad_date.status_code == 400 and "a date like" in message(bad_date)
    assert count(world, Grant) == grants
    assert count(world, LedgerEntry) == entries


def test_forms_without_a_csrf_token_are_rejected(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    bureau = logged_in(app, world, "bureau")
    page(bureau, "/gov/licenses")
    entries = count(world, LedgerEntry)
    for path, data in (
        (f"/gov/licenses/{demo.license_id}/suspend", {"reason": "no token"}),
        (f"/gov/grants/{demo.pending_grant_id}/refuse", {"reason": "no token"}),
        ("/gov/zones", {"slug": "nope", "name": "Nope"}),
    ):
        assert bureau.post(path, data=data).status_code == 400, path
    assert (
        bureau.post(
            "/gov/purposes", data={"csrf_token": "forged", "code": "x", "label": "y"}
        ).status_code
        == 400
    )
    assert one(world, License, demo.license_id).state == LicenseState.ACTIVE.value
    assert count(world, LedgerEntry) == entries


def test_voucher_json_is_the_services_output(
    app: Flask, world: World, demo: DemoGovernance
) -> None:
    body = logged_in(app, world, "bureau").get(f"/gov/grants/{demo.approved_grant_id}/voucher")
    assert body.status_code == 200 and body.mimetype == "application/json"
    assert set(json.loads(body.data)) == {"voucher", "signature"}
