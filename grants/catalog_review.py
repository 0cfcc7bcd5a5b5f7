"""Catalog review (分类分级): the bureau confirms or changes what a provider department
declared for a dataset version: its openness, security grade and each column's sensitivity.

Only the current version's review counts; a newly loaded version is unreviewed, and so not
grantable, until the bureau reviews it. Not-open datasets and hard-blocked columns (sensitive
personal, trade secret, state secret) are never grantable. The review is also written to the
dataset's openness and grade, so that the catalog and its visibility follow the bureau.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from grants.models import CatalogReview
from sandbox.datasets.catalog import CatalogEntry
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Grade, Openness, Schema, Sensitivity
from sandbox.domains.models import Domain
from sandbox.errors import Conflict, InvalidInput, NotFound
from sandbox.ledger.log import Actor, append
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role
from sandbox.parties.service import require_role

MAX_NOTE = 2000
E = TypeVar("E", bound=enum.StrEnum)


@dataclass(frozen=True, slots=True)
class Classification:
    """The bureau's confirmed classification of a dataset's current version. ``sensitivities``
    is a plain dict (so it serializes as JSON) typed read-only."""

    dataset_id: UUID
    version: int
    openness: Openness
    grade: Grade
    sensitivities: Mapping[str, Sensitivity]
    reviewed: bool = True


def grantable_columns(classification: Classification) -> frozenset[str]:
    if classification.openness is Openness.CLOSED:
        return frozenset()
    return frozenset(c for c, s in classification.sensitivities.items() if not s.hard_blocked)


def classification(session: Session, dataset_id: UUID) -> Classification | None:
    """The review of the dataset's current version, or None when there is none."""
    review = session.scalar(
        select(CatalogReview)
        .join(Dataset, Dataset.id == CatalogReview.dataset_id)
        .where(CatalogReview.dataset_id == dataset_id)
        .where(CatalogReview.version == Dataset.current_version)
    )
    if review is None:
        return None
    return Classification(
        dataset_id=review.dataset_id,
        version=review.version,
        openness=Openness(review.openness),
        grade=Grade(review.grade),
        sensitivities={c: Sensitivity(s) for c, s in review.sensitivities.items()},
    )


def pending_reviews(session: Session, who: Principal) -> list[CatalogEntry]:
    """Provider datasets whose current version has no review: all of them for the bureau
    and the auditor, a department's own for its CDO, none for anyone else."""
    if not (who.oversees_all or who.role is Role.PROVIDER_CDO):
        return []
    reviewed = exists().where(
        CatalogReview.dataset_id == Dataset.id, CatalogReview.version == Dataset.current_version
    )
    query = (
        select(Dataset, DatasetVersion, Organization)
        .join(
            DatasetVersion,
            (DatasetVersion.dataset_id == Dataset.id)
            & (DatasetVersion.version == Dataset.current_version),
        )
        .join(Domain, Domain.id == Dataset.domain_id)
        .join(Organization, Organization.id == Domain.org_id)
        .where(Organization.kind == OrgKind.PROVIDER.value, ~reviewed)
        .order_by(DatasetVersion.loaded_at, Domain.name, Dataset.name)
    )
    if not who.oversees_all:
        query = query.where(Organization.id == who.org_id)
    return [CatalogEntry(d, v, o) for d, v, o in session.execute(query).all()]


def review(
    session: Session,
    who: Principal,
    dataset_id: UUID,
    *,
    openness: Openness,
    grade: Grade,
    sensitivities: dict[str, str],
    note: str,
    now: dt.datetime,
) -> CatalogReview:
    require_role(who, Role.BUREAU_ADMIN)
    dataset = session.get(Dataset, dataset_id)
    if dataset is None:
        raise NotFound("no such dataset", code="dataset.not_found")
    owner = session.get(Organization, dataset.domain.org_id)
    if owner is None or owner.kind != OrgKind.PROVIDER.value:
        raise InvalidInput(
            "only a provider department's dataset is reviewed for the catalog",
            code="catalog.not_public_data",
        )
    version = session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == dataset.id,
            DatasetVersion.version == dataset.current_version,
        )
    )
    assert version is not None  # a dataset always has its current version
    if session.scalar(
        select(CatalogReview.id).where(
            CatalogReview.dataset_id == dataset.id, CatalogReview.version == version.version
        )
    ):
        raise Conflict(
            f"version {version.version} of this dataset is already reviewed",
            code="catalog.already_reviewed",
        )
    schema = Schema.model_validate(version.schema_json)
    openness = _member(Openness, openness, "catalog.openness")
    grade = _member(Grade, grade, "catalog.grade")
    checked = _sensitivities(schema, sensitivities)
    if len(note) > MAX_NOTE:
        raise InvalidInput(f"note: at most {MAX_NOTE} characters", code="catalog.note")
    row = CatalogReview(
        dataset_id=dataset.id,
        version=version.version,
        openness=openness.value,
        grade=grade.value,
        sensitivities={c: s.value for c, s in checked.items()},
        note=note,
        reviewed_by=who.user_id,
        reviewed_at=now,
    )
    session.add(row)
    dataset.openness, dataset.grade = openness.value, grade.value
    session.flush()
    changed = [
        {"column": c.name, "declared": c.sensitivity.value, "reviewed": checked[c.name].value}
        for c in schema.columns
        if checked[c.name] is not c.sensitivity
    ]
    append(
        session,
        actor=Actor.of(who),
        action="catalog.reviewed",
        object_type="dataset",
        object_id=str(dataset.id),
        params={
            "dataset": str(dataset.id),
            "version": version.version,
            "openness": openness.value,
            "grade": grade.value,
            "sensitivities": row.sensitivities,
            "note": note,
        },
        details={
            "version": version.version,
            "openness": openness.value,
            "grade": grade.value,
            "declared": {"openness": schema.openness.value, "grade": schema.grade.value},
            "changed_columns": changed,
        },
        now=now,
    )
    return row


def _member(kind: type[E], value: Any, code: str) -> E:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise InvalidInput(f"{value!r} is not one of {allowed}", code=code) from None


def _sensitivities(schema: Schema, given: Mapping[str, str]) -> dict[str, Sensitivity]:
    """Exactly the schema's columns, each with a valid sensitivity."""
    if not isinstance(given, Mapping):
        raise InvalidInput("sensitivities: a column -> sensitivity mapping", code="catalog.columns")
    names = set(schema.column_names)
    missing = sorted(names - set(given))[:10]
    unknown = sorted(set(given) - names, key=str)[:10]
    if missing or unknown:
        parts = [f"missing: {', '.join(missing)}"] if missing else []
        parts += [f"unknown: {', '.join(map(str, unknown))}"] if unknown else []
        raise InvalidInput(
            f"sensitivities must name exactly the schema's columns ({'; '.join(parts)})",
            code="catalog.columns",
        )
    return {c: _member(Sensitivity, given[c], "catalog.sensitivity") for c in schema.column_names}
