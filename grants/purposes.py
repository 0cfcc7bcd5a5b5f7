"""The bureau's list of allowed purposes (e.g. ``sme.credit``, "SME credit assessment"). A grant
names one active purpose by its code, plus free text. A deactivated purpose stays in the list
(grants already approved under it keep their record) but is no longer offered."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.models import Purpose
from sandbox.errors import Conflict, InvalidInput, NotFound
from sandbox.ledger.log import Actor, append
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role
from sandbox.parties.service import require_role

CODE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
MAX_LABEL = 200


def add_purpose(
    session: Session, who: Principal, *, code: str, label: str, now: dt.datetime
) -> Purpose:
    require_role(who, Role.BUREAU_ADMIN)
    if not CODE.fullmatch(code):
        raise InvalidInput(
            "purpose code: a lower-case letter, then up to 63 letters, digits, '_', '.' or '-'",
            code="purpose.code",
        )
    label = label.strip()
    if not 1 <= len(label) <= MAX_LABEL:
        raise InvalidInput(f"purpose label: 1 to {MAX_LABEL} characters", code="purpose.label")
    if session.scalar(select(Purpose.id).where(Purpose.code == code)) is not None:
        raise Conflict(f"purpose {code!r} exists", code="purpose.exists")
    purpose = Purpose(code=code, label=label, active=True)
    session.add(purpose)
    session.flush()
    _record(session, who, "purpose.added", purpose, now)
    return purpose


def deactivate(session: Session, who: Principal, code: str, *, now: dt.datetime) -> Purpose:
    require_role(who, Role.BUREAU_ADMIN)
    purpose = session.scalar(select(Purpose).where(Purpose.code == code))
    if purpose is None:
        raise NotFound("no such purpose", code="purpose.not_found")
    if not purpose.active:
        raise Conflict(f"purpose {code!r} is already inactive", code="purpose.inactive")
    purpose.active = False
    session.flush()
    _record(session, who, "purpose.deactivated", purpose, now)
    return purpose


def active_purposes(session: Session) -> list[Purpose]:
    return list(session.scalars(select(Purpose).where(Purpose.active).order_by(Purpose.code)))


def _record(
    session: Session, who: Principal, action: str, purpose: Purpose, now: dt.datetime
) -> None:
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type="purpose",
        object_id=purpose.code,
        params={"code": purpose.code, "label": purpose.label},
        details={"active": purpose.active},
        now=now,
    )
