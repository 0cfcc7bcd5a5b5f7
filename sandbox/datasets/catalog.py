"""The catalog: which dataset metadata an account may see, with a synthetic sample.

Visibility: the bureau and the auditor see every entry; a provider department's open and
conditionally open datasets are in everyone's catalog; anything else (a bank's applicant list,
a not-open dataset) only its own organization sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from sandbox.datasets.models import Dataset, DatasetVersion, QualitySnapshot
from sandbox.datasets.schema import Openness, Schema
from sandbox.datasets.synthetic import synthetic_sample
from sandbox.domains.models import Domain
from sandbox.errors import NotFound
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind

SAMPLE_ROWS = 5


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    dataset: Dataset
    version: DatasetVersion
    owner: Organization

    @property
    def schema(self) -> Schema:
        return Schema.model_validate(self.version.schema_json)

    def sample(self, rows: int = SAMPLE_ROWS) -> list[dict[str, str | None]]:
        # Seeded by the version id: stable for a version, and made from the schema alone.
        return synthetic_sample(self.schema, rows=rows, seed=self.version.id.int % (1 << 63))

    def to_json(self, *, with_sample: bool = True) -> dict[str, Any]:
        v, d = self.version, self.dataset
        out: dict[str, Any] = {
            "id": str(d.id),
            "domain": d.domain.name,
            "owner": {"slug": self.owner.slug, "name": self.owner.name, "kind": self.owner.kind},
            "name": d.name,
            "title": d.title,
            "description": self.schema.description,
            "openness": d.openness,
            "grade": d.grade,
            "version": v.version,
            "version_id": str(v.id),
            "row_count": v.row_count,
            "rejected_count": v.rejected_count,
            "fingerprint": v.fingerprint,
            "source_encoding": v.source_encoding,
            "loaded_at": v.loaded_at.isoformat(),
            "schema": v.schema_json,
            "quality": v.quality_json,
        }
        if with_sample:
            out["synthetic_sample"] = self.sample()
        return out


def _visible(who: Principal) -> Select[Dataset, DatasetVersion, Organization]:
    query = (
        select(Dataset, DatasetVersion, Organization)
        .join(
            DatasetVersion,
            (DatasetVersion.dataset_id == Dataset.id)
            & (DatasetVersion.version == Dataset.current_version),
        )
        .join(Domain, Domain.id == Dataset.domain_id)
        .join(Organization, Organization.id == Domain.org_id)
    )
    if not who.oversees_all:
        shared = (Organization.kind == OrgKind.PROVIDER.value) & (
            Dataset.openness.in_([Openness.OPEN.value, Openness.CONDITIONAL.value])
        )
        query = query.where((Domain.org_id == who.org_id) | shared)
    return query


def visible_datasets(session: Session, who: Principal) -> list[CatalogEntry]:
    rows = session.execute(_visible(who).order_by(Domain.name, Dataset.name)).all()
    return [CatalogEntry(d, v, o) for d, v, o in rows]


def get_visible(session: Session, who: Principal, dataset_id: UUID) -> CatalogEntry:
    row = session.execute(_visible(who).where(Dataset.id == dataset_id)).first()
    if row is None:
        raise NotFound("no such dataset", code="dataset.not_found")
    return CatalogEntry(*row)


def quality_history(session: Session, entry: CatalogEntry) -> list[QualitySnapshot]:
    return list(
        session.scalars(
            select(QualitySnapshot)
            .where(QualitySnapshot.version_id == entry.version.id)
            .order_by(QualitySnapshot.created_at)
        )
    )
