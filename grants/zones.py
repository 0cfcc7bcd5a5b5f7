"""Data zones (数据专区): the bureau defines each zone and which datasets and operators belong
to it. An operator is admitted into a zone when the bureau issues it a license there
(:func:`grants.licenses.issue`); the bureau may also add or remove members here.

Every decision is a ledger entry in the caller's session; the caller commits. A refusal
raises before anything in the session has changed.
"""

from __future__ import annotations

import datetime as dt
import re
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.models import License, LicenseState, Zone, ZoneDataset, ZoneOperator
from sandbox.datasets.models import Dataset
from sandbox.errors import Conflict, InvalidInput, NotFound
from sandbox.ledger.log import Actor, append
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role
from sandbox.parties.service import require_role

SLUG = re.compile(r"[a-z][a-z0-9-]{0,62}")
MAX_NAME = 200
MAX_DESCRIPTION = 2000


def create_zone(
    session: Session, who: Principal, *, slug: str, name: str, description: str, now: dt.datetime
) -> Zone:
    require_role(who, Role.BUREAU_ADMIN)
    if not SLUG.fullmatch(slug):
        raise InvalidInput(
            "zone slug: a lower-case letter, then up to 62 letters, digits or '-'",
            code="zone.slug",
        )
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(f"zone name: 1 to {MAX_NAME} characters", code="zone.name")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"zone description: at most {MAX_DESCRIPTION} characters", code="zone.description"
        )
    if session.scalar(select(Zone.id).where(Zone.slug == slug)) is not None:
        raise Conflict(f"zone {slug!r} exists", code="zone.exists")
    zone = Zone(slug=slug, name=name, description=description, created_at=now)
    session.add(zone)
    session.flush()
    _record(session, who, "zone.created", zone, {"name": name}, now)
    return zone


def list_zones(session: Session, who: Principal) -> list[Zone]:
    """Every account may see which zones exist (their names are not confidential)."""
    del who
    return list(session.scalars(select(Zone).order_by(Zone.slug)))


def get_zone(session: Session, zone_id: UUID) -> Zone:
    zone = session.get(Zone, zone_id)
    if zone is None:
        raise NotFound("no such zone", code="zone.not_found")
    return zone


def zone_datasets(session: Session, zone_id: UUID) -> set[UUID]:
    return set(
        session.scalars(select(ZoneDataset.dataset_id).where(ZoneDataset.zone_id == zone_id))
    )


def zone_operators(session: Session, zone_id: UUID) -> set[UUID]:
    return set(session.scalars(select(ZoneOperator.org_id).where(ZoneOperator.zone_id == zone_id)))


def zone_of_dataset(session: Session, dataset_id: UUID) -> set[UUID]:
    """The ids of every zone the dataset belongs to."""
    return set(
        session.scalars(select(ZoneDataset.zone_id).where(ZoneDataset.dataset_id == dataset_id))
    )


def add_dataset(
    session: Session, who: Principal, zone_id: UUID, dataset_id: UUID, *, now: dt.datetime
) -> None:
    """Zones hold public data: only a provider department's dataset may be added."""
    require_role(who, Role.BUREAU_ADMIN)
    zone = get_zone(session, zone_id)
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound("no such dataset", code="dataset.not_found")
    owner = session.get(Organization, dataset.domain.org_id)
    if owner is None or owner.kind != OrgKind.PROVIDER.value:
        raise InvalidInput(
            "only a provider department's dataset can belong to a zone",
            code="zone.dataset_not_public",
        )
    if session.get(ZoneDataset, (zone.id, dataset.id)) is not None:
        raise Conflict("the dataset is already in this zone", code="zone.dataset_exists")
    session.add(ZoneDataset(zone_id=zone.id, dataset_id=dataset.id))
    session.flush()
    details = {"dataset": str(dataset.id), "dataset_name": f"{dataset.domain.name}/{dataset.name}"}
    _record(session, who, "zone.dataset_added", zone, details, now)


def remove_dataset(
    session: Session, who: Principal, zone_id: UUID, dataset_id: UUID, *, now: dt.datetime
) -> None:
    """Grants on the dataset stay as they are; the policy refuses computations on a dataset
    outside the license's zone from now on."""
    require_role(who, Role.BUREAU_ADMIN)
    zone = get_zone(session, zone_id)
    row = session.get(ZoneDataset, (zone.id, dataset_id))
    if row is None:
        raise NotFound("the dataset is not in this zone", code="zone.dataset_not_member")
    session.delete(row)
    session.flush()
    _record(session, who, "zone.dataset_removed", zone, {"dataset": str(dataset_id)}, now)


def add_operator(
    session: Session, who: Principal, zone_id: UUID, org_id: UUID, *, now: dt.datetime
) -> None:
    require_role(who, Role.BUREAU_ADMIN)
    zone = get_zone(session, zone_id)
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound("no such organization", code="organization.not_found")
    if org.kind != OrgKind.OPERATOR.value:
        raise InvalidInput(
            f"{org.slug} is not a licensed-operator organization", code="zone.not_operator"
        )
    if not admit(session, who, zone, org, now=now):
        raise Conflict("the organization is already an operator here", code="zone.operator_exists")


def admit(
    session: Session, who: Principal, zone: Zone, org: Organization, *, now: dt.datetime
) -> bool:
    """Make ``org`` an operator of ``zone``; False (and no entry) when it already is one.
    For :func:`grants.licenses.issue`; callers have checked the role and the org's kind."""
    if session.get(ZoneOperator, (zone.id, org.id)) is not None:
        return False
    session.add(ZoneOperator(zone_id=zone.id, org_id=org.id))
    session.flush()
    _record(session, who, "zone.operator_added", zone, {"operator": org.slug}, now)
    return True


def remove_operator(
    session: Session, who: Principal, zone_id: UUID, org_id: UUID, *, now: dt.datetime
) -> None:
    """Refused while the operator holds a live (active or suspended, unexpired) license in
    the zone: the bureau revokes the license first, which stops its jobs."""
    require_role(who, Role.BUREAU_ADMIN)
    zone = get_zone(session, zone_id)
    row = session.get(ZoneOperator, (zone.id, org_id))
    if row is None:
        raise NotFound("the organization is not an operator of this zone", code="zone.not_member")
    live = session.scalar(
        select(License.id).where(
            License.zone_id == zone.id,
            License.operator_id == org_id,
            License.state.in_([LicenseState.ACTIVE.value, LicenseState.SUSPENDED.value]),
            License.valid_until > now,
        )
    )
    if live is not None:
        raise Conflict(
            f"the operator holds license {live} in this zone; revoke it first",
            code="zone.operator_licensed",
        )
    org = session.get(Organization, org_id)
    session.delete(row)
    session.flush()
    slug = org.slug if org is not None else str(org_id)
    _record(session, who, "zone.operator_removed", zone, {"operator": slug}, now)


def _record(
    session: Session,
    who: Principal,
    action: str,
    zone: Zone,
    details: dict[str, str],
    now: dt.datetime,
) -> None:
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type="zone",
        object_id=zone.slug,
        params={"zone": zone.slug, **details},
        details={"zone_id": str(zone.id), **details},
        now=now,
    )
