"""What a domain worker does for each step action, after the ticket has been verified.

An action reads only its own domain's store and the metadata its ticket names, reports
progress, and returns a JSON-able result made of derived figures, never raw values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.quality import profile_file
from sandbox.datasets.schema import Schema
from sandbox.db.engine import session_scope
from sandbox.domains.models import Domain
from sandbox.domains.store import DomainStore
from sandbox.errors import SandboxError
from sandbox.jobs.kinds import DATASET_PROFILE
from sandbox.tickets import Ticket


@dataclass(frozen=True, slots=True)
class StepContext:
    factory: sessionmaker[Session]
    store: DomainStore
    domain: str
    ticket: Ticket
    progress: Callable[[float], None]


Action = Callable[[StepContext], dict[str, Any]]


def _profile(ctx: StepContext) -> dict[str, Any]:
    (ref,) = ctx.ticket.datasets
    with session_scope(ctx.factory) as session:
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
                Dataset.id == UUID(ref.id),
                DatasetVersion.version == ref.version,
                Domain.name == ctx.domain,
            )
        ).first()
    if row is None:
        raise SandboxError("the ticket's dataset is not in this domain", code="store.unknown")
    name, schema_json, row_count, rejected = row
    path = ctx.store.dataset_file(name, ref.version)
    if not path.exists():
        raise SandboxError("the dataset's file is missing from the store", code="store.missing")
    total = max(row_count, 1)
    quality = profile_file(
        path,
        Schema.model_validate(schema_json),
        progress=lambda done: ctx.progress(done / total),
        every=max(1000, total // 50),
    )
    result = quality.to_json()
    result["rejected_rows"] = rejected
    return result


ACTIONS: dict[str, Action] = {DATASET_PROFILE: _profile}
