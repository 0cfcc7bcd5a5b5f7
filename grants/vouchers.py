"""Data-asset vouchers (数据资产凭证): a signed certificate of an approved grant.

Format: ``{"voucher": <claims>, "signature": base64(Ed25519 over canonical JSON of claims)}``.
The claims say what was approved (the approved terms), for whom (operator, license, zone),
and the proof that it was approved (each reviewer's decision and time). The key is the grant
authority's, the one that signs job tickets, so one public key checks both offline.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from grants.applications import effective_state, get_visible_grant
from grants.models import GrantState
from sandbox.errors import Conflict, InvalidInput
from sandbox.keys import key_id
from sandbox.ledger.entry import canonical, digest
from sandbox.ledger.log import Actor, append
from sandbox.parties.models import Organization, User
from sandbox.parties.principal import Principal

VERSION = "voucher/1"
MAX_VOUCHER_BYTES = 1024 * 1024
CLAIMS = frozenset(
    {
        "version",
        "grant",
        "operator",
        "license",
        "terms",
        "reviewers",
        "approved_at",
        "issued_at",
        "key_id",
    }
)


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def issue_voucher(
    session: Session,
    who: Principal,
    grant_id: UUID,
    key: Ed25519PrivateKey,
    *,
    now: dt.datetime,
) -> dict[str, Any]:
    """A signed voucher for an approved grant in its term that ``who`` may see."""
    grant = get_visible_grant(session, who, grant_id)
    if effective_state(grant, now) != GrantState.APPROVED.value or grant.approved is None:
        raise Conflict(
            f"only an approved grant in its term has a voucher (this one is "
            f"{effective_state(grant, now)})",
            code="voucher.not_approved",
        )
    operator = session.get(Organization, grant.operator_id)
    reviewers = []
    for r in grant.reviews:
        org, user = session.get(Organization, r.reviewer_org_id), session.get(User, r.reviewer_id)
        reviewers.append(
            {
                "org": org.slug if org is not None else str(r.reviewer_org_id),
                "user": user.username if user is not None else str(r.reviewer_id),
                "decision": r.decision,
                "conditions": r.conditions is not None,
                "at": _time(r.at),
            }
        )
    claims: dict[str, Any] = {
        "version": VERSION,
        "grant": str(grant.id),
        "operator": operator.slug if operator is not None else str(grant.operator_id),
        "license": {"id": str(grant.license_id), "zone": grant.license.zone.slug},
        "terms": grant.approved,
        "reviewers": reviewers,
        "approved_at": _time(grant.decided_at) if grant.decided_at is not None else None,
        "issued_at": _time(now),
        "key_id": key_id(key.public_key()),
    }
    voucher = {"voucher": claims, "signature": _b64(key.sign(canonical(claims)))}
    append(
        session,
        actor=Actor.of(who),
        action="voucher.issued",
        object_type="grant",
        object_id=str(grant.id),
        params={"grant": str(grant.id)},
        details={"grant": str(grant.id), "digest": digest(claims)},
        now=now,
    )
    return voucher


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _rejected(what: str) -> InvalidInput:
    return InvalidInput(f"voucher rejected: {what}", code="voucher.invalid")


def verify_voucher(data: dict[str, Any] | bytes, public_key: Ed25519PublicKey) -> dict[str, Any]:
    """The voucher's claims if the signature is genuine under ``public_key``; otherwise
    InvalidInput ``voucher.invalid`` saying only "format" or "signature"."""
    try:
        if isinstance(data, bytes):
            if len(data) > MAX_VOUCHER_BYTES:
                raise ValueError("too large")
            data = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
        if not isinstance(data, dict) or set(data) != {"voucher", "signature"}:
            raise ValueError("shape")
        claims, sig_text = data["voucher"], data["signature"]
        if not isinstance(claims, dict) or not isinstance(sig_text, str):
            raise ValueError("shape")
        signature = base64.b64decode(sig_text, validate=True)
        if len(signature) != 64 or _b64(signature) != sig_text:
            raise ValueError("signature encoding")
        body = canonical(claims)
    except (ValueError, TypeError, RecursionError, binascii.Error) as exc:
        raise _rejected("format") from exc
    try:
        public_key.verify(signature, body)
    except InvalidSignature as exc:
        raise _rejected("signature") from exc
    if (
        set(claims) != CLAIMS
        or claims["version"] != VERSION
        or claims["key_id"] != key_id(public_key)
        or not isinstance(claims["terms"], dict)
    ):
        raise _rejected("format")
    return claims
