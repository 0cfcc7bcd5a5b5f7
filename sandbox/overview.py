"""Read models for the role home pages: counts and figures an account may see."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sandbox.datasets.catalog import CatalogEntry, visible_datasets
from sandbox.domains.models import Domain
from sandbox.jobs.models import Job
from sandbox.jobs.service import visible_jobs
from sandbox.parties.models import Organization, User, UserSession
from sandbox.parties.principal import Principal


@dataclass(slots=True)
class Overview:
    datasets: list[CatalogEntry]
    own_datasets: list[CatalogEntry]
    jobs: list[Job]
    jobs_by_status: Counter[str]
    openness: Counter[str]
    grades: Counter[str]
    orgs_by_kind: Counter[str] = field(default_factory=Counter)
    domains: int = 0
    recent_sign_ins: list[dict[str, Any]] = field(default_factory=list)
    recoveries: list[Job] = field(default_factory=list)


def min_completeness(entry: CatalogEntry) -> float:
    values = entry.version.quality_json.get("completeness", {}).values()
    return min(values, default=1.0)


def build(session: Session, who: Principal, *, now: dt.datetime) -> Overview:
    entries = visible_datasets(session, who)
    jobs = visible_jobs(session, who, limit=200)
    out = Overview(
        datasets=entries,
        own_datasets=[e for e in entries if e.owner.id == who.org_id],
        jobs=jobs[:20],
        jobs_by_status=Counter(j.state for j in jobs),
        openness=Counter(e.dataset.openness for e in entries),
        grades=Counter(e.dataset.grade for e in entries),
    )
    out.recoveries = [j for j in jobs if any(s.attempts > 1 for s in j.steps)][:10]
    if who.oversees_all:
        kinds = session.execute(
            select(Organization.kind, func.count()).group_by(Organization.kind)
        ).all()
        out.orgs_by_kind = Counter({kind: count for kind, count in kinds})
        out.domains = session.scalar(select(func.count()).select_from(Domain)) or 0
        since = now - dt.timedelta(days=7)
        rows = session.execute(
            select(User.username, Organization.slug, UserSession.created_at, UserSession.revoked_at)
            .join(User, User.id == UserSession.user_id)
            .join(Organization, Organization.id == User.org_id)
            .where(UserSession.created_at >= since)
            .order_by(UserSession.created_at.desc())
            .limit(20)
        ).all()
        out.recent_sign_ins = [
            {"username": u, "org": o, "at": at, "ended": revoked} for u, o, at, revoked in rows
        ]
    return out
