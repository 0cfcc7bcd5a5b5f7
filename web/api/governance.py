"""/api/v1 governance: zones, purposes, catalog review, licenses and grants, with the same
rules as the screens, because both call the same service functions. Each view parses, calls
one service function, commits and shapes; who may do what is decided in ``grants``."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol, TypeVar
from uuid import UUID

from flask import request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from grants import (
    catalog_review,
    computations,
    contributions,
    grants,
    licenses,
    policy,
    purposes,
    vouchers,
    zones,
)
from grants.models import Grant, GrantState, License, Zone
from sandbox.errors import InvalidInput
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.jobs import service as jobs
from sandbox.jobs.coordinator import dispatch
from sandbox.keys import load_or_create_private_key
from sandbox.parties.principal import Principal
from web import context as ctx
from web.api import governance_schemas as gs
from web.api import schemas as s
from web.api.routes import bp, caller, shaped
from web.api.spec import operation
from web.params import json_body, path_id


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _zone(zone: Zone) -> dict[str, Any]:
    return {
        "id": str(zone.id),
        "slug": zone.slug,
        "name": zone.name,
        "description": zone.description,
        "created_at": zone.created_at.isoformat(),
    }


def _license(lic: License, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": str(lic.id),
        "operator_id": str(lic.operator_id),
        "zone": {"id": str(lic.zone.id), "slug": lic.zone.slug, "name": lic.zone.name},
        "scope": lic.scope,
        "qualifications": lic.qualifications,
        "state": licenses.effective_state(lic, now),
        "valid_from": lic.valid_from.isoformat(),
        "valid_until": lic.valid_until.isoformat(),
        "created_at": lic.created_at.isoformat(),
        "decided_at": _time(lic.decided_at),
        "reason": lic.reason,
    }


def _grant(grant: Grant, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": str(grant.id),
        "license_id": str(grant.license_id),
        "operator_id": str(grant.operator_id),
        "state": grants.effective_state(grant, now),
        "terms": grant.terms,
        "approved": grant.approved,
        "justification": grant.justification,
        "epsilon_spent": grant.epsilon_spent,
        "created_at": grant.created_at.isoformat(),
        "decided_at": _time(grant.decided_at),
        "reason": grant.reason,
    }


# --- zones ------------------------------------------------------------------------------------


@operation(bp, "GET", "/zones", summary="Data zones", response=gs.ZoneList)
def list_zones() -> Any:
    who = caller()
    rows = zones.list_zones(ctx.db(), who)
    return shaped(gs.ZoneList, {"zones": [_zone(z) for z in rows]})


@operation(
    bp,
    "POST",
    "/zones",
    summary="Define a data zone (bureau)",
    request=gs.ZoneCreate,
    response=gs.ZoneOut,
    status=201,
)
def create_zone() -> Any:
    who = caller()
    body = json_body(gs.ZoneCreate)
    session = ctx.db()
    zone = zones.create_zone(
        session, who, slug=body.slug, name=body.name, description=body.description, now=ctx.now()
    )
    out = _zone(zone)
    session.commit()
    return shaped(gs.ZoneOut, out), 201


@operation(
    bp,
    "POST",
    "/zones/{zone_id}/datasets",
    summary="Put a provider dataset into a zone (bureau)",
    request=gs.ZoneDatasetAdd,
    response=gs.ZoneDatasetOut,
    status=201,
)
def add_zone_dataset(zone_id: str) -> Any:
    who = caller()
    zone = path_id(zone_id, "zone")
    body = json_body(gs.ZoneDatasetAdd)
    session = ctx.db()
    zones.add_dataset(session, who, zone, body.dataset_id, now=ctx.now())
    session.commit()
    out = {"zone_id": str(zone), "dataset_id": str(body.dataset_id)}
    return shaped(gs.ZoneDatasetOut, out), 201


@operation(
    bp,
    "POST",
    "/zones/{zone_id}/operators",
    summary="Make an operator organization a member of a zone (bureau)",
    request=gs.ZoneOperatorAdd,
    response=gs.ZoneOperatorOut,
    status=201,
)
def add_zone_operator(zone_id: str) -> Any:
    who = caller()
    zone = path_id(zone_id, "zone")
    body = json_body(gs.ZoneOperatorAdd)
    session = ctx.db()
    zones.add_operator(session, who, zone, body.org_id, now=ctx.now())
    session.commit()
    return shaped(gs.ZoneOperatorOut, {"zone_id": str(zone), "org_id": str(body.org_id)}), 201


# --- purposes ---------------------------------------------------------------------------------


@operation(bp, "GET", "/purposes", summary="The purposes a grant may name", response=gs.PurposeList)
def list_purposes() -> Any:
    caller()
    rows = purposes.active_purposes(ctx.db())
    out = [{"id": str(p.id), "code": p.code, "label": p.label, "active": p.active} for p in rows]
    return shaped(gs.PurposeList, {"purposes": out})


@operation(
    bp,
    "POST",
    "/purposes",
    summary="Add a purpose to the list (bureau)",
    request=gs.PurposeCreate,
    response=gs.PurposeOut,
    status=201,
)
def create_purpose() -> Any:
    who = caller()
    body = json_body(gs.PurposeCreate)
    session = ctx.db()
    p = purposes.add_purpose(session, who, code=body.code, label=body.label, now=ctx.now())
    out = {"id": str(p.id), "code": p.code, "label": p.label, "active": p.active}
    session.commit()
    return shaped(gs.PurposeOut, out), 201


# --- catalog review ---------------------------------------------------------------------------


@operation(
    bp,
    "GET",
    "/catalog/reviews",
    summary="Dataset versions awaiting the bureau's review",
    response=gs.PendingReviews,
)
def pending_reviews() -> Any:
    who = caller()
    entries = catalog_review.pending_reviews(ctx.db(), who)
    return shaped(gs.PendingReviews, {"datasets": [e.to_json() for e in entries]})


@operation(
    bp,
    "POST",
    "/datasets/{dataset_id}/review",
    summary="Confirm or change a dataset version's classification (bureau)",
    request=gs.CatalogReviewCreate,
    response=gs.CatalogReviewOut,
    status=201,
)
def review_dataset(dataset_id: str) -> Any:
    who = caller()
    dataset = path_id(dataset_id, "dataset")
    body = json_body(gs.CatalogReviewCreate)
    session = ctx.db()
    row = catalog_review.review(
        session,
        who,
        dataset,
        openness=body.openness,
        grade=body.grade,
        sensitivities={column: s.value for column, s in body.sensitivities.items()},
        note=body.note,
        now=ctx.now(),
    )
    out = {
        "id": str(row.id),
        "dataset_id": str(row.dataset_id),
        "version": row.version,
        "openness": row.openness,
        "grade": row.grade,
        "sensitivities": row.sensitivities,
        "note": row.note,
        "reviewed_at": row.reviewed_at.isoformat(),
    }
    session.commit()
    return shaped(gs.CatalogReviewOut, out), 201


# --- licenses ---------------------------------------------------------------------------------


class _LicenseStep(Protocol):
    def __call__(
        self,
        session: Session,
        who: Principal,
        license_id: UUID,
        /,
        *,
        reason: str,
        now: dt.datetime,
    ) -> License: ...


LICENSE_ACTIONS: dict[str, _LicenseStep] = {
    "issue": licenses.issue,
    "refuse": licenses.refuse,
    "suspend": licenses.suspend,
    "reinstate": licenses.reinstate,
    "revoke": licenses.revoke,
}


@operation(
    bp, "GET", "/licenses", summary="Operating licenses you may see", response=gs.LicenseList
)
def list_licenses() -> Any:
    who = caller()
    now = ctx.now()
    rows = licenses.visible_licenses(ctx.db(), who)
    return shaped(gs.LicenseList, {"licenses": [_license(lic, now) for lic in rows]})


@operation(
    bp,
    "POST",
    "/licenses",
    summary="Apply for an operating license in a zone (operator)",
    request=gs.LicenseApply,
    response=gs.LicenseOut,
    status=201,
)
def apply_license() -> Any:
    who = caller()
    body = json_body(gs.LicenseApply)
    session, now = ctx.db(), ctx.now()
    lic = licenses.apply(
        session,
        who,
        zone_id=body.zone_id,
        scope=body.scope,
        qualifications=body.qualifications,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        now=now,
    )
    out = _license(lic, now)
    session.commit()
    return shaped(gs.LicenseOut, out), 201


@operation(bp, "GET", "/licenses/{license_id}", summary="One license", response=gs.LicenseOut)
def get_license(license_id: str) -> Any:
    who = caller()
    lic = licenses.get_visible_license(ctx.db(), who, path_id(license_id, "license"))
    return shaped(gs.LicenseOut, _license(lic, ctx.now()))


@operation(
    bp,
    "POST",
    "/licenses/{license_id}/decision",
    summary="Issue, refuse, suspend, reinstate or revoke a license (bureau)",
    request=gs.LicenseDecision,
    response=gs.LicenseOut,
)
def decide_license(license_id: str) -> Any:
    who = caller()
    target = path_id(license_id, "license")
    body = json_body(gs.LicenseDecision)
    session, now = ctx.db(), ctx.now()
    lic = LICENSE_ACTIONS[body.action](session, who, target, reason=body.reason, now=now)
    out = _license(lic, now)
    session.commit()
    return shaped(gs.LicenseOut, out)


# --- grants -----------------------------------------------------------------------------------


class _GrantStep(Protocol):
    def __call__(
        self, session: Session, who: Principal, grant_id: UUID, /, *, reason: str, now: dt.datetime
    ) -> Grant: ...


GRANT_ACTIONS: dict[str, _GrantStep] = {
    "suspend": grants.suspend,
    "reinstate": grants.reinstate,
    "revoke": grants.revoke,
}
GRANT_STATES = frozenset(s.value for s in GrantState)


@operation(
    bp,
    "GET",
    "/grants",
    summary="Grants you may see, newest first",
    response=gs.GrantList,
    query=(("state", "string"),),
)
def list_grants() -> Any:
    who = caller()
    state = request.args.get("state")
    if state is not None and state not in GRANT_STATES:
        raise InvalidInput(
            f"state must be one of {', '.join(sorted(GRANT_STATES))}", code="invalid_query"
        )
    now = ctx.now()
    rows = grants.visible_grants(ctx.db(), who, state=state)
    return shaped(gs.GrantList, {"grants": [_grant(g, now) for g in rows]})


@operation(
    bp,
    "POST",
    "/grants",
    summary="Apply for a grant under a license (operator)",
    request=gs.GrantApply,
    response=gs.GrantOut,
    status=201,
)
def apply_grant() -> Any:
    who = caller()
    body = json_body(gs.GrantApply)
    session, now = ctx.db(), ctx.now()
    grant = grants.apply(
        session,
        who,
        license_id=body.license_id,
        terms=body.terms,
        justification=body.justification,
        now=now,
    )
    out = _grant(grant, now)
    session.commit()
    return shaped(gs.GrantOut, out), 201


@operation(
    bp,
    "GET",
    "/grants/{grant_id}",
    summary="One grant, with what its reviewers see",
    response=gs.GrantDetail,
)
def get_grant(grant_id: str) -> Any:
    who = caller()
    session = ctx.db()
    grant = grants.get_visible_grant(session, who, path_id(grant_id, "grant"))
    out = _grant(grant, ctx.now())
    out["review"] = grants.review_view(session, grant)
    return shaped(gs.GrantDetail, out)


@operation(
    bp,
    "POST",
    "/grants/{grant_id}/reviews",
    summary="Approve (possibly with narrower conditions) or refuse a grant",
    request=gs.GrantReviewCreate,
    response=gs.GrantOut,
    status=201,
)
def review_grant(grant_id: str) -> Any:
    who = caller()
    target = path_id(grant_id, "grant")
    body = json_body(gs.GrantReviewCreate)
    session, now = ctx.db(), ctx.now()
    grant = grants.review(
        session,
        who,
        target,
        decision=body.decision,
        reason=body.reason,
        conditions=body.conditions,
        now=now,
    )
    out = _grant(grant, now)
    session.commit()
    return shaped(gs.GrantOut, out), 201


@operation(
    bp,
    "POST",
    "/grants/{grant_id}/decision",
    summary="Suspend, reinstate or revoke a grant (bureau)",
    request=gs.GrantDecision,
    response=gs.GrantOut,
)
def decide_grant(grant_id: str) -> Any:
    who = caller()
    target = path_id(grant_id, "grant")
    body = json_body(gs.GrantDecision)
    session, now = ctx.db(), ctx.now()
    grant = GRANT_ACTIONS[body.action](session, who, target, reason=body.reason, now=now)
    out = _grant(grant, now)
    session.commit()
    return shaped(gs.GrantOut, out)


@operation(
    bp,
    "GET",
    "/grants/{grant_id}/voucher",
    summary="The signed data-asset voucher of an approved grant",
    response=gs.VoucherOut,
)
def grant_voucher(grant_id: str) -> Any:
    who = caller()
    target = path_id(grant_id, "grant")
    session = ctx.db()
    # The grant authority's key: the one that signs job tickets.
    key = load_or_create_private_key(ctx.settings().ticket_key_path)
    voucher = vouchers.issue_voucher(session, who, target, key, now=ctx.now())
    session.commit()
    headers = {"Content-Disposition": f'attachment; filename="voucher-{target}.json"'}
    return shaped(gs.VoucherOut, voucher), 200, headers


Body = TypeVar("Body", bound=BaseModel)


def _under_grant(grant_id: str, model: type[Body]) -> tuple[Principal, UUID, Body, Session]:
    """The caller, the grant's id and the parsed body; unknown and invisible grants answer
    404, as on every other /grants/{id} route."""
    who = caller()
    target = path_id(grant_id, "grant")
    body = json_body(model)
    session = ctx.db()
    grants.get_visible_grant(session, who, target)
    return who, target, body, session


@operation(
    bp,
    "POST",
    "/grants/{grant_id}/check",
    summary="Would the policy allow this computation now? (a dry run: nothing is recorded)",
    request=gs.CheckRequest,
    response=gs.CheckOut,
)
def check_grant(grant_id: str) -> Any:
    who, target, body, session = _under_grant(grant_id, gs.CheckRequest)
    computation = policy.Computation(
        grant_id=target,
        kind=body.kind,
        datasets=body.datasets,
        purpose=body.purpose,
        recipient=body.recipient,
        rows=body.rows,
        epsilon=body.epsilon,
    )
    decision = policy.decide(session, who, computation, now=ctx.now())
    if isinstance(decision, policy.Allowed):
        return shaped(gs.CheckOut, {"allowed": True, "reasons": []})
    reasons = [{"code": r.code, "message": r.message} for r in decision.reasons]
    return shaped(gs.CheckOut, {"allowed": False, "reasons": reasons})


@operation(
    bp,
    "POST",
    "/grants/{grant_id}/computations",
    summary="Run a computation under the grant (PSI, lookup, encrypted aggregates)",
    request=gs.ComputationRequest,
    response=s.JobOut,
    status=202,
)
def run_computation(grant_id: str) -> Any:
    who, target, body, session = _under_grant(grant_id, gs.ComputationRequest)
    computation = policy.Computation(
        grant_id=target,
        kind=body.kind,
        datasets=body.datasets,
        purpose=body.purpose,
        recipient=body.recipient,
        rows=computations.input_rows(session, body.input_dataset) if body.input_dataset else 0,
        input_dataset=body.input_dataset,
        epsilon=body.epsilon,
        bounds=body.bounds,
        contributions=body.contributions,
    )
    job = computations.submit(
        session,
        who,
        computation,
        signer=ctx.signer(),
        now=ctx.now(),
        sizing=computations.Sizing.of(ctx.settings()),
    )
    first = engine.advance(session, JobId(job.id), now=ctx.now())  # queue the first steps
    out = jobs.job_to_json(job)
    session.commit()
    dispatch(ctx.enqueuer(), first)  # only after commit
    return shaped(s.JobOut, out), 202


def _contribution_json(view: contributions.ContributionView) -> dict[str, Any]:
    return {
        "id": view.id,
        "grant_id": view.grant_id,
        "dataset_id": view.dataset_id,
        "dataset": view.dataset,
        "owner": view.owner,
        "columns": list(view.columns),
        "consented_at": view.consented_at,
    }


@operation(
    bp,
    "GET",
    "/grants/{grant_id}/contributions",
    summary="Data holders' standing consents to add their own datasets to secure sums",
    response=gs.ContributionsOut,
)
def list_contributions(grant_id: str) -> Any:
    who = caller()
    target = path_id(grant_id, "grant")
    session = ctx.db()
    grants.get_visible_grant(session, who, target)
    views = contributions.views(session, target)
    return shaped(gs.ContributionsOut, {"contributions": [_contribution_json(v) for v in views]})


@operation(
    bp,
    "POST",
    "/grants/{grant_id}/contributions",
    summary="Consent to add one of your own datasets, encrypted, to secure sums under the grant",
    request=gs.ContributionRequest,
    response=gs.ContributionOut,
    status=201,
)
def consent_contribution(grant_id: str) -> Any:
    who, target, body, session = _under_grant(grant_id, gs.ContributionRequest)
    row = contributions.consent(session, who, target, body.dataset_id, body.columns, now=ctx.now())
    session.commit()
    view = next(v for v in contributions.views(session, target) if v.id == str(row.id))
    return shaped(gs.ContributionOut, _contribution_json(view)), 201


@operation(
    bp,
    "DELETE",
    "/grants/{grant_id}/contributions/{dataset_id}",
    summary="Withdraw your consent: the dataset enters no further secure sum",
    response=None,
    status=204,
)
def withdraw_contribution(grant_id: str, dataset_id: str) -> Any:
    who = caller()
    target = path_id(grant_id, "grant")
    session = ctx.db()
    grants.get_visible_grant(session, who, target)
    contributions.withdraw(session, who, target, path_id(dataset_id, "dataset"), now=ctx.now())
    session.commit()
    return "", 204
