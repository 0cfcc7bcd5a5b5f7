"""Applying for a grant, who must review it, who may see it, and its state at a given time.

:func:`apply` checks every rule before it changes anything: a refused application leaves the
session as it found it (no grant row, no ledger entry), and the error's ``code`` says which
rule refused it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import catalog_review, licenses, purposes, zones
from grants.models import Grant, GrantState, License
from grants.terms import Terms
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Openness, Schema, Sensitivity
from sandbox.domains.models import Domain
from sandbox.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sandbox.ledger.log import Actor, append
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role
from sandbox.parties.service import require_role

MAX_JUSTIFICATION = 4000
EXPIRED = "expired"
_BLOCKED = frozenset(s.value for s in Sensitivity if s.hard_blocked)


def parse_terms(data: Any) -> Terms:
    """Terms from untrusted JSON, or InvalidInput ``grant.terms`` naming the first problem
    (e.g. a quota that is not positive, a term that ends before it starts)."""
    try:
        return Terms.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "terms"
        raise InvalidInput(f"invalid terms: {where}: {err['msg']}", code="grant.terms") from exc


def asked_terms(grant: Grant) -> Terms:
    return Terms.model_validate(grant.terms)


def current_terms(grant: Grant) -> Terms:
    """What is granted so far: the narrowest approved terms, or what was asked."""
    return Terms.model_validate(grant.approved if grant.approved is not None else grant.terms)


def effective_state(grant: Grant, now: dt.datetime) -> str:
    """The stored state, except that an approved or suspended grant past its term is
    ``expired``: grants expire by themselves, with no job to flip a flag."""
    if grant.state in (GrantState.APPROVED.value, GrantState.SUSPENDED.value):
        if now >= current_terms(grant).valid_until:
            return EXPIRED
    return grant.state


def apply(
    session: Session,
    who: Principal,
    *,
    license_id: UUID,
    terms: Terms,
    justification: str,
    now: dt.datetime,
) -> Grant:
    """An operator applies for a grant under one of its licenses in force. State pending."""
    require_role(who, Role.OPERATOR)
    lic = session.get(License, license_id)
    if lic is None or lic.operator_id != who.org_id:
        raise PermissionDenied("no such license for your organization", code="grant.no_license")
    if not licenses.is_in_force(lic, now):
        raise Conflict("the operating license is not in force", code="grant.no_license")
    justification = justification.strip()
    if not 1 <= len(justification) <= MAX_JUSTIFICATION:
        raise InvalidInput(
            f"justification must have 1 to {MAX_JUSTIFICATION} characters",
            code="grant.justification",
        )
    for asked in terms.datasets:
        _check_dataset(session, lic, terms, asked.dataset_id, asked.columns)
    if terms.purpose not in {p.code for p in purposes.active_purposes(session)}:
        raise InvalidInput(
            f"purpose {terms.purpose!r} is not on the bureau's list", code="grant.unknown_purpose"
        )
    known = set(
        session.scalars(select(Organization.slug).where(Organization.slug.in_(terms.recipients)))
    )
    unknown = [r for r in terms.recipients if r not in known]
    if unknown:
        raise InvalidInput(
            f"unknown recipient organization {unknown[0]!r}", code="grant.unknown_recipient"
        )
    check_term(terms, lic, now)
    terms_json = terms.model_dump(mode="json")
    grant = Grant(
        operator_id=who.org_id,
        license_id=lic.id,
        requested_by=who.user_id,
        state=GrantState.PENDING.value,
        terms=terms_json,
        approved=None,
        justification=justification,
        epsilon_spent=0.0,
        created_at=now,
    )
    session.add(grant)
    session.flush()
    append(
        session,
        actor=Actor.of(who),
        action="grant.applied",
        object_type="grant",
        object_id=str(grant.id),
        params={"license": str(lic.id), "terms": terms_json, "justification": justification},
        details={
            "datasets": [str(d.dataset_id) for d in terms.datasets],
            "kinds": [k.value for k in terms.kinds],
            "purpose": terms.purpose,
            "recipients": list(terms.recipients),
            "term": {"from": terms_json["valid_from"], "until": terms_json["valid_until"]},
        },
        now=now,
    )
    return grant


def check_term(terms: Terms, lic: License, now: dt.datetime) -> None:
    """The term must still be running and lie within the license's term."""
    if terms.valid_until <= now:
        raise InvalidInput("the term must end in the future", code="grant.term")
    if terms.valid_until > lic.valid_until or terms.valid_from < lic.valid_from:
        raise InvalidInput("the term must lie within the license's term", code="grant.term")


def _check_dataset(
    session: Session,
    lic: License,
    terms: Terms,
    dataset_id: UUID,
    columns: tuple[str, ...],
) -> None:
    if session.get(Dataset, dataset_id) is None:
        raise NotFound(f"no dataset {dataset_id}", code="dataset.not_found")
    cls = catalog_review.classification(session, dataset_id)
    if cls is None or not cls.reviewed:
        raise Conflict(
            f"dataset {dataset_id} has not been reviewed by the bureau", code="grant.unreviewed"
        )
    if lic.zone_id not in zones.zone_of_dataset(session, dataset_id):
        raise PermissionDenied(
            f"dataset {dataset_id} is not in the license's zone", code="grant.outside_zone"
        )
    if cls.openness == Openness.CLOSED.value:
        raise PermissionDenied(f"dataset {dataset_id} is not open", code="grant.not_open")
    schema = version_schema(session, dataset_id, cls.version)
    grantable = catalog_review.grantable_columns(cls)
    for column in columns:
        if column not in schema.column_names:
            raise InvalidInput(
                f"dataset {dataset_id} has no column {column!r}", code="grant.unknown_column"
            )
        sensitivity = sensitivity_of(cls.sensitivities, schema, column)
        if column not in grantable or sensitivity in _BLOCKED:
            raise InvalidInput(
                f"column {column!r} is {sensitivity} and can never be granted",
                code="grant.blocked_column",
            )
        if sensitivity == Sensitivity.PERSONAL.value and not terms.purpose_text.strip():
            raise InvalidInput(
                f"column {column!r} holds personal information: declare the purpose in words",
                code="grant.purpose_required",
            )


def version_schema(session: Session, dataset_id: UUID, version: int) -> Schema:
    row = session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset_id, DatasetVersion.version == version
        )
    )
    if row is None:
        raise NotFound("no such dataset version", code="dataset.not_found")
    return Schema.model_validate(row.schema_json)


def sensitivity_of(reviewed: Mapping[str, str], schema: Schema, column: str) -> str:
    """The bureau's sensitivity for a column, else the one the provider declared."""
    return str(reviewed.get(column) or schema.column(column).sensitivity.value)


def bureau_org(session: Session) -> Organization:
    org = session.scalar(
        select(Organization)
        .where(Organization.kind == OrgKind.BUREAU.value)
        .order_by(Organization.created_at, Organization.slug)
        .limit(1)
    )
    if org is None:
        raise Conflict("there is no data bureau to review grants", code="grant.no_bureau")
    return org


def required_reviewers(session: Session, grant: Grant) -> list[Organization]:
    """The bureau, then the providing department of every dataset asked for (by slug)."""
    bureau = bureau_org(session)
    ids = [d.dataset_id for d in asked_terms(grant).datasets]
    providers = session.scalars(
        select(Organization)
        .join(Domain, Domain.org_id == Organization.id)
        .join(Dataset, Dataset.domain_id == Domain.id)
        .where(
            Dataset.id.in_(ids),
            Organization.kind == OrgKind.PROVIDER.value,
            Organization.id != bureau.id,
        )
        .distinct()
        .order_by(Organization.slug)
    )
    return [bureau, *providers]


def _org_dataset_ids(session: Session, org_id: UUID) -> set[UUID]:
    return set(
        session.scalars(
            select(Dataset.id)
            .join(Domain, Domain.id == Dataset.domain_id)
            .where(Domain.org_id == org_id)
        )
    )


def _touches(grant: Grant, dataset_ids: set[UUID]) -> bool:
    return any(d.dataset_id in dataset_ids for d in asked_terms(grant).datasets)


def visible_grants(session: Session, who: Principal, *, state: str | None = None) -> list[Grant]:
    """The bureau and the auditor see every grant; an operator its own; a provider's CDO the
    grants that touch its datasets; a bank the approved grants that name it as a recipient of
    outputs; anyone else none. Newest first."""
    query = select(Grant).order_by(Grant.created_at.desc())
    if state is not None:
        query = query.where(Grant.state == state)
    if who.oversees_all:
        return list(session.scalars(query))
    if who.role == Role.OPERATOR:
        return list(session.scalars(query.where(Grant.operator_id == who.org_id)))
    if who.role == Role.PROVIDER_CDO:
        mine = _org_dataset_ids(session, who.org_id)
        return [g for g in session.scalars(query) if _touches(g, mine)]
    if who.role == Role.BANK_ANALYST:
        return [g for g in session.scalars(query) if names_recipient(g, who.org_slug)]
    return []


def names_recipient(grant: Grant, slug: str) -> bool:
    """True when the grant, as approved, releases outputs to this organization."""
    return (
        grant.state == GrantState.APPROVED.value
        and grant.approved is not None
        and slug in Terms.model_validate(grant.approved).recipients
    )


def can_see(session: Session, who: Principal, grant: Grant) -> bool:
    if who.oversees_all:
        return True
    if who.role == Role.OPERATOR:
        return grant.operator_id == who.org_id
    if who.role == Role.PROVIDER_CDO:
        return _touches(grant, _org_dataset_ids(session, who.org_id))
    if who.role == Role.BANK_ANALYST:
        return names_recipient(grant, who.org_slug)
    return False


def get_visible_grant(session: Session, who: Principal, grant_id: UUID) -> Grant:
    grant = session.get(Grant, grant_id)
    if grant is None or not can_see(session, who, grant):
        raise NotFound("no such grant", code="grant.not_found")
    return grant
