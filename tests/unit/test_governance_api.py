"""The governance API over HTTP, with bearer tokens: the bureau defines a zone and a purpose and
reviews a dataset, the operator is licensed and applies for a grant, the bureau narrows it and
the tax CDO approves it, the voucher verifies offline and the policy dry run answers. Then every
bad input of the issue: each a 4xx JSON error with a stable code, and nothing changed."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from grants.models import (
    CatalogReview,
    Grant,
    GrantReview,
    GrantUsage,
    License,
    Purpose,
    Zone,
    ZoneDataset,
    ZoneOperator,
)
from grants.vouchers import verify_voucher
from sandbox.clock import utcnow
from sandbox.datasets.models import Dataset
from sandbox.domains.models import Domain
from sandbox.keys import load_public_key
from sandbox.ledger.models import LedgerEntry
from sandbox.parties.models import Organization
from tests.conftest import World, auth
from web.api.spec import OPERATIONS

API = "/api/v1"
PURPOSE = "sme.credit"
TAX_COLUMNS = ["credit_code", "tax_credit_grade", "arrears", "invoice_months_active"]


class Api:
    """The Flask test client, speaking as one demo account at a time."""

    def __init__(self, client: FlaskClient, world: World) -> None:
        self.client, self.world = client, world

    def __call__(self, user: str, method: str, path: str, body: Any = None) -> Any:
        return self.client.open(
            API + path, method=method, headers=auth(self.world.token(user)), json=body
        )

    def ok(self, user: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = self(user, method, path, body)
        assert response.status_code == status, (path, response.get_json())
        return response.get_json()


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_json())
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def dataset_id(world: World, domain: str, name: str) -> str:
    with world.factory() as session:
        found = session.scalar(
            select(Dataset.id)
            .join(Domain, Domain.id == Dataset.domain_id)
            .where(Domain.name == domain, Dataset.name == name)
        )
    assert found is not None
    return str(found)


def declared_review(api: Api, dataset: str) -> dict[str, Any]:
    """A review body that confirms what the provider declared, from the catalog entry."""
    entry = api.ok("bureau", "GET", f"/datasets/{dataset}")
    return {
        "openness": entry["schema"]["openness"],
        "grade": entry["schema"]["grade"],
        "sensitivities": {c["name"]: c["sensitivity"] for c in entry["schema"]["columns"]},
        "note": "as declared",
    }


def terms(tax: str, now: dt.datetime, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "datasets": [{"dataset_id": tax, "columns": TAX_COLUMNS}],
        "kinds": ["lookup", "psi.cardinality"],
        "purpose": PURPOSE,
        "purpose_text": "",
        "recipients": ["bank-a", "bank-b"],
        "valid_from": now.isoformat(),
        "valid_until": (now + dt.timedelta(days=90)).isoformat(),
        "calls_per_day": 1000,
        "rows_per_call": 5000,
        "min_cohort": 10,
        "epsilon_budget": 2.0,
    }
    body.update(changes)
    return body


@dataclass
class Governed:
    """A world the bureau has prepared over HTTP, with the operator licensed in it."""

    api: Api
    now: dt.datetime
    tax: str
    zone: str
    license: str

    def terms(self, **changes: Any) -> dict[str, Any]:
        return terms(self.tax, self.now, **changes)

    def apply(self, **changes: Any) -> Any:
        body = {"license_id": self.license, "terms": self.terms(), "justification": "SME loans"}
        body.update(changes)
        return self.api("operator", "POST", "/grants", body)

    def pending(self) -> str:
        response = self.apply()
        assert response.status_code == 201, response.get_json()
        return str(response.get_json()["id"])

    def approved(self) -> str:
        grant = self.pending()
        for user in ("bureau", "tax-cdo"):
            self.api.ok(user, "POST", f"/grants/{grant}/reviews", {"decision": "approve"}, 201)
        return grant


def prepare(api: Api, world: World) -> Governed:
    """The bureau's groundwork and the operator's license, each step through the API."""
    now = utcnow()
    tax = dataset_id(world, "tax", "tax_ratings")

    zone = api.ok(
        "bureau",
        "POST",
        "/zones",
        {"slug": "finance", "name": "Finance zone", "description": "金融公共数据专区"},
        201,
    )
    assert zone["slug"] == "finance"
    assert [z["id"] for z in api.ok("bank-a", "GET", "/zones")["zones"]] == [zone["id"]]

    purpose = api.ok("bureau", "POST", "/purposes", {"code": PURPOSE, "label": "SME credit"}, 201)
    assert purpose == {**purpose, "code": PURPOSE, "active": True}
    assert [p["code"] for p in api.ok("operator", "GET", "/purposes")["purposes"]] == [PURPOSE]

    waiting = {d["id"] for d in api.ok("bureau", "GET", "/catalog/reviews")["datasets"]}
    assert tax in waiting
    assert {d["id"] for d in api.ok("tax-cdo", "GET", "/catalog/reviews")["datasets"]} == {tax}
    assert api.ok("bank-a", "GET", "/catalog/reviews")["datasets"] == []
    review = api.ok("bureau", "POST", f"/datasets/{tax}/review", declared_review(api, tax), 201)
    assert review["dataset_id"] == tax
    assert review["sensitivities"]["tax_paid_last_year"] == "trade_secret"
    waiting = {d["id"] for d in api.ok("bureau", "GET", "/catalog/reviews")["datasets"]}
    assert tax not in waiting

    added = api.ok("bureau", "POST", f"/zones/{zone['id']}/datasets", {"dataset_id": tax}, 201)
    assert added == {"zone_id": zone["id"], "dataset_id": tax}

    lic = api.ok(
        "operator",
        "POST",
        "/licenses",
        {
            "zone_id": zone["id"],
            "scope": "Credit products for SME lending",
            "qualifications": "ISO 27001; MLPS level 3",
            "valid_from": (now - dt.timedelta(days=1)).isoformat(),
            "valid_until": (now + dt.timedelta(days=365)).isoformat(),
        },
        201,
    )
    assert lic["state"] == "submitted" and lic["zone"]["slug"] == "finance"
    assert [x["id"] for x in api.ok("operator", "GET", "/licenses")["licenses"]] == [lic["id"]]
    assert api.ok("bank-a", "GET", "/licenses")["licenses"] == []
    issued = api.ok(
        "bureau", "POST", f"/licenses/{lic['id']}/decision", {"action": "issue", "reason": ""}
    )
    assert issued["state"] == "active" and issued["decided_at"]
    assert api.ok("auditor", "GET", f"/licenses/{lic['id']}")["state"] == "active"
    return Governed(api, now, tax, zone["id"], lic["id"])


@pytest.fixture
def api(client: FlaskClient, world: World) -> Api:
    return Api(client, world)


@pytest.fixture
def gov(api: Api, world: World) -> Governed:
    return prepare(api, world)


def snapshot(world: World) -> tuple[Any, ...]:
    """Everything a governance request could change."""
    with world.factory() as session:
        counts = tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (
                Zone,
                ZoneDataset,
                ZoneOperator,
                Purpose,
                CatalogReview,
                License,
                Grant,
                GrantReview,
                GrantUsage,
                LedgerEntry,
            )
        )
        grants = session.execute(
            select(Grant.id, Grant.state, Grant.approved, Grant.epsilon_spent).order_by(Grant.id)
        ).all()
        licenses = session.execute(select(License.id, License.state).order_by(License.id)).all()
    return counts, tuple(grants), tuple(licenses)


# --------------------------------------------------------------------------- the walk


def test_the_full_walk_over_http(api: Api, gov: Governed, world: World) -> None:
    grant = api.ok(
        "operator",
        "POST",
        "/grants",
        {"license_id": gov.license, "terms": gov.terms(), "justification": "SME loans"},
        201,
    )
    grant_id = grant["id"]
    assert grant["state"] == "pending" and grant["approved"] is None
    assert grant["terms"]["calls_per_day"] == 1000

    # The bureau approves with narrower conditions; the grant waits for the tax CDO.
    narrower = gov.terms(
        datasets=[{"dataset_id": gov.tax, "columns": ["credit_code", "tax_credit_grade"]}],
        recipients=["bank-a"],
        calls_per_day=100,
        min_cohort=20,
        epsilon_budget=0.5,
    )
    after_bureau = api.ok(
        "bureau",
        "POST",
        f"/grants/{grant_id}/reviews",
        {"decision": "approve", "reason": "narrowed to bank-a", "conditions": narrower},
        201,
    )
    assert after_bureau["state"] == "pending"
    # The tax CDO sees the grant in its queue, with the bureau's decision so far.
    queue = api.ok("tax-cdo", "GET", "/grants?state=pending")["grants"]
    assert [g["id"] for g in queue] == [grant_id]
    assert api.ok("market-cdo", "GET", "/grants")["grants"] == []
    view = api.ok("tax-cdo", "GET", f"/grants/{grant_id}")["review"]
    assert [(r["org"], r["decision"], r["narrowed"]) for r in view["reviewers"]] == [
        ("bureau", "approve", True),
        ("tax", None, None),
    ]
    approved = api.ok(
        "tax-cdo", "POST", f"/grants/{grant_id}/reviews", {"decision": "approve"}, 201
    )
    assert approved["state"] == "approved"

    # What everyone now sees: the approved (narrower) terms beside what was asked.
    detail = api.ok("operator", "GET", f"/grants/{grant_id}")
    assert detail["state"] == "approved"
    assert detail["approved"]["recipients"] == ["bank-a"]
    assert detail["approved"]["calls_per_day"] == 100
    assert detail["approved"]["datasets"][0]["columns"] == ["credit_code", "tax_credit_grade"]
    assert detail["terms"]["calls_per_day"] == 1000
    review = detail["review"]
    assert review["justification"] == "SME loans"
    assert review["requester"]["org"] == "operator"
    assert set(review["reveals"]) == {"lookup", "psi.cardinality"}
    (asked,) = review["datasets"]
    assert asked["owner"] == "tax"
    assert asked["classification"]["openness"] == "conditional"
    assert asked["classification"]["columns"]["tax_credit_grade"] == "public"
    assert [r["decision"] for r in review["reviewers"]] == ["approve", "approve"]
    assert review["quotas"] == {"calls_per_day": 100, "rows_per_call": 5000}
    assert review["min_cohort"] == 20 and review["epsilon_budget"] == 0.5

    # The voucher downloads and verifies offline with the grant authority's public key.
    response = api("operator", "GET", f"/grants/{grant_id}/voucher")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    claims = verify_voucher(response.get_data(), load_public_key(world.settings.ticket_key_path))
    assert claims["grant"] == grant_id and claims["operator"] == "operator"
    assert claims["terms"] == detail["approved"]
    assert [r["org"] for r in claims["reviewers"]] == ["bureau", "tax"]

    # The policy dry run: a matching computation is allowed, a non-matching one refused with
    # every reason, and neither is recorded nor charged.
    before = snapshot(world)
    match = {
        "kind": "psi.cardinality",
        "datasets": [{"dataset_id": gov.tax, "columns": ["credit_code"]}],
        "purpose": PURPOSE,
        "recipient": "bank-a",
        "rows": 5000,
        "epsilon": 0.5,
    }
    assert api.ok("operator", "POST", f"/grants/{grant_id}/check", match) == {
        "allowed": True,
        "reasons": [],
    }
    wrong = {
        "kind": "psi.intersection",
        "datasets": [{"dataset_id": gov.tax, "columns": ["credit_code", "tax_paid_last_year"]}],
        "purpose": "marketing",
        "recipient": "bank-b",
        "rows": 5001,
        "epsilon": 0.6,
    }
    answer = api.ok("operator", "POST", f"/grants/{grant_id}/check", wrong)
    assert answer["allowed"] is False
    assert {r["code"] for r in answer["reasons"]} == {
        "policy.kind_not_granted",
        "policy.purpose",
        "policy.recipient",
        "policy.rows_per_call",
        "policy.budget_used",
        "policy.column_not_granted",
        "policy.column_blocked",
    }
    assert all(r["message"] for r in answer["reasons"])
    # Someone who may see the grant but does not hold it is told so, not allowed.
    bureau = api.ok("bureau", "POST", f"/grants/{grant_id}/check", match)
    assert bureau == {"allowed": False, "reasons": [bureau["reasons"][0]]}
    assert bureau["reasons"][0]["code"] == "policy.no_grant"
    assert snapshot(world) == before

    # The bureau suspends, reinstates and revokes.
    for action, state in (
        ("suspend", "suspended"),
        ("reinstate", "approved"),
        ("revoke", "revoked"),
    ):
        body = {"action": action, "reason": f"{action} for the test"}
        assert api.ok("bureau", "POST", f"/grants/{grant_id}/decision", body)["state"] == state
    error(api("operator", "GET", f"/grants/{grant_id}/voucher"), 409, "voucher.not_approved")
    refused = api.ok("operator", "POST", f"/grants/{grant_id}/check", match)
    assert [r["code"] for r in refused["reasons"]] == ["policy.grant_revoked"]


def test_license_lifecycle_over_http(api: Api, gov: Governed) -> None:
    path = f"/licenses/{gov.license}/decision"
    for action, state in (("suspend", "suspended"), ("reinstate", "active"), ("revoke", "revoked")):
        assert (
            api.ok("bureau", "POST", path, {"action": action, "reason": "test"})["state"] == state
        )
    error(
        api("bureau", "POST", path, {"action": "reinstate", "reason": "x"}),
        409,
        "license.bad_state",
    )


def test_refusal_by_a_reviewer_refuses_the_grant(api: Api, gov: Governed) -> None:
    grant = gov.pending()
    path = f"/grants/{grant}/reviews"
    error(api("tax-cdo", "POST", path, {"decision": "refuse"}), 400, "grant.reason_required")
    refused = api.ok("tax-cdo", "POST", path, {"decision": "refuse", "reason": "too wide"}, 201)
    assert refused["state"] == "refused" and refused["reason"] == "too wide"
    error(api("bureau", "POST", path, {"decision": "approve"}), 409, "grant.decided")


# --------------------------------------------------------------------------- bad input


def refused(world: World, call: Callable[[], Any], status: int, code: str) -> dict[str, Any]:
    before = snapshot(world)
    found = error(call(), status, code)
    assert snapshot(world) == before, code
    return found


def test_grant_applications_that_are_refused(api: Api, gov: Governed, world: World) -> None:
    tax = gov.tax
    market = dataset_id(world, "market", "enterprise_registry")
    now = gov.now
    cases: list[tuple[dict[str, Any], int, str]] = [
        # unknown dataset: no such catalog entry
        (
            gov.terms(datasets=[{"dataset_id": str(uuid.uuid4()), "columns": ["a"]}]),
            404,
            "dataset.not_found",
        ),
        # a dataset the bureau has not reviewed
        (
            gov.terms(datasets=[{"dataset_id": market, "columns": ["credit_code"]}]),
            409,
            "grant.unreviewed",
        ),
        # unknown column
        (
            gov.terms(datasets=[{"dataset_id": tax, "columns": ["credit_code", "salary"]}]),
            400,
            "grant.unknown_column",
        ),
        # hard-blocked column (a trade secret)
        (
            gov.terms(datasets=[{"dataset_id": tax, "columns": ["tax_paid_last_year"]}]),
            400,
            "grant.blocked_column",
        ),
        # a term in the past
        (
            gov.terms(
                valid_from=(now - dt.timedelta(hours=20)).isoformat(),
                valid_until=(now - dt.timedelta(hours=1)).isoformat(),
            ),
            400,
            "grant.term",
        ),
        # a term beyond the license's
        (gov.terms(valid_until=(now + dt.timedelta(days=400)).isoformat()), 400, "grant.term"),
        # a purpose the bureau does not list
        (gov.terms(purpose="marketing"), 400, "grant.unknown_purpose"),
        # a recipient that does not exist
        (gov.terms(recipients=["bank-z"]), 400, "grant.unknown_recipient"),
    ]
    for body_terms, status, code in cases:
        refused(world, partial(gov.apply, terms=body_terms), status, code)
    # Not the operator's license, or not an operator at all.
    refused(world, lambda: gov.apply(license_id=str(uuid.uuid4())), 403, "grant.no_license")
    body = {"license_id": gov.license, "terms": gov.terms(), "justification": "x"}
    refused(world, lambda: api("bank-a", "POST", "/grants", body), 403, "forbidden.role")
    refused(world, lambda: api("auditor", "POST", "/grants", body), 403, "forbidden.role")
    refused(world, lambda: gov.apply(justification="   "), 400, "grant.justification")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("calls_per_day", 0),
        ("calls_per_day", -1),
        ("rows_per_call", 0),
        ("rows_per_call", -100),
        ("min_cohort", 0),
        ("epsilon_budget", 0),
        ("epsilon_budget", -0.5),
        ("calls_per_day", "many"),
        ("calls_per_day", 1.5),
    ],
)
def test_quotas_that_are_not_positive(gov: Governed, world: World, field: str, value: Any) -> None:
    found = refused(
        world, lambda: gov.apply(terms=gov.terms(**{field: value})), 400, "invalid_request"
    )
    assert ["terms", field] in [d["loc"] for d in found["details"]]


def test_term_that_ends_before_it_starts(gov: Governed, world: World) -> None:
    body = gov.terms(valid_until=(gov.now - dt.timedelta(days=1)).isoformat())
    found = refused(world, lambda: gov.apply(terms=body), 400, "invalid_request")
    assert found["details"][0]["loc"] == ["terms"]


def test_reviews_by_the_wrong_people(api: Api, gov: Governed, world: World) -> None:
    grant = gov.pending()
    path = f"/grants/{grant}/reviews"
    approve = {"decision": "approve"}
    # The requester's organization never reviews its own grant.
    refused(
        world, lambda: api("operator", "POST", path, approve), 403, "grant.separation_of_duties"
    )
    # The auditor reads everything and decides nothing.
    refused(world, lambda: api("auditor", "POST", path, approve), 403, "grant.not_reviewer")
    # A bank or an uninvolved department cannot even see the grant.
    for user in ("bank-a", "market-cdo"):
        refused(world, partial(api, user, "POST", path, approve), 404, "grant.not_found")
    # Conditions must narrow what was asked.
    wider = {"decision": "approve", "conditions": gov.terms(calls_per_day=5000)}
    refused(world, lambda: api("bureau", "POST", path, wider), 400, "grant.not_narrower")
    # Each organization decides once.
    api.ok("bureau", "POST", path, approve, 201)
    refused(world, lambda: api("bureau", "POST", path, approve), 409, "grant.already_reviewed")
    # Only the bureau suspends, reinstates or revokes, and only from the right state.
    decision = f"/grants/{grant}/decision"
    refused(
        world,
        lambda: api("bureau", "POST", decision, {"action": "suspend", "reason": "x"}),
        409,
        "grant.state",
    )
    refused(
        world,
        lambda: api("tax-cdo", "POST", decision, {"action": "revoke", "reason": "x"}),
        403,
        "forbidden.role",
    )


def test_decisions_on_grants_already_decided(api: Api, gov: Governed, world: World) -> None:
    grant = gov.approved()
    path = f"/grants/{grant}/reviews"
    for user, body in (
        ("bureau", {"decision": "approve"}),
        ("tax-cdo", {"decision": "refuse", "reason": "too late"}),
    ):
        refused(world, partial(api, user, "POST", path, body), 409, "grant.decided")
    decision = f"/grants/{grant}/decision"
    refused(
        world,
        lambda: api("bureau", "POST", decision, {"action": "reinstate", "reason": "x"}),
        409,
        "grant.state",
    )
    refused(
        world,
        lambda: api("bureau", "POST", decision, {"action": "revoke", "reason": " "}),
        400,
        "grant.reason_required",
    )
    lic = f"/licenses/{gov.license}/decision"
    refused(
        world, lambda: api("bureau", "POST", lic, {"action": "issue"}), 409, "license.bad_state"
    )
    refused(world, lambda: api("bureau", "POST", lic, {"action": "suspend"}), 400, "license.reason")


def test_bureau_inputs_that_are_refused(api: Api, gov: Governed, world: World) -> None:
    zone = f"/zones/{gov.zone}"
    refused(
        world,
        lambda: api("bureau", "POST", "/zones", {"slug": "Finance!", "name": "x"}),
        400,
        "zone.slug",
    )
    refused(
        world,
        lambda: api("bureau", "POST", "/zones", {"slug": "finance", "name": "x"}),
        409,
        "zone.exists",
    )
    refused(
        world,
        lambda: api("bureau", "POST", f"{zone}/datasets", {"dataset_id": gov.tax}),
        409,
        "zone.dataset_exists",
    )
    bank = dataset_id(world, "bank-a", "applicants")
    refused(
        world,
        lambda: api("bureau", "POST", f"{zone}/datasets", {"dataset_id": bank}),
        400,
        "zone.dataset_not_public",
    )
    refused(
        world,
        lambda: api("bureau", "POST", f"{zone}/datasets", {"dataset_id": str(uuid.uuid4())}),
        404,
        "dataset.not_found",
    )
    with world.factory() as session:
        operator = str(
            session.scalar(select(Organization.id).where(Organization.slug == "operator"))
        )
        bank_org = str(session.scalar(select(Organization.id).where(Organization.slug == "bank-a")))
    refused(
        world,
        lambda: api("bureau", "POST", f"{zone}/operators", {"org_id": operator}),
        409,
        "zone.operator_exists",
    )
    refused(
        world,
        lambda: api("bureau", "POST", f"{zone}/operators", {"org_id": bank_org}),
        400,
        "zone.not_operator",
    )
    refused(
        world,
        lambda: api("bureau", "POST", "/purposes", {"code": PURPOSE, "label": "x"}),
        409,
        "purpose.exists",
    )
    review = declared_review(api, gov.tax)
    refused(
        world,
        lambda: api("bureau", "POST", f"/datasets/{gov.tax}/review", review),
        409,
        "catalog.already_reviewed",
    )
    market = dataset_id(world, "market", "enterprise_registry")
    partial = {**declared_review(api, market), "sensitivities": {"credit_code": "public"}}
    refused(
        world,
        lambda: api("bureau", "POST", f"/datasets/{market}/review", partial),
        400,
        "catalog.columns",
    )
    bad = {**declared_review(api, market), "openness": "secret"}
    refused(
        world,
        lambda: api("bureau", "POST", f"/datasets/{market}/review", bad),
        400,
        "invalid_request",
    )
    past = {
        "zone_id": gov.zone,
        "scope": "x",
        "qualifications": "y",
        "valid_from": (gov.now - dt.timedelta(days=10)).isoformat(),
        "valid_until": (gov.now - dt.timedelta(days=1)).isoformat(),
    }
    refused(world, lambda: api("operator", "POST", "/licenses", past), 400, "license.term")
    naive = {**past, "valid_from": "2030-01-01T00:00:00", "valid_until": "2031-01-01T00:00:00"}
    refused(world, lambda: api("operator", "POST", "/licenses", naive), 400, "license.term")
    elsewhere = {**past, "zone_id": str(uuid.uuid4())}
    refused(world, lambda: api("operator", "POST", "/licenses", elsewhere), 404, "zone.not_found")


def test_malformed_checks(api: Api, gov: Governed, world: World) -> None:
    grant = gov.approved()
    path = f"/grants/{grant}/check"
    good = {
        "kind": "lookup",
        "datasets": [{"dataset_id": gov.tax, "columns": ["credit_code"]}],
        "purpose": PURPOSE,
        "recipient": "bank-a",
        "rows": 10,
    }
    assert api.ok("operator", "POST", path, good)["allowed"] is True
    changes: list[dict[str, Any]] = [
        {"kind": "dataset.profile"},
        {"datasets": []},
        {"rows": -1},
        {"rows": "10"},
        {"epsilon": 0},
        {"epsilon": 1000},
        {"recipient": None},
        {"extra": True},
    ]
    for change in changes:
        refused(
            world,
            partial(api, "operator", "POST", path, {**good, **change}),
            400,
            "invalid_request",
        )
    # Python's JSON parser reads NaN and Infinity; the models refuse them.
    for number in ("NaN", "Infinity"):
        data = json.dumps({**good, "epsilon": 0.5}).replace("0.5", number).encode()
        response = api.client.post(
            f"{API}{path}",
            data=data,
            headers={**auth(world.token("operator")), "Content-Type": "application/json"},
        )
        assert [d["loc"] for d in error(response, 400, "invalid_request")["details"]] == [
            ["epsilon"]
        ]
    # Unknown or invisible grants: 404, as everywhere else.
    error(api("operator", "POST", f"/grants/{uuid.uuid4()}/check", good), 404, "grant.not_found")
    error(api("market-cdo", "POST", path, good), 404, "grant.not_found")
    # bank-a, a named recipient, sees the approved grant and may ask for itself.
    assert api.ok("bank-a", "POST", path, good)["allowed"] is True


def _post_routes(gov: Governed, grant: str) -> list[str]:
    return [
        "/zones",
        f"/zones/{gov.zone}/datasets",
        f"/zones/{gov.zone}/operators",
        "/purposes",
        f"/datasets/{gov.tax}/review",
        "/licenses",
        f"/licenses/{gov.license}/decision",
        "/grants",
        f"/grants/{grant}/reviews",
        f"/grants/{grant}/decision",
        f"/grants/{grant}/check",
        f"/grants/{grant}/computations",
    ]


def test_every_governance_post_rejects_malformed_bodies(
    api: Api, gov: Governed, world: World
) -> None:
    grant = gov.pending()
    headers = auth(world.token("bureau"))
    raw: list[tuple[bytes, str | None, str]] = [
        (b"zone=finance", "application/x-www-form-urlencoded", "invalid_json"),
        (b'{"slug": "x"}', "text/plain", "invalid_json"),
        (b"{not json", "application/json", "invalid_json"),
        (b"", "application/json", "invalid_json"),
        (b"null", "application/json", "invalid_json"),
        (b"[]", "application/json", "invalid_request"),
        (b'"finance"', "application/json", "invalid_request"),
        (b"{}", "application/json", "invalid_request"),
        (b'{"unexpected": 1}', "application/json", "invalid_request"),
    ]
    for path in _post_routes(gov, grant):
        for data, content_type, code in raw:
            extra = {"Content-Type": content_type} if content_type else {}
            refused(
                world,
                partial(api.client.post, API + path, data=data, headers={**headers, **extra}),
                400,
                code,
            )


WRONG_TYPES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    # (user, path template, body, the location that is wrong)
    ("bureau", "/zones", {"slug": 7, "name": "x"}, ["slug"]),
    ("bureau", "/zones", {"slug": "x", "name": "x", "colour": "red"}, ["colour"]),
    ("bureau", "/zones/{zone}/datasets", {"dataset_id": "tax"}, ["dataset_id"]),
    ("bureau", "/zones/{zone}/operators", {"org_id": ["operator"]}, ["org_id"]),
    ("bureau", "/purposes", {"code": "x", "label": None}, ["label"]),
    (
        "operator",
        "/licenses",
        {
            "zone_id": "{zone}",
            "scope": "x",
            "qualifications": "y",
            "valid_from": "soon",
            "valid_until": "later",
        },
        ["valid_from"],
    ),
    ("bureau", "/licenses/{license}/decision", {"action": "delete", "reason": "x"}, ["action"]),
    ("bureau", "/licenses/{license}/decision", {"action": "issue", "reason": 5}, ["reason"]),
    (
        "operator",
        "/grants",
        {"license_id": "{license}", "terms": "everything", "justification": "x"},
        ["terms"],
    ),
    ("bureau", "/grants/{grant}/reviews", {"decision": "maybe"}, ["decision"]),
    (
        "bureau",
        "/grants/{grant}/reviews",
        {"decision": "approve", "conditions": {}},
        ["conditions"],
    ),
    ("bureau", "/grants/{grant}/decision", {"action": "approve", "reason": "x"}, ["action"]),
    ("bureau", "/grants/{grant}/decision", {"action": "revoke"}, ["reason"]),
]


def test_wrong_types_and_extra_fields(api: Api, gov: Governed, world: World) -> None:
    grant = gov.pending()
    names = {"zone": gov.zone, "license": gov.license, "grant": grant}
    for user, template, body, loc in WRONG_TYPES:
        path = template.format(**names)
        filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in body.items()}
        found = refused(world, partial(api, user, "POST", path, filled), 400, "invalid_request")
        assert loc in [d["loc"][: len(loc)] for d in found["details"]], (path, found)


@pytest.mark.parametrize("bad", ["finance", "1", "0" * 31, "{" + str(uuid.UUID(int=5)) + "}x"])
def test_non_uuid_ids_are_404(api: Api, gov: Governed, world: World, bad: str) -> None:
    routes = [
        ("POST", "/zones/{}/datasets", "zone.not_found"),
        ("POST", "/zones/{}/operators", "zone.not_found"),
        ("POST", "/datasets/{}/review", "dataset.not_found"),
        ("GET", "/licenses/{}", "license.not_found"),
        ("POST", "/licenses/{}/decision", "license.not_found"),
        ("GET", "/grants/{}", "grant.not_found"),
        ("POST", "/grants/{}/reviews", "grant.not_found"),
        ("POST", "/grants/{}/decision", "grant.not_found"),
        ("GET", "/grants/{}/voucher", "grant.not_found"),
        ("POST", "/grants/{}/check", "grant.not_found"),
    ]
    for method, template, code in routes:
        refused(world, partial(api, "bureau", method, template.format(bad), {}), 404, code)


def test_grant_list_rejects_an_unknown_state(api: Api, gov: Governed) -> None:
    error(api("bureau", "GET", "/grants?state=approvedish"), 400, "invalid_query")
    assert api.ok("bureau", "GET", "/grants?state=approved")["grants"] == []


def test_the_openapi_document_describes_the_governance_routes(api: Api) -> None:
    document = api.ok("bureau", "GET", "/openapi.json")
    schemas = document["components"]["schemas"]
    entry = document["paths"]["/api/v1/grants"]["post"]
    ref = entry["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    apply = schemas[ref.rsplit("/", 1)[-1]]
    assert set(apply["required"]) == {"license_id", "terms", "justification"}
    assert apply["additionalProperties"] is False
    terms_schema = schemas["Terms"]
    assert terms_schema["properties"]["calls_per_day"]["exclusiveMinimum"] == 0
    assert "201" in entry["responses"]
    governed = {op.path for op in OPERATIONS if op.path.startswith(("/zones", "/grants"))}
    assert "/grants/{grant_id}/check" in governed and "/zones/{zone_id}/operators" in governed
    check = document["paths"]["/api/v1/grants/{grant_id}/check"]["post"]
    assert check["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CheckOut"
    )
