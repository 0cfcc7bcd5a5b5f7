"""Enterprises' authorizations of credit checks (授权查询), registered by the bank on the
enterprise's behalf with the authorization's reference number.

The control DB keeps only the digest of (bank, normalized credit code, reference)
(:func:`sandbox.compute.authorized.digest`), never the code. A call's tickets carry the
digests of the bank's valid authorizations; the bank's own worker recomputes the digest for
each row of its applicant list and queries only the rows it finds. A bank sees only its own
authorizations; nobody else sees any.
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from products.models import AuthorizationState, EnterpriseAuthorization
from sandbox.compute.authorized import digest, normalize_reference
from sandbox.errors import Conflict, InvalidInput, NotFound
from sandbox.identifiers import IdentifierKind, check
from sandbox.ledger.log import Actor, append
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role
from sandbox.parties.service import require_role

MAX_RAW = 64  # longer input is not a credit code or a reference, whatever it normalizes to
MAX_TERM = dt.timedelta(days=3660)


def normalized_code(raw: str) -> str:
    """The normalized unified social credit code, or InvalidInput naming only the reason."""
    if not isinstance(raw, str) or len(raw) > MAX_RAW:
        raise InvalidInput("not a unified social credit code", code="authorization.credit_code")
    checked = check(IdentifierKind.CREDIT_CODE, raw)
    if checked.value is None:
        raise InvalidInput(
            f"not a valid unified social credit code ({checked.reason})",
            code="authorization.credit_code",
        )
    return checked.value


def normalized_reference(raw: str) -> str:
    ref = normalize_reference(raw) if isinstance(raw, str) and len(raw) <= MAX_RAW else None
    if ref is None:
        raise InvalidInput(
            "a reference is 1 to 64 letters, digits and . _ / - (starting with a letter or digit)",
            code="authorization.reference",
        )
    return ref


def register(
    session: Session,
    who: Principal,
    *,
    credit_code: str,
    reference: str,
    valid_until: dt.datetime,
    now: dt.datetime,
) -> EnterpriseAuthorization:
    require_role(who, Role.BANK_ANALYST)
    code = normalized_code(credit_code)
    ref = normalized_reference(reference)
    if valid_until.tzinfo is None or not now < valid_until <= now + MAX_TERM:
        raise InvalidInput(
            "an authorization is valid until a time in the next ten years",
            code="authorization.valid_until",
        )
    taken = session.scalar(
        select(EnterpriseAuthorization.id).where(
            EnterpriseAuthorization.consumer_id == who.org_id,
            EnterpriseAuthorization.reference == ref,
        )
    )
    if taken is not None:
        raise Conflict(f"reference {ref} is already registered", code="authorization.duplicate")
    row = EnterpriseAuthorization(
        consumer_id=who.org_id,
        reference=ref,
        digest=digest(who.org_slug, code, ref),
        state=AuthorizationState.ACTIVE.value,
        valid_until=valid_until,
        registered_by=who.user_id,
        registered_at=now,
    )
    session.add(row)
    session.flush()
    _ledger(session, who, row, "authorization.registered", now)
    return row


def revoke(
    session: Session, who: Principal, authorization_id: UUID, now: dt.datetime
) -> EnterpriseAuthorization:
    """The enterprise withdrew its authorization: later calls no longer query it."""
    require_role(who, Role.BANK_ANALYST)
    row = session.get(EnterpriseAuthorization, authorization_id)
    if row is None or row.consumer_id != who.org_id:
        raise NotFound("no such authorization of yours", code="authorization.not_found")
    if row.state != AuthorizationState.ACTIVE.value:
        raise Conflict("the authorization is already revoked", code="authorization.revoked")
    row.state, row.revoked_at, row.revoked_by = AuthorizationState.REVOKED.value, now, who.user_id
    session.flush()
    _ledger(session, who, row, "authorization.revoked", now)
    return row


def authorizations_for(session: Session, who: Principal) -> list[EnterpriseAuthorization]:
    """A bank's own authorizations, newest first; anyone else has none to see."""
    if who.role != Role.BANK_ANALYST:
        return []
    return list(
        session.scalars(
            select(EnterpriseAuthorization)
            .where(EnterpriseAuthorization.consumer_id == who.org_id)
            .order_by(
                EnterpriseAuthorization.registered_at.desc(), EnterpriseAuthorization.reference
            )
        )
    )


def valid_digests(session: Session, consumer_org_id: UUID, now: dt.datetime) -> frozenset[str]:
    """The digests of the consumer's authorizations in force at ``now``."""
    return frozenset(
        session.scalars(
            select(EnterpriseAuthorization.digest).where(
                EnterpriseAuthorization.consumer_id == consumer_org_id,
                EnterpriseAuthorization.state == AuthorizationState.ACTIVE.value,
                EnterpriseAuthorization.valid_until > now,
            )
        )
    )


def _ledger(
    session: Session, who: Principal, row: EnterpriseAuthorization, action: str, now: dt.datetime
) -> None:
    # The digest identifies the authorization for an auditor's trace; neither the credit code
    # nor the reference goes into the ledger.
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type="authorization",
        object_id=str(row.id),
        params={"authorization": str(row.id), "digest": row.digest, "state": row.state},
        details={
            "digest": row.digest,
            "state": row.state,
            "valid_until": row.valid_until.isoformat(),
        },
        now=now,
    )
