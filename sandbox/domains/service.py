"""Domains: one per data-holding organization."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.domains.models import Domain
from sandbox.domains.store import DOMAIN_NAME
from sandbox.errors import Conflict, InvalidInput, NotFound
from sandbox.ledger.log import SYSTEM, append
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind


def create_domain(session: Session, *, name: str, org: Organization, now: dt.datetime) -> Domain:
    if not DOMAIN_NAME.fullmatch(name):
        raise InvalidInput(
            "domain names are lower-case letters, digits and '-'", code="domain.name"
        )
    if not OrgKind(org.kind).has_domain:
        raise InvalidInput(f"a {org.kind} runs no domain", code="domain.owner_kind")
    if session.scalar(select(Domain).where(Domain.name == name)) is not None:
        raise Conflict(f"domain {name!r} exists", code="domain.exists")
    if session.scalar(select(Domain).where(Domain.org_id == org.id)) is not None:
        raise Conflict(f"organization {org.slug!r} has a domain", code="domain.exists")
    domain = Domain(name=name, org_id=org.id, created_at=now)
    session.add(domain)
    session.flush()
    append(
        session,
        actor=SYSTEM,
        action="domain.created",
        object_type="domain",
        object_id=name,
        params={"name": name, "org": org.slug},
        details={"org": org.slug},
        now=now,
    )
    return domain


def get_domain(session: Session, name: str) -> Domain:
    domain = session.scalar(select(Domain).where(Domain.name == name[:64]))
    if domain is None:
        raise NotFound(f"unknown domain {name[:64]!r}", code="domain.not_found")
    return domain


def visible_domains(session: Session, who: Principal) -> list[Domain]:
    query = select(Domain).order_by(Domain.name)
    if not who.oversees_all:
        query = query.join(Organization, Organization.id == Domain.org_id).where(
            (Domain.org_id == who.org_id) | (Organization.kind == OrgKind.PROVIDER.value)
        )
    return list(session.scalars(query))
