"""Service functions for parties and authentication. No Flask: the web tier calls these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sandbox.errors import Conflict, InvalidInput, NotAuthenticated, NotFound, PermissionDenied
from sandbox.ledger.log import SYSTEM, Actor, append
from sandbox.parties import passwords
from sandbox.parties.models import ApiToken, Organization, User, UserSession
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role
from sandbox.parties.secrets import SESSION_PREFIX, TOKEN_PREFIX, digest, new_secret

SESSION_LIFETIME = dt.timedelta(hours=12)
LOCK_AFTER_FAILURES = 5
LOCK_FOR = dt.timedelta(minutes=1)
MAX_TOKENS_PER_USER = 20


def create_organization(
    session: Session, *, slug: str, name: str, kind: OrgKind, now: dt.datetime
) -> Organization:
    if session.scalar(select(Organization).where(Organization.slug == slug)) is not None:
        raise Conflict(f"organization {slug!r} exists", code="organization.exists")
    org = Organization(slug=slug, name=name, kind=kind.value, created_at=now)
    session.add(org)
    session.flush()
    append(
        session,
        actor=SYSTEM,
        action="org.created",
        object_type="organization",
        object_id=slug,
        params={"slug": slug, "name": name, "kind": kind.value},
        details={"kind": kind.value},
        now=now,
    )
    return org


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    org: Organization,
    role: Role,
    password: str,
    now: dt.datetime,
) -> User:
    if role.org_kind.value != org.kind:
        raise InvalidInput(
            f"role {role.value} does not belong in an organization of kind {org.kind}",
            code="user.role_mismatch",
        )
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} exists", code="user.exists")
    user = User(
        username=username,
        display_name=display_name,
        org_id=org.id,
        role=role.value,
        password_hash=passwords.hash_password(password),
        password_changed_at=now,
        created_at=now,
    )
    session.add(user)
    session.flush()
    append(
        session,
        actor=SYSTEM,
        action="user.created",
        object_type="user",
        object_id=username,
        params={"username": username, "org": org.slug, "role": role.value},
        details={"org": org.slug, "role": role.value},
        now=now,
    )
    return user


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    principal: Principal
    session_secret: str


def login(session: Session, *, username: str, password: str, now: dt.datetime) -> LoginOutcome:
    """Check a password and open a UI session. One answer for every kind of failure."""
    user = session.scalar(select(User).where(User.username == username[:64]))
    failed = NotAuthenticated("wrong username or password", code="auth.failed")
    if user is None or not user.active:
        passwords.verify_password(None, password)
        # The typed name only as a digest: people sometimes type a password into it.
        _record_login(session, None, "unknown_user", username, now)
        raise failed
    if user.locked_until is not None and user.locked_until > now:
        _record_login(session, user, "locked", username, now)
        raise NotAuthenticated("too many failed logins; try again in a minute", code="auth.locked")
    if not passwords.verify_password(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= LOCK_AFTER_FAILURES:
            user.locked_until = now + LOCK_FOR
            user.failed_logins = 0
        _record_login(session, user, "bad_password", username, now)
        raise failed
    user.failed_logins = 0
    user.locked_until = None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    _record_login(session, user, None, username, now)
    return LoginOutcome(Principal.of(user), _open_session(session, user, now))


def _record_login(
    session: Session, user: User | None, failure: str | None, typed: str, now: dt.datetime
) -> None:
    append(
        session,
        actor=Actor(user.username, user.org.slug) if user is not None else SYSTEM,
        action="auth.login" if failure is None else "auth.login_failed",
        object_type="user",
        object_id=user.username if user is not None else "?",
        params={"username": typed[:256]},
        details={} if failure is None else {"reason": failure},
        now=now,
    )


def _open_session(session: Session, user: User, now: dt.datetime) -> str:
    secret = new_secret(SESSION_PREFIX)
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=digest(secret),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    return secret


def principal_for_session(session: Session, secret: str, *, now: dt.datetime) -> Principal | None:
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == digest(secret))
    ).first()
    if row is None:
        return None
    user_session, user = row
    if user_session.revoked_at is not None or user_session.expires_at <= now or not user.active:
        return None
    return Principal.of(user)


def logout(session: Session, secret: str, *, now: dt.datetime) -> None:
    row = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == digest(secret), UserSession.revoked_at.is_(None))
    ).first()
    if row is None:
        return
    user_session, user = row
    user_session.revoked_at = now
    append(
        session,
        actor=Actor(user.username, user.org.slug),
        action="auth.logout",
        object_type="user",
        object_id=user.username,
        params={"session": str(user_session.id)},
        now=now,
    )


def change_password(
    session: Session, who: Principal, *, current: str, new: str, now: dt.datetime
) -> str:
    """Change a password, revoke every session of the user, and open a fresh one."""
    user = session.get(User, who.user_id)
    if user is None or not passwords.verify_password(user.password_hash, current):
        raise InvalidInput("current password is wrong", code="password.wrong")
    if current == new:
        raise InvalidInput("new password must differ from the current one", code="password.same")
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = now
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    append(
        session,
        actor=Actor.of(who),
        action="auth.password_changed",
        object_type="user",
        object_id=who.username,
        params={},
        details={"sessions_revoked": True},
        now=now,
    )
    return _open_session(session, user, now)


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(session: Session, who: Principal, *, name: str, now: dt.datetime) -> NewToken:
    name = name.strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise InvalidInput("token name must have 1 to 100 printable characters", code="token.name")
    active = session.scalars(
        select(ApiToken).where(ApiToken.user_id == who.user_id, ApiToken.revoked_at.is_(None))
    ).all()
    if len(active) >= MAX_TOKENS_PER_USER:
        raise Conflict(
            f"at most {MAX_TOKENS_PER_USER} active tokens; revoke one first", code="token.limit"
        )
    secret = new_secret(TOKEN_PREFIX)
    token = ApiToken(
        user_id=who.user_id,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=digest(secret),
        created_at=now,
    )
    session.add(token)
    session.flush()
    append(
        session,
        actor=Actor.of(who),
        action="token.created",
        object_type="api_token",
        object_id=str(token.id),
        params={"name": name},
        now=now,
    )
    return NewToken(token, secret)


def list_tokens(session: Session, who: Principal) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == who.user_id)
            .order_by(ApiToken.created_at.desc())
        )
    )


def revoke_token(session: Session, who: Principal, token_id: UUID, *, now: dt.datetime) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != who.user_id:
        raise NotFound("no such token", code="token.not_found")
    if token.revoked_at is None:
        token.revoked_at = now
        append(
            session,
            actor=Actor.of(who),
            action="token.revoked",
            object_type="api_token",
            object_id=str(token.id),
            params={},
            now=now,
        )


def principal_for_token(session: Session, secret: str, *, now: dt.datetime) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest(secret))
    ).first()
    if row is None:
        return None
    token, user = row
    if token.revoked_at is not None or not user.active:
        return None
    # Touch at most once a minute, so that reads do not turn into writes on every call.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        token.last_used_at = now
    return Principal.of(user)


def organization_of(session: Session, who: Principal) -> Organization:
    org = session.get(Organization, who.org_id)
    if org is None:
        raise NotFound("organization not found")
    return org


def require_role(who: Principal, *roles: Role) -> None:
    if who.role not in roles:
        raise PermissionDenied("your role may not do this", code="forbidden.role")
