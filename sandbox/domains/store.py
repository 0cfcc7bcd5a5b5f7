"""A domain's store: a directory on the domain owner's host holding its raw datasets, their
per-version protocol state, and results that belong to the owner. Only that domain's worker
(after verifying a ticket) and its own loader open it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

DOMAIN_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


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

    def ensure(self) -> None:
        (self.root / "datasets").mkdir(parents=True, exist_ok=True)
        (self.root / "results").mkdir(parents=True, exist_ok=True)
