"""A domain worker's view of one of its own datasets: the metadata a ticket names, and the
path of the normalized file in the domain's store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.db.engine import session_scope
from sandbox.domains.models import Domain
from sandbox.domains.store import DomainStore
from sandbox.errors import SandboxError
from sandbox.tickets import DatasetRef


@dataclass(frozen=True, slots=True)
class StoredDataset:
    id: UUID
    name: str
    version: int
    schema: Schema
    row_count: int
    rejected_count: int
    path: Path


def open_stored(
    factory: sessionmaker[Session], store: DomainStore, domain: str, ref: DatasetRef
) -> StoredDataset:
    """The dataset version a ticket names, if it is in this domain and its file is present."""
    try:
        dataset_id = UUID(ref.id)
    except ValueError:
        raise SandboxError("the ticket names no dataset", code="store.unknown") from None
    with session_scope(factory) as session:
        row = session.execute(
            select(
                Dataset.name,
                DatasetVersion.schema_json,
                DatasetVersion.row_count,
                DatasetVersion.rejected_count,
            )
            .join(DatasetVersion, DatasetVersion.dataset_id == Dataset.id)
            .join(Domain, Domain.id == Dataset.domain_id)
            .where(
                Dataset.id == dataset_id,
                DatasetVersion.version == ref.version,
                Domain.name == domain,
            )
        ).first()
    if row is None:
        raise SandboxError("the ticket's dataset is not in this domain", code="store.unknown")
    name, schema_json, row_count, rejected = row
    path = store.dataset_file(name, ref.version)
    if not path.exists():
        raise SandboxError("the dataset's file is missing from the store", code="store.missing")
    return StoredDataset(
        dataset_id, name, ref.version, Schema.model_validate(schema_json), row_count, rejected, path
    )
