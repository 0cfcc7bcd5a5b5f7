"""Contributions: a data holder's standing consent to add one of its own datasets, encrypted,
to the secure sums run under a grant (多头借贷: each bank's loan book into a cross-bank total).

Public data reaches a computation through the bureau's grant and the providing department's
approval; a bank's own data reaches one only through the bank's own consent. A bank may consent
for a dataset in its own domain, for the columns it names (never a hard-blocked one), under an
approved grant that names the bank as a recipient and allows ``secure_sum``; it may withdraw at
any time. Both decisions are ledger entries. The consent text says what a participant learns:
with two contributors, each can derive the other's total from the sum and its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.grants import effective_state
from grants.models import Contribution, Grant, GrantState
from grants.terms import Kind, Terms
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sandbox.ledger.log import Actor, append
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role

CONTRIBUTORS = (Role.BANK_ANALYST, Role.PROVIDER_CDO)


@dataclass(frozen=True, slots=True)
class ContributionView:
    id: str
    grant_id: str
    dataset_id: str
    dataset: str
    owner: str
    columns: tuple[str, ...]
    consented_at: dt.datetime


def _grant(session: Session, who: Principal, grant_id: uuid.UUID, now: dt.datetime) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None or grant.approved is None:
        raise NotFound("no such approved grant", code="grant.not_found")
    terms = Terms.model_validate(grant.approved)
    if who.org_slug not in terms.recipients:
        raise NotFound("no such approved grant", code="grant.not_found")
    if effective_state(grant, now) != GrantState.APPROVED.value:
        raise Conflict("the grant is not in force", code="contribution.grant_not_in_force")
    if Kind.SECURE_SUM not in terms.kinds:
        raise Conflict("the grant allows no secure sum", code="contribution.kind")
    return grant


def consent(
    session: Session,
    who: Principal,
    grant_id: uuid.UUID,
    dataset_id: uuid.UUID,
    columns: Sequence[str],
    *,
    now: dt.datetime,
) -> Contribution:
    if who.role not in CONTRIBUTORS or not OrgKind(who.org_kind).holds_data:
        raise PermissionDenied("only a data holder consents for its data", code="forbidden.role")
    grant = _grant(session, who, grant_id, now)
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.domain.org_id != who.org_id:
        raise NotFound("no such dataset of yours", code="dataset.not_found")
    version = session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset_id)
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    ).first()
    if version is None:
        raise NotFound("no such dataset of yours", code="dataset.not_found")
    schema = Schema.model_validate(version.schema_json)
    asked = tuple(dict.fromkeys(columns))
    if not asked:
        raise InvalidInput("name the columns you contribute", code="contribution.columns")
    by_name = {c.name: c for c in schema.columns}
    unknown = [c for c in asked if c not in by_name]
    if unknown:
        raise InvalidInput(
            f"the dataset has no column(s) {', '.join(unknown)}", code="contribution.columns"
        )
    blocked = [c for c in asked if by_name[c].sensitivity.hard_blocked]
    if blocked:
        raise InvalidInput(
            f"column(s) {', '.join(blocked)} never enter a computation",
            code="contribution.column_blocked",
        )
    row = session.scalar(
        select(Contribution).where(
            Contribution.grant_id == grant.id, Contribution.dataset_id == dataset_id
        )
    )
    if row is None:
        row = Contribution(
            grant_id=grant.id,
            dataset_id=dataset_id,
            org_id=who.org_id,
            columns=list(asked),
            consented_by=who.user_id,
            consented_at=now,
        )
        session.add(row)
    else:
        row.columns, row.consented_by, row.consented_at = list(asked), who.user_id, now
        row.withdrawn_at = None
    session.flush()
    _ledger(session, who, "contribution.consented", row, now, columns=list(asked))
    return row


def withdraw(
    session: Session,
    who: Principal,
    grant_id: uuid.UUID,
    dataset_id: uuid.UUID,
    *,
    now: dt.datetime,
) -> Contribution:
    row = session.scalar(
        select(Contribution).where(
            Contribution.grant_id == grant_id,
            Contribution.dataset_id == dataset_id,
            Contribution.org_id == who.org_id,
        )
    )
    if row is None or row.withdrawn_at is not None or who.role not in CONTRIBUTORS:
        raise NotFound("no such contribution of yours", code="contribution.not_found")
    row.withdrawn_at = now
    _ledger(session, who, "contribution.withdrawn", row, now)
    return row


def _ledger(
    session: Session,
    who: Principal,
    action: str,
    row: Contribution,
    now: dt.datetime,
    **more: object,
) -> None:
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type="grant",
        object_id=str(row.grant_id),
        params={"grant": str(row.grant_id), "dataset": str(row.dataset_id), **more},
        now=now,
    )


def active(session: Session, grant_id: uuid.UUID) -> list[Contribution]:
    return list(
        session.scalars(
            select(Contribution).where(
                Contribution.grant_id == grant_id, Contribution.withdrawn_at.is_(None)
            )
        )
    )


def views(session: Session, grant_id: uuid.UUID) -> list[ContributionView]:
    """Metadata only: which datasets of which holders, which columns."""
    out: list[ContributionView] = []
    for row in active(session, grant_id):
        dataset = session.get(Dataset, row.dataset_id)
        if dataset is None:
            continue
        out.append(
            ContributionView(
                id=str(row.id),
                grant_id=str(row.grant_id),
                dataset_id=str(row.dataset_id),
                dataset=dataset.name,
                owner=dataset.domain.org.slug,
                columns=tuple(row.columns),
                consented_at=row.consented_at,
            )
        )
    return out
