"""Read models for the governance screens and the bureau's dashboard: rows joined with the
names people read, effective states at a given time, ages, quota use and refusal counts.

Nothing here decides or writes; visibility comes from the services (``visible_licenses``,
``visible_grants``, the catalog), so a screen shows exactly what its account may see.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import catalog_review, licenses, zones
from grants.applications import current_terms
from grants.grants import effective_state, required_reviewers, visible_grants
from grants.models import Grant, GrantState, GrantUsage, License, LicenseState
from sandbox.datasets.catalog import CatalogEntry, visible_datasets
from sandbox.datasets.models import Dataset
from sandbox.errors import PermissionDenied
from sandbox.ledger.models import LedgerEntry
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind

REFUSAL_ACTIONS = ("policy.refused", "job.refused")
USAGE_DAYS = 30


@dataclass(frozen=True, slots=True)
class LicenseRow:
    license: License
    operator: Organization
    state: str  # effective: submitted, active, suspended, revoked, refused or expired


@dataclass(frozen=True, slots=True)
class GrantRow:
    grant: Grant
    operator: Organization
    state: str  # effective, incl. expired
    datasets: tuple[str, ...]  # "domain/name"
    waiting_on: tuple[str, ...]  # slugs of required reviewers yet to decide (pending only)
    age: dt.timedelta  # since the application


@dataclass(frozen=True, slots=True)
class PendingDataset:
    entry: CatalogEntry
    age: dt.timedelta  # since the version was loaded


@dataclass(frozen=True, slots=True)
class QuotaUse:
    grant: Grant
    operator: str
    purpose: str
    calls_today: int
    calls_per_day: int
    rows_today: int
    rows_per_call: int
    epsilon_spent: float
    epsilon_budget: float | None


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: dt.date
    calls: int
    rows: int


@dataclass(frozen=True, slots=True)
class UsageSeries:
    row: GrantRow
    my_datasets: tuple[str, ...]
    calls_per_day: int
    days: tuple[DayUsage, ...]  # oldest first, one per day of the window, zeros included


@dataclass(frozen=True, slots=True)
class GrantableDataset:
    entry: CatalogEntry
    columns: tuple[str, ...]  # grantable, in schema order
    blocked: tuple[tuple[str, str], ...]  # (column, sensitivity) never grantable
    zones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ZoneRow:
    zone_id: UUID
    slug: str
    name: str
    description: str
    datasets: tuple[str, ...]
    operators: tuple[str, ...]


@dataclass(slots=True)
class Dashboard:
    licenses_by_state: Counter[str]
    active_licenses: list[LicenseRow]
    pending_catalog: list[PendingDataset]
    pending_grants: list[GrantRow]
    refusals_by_reason: Counter[str]
    quota_use: list[QuotaUse]


def _orgs(session: Session, ids: set[UUID]) -> dict[UUID, Organization]:
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(ids)))}


def organizations(session: Session, kind: OrgKind) -> list[Organization]:
    """Organization names are not confidential: for recipient and operator choices."""
    query = select(Organization).where(Organization.kind == kind.value)
    return list(session.scalars(query.order_by(Organization.slug)))


def license_rows(session: Session, who: Principal, *, now: dt.datetime) -> list[LicenseRow]:
    rows = licenses.visible_licenses(session, who)
    orgs = _orgs(session, {lic.operator_id for lic in rows})
    return [
        LicenseRow(lic, orgs[lic.operator_id], licenses.effective_state(lic, now)) for lic in rows
    ]


def _dataset_names(session: Session, ids: set[UUID]) -> dict[UUID, str]:
    if not ids:
        return {}
    found = session.scalars(select(Dataset).where(Dataset.id.in_(ids)))
    return {d.id: f"{d.domain.name}/{d.name}" for d in found}


def grant_rows(
    session: Session, who: Principal, *, now: dt.datetime, state: str | None = None
) -> list[GrantRow]:
    """The grants ``who`` may see (newest first), optionally only those stored in ``state``."""
    grants = visible_grants(session, who, state=state)
    return _grant_rows(session, grants, now)


def _grant_rows(session: Session, grants: list[Grant], now: dt.datetime) -> list[GrantRow]:
    orgs = _orgs(session, {g.operator_id for g in grants})
    asked = {g.id: [d.dataset_id for d in current_terms(g).datasets] for g in grants}
    names = _dataset_names(session, {i for ids in asked.values() for i in ids})
    out = []
    for g in grants:
        waiting: tuple[str, ...] = ()
        if g.state == GrantState.PENDING.value:
            decided = {r.reviewer_org_id for r in g.reviews}
            waiting = tuple(o.slug for o in required_reviewers(session, g) if o.id not in decided)
        out.append(
            GrantRow(
                grant=g,
                operator=orgs[g.operator_id],
                state=effective_state(g, now),
                datasets=tuple(names.get(i, str(i)) for i in asked[g.id]),
                waiting_on=waiting,
                age=now - g.created_at,
            )
        )
    return out


def pending_catalog(session: Session, who: Principal, *, now: dt.datetime) -> list[PendingDataset]:
    return [
        PendingDataset(e, now - e.version.loaded_at)
        for e in catalog_review.pending_reviews(session, who)
    ]


def quota_use(session: Session, rows: list[GrantRow], *, now: dt.datetime) -> list[QuotaUse]:
    """Today's (UTC) calls and rows, and ε spent, for each approved grant in ``rows``."""
    approved = [r for r in rows if r.state == GrantState.APPROVED.value]
    ids = [r.grant.id for r in approved]
    today: dict[UUID, GrantUsage] = {}
    if ids:
        usage = session.scalars(
            select(GrantUsage).where(GrantUsage.grant_id.in_(ids), GrantUsage.day == now.date())
        )
        today = {u.grant_id: u for u in usage}
    out = []
    for r in approved:
        terms = current_terms(r.grant)
        used = today.get(r.grant.id)
        out.append(
            QuotaUse(
                grant=r.grant,
                operator=r.operator.slug,
                purpose=terms.purpose,
                calls_today=used.calls if used is not None else 0,
                calls_per_day=terms.calls_per_day,
                rows_today=used.rows if used is not None else 0,
                rows_per_call=terms.rows_per_call,
                epsilon_spent=r.grant.epsilon_spent,
                epsilon_budget=terms.epsilon_budget,
            )
        )
    return out


def refusals_by_reason(session: Session) -> Counter[str]:
    """Reason codes of every refused job and policy decision in the ledger (the entry body
    is the truth; its ``details`` carry the codes, never raw data)."""
    counts: Counter[str] = Counter()
    bodies = session.scalars(
        select(LedgerEntry.body).where(LedgerEntry.action.in_(REFUSAL_ACTIONS))
    )
    for body in bodies:
        details = json.loads(body).get("details", {})
        reasons = details.get("reasons")
        if isinstance(reasons, list):
            counts.update(str(r) for r in reasons)
        elif details.get("reason"):
            counts[str(details["reason"])] += 1
        else:
            counts["unspecified"] += 1
    return counts


def build(session: Session, who: Principal, *, now: dt.datetime) -> Dashboard:
    """The bureau's governance dashboard (the auditor may read it too)."""
    if not who.oversees_all:
        raise PermissionDenied("the dashboard is for the bureau", code="forbidden.role")
    lic_rows = license_rows(session, who, now=now)
    all_grants = grant_rows(session, who, now=now)
    return Dashboard(
        licenses_by_state=Counter(r.state for r in lic_rows),
        active_licenses=[r for r in lic_rows if r.state == LicenseState.ACTIVE.value],
        pending_catalog=pending_catalog(session, who, now=now),
        pending_grants=sorted(
            (r for r in all_grants if r.state == GrantState.PENDING.value),
            key=lambda r: r.grant.created_at,
        ),
        refusals_by_reason=refusals_by_reason(session),
        quota_use=quota_use(session, all_grants, now=now),
    )


def provider_usage(
    session: Session, who: Principal, *, now: dt.datetime, days: int = USAGE_DAYS
) -> list[UsageSeries]:
    """For a provider's CDO: calls and rows per day under each grant that includes one of the
    department's datasets, over the last ``days`` days (UTC)."""
    rows = grant_rows(session, who, now=now)
    mine = {
        e.dataset.id: f"{e.dataset.domain.name}/{e.dataset.name}"
        for e in visible_datasets(session, who)
        if e.owner.id == who.org_id
    }
    first = now.date() - dt.timedelta(days=days - 1)
    ids = [r.grant.id for r in rows]
    usage: dict[tuple[UUID, dt.date], GrantUsage] = {}
    if ids:
        found = session.scalars(
            select(GrantUsage).where(GrantUsage.grant_id.in_(ids), GrantUsage.day >= first)
        )
        usage = {(u.grant_id, u.day): u for u in found}
    out = []
    for r in rows:
        terms = current_terms(r.grant)
        series = []
        for n in range(days):
            day = first + dt.timedelta(days=n)
            u = usage.get((r.grant.id, day))
            series.append(DayUsage(day, u.calls if u else 0, u.rows if u else 0))
        out.append(
            UsageSeries(
                row=r,
                my_datasets=tuple(
                    mine[d.dataset_id] for d in terms.datasets if d.dataset_id in mine
                ),
                calls_per_day=terms.calls_per_day,
                days=tuple(series),
            )
        )
    return out


def grantable_catalog(session: Session, who: Principal) -> list[GrantableDataset]:
    """Datasets ``who`` may browse whose current version the bureau has reviewed and that are
    not closed, with the columns that may be asked for (for the grant application form)."""
    out = []
    for entry in visible_datasets(session, who):
        if entry.owner.kind != OrgKind.PROVIDER.value:
            continue
        cls = catalog_review.classification(session, entry.dataset.id)
        if cls is None:
            continue
        allowed = catalog_review.grantable_columns(cls)
        if not allowed:
            continue
        names = entry.schema.column_names
        zone_ids = zones.zone_of_dataset(session, entry.dataset.id)
        slugs = tuple(sorted(z.slug for z in zones.list_zones(session, who) if z.id in zone_ids))
        out.append(
            GrantableDataset(
                entry=entry,
                columns=tuple(c for c in names if c in allowed),
                blocked=tuple(
                    (c, cls.sensitivities[c].value)
                    for c in names
                    if c not in allowed and c in cls.sensitivities
                ),
                zones=slugs,
            )
        )
    return out


def zone_rows(session: Session, who: Principal) -> list[ZoneRow]:
    out = []
    for zone in zones.list_zones(session, who):
        dataset_names = _dataset_names(session, zones.zone_datasets(session, zone.id))
        operators = _orgs(session, zones.zone_operators(session, zone.id))
        out.append(
            ZoneRow(
                zone_id=zone.id,
                slug=zone.slug,
                name=zone.name,
                description=zone.description,
                datasets=tuple(sorted(dataset_names.values())),
                operators=tuple(sorted(o.slug for o in operators.values())),
            )
        )
    return out
