"""Job kinds: what a kind's finished steps mean for the control DB.

Each kind's steps run in domains (``sandbox.jobs.actions``); when they have all succeeded, the
coordinator calls :func:`finalize` once, inside the transaction that marks the job done.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.compute.finalize import (
    finalize_aggregate,
    finalize_isum,
    finalize_lookup,
    finalize_psi,
)
from sandbox.datasets.models import Dataset, DatasetVersion, QualitySnapshot
from sandbox.jobs.models import Job, Step

DATASET_PROFILE = "dataset.profile"

Finalizer = Callable[[Session, Job, Sequence[Step], dt.datetime], dict[str, Any]]


def _finalize_profile(
    session: Session, job: Job, steps: Sequence[Step], now: dt.datetime
) -> dict[str, Any]:
    quality = dict(steps[0].result_json or {})
    version = session.scalar(
        select(DatasetVersion)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(
            Dataset.id == UUID(job.params_json["dataset_id"]),
            DatasetVersion.version == job.params_json["version"],
        )
    )
    if version is not None:
        version.quality_json = quality
        # Unique per job: a second finalize of the same job could not add a second snapshot.
        session.add(
            QualitySnapshot(
                version_id=version.id,
                job_id=job.id,
                source="profile",
                quality_json=quality,
                created_at=now,
            )
        )
    return {"quality": quality}


FINALIZERS: dict[str, Finalizer] = {
    DATASET_PROFILE: _finalize_profile,
    "psi.intersection": finalize_psi,
    "psi.cardinality": finalize_psi,
    "lookup": finalize_lookup,
    "aggregate": finalize_aggregate,
    "secure_sum": finalize_aggregate,
    "intersection_sum": finalize_isum,
}


def finalize(
    session: Session, job: Job, steps: Sequence[Step], *, now: dt.datetime
) -> dict[str, Any]:
    return FINALIZERS[job.kind](session, job, steps, now)
