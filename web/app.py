"""The app factory: everything is built from a Settings object here; nothing at import."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, Response, jsonify
from flask_wtf.csrf import CSRFProtect

from sandbox.db.engine import make_engine, make_session_factory
from sandbox.jobs.queue import Enqueuer
from sandbox.keys import load_or_create_private_key
from sandbox.settings import Settings
from sandbox.tickets import TicketSigner
from web import context, errors

csrf = CSRFProtect()

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def session_secret(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path = settings.secret_key_path
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def default_enqueuer(settings: Settings) -> Enqueuer:
    from sandbox.jobs.celery_app import CeleryEnqueuer, make_celery

    return CeleryEnqueuer(make_celery(settings))


def create_app(settings: Settings, *, enqueuer: Enqueuer | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=session_secret(settings),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        WTF_CSRF_TIME_LIMIT=None,  # bound to the session, which is revocable
    )
    engine = make_engine(settings)
    app.extensions["sandbox"] = {
        "settings": settings,
        "engine": engine,
        "factory": make_session_factory(engine),
        "signer": TicketSigner(
            load_or_create_private_key(settings.ticket_key_path), settings.ticket_ttl_seconds
        ),
        "ledger_key": load_or_create_private_key(settings.ledger_key_path),
        "enqueuer": enqueuer if enqueuer is not None else default_enqueuer(settings),
    }
    app.teardown_appcontext(context.close_db)
    csrf.init_app(app)
    errors.register(app)

    from web.api import governance as _governance_routes  # noqa: F401  (registers on api_bp)
    from web.api import ledger as _ledger_routes  # noqa: F401  (registers on api_bp)
    from web.api import products as _product_routes  # noqa: F401  (registers on api_bp)
    from web.api.routes import bp as api_bp
    from web.ui import register as register_ui

    csrf.exempt(api_bp)  # token-only: the API never reads the session cookie
    app.register_blueprint(api_bp)
    register_ui(app)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not response.headers.get("Cache-Control"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return app
