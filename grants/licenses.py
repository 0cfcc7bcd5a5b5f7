"""Operating licenses (运营授权): an operator applies, the bureau issues or refuses, and can
suspend, reinstate or revoke at once. A license expires by itself: its state stays as decided
and :func:`effective_state` reads ``expired`` once the term has ended.

    submitted --issue--> active --suspend--> suspended --reinstate--> active
    submitted --refuse--> refused            active | suspended --revoke--> revoked

Transitions are checked against the effective state, so an expired license takes none.
Suspending or revoking stops every job under the license's grants at once, queued or running.
Every decision is a ledger entry in the caller's session; the caller commits. A refusal raises
before anything in the session has changed.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import zones
from grants.models import Grant, License, LicenseState
from sandbox.errors import Conflict, InvalidInput, NotFound
from sandbox.jobs.service import stop_jobs
from sandbox.ledger.log import Actor, append
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role
from sandbox.parties.service import require_role

EXPIRED = "expired"
MAX_TEXT = 2000
_LIVE = (LicenseState.ACTIVE.value, LicenseState.SUSPENDED.value)


def effective_state(lic: License, now: dt.datetime) -> str:
    """The decided state, or ``expired`` once an active or suspended license's term ended."""
    if lic.state in _LIVE and lic.valid_until <= now:
        return EXPIRED
    return lic.state


def is_in_force(lic: License, now: dt.datetime) -> bool:
    return lic.state == LicenseState.ACTIVE.value and lic.valid_from <= now < lic.valid_until


def _text(value: str, field: str, *, required: bool = True) -> str:
    value = value.strip()
    if (required and not value) or len(value) > MAX_TEXT:
        need = "1 to" if required else "at most"
        raise InvalidInput(f"{field}: {need} {MAX_TEXT} characters", code=f"license.{field}")
    return value


def apply(
    session: Session,
    who: Principal,
    *,
    zone_id: UUID,
    scope: str,
    qualifications: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    now: dt.datetime,
) -> License:
    """An operator applies for a license in a zone (and so for admission into it)."""
    require_role(who, Role.OPERATOR)
    zone = zones.get_zone(session, zone_id)
    scope = _text(scope, "scope")
    qualifications = _text(qualifications, "qualifications")
    if valid_from.tzinfo is None or valid_until.tzinfo is None:
        raise InvalidInput("the term's times need a time zone", code="license.term")
    if valid_until <= valid_from:
        raise InvalidInput("the term must end after it starts", code="license.term")
    if valid_until <= now:
        raise InvalidInput("the term must end in the future", code="license.term")
    pending = session.scalar(
        select(License.id).where(
            License.operator_id == who.org_id,
            License.zone_id == zone.id,
            License.state == LicenseState.SUBMITTED.value,
        )
    )
    if pending is not None:
        raise Conflict(
            f"an application for this zone awaits the bureau ({pending})", code="license.pending"
        )
    lic = License(
        operator_id=who.org_id,
        zone_id=zone.id,
        scope=scope,
        qualifications=qualifications,
        state=LicenseState.SUBMITTED.value,
        valid_from=valid_from,
        valid_until=valid_until,
        applied_by=who.user_id,
        created_at=now,
    )
    session.add(lic)
    session.flush()
    params = {
        "zone": zone.slug,
        "scope": scope,
        "qualifications": qualifications,
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat(),
    }
    _record(session, who, "license.applied", lic, params, {"zone": zone.slug}, now)
    return lic


def issue(
    session: Session, who: Principal, license_id: UUID, *, reason: str = "", now: dt.datetime
) -> License:
    """Issue a submitted license and admit its operator into the zone."""
    lic = _decidable(session, who, license_id, (LicenseState.SUBMITTED,), now)
    reason = _text(reason, "reason", required=False)
    if lic.valid_until <= now:
        raise Conflict("the license's term has already ended", code="license.term_ended")
    operator = session.get(Organization, lic.operator_id)
    assert operator is not None  # a foreign key
    _decide(lic, who, LicenseState.ACTIVE, reason, now)
    admitted = zones.admit(session, who, lic.zone, operator, now=now)
    details = {"reason": reason, "zone": lic.zone.slug, "operator": operator.slug}
    _record(session, who, "license.issued", lic, details, {**details, "admitted": admitted}, now)
    return lic


def refuse(
    session: Session, who: Principal, license_id: UUID, *, reason: str, now: dt.datetime
) -> License:
    lic = _decidable(session, who, license_id, (LicenseState.SUBMITTED,), now)
    reason = _text(reason, "reason")
    _decide(lic, who, LicenseState.REFUSED, reason, now)
    _record(session, who, "license.refused", lic, {"reason": reason}, {"reason": reason}, now)
    return lic


def suspend(
    session: Session, who: Principal, license_id: UUID, *, reason: str, now: dt.datetime
) -> License:
    lic = _decidable(session, who, license_id, (LicenseState.ACTIVE,), now)
    reason = _text(reason, "reason")
    _decide(lic, who, LicenseState.SUSPENDED, reason, now)
    stopped = _stop(session, lic, "license.suspended", "the operating license was suspended", now)
    details = {"reason": reason, "jobs_stopped": stopped}
    _record(session, who, "license.suspended", lic, {"reason": reason}, details, now)
    return lic


def reinstate(
    session: Session, who: Principal, license_id: UUID, *, reason: str = "", now: dt.datetime
) -> License:
    lic = _decidable(session, who, license_id, (LicenseState.SUSPENDED,), now)
    reason = _text(reason, "reason", required=False)
    _decide(lic, who, LicenseState.ACTIVE, reason, now)
    _record(session, who, "license.reinstated", lic, {"reason": reason}, {"reason": reason}, now)
    return lic


def revoke(
    session: Session, who: Principal, license_id: UUID, *, reason: str, now: dt.datetime
) -> License:
    states = (LicenseState.ACTIVE, LicenseState.SUSPENDED)
    lic = _decidable(session, who, license_id, states, now)
    reason = _text(reason, "reason")
    _decide(lic, who, LicenseState.REVOKED, reason, now)
    stopped = _stop(session, lic, "license.revoked", "the operating license was revoked", now)
    details = {"reason": reason, "jobs_stopped": stopped}
    _record(session, who, "license.revoked", lic, {"reason": reason}, details, now)
    return lic


def stop_expired(session: Session, *, now: dt.datetime) -> int:
    """Stop the unfinished jobs under every license whose term has ended (for a periodic
    sweep: expiry is not an event). Returns how many jobs were stopped."""
    expired = list(
        session.scalars(select(License).where(License.state.in_(_LIVE), License.valid_until <= now))
    )
    return sum(
        _stop(session, lic, "license.expired", "the operating license has expired", now)
        for lic in expired
    )


def visible_licenses(session: Session, who: Principal) -> list[License]:
    """The bureau and the auditor see every license, an operator its own, anyone else none."""
    query = select(License).order_by(License.created_at.desc())
    if who.role is Role.OPERATOR:
        query = query.where(License.operator_id == who.org_id)
    elif not who.oversees_all:
        return []
    return list(session.scalars(query))


def get_visible_license(session: Session, who: Principal, license_id: UUID) -> License:
    lic = session.get(License, license_id)
    if lic is None or not (
        who.oversees_all or (who.role is Role.OPERATOR and lic.operator_id == who.org_id)
    ):
        raise NotFound("no such license", code="license.not_found")
    return lic


def _decidable(
    session: Session,
    who: Principal,
    license_id: UUID,
    allowed: tuple[LicenseState, ...],
    now: dt.datetime,
) -> License:
    require_role(who, Role.BUREAU_ADMIN)
    lic = session.get(License, license_id)
    if lic is None:
        raise NotFound("no such license", code="license.not_found")
    current = effective_state(lic, now)
    if current not in {s.value for s in allowed}:
        raise Conflict(
            f"the license is {current}; this needs {' or '.join(s.value for s in allowed)}",
            code="license.bad_state",
            state=current,
        )
    return lic


def _decide(
    lic: License, who: Principal, state: LicenseState, reason: str, now: dt.datetime
) -> None:
    lic.state = state.value
    lic.decided_by = who.user_id
    lic.decided_at = now
    lic.reason = reason or None


def _stop(session: Session, lic: License, code: str, message: str, now: dt.datetime) -> int:
    grant_ids = session.scalars(select(Grant.id).where(Grant.license_id == lic.id))
    authorities = [f"grant:{gid}" for gid in grant_ids]
    return len(stop_jobs(session, authorities=authorities, code=code, message=message, now=now))


def _record(
    session: Session,
    who: Principal,
    action: str,
    lic: License,
    params: dict[str, str],
    details: dict[str, object],
    now: dt.datetime,
) -> None:
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type="license",
        object_id=str(lic.id),
        params={"license": str(lic.id), **params},
        details={"state": lic.state, **details},
        now=now,
    )
