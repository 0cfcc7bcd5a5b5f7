"""A domain's store: a directory on the domain owner's host holding its raw datasets, their
per-version protocol state, and results that belong to the owner. Only that domain's worker
(after verifying a ticket) and its own loader open it."""

from __future__ import annotations

import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

DOMAIN_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
HEX = re.compile(r"^[0-9a-f]{16,64}$")


def _uuid(text: str) -> str:
    return str(uuid.UUID(text))  # raises ValueError for anything else: no path tricks


@dataclass(frozen=True, slots=True)
class DomainStore:
    root: Path

    @classmethod
    def at(cls, domains_root: Path, name: str) -> DomainStore:
        if not DOMAIN_NAME.fullmatch(name):
            raise ValueError("bad domain name")
        return cls(domains_root / name)

    def dataset_file(self, dataset_name: str, version: int) -> Path:
        return self.root / "datasets" / dataset_name / f"v{version}.csv"

    def incoming_file(self) -> Path:
        """A fresh scratch path inside the store, on the same filesystem as the final place."""
        path = self.root / ".incoming" / f"{uuid.uuid4().hex}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def job_dir(self, job_id: str) -> Path:
        """Per-job secret state (protocol keys, partitions); never leaves the domain."""
        return self.root / "jobs" / _uuid(job_id)

    def result_file(self, job_id: str) -> Path:
        """A result that belongs to this domain's owner."""
        return self.root / "results" / f"{_uuid(job_id)}.csv"

    def lookup_dir(self, dataset_id: str, version: int, labels: str) -> Path:
        """A provider's lookup key and table for one dataset version and set of labels."""
        if not HEX.fullmatch(labels):
            raise ValueError("bad labels digest")
        return self.root / "lookup" / _uuid(dataset_id) / f"v{int(version)}" / labels

    def table_file(self, digest: str) -> Path:
        """A requester's installed copy of a provider's lookup table."""
        if not HEX.fullmatch(digest):
            raise ValueError("bad table digest")
        return self.root / "tables" / f"{digest}.bin"

    def sweep_jobs(self, max_age_seconds: float) -> int:
        """Remove the state of jobs older than this (crashed or abandoned); returns how many."""
        removed = 0
        base = self.root / "jobs"
        if not base.exists():
            return 0
        cutoff = time.time() - max_age_seconds
        for path in base.iterdir():
            try:
                old = path.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if old:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed

    def ensure(self) -> None:
        (self.root / "datasets").mkdir(parents=True, exist_ok=True)
        (self.root / "results").mkdir(parents=True, exist_ok=True)
