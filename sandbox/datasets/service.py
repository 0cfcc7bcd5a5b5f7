"""Loading a dataset into its domain and registering its metadata, atomically.

The rows go to the domain's store; the control DB gets only the schema, counts, fingerprint,
version and quality figures. A failed load leaves both as they were.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sandbox.datasets.ingest import IngestReport, Limits, ingest_csv
from sandbox.datasets.models import Dataset, DatasetVersion, QualitySnapshot
from sandbox.datasets.schema import Schema
from sandbox.db.engine import session_scope
from sandbox.domains.service import get_domain
from sandbox.domains.store import DomainStore
from sandbox.errors import Conflict, InvalidInput
from sandbox.ids import DatasetId, DatasetVersionId
from sandbox.ledger.log import Actor, append
from sandbox.parties.roles import OrgKind
from sandbox.settings import Settings


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    dataset_id: DatasetId
    version_id: DatasetVersionId
    domain: str
    name: str
    version: int
    report: IngestReport


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_bytes=settings.max_dataset_bytes,
        max_cell_chars=settings.max_cell_chars,
        max_columns=settings.max_columns,
        max_reject_ratio=settings.max_reject_ratio,
    )


def load_dataset(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    domain_name: str,
    source: Path,
    schema: Schema,
    now: dt.datetime,
    encoding: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> LoadOutcome:
    with session_scope(factory) as session:
        # An unknown domain, or the gate's (it holds keys, never data), fails before any read.
        if not OrgKind(get_domain(session, domain_name).org.kind).holds_data:
            raise InvalidInput(
                f"domain {domain_name} holds no datasets", code="dataset.domain_kind"
            )
    store = DomainStore.at(settings.domain_root, domain_name)
    store.ensure()
    scratch = store.incoming_file()
    try:
        report = ingest_csv(
            source,
            schema,
            scratch,
            limits=limits_from(settings),
            encoding=encoding,
            progress=progress,
        )
        return _register(factory, store, scratch, domain_name, schema, report, now)
    finally:
        scratch.unlink(missing_ok=True)


def _register(
    factory: sessionmaker[Session],
    store: DomainStore,
    scratch: Path,
    domain_name: str,
    schema: Schema,
    report: IngestReport,
    now: dt.datetime,
) -> LoadOutcome:
    final: Path | None = None
    try:
        with session_scope(factory) as session:
            domain = get_domain(session, domain_name)
            dataset = session.scalar(
                select(Dataset).where(Dataset.domain_id == domain.id, Dataset.name == schema.name)
            )
            if dataset is None:
                dataset = Dataset(
                    domain_id=domain.id,
                    name=schema.name,
                    title=schema.title,
                    openness=schema.openness.value,
                    grade=schema.grade.value,
                    current_version=0,
                    created_at=now,
                    updated_at=now,
                )
                session.add(dataset)
                session.flush()
            same = session.scalar(
                select(DatasetVersion.version).where(
                    DatasetVersion.dataset_id == dataset.id,
                    DatasetVersion.fingerprint == report.fingerprint,
                )
            )
            if same is not None:
                raise Conflict(
                    f"duplicate upload: identical to {domain_name}/{schema.name} version {same}",
                    code="dataset.duplicate",
                )
            latest = session.scalar(
                select(func.max(DatasetVersion.version)).where(
                    DatasetVersion.dataset_id == dataset.id
                )
            )
            number = (latest or 0) + 1
            version = DatasetVersion(
                dataset_id=dataset.id,
                version=number,
                schema_json=schema.to_json(),
                row_count=report.rows_loaded,
                rejected_count=report.rejected_count,
                fingerprint=report.fingerprint,
                source_encoding=report.encoding,
                quality_json=report.quality.to_json(),
                loaded_at=now,
            )
            session.add(version)
            dataset.current_version = number
            dataset.title = schema.title
            dataset.openness = schema.openness.value
            dataset.grade = schema.grade.value
            dataset.updated_at = now
            session.flush()
            session.add(
                QualitySnapshot(
                    version_id=version.id,
                    job_id=None,
                    source="load",
                    quality_json=version.quality_json,
                    created_at=now,
                )
            )
            append(
                session,
                actor=Actor(None, domain.org.slug),
                action="dataset.registered",
                object_type="dataset",
                object_id=str(dataset.id),
                params=schema.to_json(),
                details={
                    "domain": domain_name,
                    "name": schema.name,
                    "version": number,
                    "rows": report.rows_loaded,
                    "rejected": report.rejected_count,
                    "fingerprint": report.fingerprint,
                    "encoding": report.encoding,
                    "openness": schema.openness.value,
                    "grade": schema.grade.value,
                },
                now=now,
            )
            final = store.dataset_file(schema.name, number)
            final.parent.mkdir(parents=True, exist_ok=True)
            # Same filesystem, so the rename is atomic; undone below if the commit fails.
            scratch.replace(final)
            outcome = LoadOutcome(
                DatasetId(dataset.id),
                DatasetVersionId(version.id),
                domain_name,
                schema.name,
                number,
                report,
            )
    except IntegrityError as exc:
        _undo(final)
        raise Conflict(
            "another load of this dataset finished first; try again", code="dataset.concurrent"
        ) from exc
    except BaseException:
        _undo(final)
        raise
    return outcome


def _undo(final: Path | None) -> None:
    if final is not None:
        with contextlib.suppress(FileNotFoundError):
            final.unlink()
