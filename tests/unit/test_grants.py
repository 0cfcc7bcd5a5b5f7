"""Grants: an operator applies, the bureau and each providing department's CDO review (one of
them narrowing the terms), and the bureau suspends, reinstates and revokes. Every bad input is
refused with a stable code and leaves no trace: no grant or review row and no ledger entry."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import catalog_review, grants, licenses, purposes, zones
from grants.models import Grant, GrantReview, GrantState, License
from grants.terms import DatasetColumns, Kind, Terms
from sandbox.clock import utcnow
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.domains.models import Domain
from sandbox.errors import Conflict, InvalidInput, NotFound, PermissionDenied, SandboxError
from sandbox.jobs.models import Job, JobState, Step, StepState
from sandbox.ledger.models import LedgerEntry
from sandbox.parties.models import User
from sandbox.parties.principal import Principal
from tests.conftest import World

PURPOSE = "sme.credit"
TAX_COLUMNS = ("credit_code", "tax_credit_grade", "arrears", "invoice_months_active")


@dataclass
class Gov:
    """A governed world: a purpose, reviewed datasets in a finance zone, an active license."""

    session: Session
    now: dt.datetime
    license: License
    datasets: dict[str, uuid.UUID]  # "domain/name" -> id
    users: dict[str, Principal]

    def who(self, username: str) -> Principal:
        return self.users[username]

    def terms(self, **changes: Any) -> Terms:
        fields: dict[str, Any] = {
            "datasets": (
                DatasetColumns(dataset_id=self.datasets["tax/tax_ratings"], columns=TAX_COLUMNS),
            ),
            "kinds": (Kind.LOOKUP, Kind.PSI_CARDINALITY),
            "purpose": PURPOSE,
            "purpose_text": "",
            "recipients": ("bank-a", "bank-b"),
            "valid_from": self.now,
            "valid_until": self.now + dt.timedelta(days=90),
            "calls_per_day": 1000,
            "rows_per_call": 5000,
            "min_cohort": 10,
            "epsilon_budget": 2.0,
        }
        fields.update(changes)
        return Terms(**fields)

    def apply(self, terms: Terms | None = None, **kwargs: Any) -> Grant:
        args: dict[str, Any] = {
            "license_id": self.license.id,
            "terms": terms or self.terms(),
            "justification": "Credit checks for SME loans at partner banks.",
            "now": self.now,
        }
        args.update(kwargs)
        return grants.apply(self.session, self.who("operator"), **args)

    def review(self, username: str, grant: Grant, decision: Any = "approve", **kw: Any) -> Grant:
        return grants.review(
            self.session, self.who(username), grant.id, decision=decision, now=self.now, **kw
        )

    def approved_grant(self) -> Grant:
        grant = self.apply()
        self.review("bureau", grant)
        return self.review("tax-cdo", grant)

    def actions(self, object_id: uuid.UUID) -> list[str]:
        return list(
            self.session.scalars(
                select(LedgerEntry.action)
                .where(LedgerEntry.object_id == str(object_id))
                .order_by(LedgerEntry.index)
            )
        )


def principals(session: Session) -> dict[str, Principal]:
    return {u.username: Principal.of(u) for u in session.scalars(select(User))}


def dataset_ids(session: Session) -> dict[str, uuid.UUID]:
    rows = session.execute(
        select(Domain.name, Dataset.name, Dataset.id).join(Domain, Domain.id == Dataset.domain_id)
    )
    return {f"{d}/{n}": i for d, n, i in rows}


def declared(session: Session, dataset_id: uuid.UUID) -> Schema:
    ds = session.get(Dataset, dataset_id)
    assert ds is not None
    version = session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == ds.id, DatasetVersion.version == ds.current_version
        )
    )
    assert version is not None
    return Schema.model_validate(version.schema_json)


def review_dataset(
    session: Session, bureau: Principal, dataset_id: uuid.UUID, now: dt.datetime, **kw: Any
) -> None:
    schema = declared(session, dataset_id)
    catalog_review.review(
        session,
        bureau,
        dataset_id,
        openness=kw.get("openness", schema.openness),
        grade=schema.grade,
        sensitivities={c.name: c.sensitivity.value for c in schema.columns},
        note="",
        now=now,
    )


def governed(session: Session, now: dt.datetime) -> Gov:
    """The bureau's groundwork, through the other governance services: a purpose; the tax,
    social and market datasets reviewed and in the finance zone; the operator licensed."""
    users = principals(session)
    ids = dataset_ids(session)
    bureau = users["bureau"]
    purposes.add_purpose(session, bureau, code=PURPOSE, label="SME credit assessment", now=now)
    zone = zones.create_zone(
        session, bureau, slug="finance", name="Finance zone", description="", now=now
    )
    for name in ("tax/tax_ratings", "social/social_insurance", "market/enterprise_registry"):
        review_dataset(session, bureau, ids[name], now)
        zones.add_dataset(session, bureau, zone.id, ids[name], now=now)
    zones.add_dataset(session, bureau, zone.id, ids["court/judgments"], now=now)  # unreviewed
    lic = licenses.apply(
        session,
        users["operator"],
        zone_id=zone.id,
        scope="Credit products for SME lending",
        qualifications="ISO 27001; MLPS level 3",
        valid_from=now - dt.timedelta(days=1),
        valid_until=now + dt.timedelta(days=365),
        now=now,
    )
    licenses.issue(session, bureau, lic.id, now=now)
    return Gov(session, now, lic, ids, users)


@pytest.fixture
def gov(world: World) -> Iterator[Gov]:
    with world.factory() as session:
        yield governed(session, utcnow())


def snapshot(session: Session) -> tuple[Any, ...]:
    grants_rows = session.execute(
        select(Grant.id, Grant.state, Grant.approved, Grant.decided_at, Grant.reason).order_by(
            Grant.id
        )
    ).all()
    reviews = session.execute(select(GrantReview.id, GrantReview.decision)).all()
    ledger = session.scalar(select(func.count()).select_from(LedgerEntry))
    return (tuple(grants_rows), tuple(reviews), ledger)


def refused(
    gov: Gov, call: Callable[[], object], error: type[SandboxError], code: str
) -> SandboxError:
    before = snapshot(gov.session)
    with pytest.raises(error) as info:
        call()
    assert info.value.code == code, info.value.message
    assert snapshot(gov.session) == before
    return info.value


# --------------------------------------------------------------------------- the walk


def test_application_through_both_approvals_with_narrower_conditions(gov: Gov) -> None:
    grant = gov.apply()
    assert grant.state == GrantState.PENDING.value and grant.approved is None
    assert [o.slug for o in grants.required_reviewers(gov.session, grant)] == ["bureau", "tax"]

    narrower = gov.terms(
        datasets=(
            DatasetColumns(
                dataset_id=gov.datasets["tax/tax_ratings"],
                columns=("credit_code", "tax_credit_grade", "arrears"),
            ),
        ),
        kinds=(Kind.PSI_CARDINALITY,),
        recipients=("bank-a",),
        calls_per_day=100,
        min_cohort=20,
        epsilon_budget=0.5,
    )
    gov.review("bureau", grant, conditions=narrower)
    assert grant.state == GrantState.PENDING.value
    assert grant.approved == narrower.model_dump(mode="json")

    gov.review("tax-cdo", grant, reason="fine")
    assert grant.state == GrantState.APPROVED.value
    assert grant.decided_at == gov.now
    assert Terms.model_validate(grant.approved) == narrower
    assert Terms.model_validate(grant.terms) == gov.terms()  # what was asked is kept
    assert grants.effective_state(grant, gov.now) == "approved"

    rows = gov.session.scalars(select(GrantReview).where(GrantReview.grant_id == grant.id)).all()
    assert sorted((r.decision, r.conditions is not None) for r in rows) == [
        ("approve", False),
        ("approve", True),
    ]
    assert gov.actions(grant.id) == [
        "grant.applied",
        "grant.reviewed",
        "grant.reviewed",
        "grant.approved",
    ]
    entries = gov.session.scalars(
        select(LedgerEntry).where(LedgerEntry.object_id == str(grant.id))
    ).all()
    details = [json.loads(e.body)["details"] for e in entries]
    assert details[0]["kinds"] == ["lookup", "psi.cardinality"]
    assert details[0]["purpose"] == PURPOSE and details[0]["recipients"] == ["bank-a", "bank-b"]
    assert details[0]["datasets"] == [str(gov.datasets["tax/tax_ratings"])]
    assert details[1] == {"org": "bureau", "decision": "approve", "narrowed": True}
    assert details[2] == {"org": "tax", "decision": "approve", "narrowed": False}
    assert details[3]["narrowed"] is True and details[3]["reviewers"] == ["bureau", "tax"]
    assert all(json.loads(e.body)["actor"]["user"] for e in entries)


def test_a_second_condition_must_narrow_the_first(gov: Gov) -> None:
    grant = gov.apply()
    gov.review("bureau", grant, conditions=gov.terms(calls_per_day=100))
    refused(
        gov,
        lambda: gov.review("tax-cdo", grant, conditions=gov.terms(calls_per_day=500)),
        InvalidInput,
        "grant.not_narrower",
    )
    gov.review("tax-cdo", grant, conditions=gov.terms(calls_per_day=50))
    assert grant.state == GrantState.APPROVED.value
    assert Terms.model_validate(grant.approved).calls_per_day == 50


def test_every_providing_department_must_approve(gov: Gov) -> None:
    terms = gov.terms(
        datasets=(
            DatasetColumns(dataset_id=gov.datasets["tax/tax_ratings"], columns=("arrears",)),
            DatasetColumns(
                dataset_id=gov.datasets["social/social_insurance"],
                columns=("insured_headcount",),
            ),
        )
    )
    grant = gov.apply(terms)
    assert [o.slug for o in grants.required_reviewers(gov.session, grant)] == [
        "bureau",
        "social",
        "tax",
    ]
    gov.review("social-cdo", grant)
    gov.review("tax-cdo", grant)
    assert grant.state == GrantState.PENDING.value
    gov.review("bureau", grant)
    assert grant.state == GrantState.APPROVED.value
    assert Terms.model_validate(grant.approved) == terms


def test_personal_columns_need_a_stated_purpose(gov: Gov) -> None:
    registry = gov.datasets["market/enterprise_registry"]
    asked = (DatasetColumns(dataset_id=registry, columns=("credit_code", "legal_rep_name")),)
    refused(
        gov,
        lambda: gov.apply(gov.terms(datasets=asked)),
        InvalidInput,
        "grant.purpose_required",
    )
    grant = gov.apply(gov.terms(datasets=asked, purpose_text="Check the representative's name"))
    assert [o.slug for o in grants.required_reviewers(gov.session, grant)] == ["bureau", "market"]


def test_a_cdo_may_refuse_with_a_reason(gov: Gov) -> None:
    grant = gov.apply()
    gov.review("bureau", grant)
    refused(
        gov, lambda: gov.review("tax-cdo", grant, "refuse"), InvalidInput, "grant.reason_required"
    )
    gov.review("tax-cdo", grant, "refuse", reason="Arrears are not needed for this purpose")
    assert grant.state == GrantState.REFUSED.value
    assert grant.reason == "Arrears are not needed for this purpose"
    assert grant.approved is None
    assert gov.actions(grant.id)[-2:] == ["grant.reviewed", "grant.refused"]
    refused(gov, lambda: gov.review("bureau", grant), Conflict, "grant.decided")


def test_the_reviewer_sees_request_classification_and_what_outputs_reveal(gov: Gov) -> None:
    grant = gov.apply()
    gov.review("bureau", grant, conditions=gov.terms(calls_per_day=10))
    view = grants.review_view(gov.session, grant)
    assert view["requester"]["user"] == "operator" and view["requester"]["org"] == "operator"
    assert view["justification"].startswith("Credit checks")
    assert view["license"]["zone"] == "finance"
    assert view["asked"]["calls_per_day"] == 1000 and view["current"]["calls_per_day"] == 10
    [tax] = view["datasets"]
    assert tax["owner"] == "tax"
    assert tax["classification"]["openness"] == "conditional"
    assert tax["classification"]["grade"] == "important"
    assert tax["classification"]["columns"] == {c: "public" for c in TAX_COLUMNS}
    assert view["reveals"] == {
        "lookup": grants.REVEALS[Kind.LOOKUP],
        "psi.cardinality": "only the size of the intersection",
    }
    assert view["quotas"] == {"calls_per_day": 10, "rows_per_call": 5000}
    assert view["min_cohort"] == 10 and view["epsilon_budget"] == 2.0
    assert [(r["org"], r["decision"], r["narrowed"]) for r in view["reviewers"]] == [
        ("bureau", "approve", True),
        ("tax", None, None),
    ]


# --------------------------------------------------------------------------- bad applications


def _bad_applications() -> list[tuple[str, Callable[[Gov], object], type[SandboxError], str]]:
    def cols(g: Gov, name: str, *columns: str) -> Terms:
        return g.terms(datasets=(DatasetColumns(dataset_id=g.datasets[name], columns=columns),))

    return [
        (
            "unknown dataset",
            lambda g: g.apply(
                g.terms(datasets=(DatasetColumns(dataset_id=uuid.uuid4(), columns=("a",)),))
            ),
            NotFound,
            "dataset.not_found",
        ),
        (
            "unknown column",
            lambda g: g.apply(cols(g, "tax/tax_ratings", "credit_code", "net_worth")),
            InvalidInput,
            "grant.unknown_column",
        ),
        (
            "trade secret",
            lambda g: g.apply(cols(g, "tax/tax_ratings", "tax_paid_last_year")),
            InvalidInput,
            "grant.blocked_column",
        ),
        (
            "sensitive personal",
            lambda g: g.apply(cols(g, "market/enterprise_registry", "legal_rep_id")),
            InvalidInput,
            "grant.blocked_column",
        ),
        (
            "unreviewed dataset",
            lambda g: g.apply(cols(g, "court/judgments", "dishonest_debtor")),
            Conflict,
            "grant.unreviewed",
        ),
        (
            "bank dataset",
            lambda g: g.apply(cols(g, "bank-a/applicants", "credit_code")),
            Conflict,
            "grant.unreviewed",
        ),
        (
            "term in the past",
            lambda g: g.apply(
                g.terms(
                    valid_from=g.now - dt.timedelta(days=10),
                    valid_until=g.now - dt.timedelta(seconds=1),
                )
            ),
            InvalidInput,
            "grant.term",
        ),
        (
            "term beyond the license",
            lambda g: g.apply(g.terms(valid_until=g.now + dt.timedelta(days=400))),
            InvalidInput,
            "grant.term",
        ),
        (
            "unknown purpose",
            lambda g: g.apply(g.terms(purpose="marketing")),
            InvalidInput,
            "grant.unknown_purpose",
        ),
        (
            "unknown recipient",
            lambda g: g.apply(g.terms(recipients=("bank-a", "bank-z"))),
            InvalidInput,
            "grant.unknown_recipient",
        ),
        (
            "empty justification",
            lambda g: g.apply(justification="   "),
            InvalidInput,
            "grant.justification",
        ),
        (
            "long justification",
            lambda g: g.apply(justification="x" * 4001),
            InvalidInput,
            "grant.justification",
        ),
        (
            "unknown license",
            lambda g: g.apply(license_id=uuid.uuid4()),
            PermissionDenied,
            "grant.no_license",
        ),
        (
            "wrong role",
            lambda g: grants.apply(
                g.session,
                g.who("bank-a"),
                license_id=g.license.id,
                terms=g.terms(),
                justification="x",
                now=g.now,
            ),
            PermissionDenied,
            "forbidden.role",
        ),
    ]


@pytest.mark.parametrize(
    ("call", "error", "code"),
    [case[1:] for case in _bad_applications()],
    ids=[case[0] for case in _bad_applications()],
)
def test_bad_applications_are_refused_without_a_trace(
    gov: Gov, call: Callable[[Gov], object], error: type[SandboxError], code: str
) -> None:
    refused(gov, lambda: call(gov), error, code)


def test_blocked_column_error_names_column_and_sensitivity(gov: Gov) -> None:
    tax = gov.datasets["tax/tax_ratings"]
    terms = gov.terms(datasets=(DatasetColumns(dataset_id=tax, columns=("tax_paid_last_year",)),))
    exc = refused(gov, lambda: gov.apply(terms), InvalidInput, "grant.blocked_column")
    assert "tax_paid_last_year" in exc.message and "trade_secret" in exc.message


def test_a_dataset_outside_the_zone_or_closed_is_refused(gov: Gov) -> None:
    bureau = gov.who("bureau")
    judgments = gov.datasets["court/judgments"]
    review_dataset(gov.session, bureau, judgments, gov.now, openness="closed")
    asked = (DatasetColumns(dataset_id=judgments, columns=("dishonest_debtor",)),)
    refused(gov, lambda: gov.apply(gov.terms(datasets=asked)), PermissionDenied, "grant.not_open")

    zones.remove_dataset(
        gov.session, bureau, gov.license.zone_id, gov.datasets["tax/tax_ratings"], now=gov.now
    )
    refused(gov, lambda: gov.apply(), PermissionDenied, "grant.outside_zone")


def test_quotas_that_are_not_positive_are_refused(gov: Gov) -> None:
    good = gov.terms().model_dump(mode="json")
    for field, value in (("calls_per_day", 0), ("rows_per_call", -5), ("min_cohort", 0)):
        with pytest.raises(InvalidInput) as info:
            grants.parse_terms({**good, field: value})
        assert info.value.code == "grant.terms" and field in info.value.message
    assert grants.parse_terms(good) == gov.terms()


def test_a_license_not_in_force_is_refused(gov: Gov) -> None:
    licenses.suspend(gov.session, gov.who("bureau"), gov.license.id, reason="audit", now=gov.now)
    refused(gov, lambda: gov.apply(), Conflict, "grant.no_license")
    later = gov.now + dt.timedelta(days=366)
    licenses.reinstate(gov.session, gov.who("bureau"), gov.license.id, now=gov.now)
    refused(gov, lambda: gov.apply(now=later), Conflict, "grant.no_license")


# --------------------------------------------------------------------------- bad reviews


def test_bad_reviews_are_refused_without_a_trace(gov: Gov) -> None:
    grant = gov.apply()
    wider = gov.terms(calls_per_day=2000)
    cases: list[tuple[Callable[[], object], type[SandboxError], str]] = [
        (lambda: gov.review("operator", grant), PermissionDenied, "grant.separation_of_duties"),
        (lambda: gov.review("auditor", grant), PermissionDenied, "grant.not_reviewer"),
        (lambda: gov.review("market-cdo", grant), NotFound, "grant.not_found"),
        (lambda: gov.review("bank-a", grant), NotFound, "grant.not_found"),
        (lambda: gov.review("bureau", grant, conditions=wider), InvalidInput, "grant.not_narrower"),
        (
            lambda: gov.review("bureau", grant, conditions=gov.terms(purpose_text="other")),
            InvalidInput,
            "grant.not_narrower",
        ),
        (lambda: gov.review("bureau", grant, "maybe"), InvalidInput, "grant.decision"),
        (
            lambda: gov.review("bureau", grant, "refuse", reason=" "),
            InvalidInput,
            "grant.reason_required",
        ),
        (
            lambda: grants.review(
                gov.session, gov.who("bureau"), uuid.uuid4(), decision="approve", now=gov.now
            ),
            NotFound,
            "grant.not_found",
        ),
    ]
    for call, error, code in cases:
        refused(gov, call, error, code)

    gov.review("tax-cdo", grant)
    refused(gov, lambda: gov.review("tax-cdo", grant), Conflict, "grant.already_reviewed")
    gov.review("bureau", grant)
    assert grant.state == GrantState.APPROVED.value
    refused(
        gov, lambda: gov.review("bureau", grant, "refuse", reason="late"), Conflict, "grant.decided"
    )


# --------------------------------------------------------------------------- after approval


def _job(gov: Gov, grant: Grant) -> Job:
    operator = gov.who("operator")
    job = Job(
        kind="lookup",
        state=JobState.QUEUED.value,
        org_id=operator.org_id,
        submitted_by=operator.user_id,
        params_json={},
        authority=grants.authority(grant.id),
        created_at=gov.now,
    )
    job.steps.append(
        Step(seq=0, domain="tax", action="lookup.answer", state=StepState.QUEUED.value, ticket="t")
    )
    gov.session.add(job)
    gov.session.flush()
    return job


def test_suspend_reinstate_revoke(gov: Gov) -> None:
    grant = gov.approved_grant()
    job = _job(gov, grant)
    refused(
        gov,
        lambda: grants.suspend(gov.session, gov.who("operator"), grant.id, reason="x", now=gov.now),
        PermissionDenied,
        "forbidden.role",
    )
    refused(
        gov,
        lambda: grants.suspend(gov.session, gov.who("bureau"), grant.id, reason="", now=gov.now),
        InvalidInput,
        "grant.reason_required",
    )
    refused(
        gov,
        lambda: grants.reinstate(gov.session, gov.who("bureau"), grant.id, reason="x", now=gov.now),
        Conflict,
        "grant.state",
    )

    grants.suspend(gov.session, gov.who("bureau"), grant.id, reason="complaint", now=gov.now)
    assert grant.state == GrantState.SUSPENDED.value
    assert job.state == JobState.FAILED.value and job.error_code == "grant.suspended"
    assert job.steps[0].state == StepState.FAILED.value

    grants.reinstate(gov.session, gov.who("bureau"), grant.id, reason="resolved", now=gov.now)
    assert grant.state == GrantState.APPROVED.value
    second = _job(gov, grant)

    grants.revoke(gov.session, gov.who("bureau"), grant.id, reason="misuse", now=gov.now)
    assert grant.state == GrantState.REVOKED.value and grant.reason == "misuse"
    assert second.state == JobState.FAILED.value and second.error_code == "grant.revoked"
    for action in (grants.suspend, grants.reinstate, grants.revoke):

        def again(act: Callable[..., Grant] = action) -> Grant:
            return act(gov.session, gov.who("bureau"), grant.id, reason="again", now=gov.now)

        refused(gov, again, Conflict, "grant.state")
    assert gov.actions(grant.id)[-3:] == ["grant.suspended", "grant.reinstated", "grant.revoked"]
    assert gov.actions(job.id) == ["job.stopped"]


def test_a_grant_expires_by_itself(gov: Gov) -> None:
    grant = gov.approved_grant()
    end = Terms.model_validate(grant.approved).valid_until
    assert grants.effective_state(grant, end - dt.timedelta(seconds=1)) == "approved"
    assert grants.effective_state(grant, end) == "expired"
    assert grant.state == GrantState.APPROVED.value  # nothing was written
    refused(
        gov,
        lambda: grants.suspend(gov.session, gov.who("bureau"), grant.id, reason="x", now=end),
        Conflict,
        "grant.state",
    )
    grants.revoke(gov.session, gov.who("bureau"), grant.id, reason="tidy up", now=end)
    assert grants.effective_state(grant, end) == "revoked"
    pending = gov.apply()
    assert grants.effective_state(pending, end + dt.timedelta(days=1)) == "pending"


def test_who_sees_which_grants(gov: Gov) -> None:
    grant = gov.apply()
    registry = gov.datasets["market/enterprise_registry"]
    other = gov.apply(
        gov.terms(datasets=(DatasetColumns(dataset_id=registry, columns=("industry",)),))
    )
    seen = {
        name: {g.id for g in grants.visible_grants(gov.session, gov.who(name))}
        for name in (
            "bureau",
            "auditor",
            "operator",
            "tax-cdo",
            "market-cdo",
            "court-cdo",
            "bank-a",
        )
    }
    both = {grant.id, other.id}
    assert seen == {
        "bureau": both,
        "auditor": both,
        "operator": both,
        "tax-cdo": {grant.id},
        "market-cdo": {other.id},
        "court-cdo": set(),
        "bank-a": set(),
    }
    assert grants.visible_grants(gov.session, gov.who("bureau"), state="approved") == []
    assert grants.get_visible_grant(gov.session, gov.who("tax-cdo"), grant.id) is grant
    with pytest.raises(NotFound) as info:
        grants.get_visible_grant(gov.session, gov.who("tax-cdo"), other.id)
    assert info.value.code == "grant.not_found"
