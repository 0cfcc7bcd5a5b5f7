"""Per-request state: one DB session, the clock, and who is asking (session or token)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, current_app, g, request, session
from sqlalchemy.orm import Session, sessionmaker

from sandbox.clock import utcnow
from sandbox.errors import NotAuthenticated
from sandbox.jobs.queue import Enqueuer
from sandbox.parties import service as parties
from sandbox.parties.principal import Principal
from sandbox.settings import Settings
from sandbox.tickets import TicketSigner

SESSION_KEY = "sid"


def ext(app: Flask | None = None) -> dict[str, Any]:
    return (app or current_app).extensions["sandbox"]  # type: ignore[no-any-return]


def settings() -> Settings:
    return ext()["settings"]  # type: ignore[no-any-return]


def signer() -> TicketSigner:
    return ext()["signer"]  # type: ignore[no-any-return]


def enqueuer() -> Enqueuer:
    return ext()["enqueuer"]  # type: ignore[no-any-return]


def db() -> Session:
    if "db" not in g:
        factory: sessionmaker[Session] = ext()["factory"]
        g.db = factory()
    return g.db  # type: ignore[no-any-return]


def now() -> dt.datetime:
    if "now" not in g:
        g.now = utcnow()
    return g.now  # type: ignore[no-any-return]


def close_db(_exc: BaseException | None) -> None:
    session_ = g.pop("db", None)
    if session_ is not None:
        session_.rollback()
        session_.close()


def ui_principal() -> Principal | None:
    if "ui_principal" not in g:
        secret = session.get(SESSION_KEY)
        g.ui_principal = (
            parties.principal_for_session(db(), secret, now=now())
            if isinstance(secret, str)
            else None
        )
    return g.ui_principal  # type: ignore[no-any-return]


def api_principal() -> Principal:
    """Bearer tokens only: the API never honours the session cookie, so it needs no CSRF."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise NotAuthenticated(
            "send an API token as 'Authorization: Bearer …'", code="auth.token_missing"
        )
    who = parties.principal_for_token(db(), secret.strip(), now=now())
    if who is None:
        raise NotAuthenticated("the API token is unknown or revoked", code="auth.token_invalid")
    db().commit()  # keeps last_used_at
    return who
