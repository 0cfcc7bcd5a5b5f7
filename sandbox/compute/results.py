"""Results that belong to the requester: a CSV in the requester's domain store, written by its
worker and served only to the requesting organization's users."""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from sandbox.domains.store import DomainStore
from sandbox.errors import NotFound


def write_result(
    store: DomainStore, job_id: str, header: Sequence[str], rows: Iterable[Sequence[str]]
) -> Path:
    path = store.result_file(job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def result_path(store: DomainStore, job_id: str) -> Path:
    path = store.result_file(job_id)
    if not path.exists():
        raise NotFound("the job has no result in this domain", code="result.not_found")
    return path
