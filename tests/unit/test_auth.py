"""Browser sessions and API tokens: CSRF, login failures and lockout, role homes, logout and
password change revoking sessions server-side, token storage and revocation, redirects."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from sandbox.demo.world import ACCOUNTS as DEMO_ACCOUNTS
from sandbox.errors import NotAuthenticated
from sandbox.parties import service as parties
from sandbox.parties.models import ApiToken, User, UserSession
from tests.conftest import DEMO_USERNAMES, World, auth

ACCOUNTS = DEMO_USERNAMES
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    found = CSRF_FIELD.search(page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def login(client: FlaskClient, username: str, password: str, *, next_: str | None = None) -> Any:
    token = csrf(client)
    query = {"next": next_} if next_ is not None else {}
    return client.post(
        "/login",
        query_string=query,
        data={"csrf_token": token, "username": username, "password": password},
    )


def logged_in(app: Flask, world: World, username: str) -> FlaskClient:
    client = app.test_client()
    response = login(client, username, world.password(username))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def alert(response: Any) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.get_data(as_text=True))
    assert found, "no error message on the page"
    return found.group(1)


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


# --- CSRF -------------------------------------------------------------------------------------


def test_csrf_is_enforced_even_under_testing(app: Flask) -> None:
    assert app.config["TESTING"] is True
    assert app.config.get("WTF_CSRF_ENABLED", True) is True


def test_login_page_has_a_csrf_token(client: FlaskClient) -> None:
    assert len(csrf(client)) > 20


@pytest.mark.parametrize("token", [None, "", "forged", "ImFiYyI.xyz.abc"])
def test_login_without_a_valid_csrf_token_is_rejected(
    client: FlaskClient, world: World, token: str | None
) -> None:
    csrf(client)  # a session with a CSRF secret exists; the form just does not carry it
    data = {"username": "bureau", "password": world.password("bureau")}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert client.get("/home").status_code == 302  # not signed in
    with world.factory() as session:
        assert session.scalars(select(UserSession)).all() == []


def test_csrf_token_of_another_browser_is_rejected(app: Flask, world: World) -> None:
    stolen = csrf(app.test_client())
    victim = app.test_client()
    csrf(victim)
    response = victim.post(
        "/login",
        data={"csrf_token": stolen, "username": "bureau", "password": world.password("bureau")},
    )
    assert response.status_code == 400


def test_logout_and_password_change_need_csrf(app: Flask, world: World) -> None:
    client = logged_in(app, world, "bank-a")
    assert client.post("/logout").status_code == 400
    assert (
        client.post(
            "/account/password",
            data={"current": world.password("bank-a"), "new": "a-brand-new-password"},
        ).status_code
        == 400
    )
    assert client.get("/home").status_code == 200  # neither happened


# --- login failures and lockout ---------------------------------------------------------------


def test_wrong_password_and_unknown_user_look_the_same(client: FlaskClient, world: World) -> None:
    wrong = login(client, "bureau", "not-the-password")
    unknown = login(client, "nobody-here", "not-the-password")
    empty = login(client, "", "")
    assert wrong.status_code == unknown.status_code == empty.status_code == 401
    assert alert(wrong) == alert(unknown) == alert(empty) == "wrong username or password"
    assert client.get("/home").status_code == 302


def test_five_failures_lock_the_account_in_the_browser(client: FlaskClient, world: World) -> None:
    for _ in range(parties.LOCK_AFTER_FAILURES):
        assert login(client, "market-cdo", "wrong-password-123").status_code == 401
    locked = login(client, "market-cdo", world.password("market-cdo"))
    assert locked.status_code == 401
    assert "too many failed logins" in alert(locked)
    assert client.get("/home").status_code == 302
    # Other accounts are unaffected.
    assert login(client, "tax-cdo", world.password("tax-cdo")).status_code == 302


def _attempt(world: World, username: str, password: str, now: dt.datetime) -> str:
    """One login through the service, committed like the view does; returns the outcome code."""
    with world.factory() as session:
        try:
            parties.login(session, username=username, password=password, now=now)
        except NotAuthenticated as exc:
            session.commit()
            return exc.code
        session.commit()
        return "ok"


def test_lockout_window(world: World) -> None:
    assert parties.LOCK_FOR == dt.timedelta(minutes=1)
    assert parties.LOCK_AFTER_FAILURES == 5
    good = world.password("court-cdo")
    for i in range(4):
        assert (
            _attempt(world, "court-cdo", "wrong-password-123", T0 + dt.timedelta(seconds=i))
            == "auth.failed"
        )
    assert _attempt(world, "court-cdo", good, T0 + dt.timedelta(seconds=5)) == "ok"
    # The success reset the count: four more failures still do not lock.
    for i in range(4):
        assert (
            _attempt(world, "court-cdo", "x" * 12, T0 + dt.timedelta(seconds=10 + i))
            == "auth.failed"
        )
    fifth = T0 + dt.timedelta(seconds=20)
    assert _attempt(world, "court-cdo", "x" * 12, fifth) == "auth.failed"
    with world.factory() as session:
        user = session.scalar(select(User).where(User.username == "court-cdo"))
        assert user is not None and user.locked_until == fifth + parties.LOCK_FOR
    # Locked: even the right password is refused, until the minute is over.
    for seconds in (0, 1, 30, 59):
        assert (
            _attempt(world, "court-cdo", good, fifth + dt.timedelta(seconds=seconds))
            == "auth.locked"
        )
    assert _attempt(world, "court-cdo", good, fifth + parties.LOCK_FOR) == "ok"


def test_unknown_user_gets_the_generic_failure(world: World) -> None:
    for i in range(8):
        assert (
            _attempt(world, "ghost", "whatever-password", T0 + dt.timedelta(seconds=i))
            == "auth.failed"
        )


# --- homes ------------------------------------------------------------------------------------

HOME_HEADINGS = {
    "bureau": ("Data bureau administrator", "Data quality across domains"),
    "tax-cdo": ("Chief data officer", "My datasets"),
    "market-cdo": ("Chief data officer", "My datasets"),
    "social-cdo": ("Chief data officer", "My datasets"),
    "court-cdo": ("Chief data officer", "My datasets"),
    "operator": ("Licensed operator", "Catalog available to operators"),
    "bank-a": ("Bank analyst", "My bank's domain"),
    "bank-b": ("Bank analyst", "My bank's domain"),
    "bank-c": ("Bank analyst", "My bank's domain"),
    "auditor": ("Auditor", "Jobs that survived a lost worker"),
}


@pytest.mark.parametrize("username", ACCOUNTS)
def test_each_account_lands_on_its_role_home(app: Flask, world: World, username: str) -> None:
    client = app.test_client()
    response = login(client, username, world.password(username))
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"
    home = client.get("/home")
    assert home.status_code == 200
    html = home.get_data(as_text=True)
    h1, h2 = HOME_HEADINGS[username]
    assert re.search(rf"<h1>{re.escape(h1)}\b", html), h1
    assert f"<h2>{h2}</h2>" in html
    for other, (other_h1, other_h2) in HOME_HEADINGS.items():
        if other_h1 != h1:
            assert f"<h2>{other_h2}</h2>" not in html, other
    display = next(a for a in DEMO_ACCOUNTS if a.username == username).display_name
    assert display in html


def test_pages_need_a_session(client: FlaskClient) -> None:
    for path in ("/home", "/catalog", "/jobs", "/account"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")


# --- logout and password change ---------------------------------------------------------------


def test_logout_revokes_the_session_server_side(app: Flask, world: World) -> None:
    client = logged_in(app, world, "operator")
    old_cookie = session_cookie(client)
    assert client.get("/home").status_code == 200
    token = csrf(client, "/account")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert client.get("/home").status_code == 302
    # Replaying the cookie from before the logout does not bring the session back.
    replay = app.test_client()
    replay.set_cookie("session", old_cookie)
    again = replay.get("/home")
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/login")
    with world.factory() as session:
        user = session.scalar(select(User).where(User.username == "operator"))
        assert user is not None
        rows = session.scalars(select(UserSession).where(UserSession.user_id == user.id)).all()
        assert len(rows) == 1 and rows[0].revoked_at is not None


def test_replaying_a_live_cookie_works_until_logout(app: Flask, world: World) -> None:
    # The control for the test above: the replay mechanism itself does carry a session.
    client = logged_in(app, world, "operator")
    replay = app.test_client()
    replay.set_cookie("session", session_cookie(client))
    assert replay.get("/home").status_code == 200


def test_password_change_revokes_every_other_session(app: Flask, world: World) -> None:
    old = world.password("social-cdo")
    new = "a-completely-new-password"
    first = logged_in(app, world, "social-cdo")
    second = logged_in(app, world, "social-cdo")
    second_cookie = session_cookie(second)
    assert second.get("/home").status_code == 200
    response = first.post(
        "/account/password",
        data={"csrf_token": csrf(first, "/account"), "current": old, "new": new},
    )
    assert response.status_code == 302
    assert (
        "Password+changed" in response.headers["Location"]
        or "Password%20changed" in response.headers["Location"]
    )
    assert first.get("/home").status_code == 200  # the changing session got a fresh one
    assert second.get("/home").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", second_cookie)
    assert replay.get("/home").status_code == 302
    assert login(app.test_client(), "social-cdo", old).status_code == 401
    assert login(app.test_client(), "social-cdo", new).status_code == 302


def test_password_change_with_wrong_current_changes_nothing(app: Flask, world: World) -> None:
    first = logged_in(app, world, "bank-b")
    second = logged_in(app, world, "bank-b")
    response = first.post(
        "/account/password",
        data={
            "csrf_token": csrf(first, "/account"),
            "current": "not-my-password",
            "new": "a-completely-new-password",
        },
    )
    assert response.status_code == 302 and "error=" in response.headers["Location"]
    assert second.get("/home").status_code == 200
    assert login(app.test_client(), "bank-b", world.password("bank-b")).status_code == 302


def test_password_change_rejects_a_weak_password(app: Flask, world: World) -> None:
    client = logged_in(app, world, "bank-b")
    response = client.post(
        "/account/password",
        data={
            "csrf_token": csrf(client, "/account"),
            "current": world.password("bank-b"),
            "new": "short",
        },
    )
    assert response.status_code == 302 and "error=" in response.headers["Location"]
    assert login(app.test_client(), "bank-b", world.password("bank-b")).status_code == 302


# --- API tokens -------------------------------------------------------------------------------


def test_api_tokens_are_stored_only_as_sha256(client: FlaskClient, world: World) -> None:
    created = client.post(
        "/api/v1/tokens", json={"name": "stored"}, headers=auth(world.token("bureau"))
    )
    assert created.status_code == 201
    secrets = [created.get_json()["secret"], *(world.token(u) for u in ACCOUNTS)]
    with world.factory() as session:
        rows = session.scalars(select(ApiToken)).all()
        by_hash = {r.token_hash: r for r in rows}
        for secret in secrets:
            assert hashlib.sha256(secret.encode()).hexdigest() in by_hash
        for row in rows:
            values = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
            for secret in secrets:
                assert not any(secret in v for v in values)
            assert len(row.prefix) < 16
        for user_session in session.scalars(select(UserSession)).all():
            assert len(user_session.token_hash) == 64
    # The list endpoint never shows a secret again.
    listed = client.get("/api/v1/tokens", headers=auth(world.token("bureau"))).get_data(
        as_text=True
    )
    assert not any(secret in listed for secret in secrets)


def test_session_secrets_are_stored_only_as_sha256(app: Flask, world: World) -> None:
    client = logged_in(app, world, "auditor")
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    secret = serializer.loads(session_cookie(client))["sid"]
    assert isinstance(secret, str) and secret.startswith("sbs_")
    with world.factory() as session:
        rows = session.scalars(select(UserSession)).all()
    assert [r.token_hash for r in rows] == [hashlib.sha256(secret.encode()).hexdigest()]
    for row in rows:
        assert not any(secret in str(getattr(row, c.key)) for c in UserSession.__table__.columns)


def test_revoked_token_is_401_token_invalid(client: FlaskClient, world: World) -> None:
    headers = auth(world.token("tax-cdo"))
    created = client.post("/api/v1/tokens", json={"name": "to revoke"}, headers=headers)
    secret = created.get_json()["secret"]
    token_id = created.get_json()["token"]["id"]
    assert client.get("/api/v1/me", headers=auth(secret)).status_code == 200
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=headers).status_code == 204
    response = client.get("/api/v1/me", headers=auth(secret))
    assert response.status_code == 401
    assert response.get_json() == {
        "error": {"code": "auth.token_invalid", "message": "the API token is unknown or revoked"}
    }
    assert client.get("/api/v1/me", headers=headers).status_code == 200


def test_api_ignores_the_session_cookie(app: Flask, world: World) -> None:
    client = logged_in(app, world, "bureau")
    assert client.get("/home").status_code == 200
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "auth.token_missing"
    # A POST with the cookie and no token is refused too (no CSRF needed: no cookie auth).
    created = client.post("/api/v1/tokens", json={"name": "via cookie"})
    assert created.status_code == 401


def test_ui_ignores_bearer_tokens(client: FlaskClient, world: World) -> None:
    response = client.get("/home", headers=auth(world.token("bureau")))
    assert response.status_code == 302


def test_session_secret_is_not_an_api_token(app: Flask, world: World) -> None:
    client = logged_in(app, world, "bureau")
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    secret = serializer.loads(session_cookie(client))["sid"]
    assert client.get("/home").status_code == 200  # a live session secret ...
    response = app.test_client().get("/api/v1/me", headers=auth(secret))
    assert response.status_code == 401  # ... is not accepted as a bearer token
    assert response.get_json()["error"]["code"] == "auth.token_invalid"


# --- redirects and headers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "http://evil.example/home",
        "///evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        " //evil.example",
        "javascript:alert(1)",
        "evil.example",
        "https:evil.example",
    ],
)
def test_next_cannot_leave_the_site(app: Flask, world: World, target: str) -> None:
    client = app.test_client()
    response = login(client, "bureau", world.password("bureau"), next_=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/home"


@pytest.mark.parametrize("target", ["/catalog", "/jobs?status=failed", "/account"])
def test_next_keeps_local_targets(app: Flask, world: World, target: str) -> None:
    client = app.test_client()
    response = login(client, "bureau", world.password("bureau"), next_=target)
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "path", ["/login", "/home", "/api/v1/me", "/api/v1/openapi.json", "/healthz", "/nope"]
)
def test_security_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers.get("X-Frame-Options") == "DENY"
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "same-origin"
    assert response.headers.get("Cache-Control") == "no-store"


def test_session_cookie_flags(app: Flask, world: World) -> None:
    client = app.test_client()
    response = login(client, "bureau", world.password("bureau"))
    cookie = next(
        v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
