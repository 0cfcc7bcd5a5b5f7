"""Enterprises' authorizations: a bank registers them (normalized credit code and reference)
and revokes them; the control DB keeps only the digest, never the code; duplicates, malformed
codes and references, and other banks' authorizations are refused."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from products import authorizations
from products.models import AuthorizationState, EnterpriseAuthorization
from sandbox.compute.authorized import Authorizations, digest
from sandbox.errors import Conflict, NotFound, PermissionDenied
from sandbox.identifiers import credit_code_check_char
from tests.helpers import refused
from tests.unit.products.helpers import Env

TABLES = ("enterprise_authorizations", "ledger_entries")


def code(n: int) -> str:
    first17 = f"91110108{n:09d}"
    return first17 + credit_code_check_char(first17)


def _register(
    env: Env, credit_code: str, reference: str, bank: str = "bank-a", **kw: Any
) -> Callable[[], EnterpriseAuthorization]:
    return lambda: authorizations.register(
        env.session,
        env.who(bank),
        credit_code=credit_code,
        reference=reference,
        valid_until=kw.get("valid_until", env.now + dt.timedelta(days=30)),
        now=env.now,
    )


def test_a_bank_registers_an_authorization_as_a_digest(env: Env) -> None:
    row = _register(env, code(1), " auth-a-000001 ")()
    assert row.state == AuthorizationState.ACTIVE and row.reference == "AUTH-A-000001"
    assert row.digest == digest("bank-a", code(1), "AUTH-A-000001")
    assert Authorizations("authorization_ref", "bank-a", frozenset({row.digest})).allows(
        code(1), "auth-a-000001"
    )
    env.session.flush()
    stored = env.session.execute(text("SELECT * FROM enterprise_authorizations")).all()
    assert code(1) not in repr(stored)
    ledger = env.session.execute(text("SELECT body FROM ledger_entries")).all()
    assert code(1) not in repr(ledger) and "AUTH-A-000001" not in repr(ledger)
    assert authorizations.valid_digests(env.session, row.consumer_id, env.now) == {row.digest}


def test_codes_are_normalized_before_the_digest(env: Env) -> None:
    messy = " " + "".join(chr(ord(c) + 0xFEE0) for c in code(2)).lower() + "\u3000"
    row = _register(env, messy, "AUTH-2")()
    assert row.digest == digest("bank-a", code(2), "AUTH-2")


@pytest.mark.parametrize(
    ("credit_code", "reference", "code_"),
    [
        (code(3)[:-1] + ("0" if code(3)[-1] != "0" else "1"), "R-1", "authorization.credit_code"),
        (code(3)[:17], "R-1", "authorization.credit_code"),
        ("", "R-1", "authorization.credit_code"),
        ("9" * 10_000_000, "R-1", "authorization.credit_code"),
        (code(3).replace("1", "I", 1), "R-1", "authorization.credit_code"),
        (code(3), "", "authorization.reference"),
        (code(3), "   ", "authorization.reference"),
        (code(3), "-leading-dash", "authorization.reference"),
        (code(3), "R 1", "authorization.reference"),
        (code(3), "R\n1", "authorization.reference"),
        (code(3), "编号1", "authorization.reference"),
        (code(3), "R" * 65, "authorization.reference"),
        (code(3), "R" * 10_000_000, "authorization.reference"),
    ],
)
def test_malformed_codes_and_references_are_refused(
    env: Env, credit_code: str, reference: str, code_: str
) -> None:
    error = refused(env.session, _register(env, credit_code, reference), code_, tables=TABLES)
    for value in (credit_code.strip(), reference.strip()):
        if value:  # an error never repeats the value it refused
            assert value[:18] not in error.message


def test_the_term_must_be_in_the_future_and_within_ten_years(env: Env) -> None:
    for until in (
        env.now,
        env.now - dt.timedelta(days=1),
        env.now + dt.timedelta(days=3661),
        dt.datetime(2099, 1, 1),  # naive
    ):
        refused(
            env.session,
            _register(env, code(4), "R-4", valid_until=until),
            "authorization.valid_until",
            tables=TABLES,
        )


def test_a_reference_is_registered_once_per_bank(env: Env) -> None:
    _register(env, code(5), "R-5")()
    refused(env.session, _register(env, code(6), "r-5"), "authorization.duplicate", tables=TABLES)
    # another bank may use the same reference: its digests are its own
    other = _register(env, code(5), "R-5", bank="bank-b")()
    assert other.digest == digest("bank-b", code(5), "R-5")


@pytest.mark.parametrize("username", ["operator", "bureau", "tax-cdo", "auditor"])
def test_only_banks_register(env: Env, username: str) -> None:
    refused(
        env.session, _register(env, code(7), "R-7", bank=username), "forbidden.role", tables=TABLES
    )


def test_revoked_and_expired_authorizations_are_not_valid(env: Env) -> None:
    keep = _register(env, code(8), "R-8")()
    gone = _register(env, code(9), "R-9")()
    short = _register(env, code(10), "R-10", valid_until=env.now + dt.timedelta(hours=1))()
    bank = keep.consumer_id
    assert authorizations.valid_digests(env.session, bank, env.now) == {
        keep.digest,
        gone.digest,
        short.digest,
    }
    with pytest.raises(NotFound):  # another bank's
        authorizations.revoke(env.session, env.who("bank-b"), gone.id, env.now)
    with pytest.raises(PermissionDenied):
        authorizations.revoke(env.session, env.who("operator"), gone.id, env.now)
    with pytest.raises(NotFound):
        authorizations.revoke(env.session, env.who("bank-a"), uuid.uuid4(), env.now)
    revoked = authorizations.revoke(env.session, env.who("bank-a"), gone.id, env.now)
    assert revoked.state == AuthorizationState.REVOKED and revoked.revoked_at == env.now
    with pytest.raises(Conflict):
        authorizations.revoke(env.session, env.who("bank-a"), gone.id, env.now)
    later = env.now + dt.timedelta(hours=2)
    assert authorizations.valid_digests(env.session, bank, later) == {keep.digest}
    assert [a.action for a in env.actions("authorization.revoked")] == ["authorization.revoked"]


def test_a_bank_sees_only_its_own_authorizations(env: Env) -> None:
    mine = _register(env, code(11), "R-11")()
    theirs = _register(env, code(11), "R-11", bank="bank-b")()
    assert [a.id for a in authorizations.authorizations_for(env.session, env.who("bank-a"))] == [
        mine.id
    ]
    assert [a.id for a in authorizations.authorizations_for(env.session, env.who("bank-b"))] == [
        theirs.id
    ]
    for username in ("operator", "bureau", "auditor", "tax-cdo"):
        assert authorizations.authorizations_for(env.session, env.who(username)) == []
