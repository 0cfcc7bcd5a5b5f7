"""Login, logout and password change for the browser. Sessions are server-side rows: logout
revokes one, a password change revokes all of the user's sessions."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, redirect, render_template, request, session, url_for

from sandbox.errors import InvalidInput, NotAuthenticated
from sandbox.parties import service as parties
from sandbox.parties.principal import Principal
from web import context as ctx

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def current_user_for_templates() -> Principal | None:
    return ctx.ui_principal()


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if ctx.ui_principal() is None:
            return redirect(url_for("auth.login", next=request.path))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def who() -> Principal:
    principal = ctx.ui_principal()
    if principal is None:
        raise NotAuthenticated("please sign in")
    return principal


def _safe_next(target: str | None) -> str:
    # Browsers and URL parsers drop tabs and newlines and read "\\" as "/": "/\t/evil.example"
    # would become "//evil.example", so only printable targets without a backslash qualify.
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and target.isprintable()
        and "\\" not in target
    ):
        return target
    return url_for("pages.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        try:
            outcome = parties.login(
                ctx.db(),
                username=request.form.get("username", ""),
                password=request.form.get("password", ""),
                now=ctx.now(),
            )
        except NotAuthenticated as exc:
            ctx.db().commit()  # keeps the failed-login count
            error = exc.message
        else:
            ctx.db().commit()
            session.clear()
            session[ctx.SESSION_KEY] = outcome.session_secret
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout() -> Any:
    secret = session.get(ctx.SESSION_KEY)
    if isinstance(secret, str):
        parties.logout(ctx.db(), secret, now=ctx.now())
        ctx.db().commit()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.post("/account/password")
@login_required
def change_password() -> Any:
    try:
        secret = parties.change_password(
            ctx.db(),
            who(),
            current=request.form.get("current", ""),
            new=request.form.get("new", ""),
            now=ctx.now(),
        )
    except InvalidInput as exc:
        return redirect(url_for("pages.account", error=exc.message))
    ctx.db().commit()
    session[ctx.SESSION_KEY] = secret
    return redirect(url_for("pages.account", notice="Password changed; other sessions ended."))
