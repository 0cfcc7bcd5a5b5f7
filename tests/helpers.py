"""Small helpers shared by the service-level tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from sandbox.errors import SandboxError
from sandbox.parties.models import User
from sandbox.parties.principal import Principal


def as_user(session: Session, username: str) -> Principal:
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None, username
    return Principal.of(user)


def snapshot(session: Session, tables: Iterable[str]) -> dict[str, list[str]]:
    """Every row of ``tables``, as the session sees them (pending changes flushed)."""
    session.flush()
    return {t: sorted(map(repr, session.execute(text(f"SELECT * FROM {t}")).all())) for t in tables}


def refused(
    session: Session, call: Callable[[], Any], code: str, *, tables: Iterable[str]
) -> SandboxError:
    """``call`` raises with ``code`` and leaves every row of ``tables`` as it was."""
    tables = tuple(tables)
    before = snapshot(session, tables)
    with pytest.raises(SandboxError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    assert snapshot(session, tables) == before
    return caught.value
