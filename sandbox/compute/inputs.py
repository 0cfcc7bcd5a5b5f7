"""Reading a domain's own identifiers (and labels) out of its store, normalized and validated
with the same rules as dataset loading, before they enter a protocol; and the per-job item
files that carry a shard's identifiers from one step to the next inside the domain."""

from __future__ import annotations

import csv
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.compute.authorized import Authorizations
from sandbox.compute.derive import Derivation
from sandbox.datasets.stored import StoredDataset
from sandbox.errors import SandboxError
from sandbox.identifiers import check

MAX_ECHO = 64  # how much of a malformed input value a requester's own result repeats


@dataclass(frozen=True, slots=True)
class Identifiers:
    """A domain's input set: unique normalized identifiers in file order, and counts. With an
    authorization filter, the valid identifiers without a valid authorization are left out of
    ``items`` and listed in ``unauthorized``; ``malformed`` repeats the rejected values (cut to
    :data:`MAX_ECHO` characters) for the requester's own per-row report."""

    items: list[str]
    rows: int
    rejected: int
    duplicates: int
    unauthorized: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {
            "inputs": self.rows,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "items": len(self.items),
        }
        if self.unauthorized:
            counts["unauthorized"] = len(self.unauthorized)
        return counts


def rows_of(data: StoredDataset) -> tuple[Iterator[list[str]], list[str]]:
    """The stored file's rows (fields as text) and its header, checked against the schema."""
    stream = data.path.open("r", encoding="utf-8", newline="")
    reader = csv.reader(stream, strict=True)
    header = next(reader, None)
    if header != list(data.schema.column_names):
        stream.close()
        raise SandboxError(
            "the stored file's header does not match its schema", code="store.corrupt"
        )

    def rows() -> Iterator[list[str]]:
        with stream:
            try:
                yield from reader
            except (csv.Error, UnicodeDecodeError):
                raise SandboxError(
                    "the stored file is not valid CSV", code="store.corrupt"
                ) from None

    return rows(), header


def read_identifiers(
    data: StoredDataset, authorization: Authorizations | None = None
) -> Identifiers:
    kind = data.schema.identifier.kind
    rows, header = rows_of(data)
    at = header.index(data.schema.identifier.column)
    ref_at = None
    if authorization is not None:
        if authorization.column not in header:
            raise SandboxError("the input has no authorization reference column", code="step.scope")
        ref_at = header.index(authorization.column)
    seen: set[str] = set()
    items: list[str] = []
    unauthorized: list[str] = []
    malformed: list[str] = []
    total = rejected = duplicates = 0
    for fields in rows:
        total += 1
        checked = check(kind, fields[at]) if at < len(fields) else None
        if checked is None or checked.value is None:
            rejected += 1
            if authorization is not None:
                malformed.append(fields[at].strip()[:MAX_ECHO] if at < len(fields) else "")
        elif checked.value in seen:
            duplicates += 1
        else:
            seen.add(checked.value)
            if authorization is not None and not (
                ref_at is not None
                and ref_at < len(fields)
                and authorization.allows(checked.value, fields[ref_at])
            ):
                unauthorized.append(checked.value)
            else:
                items.append(checked.value)
    return Identifiers(items, total, rejected, duplicates, unauthorized, malformed)


def read_labeled(
    data: StoredDataset, labels: Sequence[str], *, part: int = 0, parts: int = 1
) -> Iterator[tuple[bytes, bytes]]:
    """(identifier, labels as canonical JSON) per valid row; only the named columns are read.
    With ``parts`` > 1, only every ``parts``-th record, starting at ``part``."""
    kind = data.schema.identifier.kind
    rows, header = rows_of(data)
    at = header.index(data.schema.identifier.column)
    try:
        cols = [(name, header.index(name)) for name in labels]
    except ValueError:
        raise SandboxError("a label column is not in the dataset", code="step.scope") from None
    for index, fields in enumerate(rows):
        if index % parts != part or len(fields) != len(header):
            continue
        checked = check(kind, fields[at])
        if checked.value is None:
            continue
        record = {name: (fields[i] or None) for name, i in cols}
        yield (
            checked.value.encode(),
            json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode(),
        )


def read_derived(
    data: StoredDataset, derived: Sequence[Derivation], *, part: int = 0, parts: int = 1
) -> Iterator[tuple[bytes, bytes]]:
    """(identifier, derived labels as canonical JSON) per valid row, as :func:`read_labeled`
    but each label computed here, inside the provider's domain, from its raw column: only the
    derivations' outputs (a blank one as null) leave this function, never a raw value."""
    kind = data.schema.identifier.kind
    names = data.schema.column_names  # the stored header, as rows_of checks
    if not all(d.column in names for d in derived):
        raise SandboxError("a derived label's column is not in the dataset", code="step.scope")
    rows, header = rows_of(data)
    at = header.index(data.schema.identifier.column)
    cols = [(d, header.index(d.column)) for d in derived]
    for index, fields in enumerate(rows):
        if index % parts != part or len(fields) != len(header):
            continue
        checked = check(kind, fields[at])
        if checked.value is None:
            continue
        record = {d.name: (d.apply(fields[i]) or None) for d, i in cols}
        yield (
            checked.value.encode(),
            json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(),
        )


def write_items(path: Path, items: Sequence[str]) -> None:
    """Atomically write identifiers one per line (validated identifiers hold no line breaks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with tmp.open("w", encoding="utf-8") as fh:
        if items:
            fh.write("\n".join(items))  # one write: 10x a write per item at 1M ids
            fh.write("\n")
    os.replace(tmp, path)


def read_items(path: Path) -> list[str]:
    if not path.exists():
        raise SandboxError("a step's input is missing from the domain store", code="step.lost")
    text = path.read_text(encoding="utf-8")
    return text.split("\n")[:-1] if text else []


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise SandboxError("a step's state is missing from the domain store", code="step.lost")
    return path.read_bytes()
