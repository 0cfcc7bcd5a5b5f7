"""Job tickets: what one step of one job may do, signed with Ed25519 (DESIGN §3).

Format: ``base64url(canonical JSON claims) "." base64url(signature over those bytes)``.
A domain worker verifies the signature, the expiry and the scope (job, step, domain, action)
before it opens its store; every failure raises the same opaque :class:`TicketRejected`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sandbox.errors import TicketRejected
from sandbox.keys import key_id

VERSION = "ticket/1"
MAX_TICKET_CHARS = 16384


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetRef:
    id: str
    version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticket:
    job: str
    step: str
    domain: str
    action: str
    datasets: tuple[DatasetRef, ...]
    columns: tuple[str, ...]
    issued_at: int
    expires_at: int
    key_id: str
    # What else the step may do, bound by the signature: shard, peer, item bounds, output
    # controls. Plain JSON values only; protocols read what they need and refuse the rest.
    scope: dict[str, Any] = field(default_factory=dict)
    version: str = VERSION

    def claims(self) -> dict[str, Any]:
        return {
            "v": self.version,
            "job": self.job,
            "step": self.step,
            "domain": self.domain,
            "action": self.action,
            "datasets": [{"id": d.id, "version": d.version} for d in self.datasets],
            "columns": list(self.columns),
            "iat": self.issued_at,
            "exp": self.expires_at,
            "kid": self.key_id,
            "scope": self.scope,
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # one spelling per ticket: no junk, padding or stray low bits
        raise ValueError("not canonical base64url")
    return data


def canonical(claims: dict[str, Any]) -> bytes:
    return json.dumps(claims, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def issue(
    key: Ed25519PrivateKey,
    *,
    job: str,
    step: str,
    domain: str,
    action: str,
    datasets: tuple[DatasetRef, ...] = (),
    columns: tuple[str, ...] = (),
    scope: dict[str, Any] | None = None,
    now: dt.datetime,
    ttl_seconds: int,
) -> str:
    ticket = Ticket(
        job=job,
        step=step,
        domain=domain,
        action=action,
        datasets=datasets,
        columns=columns,
        issued_at=int(now.timestamp()),
        expires_at=int(now.timestamp()) + ttl_seconds,
        key_id=key_id(key.public_key()),
        scope=dict(scope or {}),
    )
    body = canonical(ticket.claims())
    return f"{_b64(body)}.{_b64(key.sign(body))}"


def _scope(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("scope must be an object")
    return value


def verify(
    public_key: Ed25519PublicKey,
    token: str,
    *,
    now: dt.datetime,
    job: str,
    step: str,
    domain: str,
    action: str,
) -> Ticket:
    """The ticket, if it is genuine, current, and for exactly this job, step, domain, action."""
    try:
        if len(token) > MAX_TICKET_CHARS:
            raise ValueError
        body_b64, sig_b64 = token.split(".")
        body, signature = _unb64(body_b64), _unb64(sig_b64)
        public_key.verify(signature, body)
        claims = json.loads(body)
        ticket = Ticket(
            version=claims["v"],
            job=claims["job"],
            step=claims["step"],
            domain=claims["domain"],
            action=claims["action"],
            datasets=tuple(
                DatasetRef(id=str(d["id"]), version=int(d["version"])) for d in claims["datasets"]
            ),
            columns=tuple(str(c) for c in claims["columns"]),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            key_id=str(claims["kid"]),
            scope=_scope(claims.get("scope", {})),
        )
    except (ValueError, KeyError, TypeError, InvalidSignature, binascii.Error) as exc:
        raise TicketRejected() from exc
    stamp = now.timestamp()
    if (
        ticket.version != VERSION
        or ticket.key_id != key_id(public_key)
        or not ticket.issued_at - 60 <= stamp < ticket.expires_at
        or (ticket.job, ticket.step, ticket.domain, ticket.action) != (job, step, domain, action)
    ):
        raise TicketRejected()
    return ticket


@dataclass(frozen=True, slots=True)
class TicketSigner:
    """The ticket authority: holds the private key and the ticket lifetime."""

    key: Ed25519PrivateKey
    ttl_seconds: int

    def sign(
        self,
        *,
        job: str,
        step: str,
        domain: str,
        action: str,
        datasets: tuple[DatasetRef, ...],
        columns: tuple[str, ...] = (),
        scope: dict[str, Any] | None = None,
        now: dt.datetime,
    ) -> str:
        return issue(
            self.key,
            job=job,
            step=step,
            domain=domain,
            action=action,
            datasets=datasets,
            columns=columns,
            scope=scope,
            now=now,
            ttl_seconds=self.ttl_seconds,
        )


def unverified_claims(token: str) -> dict[str, Any]:
    """A ticket's claims WITHOUT verification: for display and audit traces only, never for a
    decision. Empty when the ticket cannot be decoded."""
    try:
        claims = json.loads(_unb64(token.split(".")[0]))
    except (ValueError, IndexError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}
