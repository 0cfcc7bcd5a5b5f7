"""The authorization matrix: every /api/v1 route (and /healthz), every method, as nobody, with a
bad token, with a revoked token and as each of the ten demo accounts.

The table below is the specification. A route that exists in the app but not in the table makes
``test_every_api_route_is_in_the_table`` fail, so a new route cannot ship without deciding who
may call it. Cross-organization reads answer 404 (exactly like an id that does not exist), so
that the existence of another organization's objects is not revealed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from grants import catalog_review, grants, licenses, purposes, zones
from grants.terms import DatasetColumns, Kind, Terms
from products import authorizations, calls, catalog, feedback, subscriptions
from products.demo import REFERENCE_COLUMN, TAX_LABELS
from products.spec import ProductSpec, SourceSpec
from sandbox.clock import utcnow
from sandbox.datasets.catalog import get_visible
from sandbox.datasets.models import Dataset
from sandbox.db.engine import session_scope
from sandbox.domains.models import Domain
from sandbox.jobs import service as jobs
from sandbox.jobs.requests import JobRequest, ProfileParams
from sandbox.keys import load_or_create_private_key
from sandbox.parties import service as parties
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.tickets import TicketSigner
from tests.conftest import DEMO_USERNAMES, RecordingEnqueuer, World, auth
from tests.helpers import as_user

ANON = "(anonymous)"
BAD = "(bad token)"
REVOKED = "(revoked token)"
ACCOUNTS = DEMO_USERNAMES
PRINCIPALS = (ANON, BAD, REVOKED, *ACCOUNTS)
PROVIDERS = ("tax-cdo", "market-cdo", "social-cdo", "court-cdo")
PROVIDER_DOMAINS = frozenset({"tax", "market", "social", "court"})
BANK_DOMAINS = frozenset({"bank-a", "bank-b", "bank-c"})
ALL_DOMAINS = PROVIDER_DOMAINS | BANK_DOMAINS | {"bureau"}  # bureau: the output gate

Outcome = tuple[int, str | None]  # status, and the error code for error responses
OK: Outcome = (200, None)
ACCEPTED: Outcome = (202, None)
CREATED: Outcome = (201, None)
NO_CONTENT: Outcome = (204, None)


# --- the seeded objects the paths point at ---------------------------------------------------


@dataclass(frozen=True)
class Ids:
    dataset: dict[str, str]  # domain name -> one dataset id in that domain
    bank_a_job: str
    tax_job: str
    spare_token: dict[str, str]  # username -> id of a second, unused token of that user
    revoked_secret: str
    gov: Governance
    prod: Products


@dataclass(frozen=True)
class Governance:
    """Made through the governance services: the tax dataset reviewed and in a finance zone,
    an empty spare zone, a purpose, the operator licensed in the finance zone, and two grants
    on tax data (one pending, one approved by the bureau and the tax CDO)."""

    zone: str
    spare_zone: str
    license: str
    pending_grant: str
    approved_grant: str
    operator_org: str
    terms: dict[str, Any]  # JSON of terms the operator may apply for again
    license_term: dict[str, str]
    market_review: dict[str, Any]  # a review body for the (unreviewed) market dataset
    check: dict[str, Any]  # a computation the approved grant allows
    run: dict[str, Any]  # the same, to run, with bank-a's own dataset as the input


def _declared_review(session: Any, who: Principal, dataset_id: uuid.UUID) -> dict[str, Any]:
    """A review that confirms what the provider declared."""
    schema = get_visible(session, who, dataset_id).schema
    return {
        "openness": schema.openness.value,
        "grade": schema.grade.value,
        "sensitivities": {c.name: c.sensitivity.value for c in schema.columns},
        "note": "",
    }


def _governance(session: Any, dataset: dict[str, uuid.UUID], now: dt.datetime) -> Governance:
    bureau = as_user(session, "bureau")
    operator = as_user(session, "operator")
    zone = zones.create_zone(
        session, bureau, slug="matrix-finance", name="Finance zone", description="", now=now
    )
    spare = zones.create_zone(
        session, bureau, slug="matrix-spare", name="Spare zone", description="", now=now
    )
    purposes.add_purpose(session, bureau, code="sme.credit", label="SME credit", now=now)
    tax = dataset["tax"]
    review = _declared_review(session, bureau, tax)
    catalog_review.review(
        session,
        bureau,
        tax,
        openness=review["openness"],
        grade=review["grade"],
        sensitivities=review["sensitivities"],
        note="",
        now=now,
    )
    zones.add_dataset(session, bureau, zone.id, tax, now=now)
    term = {
        "valid_from": (now - dt.timedelta(days=1)).isoformat(),
        "valid_until": (now + dt.timedelta(days=365)).isoformat(),
    }
    lic = licenses.apply(
        session,
        operator,
        zone_id=zone.id,
        scope="SME credit checks",
        qualifications="Level-3 protection",
        valid_from=dt.datetime.fromisoformat(term["valid_from"]),
        valid_until=dt.datetime.fromisoformat(term["valid_until"]),
        now=now,
    )
    licenses.issue(session, bureau, lic.id, now=now)
    terms = Terms(
        datasets=(DatasetColumns(dataset_id=tax, columns=("credit_code", "tax_credit_grade")),),
        kinds=(Kind.LOOKUP,),
        purpose="sme.credit",
        recipients=("bank-a",),
        valid_from=now,
        valid_until=now + dt.timedelta(days=30),
        calls_per_day=100,
        rows_per_call=1000,
    )

    def apply() -> uuid.UUID:
        grant = grants.apply(
            session, operator, license_id=lic.id, terms=terms, justification="checks", now=now
        )
        return grant.id

    pending, approved = apply(), apply()
    for reviewer in ("bureau", "tax-cdo"):
        grants.review(session, as_user(session, reviewer), approved, decision="approve", now=now)
    org = session.scalar(select(Organization.id).where(Organization.slug == "operator"))
    return Governance(
        zone=str(zone.id),
        spare_zone=str(spare.id),
        license=str(lic.id),
        pending_grant=str(pending),
        approved_grant=str(approved),
        operator_org=str(org),
        terms=terms.model_dump(mode="json"),
        license_term=term,
        market_review=_declared_review(session, bureau, dataset["market"]),
        check={
            "kind": "lookup",
            "datasets": [{"dataset_id": str(tax), "columns": ["credit_code"]}],
            "purpose": "sme.credit",
            "recipient": "bank-a",
            "rows": 10,
        },
        run={
            "kind": "lookup",
            "datasets": [{"dataset_id": str(tax), "columns": ["credit_code", "tax_credit_grade"]}],
            "purpose": "sme.credit",
            "recipient": "bank-a",
            "input_dataset": str(dataset["bank-a"]),
        },
    )


CREDIT_CODE = "91350100M000100Y43"  # a valid unified social credit code


@dataclass(frozen=True)
class Products:
    """Made through the products services: tax-grade checks for bank-a (the approved grant's
    only recipient), designed by the operator, approved by the bureau and the tax CDO.

    ``listed`` is listed on version 1, with version 2 approved and awaiting listing; bank-a
    subscribes to it, has a call of it refused by the policy (while the bureau had the grant
    suspended) and a correction ticket open about its tax source. ``in_review`` is listed on
    version 1 with version 2 submitted, and nobody subscribes to it; bank-a has asked to
    subscribe to ``requested``; ``draft`` has never been submitted."""

    listed: str
    in_review: str
    requested: str
    draft: str
    subscription: str  # bank-a's request for ``requested``
    authorization: str  # one of bank-a's enterprise authorizations
    call: str
    ticket: str
    spec: dict[str, Any]  # JSON of the products' spec
    create: dict[str, Any]  # a body for a new product


def _product_spec(grant_id: uuid.UUID, tax: uuid.UUID) -> ProductSpec:
    return ProductSpec(
        title="Tax grade check",
        purpose="sme.credit",
        kind="credit_check",
        sources=(
            SourceSpec(
                grant_id=grant_id,
                dataset_id=tax,
                columns=("credit_code", "tax_credit_grade"),
                labels=TAX_LABELS[:1],  # the grade band; the grant holds no arrears column
            ),
        ),
        consumers=("bank-a",),
        price_per_call_fen=200,
        price_per_identifier_fen=50,
        operator_fee_share=0.3,
        max_identifiers_per_call=1000,  # the grant's rows_per_call
    )


def _products(
    session: Any,
    gov: Governance,
    dataset: dict[str, uuid.UUID],
    signer: TicketSigner,
    now: dt.datetime,
) -> Products:
    operator, bureau, bank_a = (as_user(session, u) for u in ("operator", "bureau", "bank-a"))
    grant_id = uuid.UUID(gov.approved_grant)
    spec = _product_spec(grant_id, dataset["tax"])

    def approve(product_id: uuid.UUID, version: int) -> None:
        catalog.submit(session, operator, product_id, version, now)
        for reviewer in (bureau, as_user(session, "tax-cdo")):
            catalog.review(session, reviewer, product_id, version, decision="approve", now=now)

    def product(slug: str, *, listed: bool = True) -> uuid.UUID:
        made = catalog.create_product(
            session,
            operator,
            slug=slug,
            name=f"Matrix {slug}",
            license_id=uuid.UUID(gov.license),
            spec=spec,
            now=now,
        )
        if listed:
            approve(made.id, 1)
            catalog.list_product(session, bureau, made.id, 1, now)
        return made.id

    def subscribe(product_id: uuid.UUID) -> uuid.UUID:
        sub = subscriptions.subscribe(session, bank_a, product_id, accept_terms=True, now=now)
        return sub.id

    listed, in_review = product("matrix-listed"), product("matrix-in-review")
    requested, draft = product("matrix-requested"), product("matrix-draft", listed=False)
    catalog.new_version(session, operator, listed, spec, now)
    approve(listed, 2)
    catalog.new_version(session, operator, in_review, spec, now)
    catalog.submit(session, operator, in_review, 2, now)
    subscriptions.decide(session, operator, subscribe(listed), approve=True, now=now)
    request = subscribe(requested)
    authorization = authorizations.register(
        session,
        bank_a,
        credit_code=CREDIT_CODE,
        reference="MATRIX-1",
        valid_until=now + dt.timedelta(days=365),
        now=now,
    )
    grants.suspend(session, bureau, grant_id, reason="matrix", now=now)
    call = calls.run(
        session,
        bank_a,
        listed,
        input_dataset_id=dataset["bank-a"],
        reference_column=REFERENCE_COLUMN,
        signer=signer,
        now=now,
    )
    assert call.state == "refused", call.state
    grants.reinstate(session, bureau, grant_id, reason="matrix", now=now)
    ticket = feedback.file_ticket(
        session,
        bank_a,
        listed,
        dataset_id=dataset["tax"],
        subject=CREDIT_CODE,
        field="tax_grade_band",
        description="The grade looks out of date.",
        now=now,
    )
    spec_json = spec.model_dump(mode="json")
    return Products(
        listed=str(listed),
        in_review=str(in_review),
        requested=str(requested),
        draft=str(draft),
        subscription=str(request),
        authorization=str(authorization.id),
        call=str(call.id),
        ticket=str(ticket.id),
        spec=spec_json,
        create={
            "slug": "matrix-new",
            "name": "New product",
            "license_id": gov.license,
            "spec": spec_json,
        },
    )


def _dataset_id(session: Any, domain: str) -> uuid.UUID:
    ids = session.scalars(
        select(Dataset.id)
        .join(Domain, Domain.id == Dataset.domain_id)
        .where(Domain.name == domain)
        .order_by(Dataset.name)
    ).all()
    assert ids, f"the seeded world has no dataset in {domain}"
    first: uuid.UUID = ids[0]
    return first


@pytest.fixture
def ids(world: World) -> Ids:
    now = utcnow()
    signer = TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 3600)
    with session_scope(world.factory) as session:
        dataset = {d: _dataset_id(session, d) for d in ("tax", "market", "bank-a", "bank-b")}

        def submit(username: str, domain: str) -> str:
            request = JobRequest(
                kind="dataset.profile", params=ProfileParams(dataset_id=dataset[domain])
            )
            job = jobs.submit(session, as_user(session, username), request, signer=signer, now=now)
            return str(job.id)

        bank_a_job = submit("bank-a", "bank-a")
        tax_job = submit("tax-cdo", "tax")
        spare = {
            u: str(
                parties.create_token(session, as_user(session, u), name="spare", now=now).token.id
            )
            for u in ACCOUNTS
        }
        revoked = parties.create_token(session, as_user(session, "bank-a"), name="revoked", now=now)
        parties.revoke_token(session, as_user(session, "bank-a"), revoked.token.id, now=now)
        gov = _governance(session, dataset, now)
        prod = _products(session, gov, dataset, signer, now)
    return Ids(
        {d: str(i) for d, i in dataset.items()},
        bank_a_job,
        tax_job,
        spare,
        revoked.secret,
        gov,
        prod,
    )


def headers_for(world: World, ids: Ids, principal: str) -> dict[str, str]:
    if principal == ANON:
        return {}
    if principal == BAD:
        return auth("sbx_" + "A" * 43)
    if principal == REVOKED:
        return auth(ids.revoked_secret)
    return auth(world.token(principal))


# --- the table ------------------------------------------------------------------------------


def public() -> dict[str, Outcome]:
    return dict.fromkeys(PRINCIPALS, OK)


def protected(default: Outcome, overrides: dict[str, Outcome] | None = None) -> dict[str, Outcome]:
    table: dict[str, Outcome] = {
        ANON: (401, "auth.token_missing"),
        BAD: (401, "auth.token_invalid"),
        REVOKED: (401, "auth.token_invalid"),
    }
    table.update(dict.fromkeys(ACCOUNTS, default))
    table.update(overrides or {})
    return table


def only(users: dict[str, Outcome], others: Outcome) -> dict[str, Outcome]:
    return protected(others, users)


NOT_OWNER: Outcome = (403, "forbidden.owner")
READ_ONLY: Outcome = (403, "forbidden.read_only")
NO_DATASET: Outcome = (404, "dataset.not_found")
NO_JOB: Outcome = (404, "job.not_found")
NO_TOKEN: Outcome = (404, "token.not_found")
NOT_OVERSEER: Outcome = (403, "forbidden.role")
WRONG_ROLE: Outcome = (403, "forbidden.role")
NO_ZONE: Outcome = (404, "zone.not_found")
NO_LICENSE: Outcome = (404, "license.not_found")
NO_GRANT: Outcome = (404, "grant.not_found")
# Who sees a grant on tax data: the overseers, the requesting operator and the tax CDO; once
# approved, also the bank it names as a recipient of outputs.
GRANT_READERS = ("bureau", "auditor", "operator", "tax-cdo")
APPROVED_READERS = (*GRANT_READERS, "bank-a")
LICENSE_READERS = ("bureau", "auditor", "operator")
NO_PRODUCT: Outcome = (404, "product.not_found")
NO_SUBSCRIPTION: Outcome = (404, "subscription.not_found")
NO_AUTHORIZATION: Outcome = (404, "authorization.not_found")
NO_CALL: Outcome = (404, "call.not_found")
NO_TICKET: Outcome = (404, "ticket.not_found")
BANKS = ("bank-a", "bank-b", "bank-c")
OTHER_BANKS = ("bank-b", "bank-c")
# Who may not know that the matrix's product (on tax data, offered to bank-a) exists.
STRANGERS = (*OTHER_BANKS, "market-cdo", "social-cdo", "court-cdo")
# Who sees a product: its operator, the overseers and the CDO of the department whose data it
# reads; once listed, also the banks it is offered to (bank-a). Bank-a's calls are seen by
# bank-a, the product's operator (as use and charges only) and the overseers, not by the CDO.
PRODUCT_READERS = ("bureau", "auditor", "operator", "tax-cdo")
LISTED_READERS = (*PRODUCT_READERS, "bank-a")
CALL_READERS = ("bureau", "auditor", "operator", "bank-a")


def readers(names: tuple[str, ...], outcome: Outcome = OK) -> dict[str, Outcome]:
    return dict.fromkeys(names, outcome)


def _profile(domain: str) -> Callable[[Ids], Any]:
    return lambda ids: {"kind": "dataset.profile", "params": {"dataset_id": ids.dataset[domain]}}


@dataclass(frozen=True)
class Case:
    rule: str
    method: str
    label: str
    path: Callable[[Ids, str], str]
    expected: dict[str, Outcome]
    body: Callable[[Ids], Any] | None = None


def _own_spare(ids: Ids, principal: str) -> str:
    # Unauthenticated callers aim at a real token id: they must still get 401, not 404.
    return f"/api/v1/tokens/{ids.spare_token.get(principal, ids.spare_token['bank-a'])}"


CASES: tuple[Case, ...] = (
    Case("/healthz", "GET", "health", lambda i, p: "/healthz", public()),
    Case("/api/v1/openapi.json", "GET", "openapi", lambda i, p: "/api/v1/openapi.json", public()),
    Case("/api/v1/me", "GET", "me", lambda i, p: "/api/v1/me", protected(OK)),
    # The ledger: anyone may fetch the signed checkpoint; entries and proofs are for the
    # bureau and auditors, who may also have a checkpoint signed on demand.
    Case(
        "/api/v1/ledger/checkpoint",
        "GET",
        "ledger-checkpoint",
        lambda i, p: "/api/v1/ledger/checkpoint",
        protected(OK),
    ),
    Case(
        "/api/v1/ledger/checkpoints",
        "POST",
        "ledger-sign",
        lambda i, p: "/api/v1/ledger/checkpoints",
        only({"bureau": CREATED, "auditor": CREATED}, NOT_OVERSEER),
    ),
    Case(
        "/api/v1/ledger/entries",
        "GET",
        "ledger-entries",
        lambda i, p: "/api/v1/ledger/entries?start=0&end=5",
        only({"bureau": OK, "auditor": OK}, NOT_OVERSEER),
    ),
    Case(
        "/api/v1/ledger/proofs/inclusion",
        "GET",
        "ledger-inclusion",
        lambda i, p: "/api/v1/ledger/proofs/inclusion?index=0&tree_size=3",
        only({"bureau": OK, "auditor": OK}, NOT_OVERSEER),
    ),
    Case(
        "/api/v1/ledger/proofs/consistency",
        "GET",
        "ledger-consistency",
        lambda i, p: "/api/v1/ledger/proofs/consistency?first=1&second=3",
        only({"bureau": OK, "auditor": OK}, NOT_OVERSEER),
    ),
    Case(
        "/api/v1/organizations",
        "GET",
        "organizations",
        lambda i, p: "/api/v1/organizations",
        protected(OK),
    ),
    Case("/api/v1/domains", "GET", "domains", lambda i, p: "/api/v1/domains", protected(OK)),
    Case("/api/v1/datasets", "GET", "datasets", lambda i, p: "/api/v1/datasets", protected(OK)),
    # A conditionally open provider dataset is in everyone's catalog.
    Case(
        "/api/v1/datasets/<dataset_id>",
        "GET",
        "dataset-tax",
        lambda i, p: f"/api/v1/datasets/{i.dataset['tax']}",
        protected(OK),
    ),
    # A bank's own (closed) dataset: only that bank, the bureau and the auditor see it.
    Case(
        "/api/v1/datasets/<dataset_id>",
        "GET",
        "dataset-bank-a",
        lambda i, p: f"/api/v1/datasets/{i.dataset['bank-a']}",
        only({"bank-a": OK, "bureau": OK, "auditor": OK}, NO_DATASET),
    ),
    Case(
        "/api/v1/datasets/<dataset_id>",
        "GET",
        "dataset-missing",
        lambda i, p: f"/api/v1/datasets/{uuid.UUID(int=1)}",
        protected(NO_DATASET),
    ),
    Case("/api/v1/jobs", "GET", "jobs", lambda i, p: "/api/v1/jobs", protected(OK)),
    Case(
        "/api/v1/jobs",
        "POST",
        "profile-tax",
        lambda i, p: "/api/v1/jobs",
        only({"tax-cdo": ACCEPTED, "auditor": READ_ONLY}, NOT_OWNER),
        _profile("tax"),
    ),
    Case(
        "/api/v1/jobs",
        "POST",
        "profile-market",
        lambda i, p: "/api/v1/jobs",
        only({"market-cdo": ACCEPTED, "auditor": READ_ONLY}, NOT_OWNER),
        _profile("market"),
    ),
    # Not even visible to other banks, providers or the operator: 404, not 403.
    Case(
        "/api/v1/jobs",
        "POST",
        "profile-bank-a",
        lambda i, p: "/api/v1/jobs",
        only({"bank-a": ACCEPTED, "bureau": NOT_OWNER, "auditor": READ_ONLY}, NO_DATASET),
        _profile("bank-a"),
    ),
    Case(
        "/api/v1/jobs/<job_id>",
        "GET",
        "job-bank-a",
        lambda i, p: f"/api/v1/jobs/{i.bank_a_job}",
        only({"bank-a": OK, "bureau": OK, "auditor": OK}, NO_JOB),
    ),
    Case(
        "/api/v1/jobs/<job_id>",
        "GET",
        "job-tax",
        lambda i, p: f"/api/v1/jobs/{i.tax_job}",
        only({"tax-cdo": OK, "bureau": OK, "auditor": OK}, NO_JOB),
    ),
    Case(
        "/api/v1/jobs/<job_id>",
        "GET",
        "job-missing",
        lambda i, p: f"/api/v1/jobs/{uuid.UUID(int=2)}",
        protected(NO_JOB),
    ),
    Case("/api/v1/tokens", "GET", "tokens", lambda i, p: "/api/v1/tokens", protected(OK)),
    Case(
        "/api/v1/tokens",
        "POST",
        "token-create",
        lambda i, p: "/api/v1/tokens",
        protected(CREATED),
        lambda i: {"name": "matrix"},
    ),
    Case(
        "/api/v1/tokens/<token_id>", "DELETE", "token-revoke-own", _own_spare, protected(NO_CONTENT)
    ),
    Case(
        "/api/v1/tokens/<token_id>",
        "DELETE",
        "token-revoke-other",
        lambda i, p: f"/api/v1/tokens/{i.spare_token['bank-a']}",
        only({"bank-a": NO_CONTENT}, NO_TOKEN),
    ),
    # --- governance: zones, purposes and catalog review are the bureau's; everyone reads the
    # zones and purposes; the auditor reads everything and changes nothing.
    Case("/api/v1/zones", "GET", "zones", lambda i, p: "/api/v1/zones", protected(OK)),
    Case(
        "/api/v1/zones",
        "POST",
        "zone-create",
        lambda i, p: "/api/v1/zones",
        only({"bureau": CREATED}, WRONG_ROLE),
        lambda i: {"slug": "matrix-new", "name": "New zone"},
    ),
    Case(
        "/api/v1/zones/<zone_id>/datasets",
        "POST",
        "zone-add-dataset",
        lambda i, p: f"/api/v1/zones/{i.gov.zone}/datasets",
        only({"bureau": CREATED}, WRONG_ROLE),
        lambda i: {"dataset_id": i.dataset["market"]},
    ),
    # The role is checked before the zone is looked up.
    Case(
        "/api/v1/zones/<zone_id>/datasets",
        "POST",
        "zone-add-dataset-missing-zone",
        lambda i, p: f"/api/v1/zones/{uuid.UUID(int=3)}/datasets",
        only({"bureau": NO_ZONE}, WRONG_ROLE),
        lambda i: {"dataset_id": i.dataset["market"]},
    ),
    # An id that is not a UUID is a 404 whoever asks.
    Case(
        "/api/v1/zones/<zone_id>/datasets",
        "POST",
        "zone-add-dataset-not-uuid",
        lambda i, p: "/api/v1/zones/finance/datasets",
        protected(NO_ZONE),
        lambda i: {"dataset_id": i.dataset["market"]},
    ),
    Case(
        "/api/v1/zones/<zone_id>/operators",
        "POST",
        "zone-add-operator",
        lambda i, p: f"/api/v1/zones/{i.gov.spare_zone}/operators",
        only({"bureau": CREATED}, WRONG_ROLE),
        lambda i: {"org_id": i.gov.operator_org},
    ),
    Case("/api/v1/purposes", "GET", "purposes", lambda i, p: "/api/v1/purposes", protected(OK)),
    Case(
        "/api/v1/purposes",
        "POST",
        "purpose-create",
        lambda i, p: "/api/v1/purposes",
        only({"bureau": CREATED}, WRONG_ROLE),
        lambda i: {"code": "matrix.purpose", "label": "Matrix"},
    ),
    # Everyone may ask; the list is filtered (all for overseers, own datasets for a CDO).
    Case(
        "/api/v1/catalog/reviews",
        "GET",
        "catalog-reviews",
        lambda i, p: "/api/v1/catalog/reviews",
        protected(OK),
    ),
    Case(
        "/api/v1/datasets/<dataset_id>/review",
        "POST",
        "catalog-review-market",
        lambda i, p: f"/api/v1/datasets/{i.dataset['market']}/review",
        only({"bureau": CREATED}, WRONG_ROLE),
        lambda i: i.gov.market_review,
    ),
    # --- licenses: operators apply, the bureau decides; a license is seen by its operator and
    # the overseers, and is a 404 for everyone else.
    Case("/api/v1/licenses", "GET", "licenses", lambda i, p: "/api/v1/licenses", protected(OK)),
    Case(
        "/api/v1/licenses",
        "POST",
        "license-apply",
        lambda i, p: "/api/v1/licenses",
        only({"operator": CREATED}, WRONG_ROLE),
        lambda i: {
            "zone_id": i.gov.zone,
            "scope": "More checks",
            "qualifications": "Level-3 protection",
            **i.gov.license_term,
        },
    ),
    Case(
        "/api/v1/licenses/<license_id>",
        "GET",
        "license",
        lambda i, p: f"/api/v1/licenses/{i.gov.license}",
        only(readers(LICENSE_READERS), NO_LICENSE),
    ),
    Case(
        "/api/v1/licenses/<license_id>",
        "GET",
        "license-missing",
        lambda i, p: f"/api/v1/licenses/{uuid.UUID(int=4)}",
        protected(NO_LICENSE),
    ),
    Case(
        "/api/v1/licenses/<license_id>/decision",
        "POST",
        "license-suspend",
        lambda i, p: f"/api/v1/licenses/{i.gov.license}/decision",
        only({"bureau": OK}, WRONG_ROLE),
        lambda i: {"action": "suspend", "reason": "matrix"},
    ),
    # --- grants: operators apply; the bureau and each providing department's CDO review; the
    # requester's organization never reviews its own grant.
    Case("/api/v1/grants", "GET", "grants", lambda i, p: "/api/v1/grants", protected(OK)),
    Case(
        "/api/v1/grants",
        "POST",
        "grant-apply",
        lambda i, p: "/api/v1/grants",
        only({"operator": CREATED}, WRONG_ROLE),
        lambda i: {"license_id": i.gov.license, "terms": i.gov.terms, "justification": "more"},
    ),
    Case(
        "/api/v1/grants/<grant_id>",
        "GET",
        "grant-pending",
        lambda i, p: f"/api/v1/grants/{i.gov.pending_grant}",
        only(readers(GRANT_READERS), NO_GRANT),
    ),
    Case(
        "/api/v1/grants/<grant_id>",
        "GET",
        "grant-missing",
        lambda i, p: f"/api/v1/grants/{uuid.UUID(int=5)}",
        protected(NO_GRANT),
    ),
    Case(
        "/api/v1/grants/<grant_id>",
        "GET",
        "grant-not-uuid",
        lambda i, p: "/api/v1/grants/latest",
        protected(NO_GRANT),
    ),
    # The bureau approves, then the tax CDO (which approves the grant); the auditor is no
    # reviewer, and the operator's own organization may not review. Once approved, the grant
    # is visible to bank-a (a named recipient), which is no reviewer either.
    Case(
        "/api/v1/grants/<grant_id>/reviews",
        "POST",
        "grant-review",
        lambda i, p: f"/api/v1/grants/{i.gov.pending_grant}/reviews",
        only(
            {
                "bureau": CREATED,
                "tax-cdo": CREATED,
                "operator": (403, "grant.separation_of_duties"),
                "auditor": (403, "grant.not_reviewer"),
                "bank-a": (403, "grant.not_reviewer"),
            },
            NO_GRANT,
        ),
        lambda i: {"decision": "approve"},
    ),
    Case(
        "/api/v1/grants/<grant_id>/decision",
        "POST",
        "grant-suspend",
        lambda i, p: f"/api/v1/grants/{i.gov.approved_grant}/decision",
        only({"bureau": OK}, WRONG_ROLE),
        lambda i: {"action": "suspend", "reason": "matrix"},
    ),
    Case(
        "/api/v1/grants/<grant_id>/voucher",
        "GET",
        "voucher-approved",
        lambda i, p: f"/api/v1/grants/{i.gov.approved_grant}/voucher",
        only(readers(APPROVED_READERS), NO_GRANT),
    ),
    Case(
        "/api/v1/grants/<grant_id>/voucher",
        "GET",
        "voucher-pending",
        lambda i, p: f"/api/v1/grants/{i.gov.pending_grant}/voucher",
        only(readers(GRANT_READERS, (409, "voucher.not_approved")), NO_GRANT),
    ),
    # A dry run: anyone who sees the grant gets an answer (allowed only for its operator).
    Case(
        "/api/v1/grants/<grant_id>/check",
        "POST",
        "grant-check",
        lambda i, p: f"/api/v1/grants/{i.gov.approved_grant}/check",
        only(readers(APPROVED_READERS), NO_GRANT),
        lambda i: i.gov.check,
    ),
    # Running: the grant's operator, or the recipient bank for itself; others who see the
    # grant are refused by the policy (and the refusal is in the ledger).
    Case(
        "/api/v1/grants/<grant_id>/computations",
        "POST",
        "grant-run",
        lambda i, p: f"/api/v1/grants/{i.gov.approved_grant}/computations",
        only(
            {
                **readers(GRANT_READERS, (403, "policy.no_grant")),
                "operator": ACCEPTED,
                "bank-a": ACCEPTED,
            },
            NO_GRANT,
        ),
        lambda i: i.gov.run,
    ),
    # Contributions: anyone who sees the approved grant lists them; only a data holder named
    # as a recipient consents (this grant allows no secure_sum, so bank-a hears why); a
    # withdrawal finds nothing to withdraw.
    Case(
        "/api/v1/grants/<grant_id>/contributions",
        "GET",
        "contributions-list",
        lambda i, p: f"/api/v1/grants/{i.gov.approved_grant}/contributions",
        only(readers(APPROVED_READERS), NO_GRANT),
    ),
    Case(
        "/api/v1/grants/<grant_id>/contributions",
        "POST",
        "contribution-consent",
        lambda i, p: f"/api/v1/grants/{i.gov.approved_grant}/contributions",
        only(
            {
                "bank-a": (409, "contribution.kind"),
                "bureau": WRONG_ROLE,
                "auditor": WRONG_ROLE,
                "operator": WRONG_ROLE,
                "tax-cdo": NO_GRANT,
            },
            NO_GRANT,
        ),
        lambda i: {"dataset_id": i.dataset["bank-a"], "columns": ["credit_code"]},
    ),
    Case(
        "/api/v1/grants/<grant_id>/contributions/<dataset_id>",
        "DELETE",
        "contribution-withdraw",
        lambda i, p: f"/api/v1/grants/{i.gov.approved_grant}/contributions/{i.dataset['bank-a']}",
        only(readers(APPROVED_READERS, (404, "contribution.not_found")), NO_GRANT),
    ),
    # A result file belongs to protocol jobs only; a profile job has none (409 for whoever
    # may see the job, 404 for everyone else).
    Case(
        "/api/v1/jobs/<job_id>/result",
        "GET",
        "job-result-none",
        lambda i, p: f"/api/v1/jobs/{i.bank_a_job}/result",
        only(readers(("bureau", "auditor", "bank-a"), (409, "result.none")), NO_JOB),
    ),
    # --- data products: the operator designs them under its license and grants; everyone may
    # ask for the list, filtered to what each account may see (see PRODUCT_READERS).
    Case("/api/v1/products", "GET", "products", lambda i, p: "/api/v1/products", protected(OK)),
    Case(
        "/api/v1/products",
        "POST",
        "product-create",
        lambda i, p: "/api/v1/products",
        only({"operator": CREATED}, WRONG_ROLE),
        lambda i: i.prod.create,
    ),
    Case(
        "/api/v1/products/<product_id>",
        "GET",
        "product-listed",
        lambda i, p: f"/api/v1/products/{i.prod.listed}",
        only(readers(LISTED_READERS), NO_PRODUCT),
    ),
    # A draft is in no bank's store, not even the bank it will be offered to.
    Case(
        "/api/v1/products/<product_id>",
        "GET",
        "product-draft",
        lambda i, p: f"/api/v1/products/{i.prod.draft}",
        only(readers(PRODUCT_READERS), NO_PRODUCT),
    ),
    Case(
        "/api/v1/products/<product_id>",
        "GET",
        "product-missing",
        lambda i, p: f"/api/v1/products/{uuid.UUID(int=6)}",
        protected(NO_PRODUCT),
    ),
    # Versions are the operator's alone; the role is checked before the product is looked up.
    Case(
        "/api/v1/products/<product_id>/versions",
        "POST",
        "product-version",
        lambda i, p: f"/api/v1/products/{i.prod.listed}/versions",
        only({"operator": CREATED}, WRONG_ROLE),
        lambda i: {"spec": i.prod.spec},
    ),
    Case(
        "/api/v1/products/<product_id>/versions/<version>/submit",
        "POST",
        "product-submit",
        lambda i, p: f"/api/v1/products/{i.prod.draft}/versions/1/submit",
        only({"operator": OK}, WRONG_ROLE),
    ),
    # The reviewers are the bureau and the CDO of the source's department (tax); the operator
    # never reviews its own product. Those who see the product but do not review it hear so;
    # those who cannot see it hear what a missing id hears.
    Case(
        "/api/v1/products/<product_id>/versions/<version>/reviews",
        "POST",
        "product-review",
        lambda i, p: f"/api/v1/products/{i.prod.in_review}/versions/2/reviews",
        only(
            {
                "bureau": CREATED,
                "tax-cdo": CREATED,
                **readers(("auditor", "operator", "bank-a"), (403, "product.not_reviewer")),
            },
            NO_PRODUCT,
        ),
        lambda i: {"decision": "approve"},
    ),
    # Listing (上架) and delisting (下架) are the bureau's; the role is checked first.
    Case(
        "/api/v1/products/<product_id>/listing",
        "POST",
        "product-list",
        lambda i, p: f"/api/v1/products/{i.prod.listed}/listing",
        only({"bureau": OK}, WRONG_ROLE),
        lambda i: {"version": 2},
    ),
    Case(
        "/api/v1/products/<product_id>/listing",
        "DELETE",
        "product-delist",
        lambda i, p: f"/api/v1/products/{i.prod.listed}/listing",
        only({"bureau": OK}, WRONG_ROLE),
        lambda i: {"reason": "matrix"},
    ),
    # Only a bank with an active subscription rates; the banks and CDOs who cannot see the
    # product hear what a missing id hears.
    Case(
        "/api/v1/products/<product_id>/ratings",
        "POST",
        "product-rate",
        lambda i, p: f"/api/v1/products/{i.prod.listed}/ratings",
        only({"bank-a": CREATED, **readers(STRANGERS, NO_PRODUCT)}, WRONG_ROLE),
        lambda i: {"stars": 4, "comment": "matrix"},
    ),
    # Calling: a bank only (checked first), with an active subscription to the listed product,
    # on its own applicant list; the jobs are queued (202). The banks it is not offered to hear
    # what a missing id hears.
    Case(
        "/api/v1/products/<product_id>/calls",
        "POST",
        "product-call",
        lambda i, p: f"/api/v1/products/{i.prod.listed}/calls",
        only({"bank-a": ACCEPTED, **readers(OTHER_BANKS, NO_PRODUCT)}, WRONG_ROLE),
        lambda i: {"input_dataset_id": i.dataset["bank-a"]},
    ),
    # An unlisted product nobody subscribed to is not found by any bank.
    Case(
        "/api/v1/products/<product_id>/calls",
        "POST",
        "product-call-draft",
        lambda i, p: f"/api/v1/products/{i.prod.draft}/calls",
        only(readers(BANKS, NO_PRODUCT), WRONG_ROLE),
        lambda i: {"input_dataset_id": i.dataset["bank-a"]},
    ),
    # --- subscriptions: a bank subscribes to a listed product offered to it (to any other bank
    # the product is not found); the product's operator or the bureau decides. A subscription is
    # seen by its bank, the product's operator and the overseers, and is a 404 for everyone else.
    Case(
        "/api/v1/subscriptions",
        "GET",
        "subscriptions",
        lambda i, p: "/api/v1/subscriptions",
        protected(OK),
    ),
    Case(
        "/api/v1/subscriptions",
        "POST",
        "subscribe",
        lambda i, p: "/api/v1/subscriptions",
        only({"bank-a": CREATED, **readers(OTHER_BANKS, NO_PRODUCT)}, WRONG_ROLE),
        lambda i: {"product_id": i.prod.in_review, "accept_terms": True},
    ),
    # The bureau, asked first, approves bank-a's request; the operator then finds it decided.
    Case(
        "/api/v1/subscriptions/<subscription_id>/decision",
        "POST",
        "subscription-approve",
        lambda i, p: f"/api/v1/subscriptions/{i.prod.subscription}/decision",
        only(
            {
                "bureau": OK,
                "operator": (409, "subscription.decided"),
                "auditor": WRONG_ROLE,
                "bank-a": WRONG_ROLE,
            },
            NO_SUBSCRIPTION,
        ),
        lambda i: {"approve": True},
    ),
    # --- enterprise authorizations: each bank registers and sees only its own; the other banks'
    # are not found.
    Case(
        "/api/v1/authorizations",
        "GET",
        "authorizations",
        lambda i, p: "/api/v1/authorizations",
        protected(OK),
    ),
    Case(
        "/api/v1/authorizations",
        "POST",
        "authorization-register",
        lambda i, p: "/api/v1/authorizations",
        only(readers(BANKS, CREATED), WRONG_ROLE),
        lambda i: {
            "credit_code": CREDIT_CODE,
            "reference": "MATRIX-2",
            "valid_until": (utcnow() + dt.timedelta(days=30)).isoformat(),
        },
    ),
    Case(
        "/api/v1/authorizations/<authorization_id>",
        "DELETE",
        "authorization-revoke",
        lambda i, p: f"/api/v1/authorizations/{i.prod.authorization}",
        only({"bank-a": NO_CONTENT, **readers(OTHER_BANKS, NO_AUTHORIZATION)}, WRONG_ROLE),
    ),
    # --- calls: bank-a's own, its product's operator and the overseers see a call; its result is
    # the calling bank's alone (this call was refused, so it has none); 404 for everyone else.
    Case("/api/v1/calls", "GET", "calls", lambda i, p: "/api/v1/calls", protected(OK)),
    Case(
        "/api/v1/calls/<call_id>",
        "GET",
        "call",
        lambda i, p: f"/api/v1/calls/{i.prod.call}",
        only(readers(CALL_READERS), NO_CALL),
    ),
    Case(
        "/api/v1/calls/<call_id>",
        "GET",
        "call-missing",
        lambda i, p: f"/api/v1/calls/{uuid.UUID(int=7)}",
        protected(NO_CALL),
    ),
    Case(
        "/api/v1/calls/<call_id>/result",
        "GET",
        "call-result",
        lambda i, p: f"/api/v1/calls/{i.prod.call}/result",
        only(
            {
                "bank-a": (409, "result.none"),
                **readers(("bureau", "auditor", "operator"), (403, "result.not_recipient")),
            },
            NO_CALL,
        ),
    ),
    # --- statements: a bank its own, the operator its products', the overseers all; the CDOs
    # have none. Asking for another bank's is refused.
    Case(
        "/api/v1/statements",
        "GET",
        "statement",
        lambda i, p: "/api/v1/statements",
        only(readers(PROVIDERS, (403, "statement.forbidden")), OK),
    ),
    Case(
        "/api/v1/statements",
        "GET",
        "statement-bank-a",
        lambda i, p: "/api/v1/statements?consumer=bank-a",
        only(readers((*PROVIDERS, *OTHER_BANKS), (403, "statement.forbidden")), OK),
    ),
    # --- correction tickets: a subscriber files one about a source of the product (who cannot
    # see the product hears 404, as for ratings); only the providing department's CDO answers.
    # A ticket is seen by its bank, the providing CDO, the product's operator and the overseers.
    Case("/api/v1/tickets", "GET", "tickets", lambda i, p: "/api/v1/tickets", protected(OK)),
    Case(
        "/api/v1/tickets",
        "POST",
        "ticket-file",
        lambda i, p: "/api/v1/tickets",
        only({"bank-a": CREATED, **readers(STRANGERS, NO_PRODUCT)}, WRONG_ROLE),
        lambda i: {
            "product_id": i.prod.listed,
            "dataset_id": i.dataset["tax"],
            "subject": CREDIT_CODE,
            "field": "tax_grade_band",
            "description": "Still wrong.",
        },
    ),
    Case(
        "/api/v1/tickets/<ticket_id>/answer",
        "POST",
        "ticket-answer",
        lambda i, p: f"/api/v1/tickets/{i.prod.ticket}/answer",
        only(
            {
                "tax-cdo": OK,
                **readers(CALL_READERS, (403, "ticket.not_provider")),
            },
            NO_TICKET,
        ),
        lambda i: {"answer": "Checked: the grade is current."},
    ),
)


# --- running it -----------------------------------------------------------------------------


def api_routes(app: Flask) -> set[tuple[str, str]]:
    routes: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1") or rule.rule == "/healthz":
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                routes.add((rule.rule, method))
    return routes


def assert_error_shape(response: Any) -> str:
    assert response.mimetype == "application/json", response.data[:200]
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    return str(error["code"])


def call(client: FlaskClient, world: World, ids: Ids, case: Case, principal: str) -> Any:
    return client.open(
        case.path(ids, principal),
        method=case.method,
        headers=headers_for(world, ids, principal),
        json=case.body(ids) if case.body is not None else None,
    )


def test_every_api_route_is_in_the_table(app: Flask) -> None:
    in_app = api_routes(app)
    in_table = {(c.rule, c.method) for c in CASES}
    assert not in_app - in_table, (
        f"routes with no row in the authorization table: {sorted(in_app - in_table)}"
    )
    assert not in_table - in_app, (
        f"table rows for routes that do not exist: {sorted(in_table - in_app)}"
    )


def test_every_table_row_covers_every_principal() -> None:
    for case in CASES:
        assert set(case.expected) == set(PRINCIPALS), case.label


def test_case_paths_hit_their_rule(app: Flask, ids: Ids) -> None:
    adapter = app.url_map.bind("localhost")
    for case in CASES:
        for principal in PRINCIPALS:
            rule, _args = adapter.match(
                case.path(ids, principal).split("?")[0], method=case.method, return_rule=True
            )
            assert rule.rule == case.rule, (case.label, principal)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method} {c.label}" for c in CASES])
def test_matrix(case: Case, client: FlaskClient, world: World, ids: Ids) -> None:
    actual: dict[str, Outcome] = {}
    for principal in PRINCIPALS:
        response = call(client, world, ids, case, principal)
        if response.status_code >= 400:
            actual[principal] = (response.status_code, assert_error_shape(response))
        else:
            actual[principal] = (response.status_code, None)
            if response.status_code != 204:
                assert response.mimetype == "application/json", (case.label, principal)
                assert set(response.get_json()) != {"error"}, (case.label, principal)
    assert actual == case.expected


# --- what the successful answers contain ------------------------------------------------------

EXPECTED_DATASET_DOMAINS: dict[str, frozenset[str]] = {
    "bureau": ALL_DOMAINS - {"bureau"},  # the gate's domain holds no datasets
    "auditor": ALL_DOMAINS - {"bureau"},
    **dict.fromkeys(PROVIDERS, PROVIDER_DOMAINS),
    "operator": PROVIDER_DOMAINS,
    "bank-a": PROVIDER_DOMAINS | {"bank-a"},
    "bank-b": PROVIDER_DOMAINS | {"bank-b"},
    "bank-c": PROVIDER_DOMAINS | {"bank-c"},
}


@pytest.mark.parametrize("user", ACCOUNTS)
def test_dataset_list_is_filtered_by_role(user: str, client: FlaskClient, world: World) -> None:
    response = client.get("/api/v1/datasets", headers=auth(world.token(user)))
    assert response.status_code == 200
    rows = response.get_json()["datasets"]
    assert {d["domain"] for d in rows} == EXPECTED_DATASET_DOMAINS[user]
    for row in rows:
        if row["domain"] not in BANK_DOMAINS:
            continue
        assert row["openness"] == "closed"
    # Every listed entry can also be fetched one by one; the list and the detail agree.
    for row in rows:
        detail = client.get(f"/api/v1/datasets/{row['id']}", headers=auth(world.token(user)))
        assert detail.status_code == 200
        assert detail.get_json()["id"] == row["id"]


def test_other_banks_datasets_are_invisible_one_by_one(
    client: FlaskClient, world: World, ids: Ids
) -> None:
    # Every dataset the bureau sees in bank-a's domain is a 404 for bank-b.
    everything = client.get("/api/v1/datasets", headers=auth(world.token("bureau"))).get_json()
    bank_a = [d["id"] for d in everything["datasets"] if d["domain"] == "bank-a"]
    assert len(bank_a) >= 2 and ids.dataset["bank-a"] in bank_a
    for dataset_id in bank_a:
        response = client.get(f"/api/v1/datasets/{dataset_id}", headers=auth(world.token("bank-b")))
        assert response.status_code == 404


EXPECTED_JOBS: dict[str, set[str]] = {
    "bureau": {"bank-a", "tax"},
    "auditor": {"bank-a", "tax"},
    "bank-a": {"bank-a"},
    "tax-cdo": {"tax"},
}


@pytest.mark.parametrize("user", ACCOUNTS)
def test_job_list_is_filtered_by_role(
    user: str, client: FlaskClient, world: World, ids: Ids
) -> None:
    names = {ids.bank_a_job: "bank-a", ids.tax_job: "tax"}
    for status in (None, "queued"):
        query = {"status": status} if status else {}
        response = client.get("/api/v1/jobs", query_string=query, headers=auth(world.token(user)))
        assert response.status_code == 200
        seen = {names[j["id"]] for j in response.get_json()["jobs"]}
        assert seen == EXPECTED_JOBS.get(user, set())


EXPECTED_DOMAINS = {
    "bureau": ALL_DOMAINS,
    "auditor": ALL_DOMAINS,
    **dict.fromkeys(PROVIDERS, PROVIDER_DOMAINS),
    "operator": PROVIDER_DOMAINS,
    "bank-a": PROVIDER_DOMAINS | {"bank-a"},
    "bank-b": PROVIDER_DOMAINS | {"bank-b"},
    "bank-c": PROVIDER_DOMAINS | {"bank-c"},
}
OWN_ORG = {
    "bureau": "bureau",
    "tax-cdo": "tax",
    "market-cdo": "market",
    "social-cdo": "social",
    "court-cdo": "court",
    "operator": "operator",
    "bank-a": "bank-a",
    "bank-b": "bank-b",
    "bank-c": "bank-c",
    "auditor": "auditor",
}


@pytest.mark.parametrize("user", ACCOUNTS)
def test_domains_organizations_and_me(user: str, client: FlaskClient, world: World) -> None:
    headers = auth(world.token(user))
    domains = client.get("/api/v1/domains", headers=headers).get_json()["domains"]
    assert {d["name"] for d in domains} == EXPECTED_DOMAINS[user]
    orgs = client.get("/api/v1/organizations", headers=headers).get_json()["organizations"]
    if user in ("bureau", "auditor"):
        assert {o["slug"] for o in orgs} == set(OWN_ORG.values())
    else:
        assert [o["slug"] for o in orgs] == [OWN_ORG[user]]
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["username"] == user
    assert me["organization"]["slug"] == OWN_ORG[user]


@pytest.mark.parametrize("user", ACCOUNTS)
def test_token_list_shows_only_own_tokens(
    user: str, client: FlaskClient, world: World, ids: Ids
) -> None:
    response = client.get("/api/v1/tokens", headers=auth(world.token(user)))
    listed = {t["id"] for t in response.get_json()["tokens"]}
    assert ids.spare_token[user] in listed
    assert not listed & {t for u, t in ids.spare_token.items() if u != user}
    assert all("secret" not in t and "token_hash" not in t for t in response.get_json()["tokens"])


@pytest.mark.parametrize("user", ACCOUNTS)
def test_product_lists_are_filtered_by_role(
    user: str, client: FlaskClient, world: World, ids: Ids
) -> None:
    headers = auth(world.token(user))

    def listed(path: str, key: str, field: str = "id") -> dict[str, dict[str, Any]]:
        response = client.get(path, headers=headers)
        assert response.status_code == 200
        return {row[field]: row for row in response.get_json()[key]}

    p = ids.prod
    in_store = {p.listed, p.in_review, p.requested}
    products = listed("/api/v1/products", "products")
    if user in PRODUCT_READERS:
        assert set(products) == {*in_store, p.draft}
    else:
        assert set(products) == (in_store if user == "bank-a" else set())
    subs = listed("/api/v1/subscriptions", "subscriptions", "product_id")
    assert set(subs) == ({p.listed, p.requested} if user in CALL_READERS else set())
    assert set(listed("/api/v1/authorizations", "authorizations")) == (
        {p.authorization} if user == "bank-a" else set()
    )
    # The operator sees its products' calls as use and charges only.
    found = listed("/api/v1/calls", "calls")
    assert set(found) == ({p.call} if user in CALL_READERS else set())
    if user == "operator":
        hidden = ("caller", "input_dataset_id", "matched", "unauthorized", "rejected")
        assert all(found[p.call][k] is None for k in hidden) and found[p.call]["job_ids"] == []
    # A ticket's subject and texts: the filing bank, the providing CDO and the bureau.
    tickets = listed("/api/v1/tickets", "tickets")
    assert set(tickets) == ({p.ticket} if user in (*CALL_READERS, "tax-cdo") else set())
    if tickets:
        full = user in ("bank-a", "tax-cdo", "bureau")
        assert (tickets[p.ticket]["subject"] == CREDIT_CODE) is full
        assert (tickets[p.ticket]["description"] is not None) is full
        assert (tickets[p.ticket]["consumer"] is None) is (user == "operator")


def test_cross_organization_404_is_indistinguishable_from_missing(
    client: FlaskClient, world: World, ids: Ids
) -> None:
    headers = auth(world.token("bank-b"))
    pairs = [
        ("GET", f"/api/v1/datasets/{ids.dataset['bank-a']}", f"/api/v1/datasets/{uuid.uuid4()}"),
        ("GET", f"/api/v1/jobs/{ids.bank_a_job}", f"/api/v1/jobs/{uuid.uuid4()}"),
        ("DELETE", f"/api/v1/tokens/{ids.spare_token['bank-a']}", f"/api/v1/tokens/{uuid.uuid4()}"),
        ("GET", f"/api/v1/products/{ids.prod.listed}", f"/api/v1/products/{uuid.uuid4()}"),
        ("GET", f"/api/v1/calls/{ids.prod.call}", f"/api/v1/calls/{uuid.uuid4()}"),
        ("GET", f"/api/v1/calls/{ids.prod.call}/result", f"/api/v1/calls/{uuid.uuid4()}/result"),
        (
            "DELETE",
            f"/api/v1/authorizations/{ids.prod.authorization}",
            f"/api/v1/authorizations/{uuid.uuid4()}",
        ),
    ]
    for method, existing, missing in pairs:
        a = client.open(existing, method=method, headers=headers)
        b = client.open(missing, method=method, headers=headers)
        assert (a.status_code, a.get_json()) == (b.status_code, b.get_json())
        assert a.status_code == 404
    # Submitting on another bank's dataset: the same answer as on a dataset that does not exist.
    a = client.post("/api/v1/jobs", headers=headers, json=_profile("bank-a")(ids))
    b = client.post(
        "/api/v1/jobs",
        headers=headers,
        json={"kind": "dataset.profile", "params": {"dataset_id": str(uuid.uuid4())}},
    )
    assert (a.status_code, a.get_json()) == (b.status_code, b.get_json())
    assert a.status_code == 404


def test_refused_submissions_create_and_enqueue_nothing(
    client: FlaskClient, world: World, ids: Ids, enqueuer: RecordingEnqueuer
) -> None:
    before = client.get("/api/v1/jobs", headers=auth(world.token("bureau"))).get_json()["jobs"]
    for user in ("operator", "auditor", "bureau", "market-cdo", "bank-a", "bank-b"):
        response = client.post(
            "/api/v1/jobs", headers=auth(world.token(user)), json=_profile("tax")(ids)
        )
        assert response.status_code == 403, user
    after = client.get("/api/v1/jobs", headers=auth(world.token("bureau"))).get_json()["jobs"]
    assert len(after) == len(before)
    assert enqueuer.jobs == []
    accepted = client.post(
        "/api/v1/jobs", headers=auth(world.token("tax-cdo")), json=_profile("tax")(ids)
    )
    assert accepted.status_code == 202
    assert [str(j) for j in enqueuer.jobs] == [accepted.get_json()["id"]]


def test_revoked_spare_token_stops_working(client: FlaskClient, world: World) -> None:
    created = client.post(
        "/api/v1/tokens", headers=auth(world.token("operator")), json={"name": "short-lived"}
    )
    assert created.status_code == 201
    secret, token_id = created.get_json()["secret"], created.get_json()["token"]["id"]
    assert client.get("/api/v1/me", headers=auth(secret)).status_code == 200
    # Another user cannot revoke it ...
    assert (
        client.delete(f"/api/v1/tokens/{token_id}", headers=auth(world.token("bureau"))).status_code
        == 404
    )
    assert client.get("/api/v1/me", headers=auth(secret)).status_code == 200
    # ... its owner can, and it stops working at once.
    assert (
        client.delete(
            f"/api/v1/tokens/{token_id}", headers=auth(world.token("operator"))
        ).status_code
        == 204
    )
    response = client.get("/api/v1/me", headers=auth(secret))
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "auth.token_invalid"
