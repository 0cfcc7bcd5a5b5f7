"""Browsing the ledger: filters by organization, action, object and time, newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sandbox.ledger.models import LedgerEntry

PAGE = 50
REFUSALS = ("job.refused", "ticket.refused", "auth.login_failed", "step.failed", "job.failed")


@dataclass(frozen=True, slots=True)
class Filters:
    org: str | None = None
    action: str | None = None
    object_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    refusals: bool = False


def search(session: Session, filters: Filters, *, page: int = 0) -> tuple[list[LedgerEntry], int]:
    query = select(LedgerEntry)
    if filters.org:
        query = query.where(LedgerEntry.actor_org == filters.org)
    if filters.action:
        query = query.where(LedgerEntry.action == filters.action)
    if filters.object_id:
        query = query.where(LedgerEntry.object_id == filters.object_id)
    if filters.since:
        query = query.where(LedgerEntry.created_at >= filters.since)
    if filters.until:
        query = query.where(LedgerEntry.created_at < filters.until)
    if filters.refusals:
        query = query.where(LedgerEntry.action.in_(REFUSALS))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(LedgerEntry.index.desc()).offset(max(page, 0) * PAGE).limit(PAGE)
    )
    return list(rows), total


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(LedgerEntry.action).distinct().order_by(LedgerEntry.action)))


def orgs(session: Session) -> list[str]:
    return [
        o
        for o in session.scalars(
            select(LedgerEntry.actor_org).distinct().order_by(LedgerEntry.actor_org)
        )
        if o
    ]
