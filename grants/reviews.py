"""Two-level review of a grant: the bureau and the CDO of every providing department each
decide once. Anyone required may refuse (with a reason); an approval may narrow the terms.

Every check runs before anything changes, so a refused review leaves the session untouched.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal
from uuid import UUID

from sqlalchemy.orm import Session

from grants import catalog_review
from grants.applications import (
    asked_terms,
    current_terms,
    get_visible_grant,
    required_reviewers,
    sensitivity_of,
    version_schema,
)
from grants.models import Grant, GrantReview, GrantState
from grants.terms import Kind, Terms
from sandbox.datasets.models import Dataset
from sandbox.errors import Conflict, InvalidInput, PermissionDenied
from sandbox.ledger.log import Actor, append
from sandbox.parties.models import Organization, User
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role

MAX_REASON = 4000

REVEALS: dict[Kind, str] = {
    Kind.PSI_INTERSECTION: "which of the requester's own identifiers are in the provider's set",
    Kind.PSI_CARDINALITY: "only the size of the intersection",
    Kind.LOOKUP: "the derived labels for those of the requester's identifiers that are present",
    Kind.INTERSECTION_SUM: "the size of the intersection and the sum of one column over it",
    Kind.SECURE_SUM: "only the totals across the contributing domains",
    Kind.AGGREGATE: "sums, counts and means per group over the granted columns",
}
"""What the requester learns from each kind of output (DESIGN §4), for the reviewer's screen."""


def _reviewer_org(session: Session, who: Principal, grant: Grant) -> Organization:
    if who.org_id == grant.operator_id or who.user_id == grant.requested_by:
        raise PermissionDenied(
            "the requesting organization cannot review its own grant",
            code="grant.separation_of_duties",
        )
    org = next((o for o in required_reviewers(session, grant) if o.id == who.org_id), None)
    role = (
        Role.BUREAU_ADMIN if org is not None and org.kind == OrgKind.BUREAU else Role.PROVIDER_CDO
    )
    if org is None or who.role != role:
        raise PermissionDenied("you are not a reviewer of this grant", code="grant.not_reviewer")
    return org


def _check_conditions(grant: Grant, conditions: Terms, now: dt.datetime) -> None:
    current = current_terms(grant)
    if not conditions.narrows(current) or conditions.purpose_text != current.purpose_text:
        raise InvalidInput(
            "conditions may only narrow what is asked or already narrowed",
            code="grant.not_narrower",
        )
    if conditions.valid_until <= now:
        raise InvalidInput("the term must end in the future", code="grant.term")


def review(
    session: Session,
    who: Principal,
    grant_id: UUID,
    *,
    decision: Literal["approve", "refuse"],
    reason: str = "",
    conditions: Terms | None = None,
    now: dt.datetime,
) -> Grant:
    """Record one required organization's decision. A refusal refuses the grant at once; the
    last approval approves it with the narrowest terms agreed."""
    grant = get_visible_grant(session, who, grant_id)
    org = _reviewer_org(session, who, grant)
    if grant.state != GrantState.PENDING.value:
        raise Conflict(f"the grant is already {grant.state}", code="grant.decided")
    if any(r.reviewer_org_id == org.id for r in grant.reviews):
        raise Conflict(f"{org.slug} has already decided", code="grant.already_reviewed")
    if decision not in ("approve", "refuse"):
        raise InvalidInput("decision must be approve or refuse", code="grant.decision")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"reason must have at most {MAX_REASON} characters", code="grant.reason")
    if decision == "refuse":
        if not reason:
            raise InvalidInput("a refusal needs a reason", code="grant.reason_required")
        if conditions is not None:
            raise InvalidInput("conditions come only with an approval", code="grant.decision")
    elif conditions is not None:
        _check_conditions(grant, conditions, now)

    conditions_json = conditions.model_dump(mode="json") if conditions is not None else None
    grant.reviews.append(
        GrantReview(
            grant_id=grant.id,
            reviewer_org_id=org.id,
            reviewer_id=who.user_id,
            decision=decision,
            conditions=conditions_json,
            reason=reason,
            at=now,
        )
    )
    if conditions_json is not None:
        grant.approved = conditions_json
    _ledger(
        session,
        who,
        grant,
        "grant.reviewed",
        now,
        decision=decision,
        reason=reason,
        conditions=conditions_json,
        details={"org": org.slug, "decision": decision, "narrowed": conditions is not None},
    )
    if decision == "refuse":
        grant.state, grant.decided_at, grant.reason = GrantState.REFUSED.value, now, reason
        _ledger(session, who, grant, "grant.refused", now, reason=reason, details={"org": org.slug})
    else:
        approved = {r.reviewer_org_id for r in grant.reviews if r.decision == "approve"}
        if all(o.id in approved for o in required_reviewers(session, grant)):
            final = current_terms(grant)
            grant.state, grant.decided_at = GrantState.APPROVED.value, now
            grant.approved = final.model_dump(mode="json")
            _ledger(
                session,
                who,
                grant,
                "grant.approved",
                now,
                terms=grant.approved,
                details={
                    "narrowed": final != asked_terms(grant),
                    "reviewers": sorted(_slugs(session, approved)),
                },
            )
    session.flush()
    return grant


def _slugs(session: Session, org_ids: set[UUID]) -> list[str]:
    return [o.slug for o in (session.get(Organization, i) for i in org_ids) if o is not None]


def _ledger(
    session: Session,
    who: Principal,
    grant: Grant,
    action: str,
    now: dt.datetime,
    *,
    details: dict[str, Any],
    **params: Any,
) -> None:
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type="grant",
        object_id=str(grant.id),
        params=params,
        details=details,
        now=now,
    )


def review_view(session: Session, grant: Grant) -> dict[str, Any]:
    """What a reviewer sees: who asked for what and why, the data's classification, what the
    outputs would reveal, the quotas and output controls, and the decisions so far."""
    asked = asked_terms(grant)
    current = current_terms(grant)
    requester = session.get(User, grant.requested_by)
    operator = session.get(Organization, grant.operator_id)
    datasets: list[dict[str, Any]] = []
    for item in asked.datasets:
        dataset = session.get(Dataset, item.dataset_id)
        cls = catalog_review.classification(session, item.dataset_id)
        entry: dict[str, Any] = {
            "id": str(item.dataset_id),
            "name": dataset.name if dataset is not None else None,
            "title": dataset.title if dataset is not None else None,
            "owner": dataset.domain.org.slug if dataset is not None else None,
            "classification": None,
        }
        if cls is not None:
            schema = version_schema(session, item.dataset_id, cls.version)
            entry["classification"] = {
                "version": cls.version,
                "openness": str(cls.openness),
                "grade": str(cls.grade),
                "columns": {
                    c: sensitivity_of(cls.sensitivities, schema, c)
                    for c in item.columns
                    if c in schema.column_names
                },
            }
        datasets.append(entry)
    decided = {r.reviewer_org_id: r for r in grant.reviews}
    return {
        "grant": str(grant.id),
        "state": grant.state,
        "requester": {
            "user": requester.username if requester is not None else None,
            "name": requester.display_name if requester is not None else None,
            "org": operator.slug if operator is not None else None,
            "org_name": operator.name if operator is not None else None,
        },
        "license": {"id": str(grant.license_id), "zone": grant.license.zone.slug},
        "asked": asked.model_dump(mode="json"),
        "current": current.model_dump(mode="json"),
        "justification": grant.justification,
        "purpose": {"code": asked.purpose, "text": asked.purpose_text},
        "recipients": list(asked.recipients),
        "datasets": datasets,
        "reveals": {k.value: REVEALS[k] for k in asked.kinds},
        "quotas": {"calls_per_day": current.calls_per_day, "rows_per_call": current.rows_per_call},
        "min_cohort": current.min_cohort,
        "epsilon_budget": current.epsilon_budget,
        "reviewers": [
            {
                "org": o.slug,
                "name": o.name,
                "decision": decided[o.id].decision if o.id in decided else None,
                "at": decided[o.id].at.isoformat() if o.id in decided else None,
                "reason": decided[o.id].reason if o.id in decided else None,
                "narrowed": decided[o.id].conditions is not None if o.id in decided else None,
            }
            for o in required_reviewers(session, grant)
        ],
    }
