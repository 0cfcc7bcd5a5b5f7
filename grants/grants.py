"""Grants (数据使用授权): the service functions in one place.

Applying and visibility live in :mod:`grants.applications`, review in :mod:`grants.reviews`;
this module adds what the bureau does to a decided grant: suspend, reinstate, revoke. A
suspension or revocation stops, in the same session, every job that runs under the grant.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy.orm import Session

from grants.applications import (
    EXPIRED,
    apply,
    effective_state,
    get_visible_grant,
    parse_terms,
    required_reviewers,
    visible_grants,
)
from grants.models import Grant, GrantState
from grants.reviews import REVEALS, review, review_view
from sandbox.errors import Conflict, InvalidInput, NotFound
from sandbox.jobs.service import stop_jobs
from sandbox.ledger.log import Actor, append
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role
from sandbox.parties.service import require_role

__all__ = [
    "EXPIRED",
    "REVEALS",
    "apply",
    "authority",
    "effective_state",
    "get_visible_grant",
    "parse_terms",
    "reinstate",
    "required_reviewers",
    "review",
    "review_view",
    "revoke",
    "suspend",
    "visible_grants",
]

MAX_REASON = 4000


def authority(grant_id: UUID) -> str:
    """The opaque authority a job carries when it runs under this grant."""
    return f"grant:{grant_id}"


def _bureau_action(
    session: Session,
    who: Principal,
    grant_id: UUID,
    reason: str,
    allowed: tuple[str, ...],
    now: dt.datetime,
) -> tuple[Grant, str]:
    require_role(who, Role.BUREAU_ADMIN)
    grant = session.get(Grant, grant_id)
    if grant is None:
        raise NotFound("no such grant", code="grant.not_found")
    reason = reason.strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise InvalidInput(
            f"a reason of 1 to {MAX_REASON} characters is required", code="grant.reason_required"
        )
    state = effective_state(grant, now)
    if state not in allowed:
        raise Conflict(f"the grant is {state}", code="grant.state")
    return grant, reason


def _record(
    session: Session,
    who: Principal,
    grant: Grant,
    action: str,
    reason: str,
    stopped: int,
    now: dt.datetime,
) -> None:
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type="grant",
        object_id=str(grant.id),
        params={"reason": reason},
        details={"jobs_stopped": stopped},
        now=now,
    )


def suspend(
    session: Session, who: Principal, grant_id: UUID, *, reason: str, now: dt.datetime
) -> Grant:
    """Suspend an approved grant at once; its queued and running jobs stop."""
    grant, reason = _bureau_action(
        session, who, grant_id, reason, (GrantState.APPROVED.value,), now
    )
    grant.state, grant.reason = GrantState.SUSPENDED.value, reason
    stopped = stop_jobs(
        session,
        authorities=[authority(grant.id)],
        code="grant.suspended",
        message="the grant was suspended",
        now=now,
    )
    _record(session, who, grant, "grant.suspended", reason, len(stopped), now)
    return grant


def reinstate(
    session: Session, who: Principal, grant_id: UUID, *, reason: str, now: dt.datetime
) -> Grant:
    """Lift a suspension (not after the grant's term has ended)."""
    grant, reason = _bureau_action(
        session, who, grant_id, reason, (GrantState.SUSPENDED.value,), now
    )
    grant.state, grant.reason = GrantState.APPROVED.value, reason
    _record(session, who, grant, "grant.reinstated", reason, 0, now)
    return grant


def revoke(
    session: Session, who: Principal, grant_id: UUID, *, reason: str, now: dt.datetime
) -> Grant:
    """Revoke a grant for good (approved, suspended or expired); its jobs stop."""
    grant, reason = _bureau_action(
        session,
        who,
        grant_id,
        reason,
        (GrantState.APPROVED.value, GrantState.SUSPENDED.value, EXPIRED),
        now,
    )
    grant.state, grant.reason = GrantState.REVOKED.value, reason
    stopped = stop_jobs(
        session,
        authorities=[authority(grant.id)],
        code="grant.revoked",
        message="the grant was revoked",
        now=now,
    )
    _record(session, who, grant, "grant.revoked", reason, len(stopped), now)
    return grant
