"""A call's result, for the calling bank alone: the per-job result files in the bank's domain
store (or, for a gated sum, in the gate's), merged into one table with one row per input
identifier, its status and the product's labels (or its total).

Each job's file is read by its header: ``identifier``, then ``status`` (or the lookup's
``found``: ``true`` / ``false``, or a status word), then the released columns. A row found by
any source is ``found``; the labels come from the sources that found it. Every download is a
ledger entry with the merged table's digest and each file's.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from sqlalchemy.orm import Session

from products.calls import get_call, settle
from products.models import CallState, ProductCall
from products.records import spec_of, version_row
from sandbox.compute.results import result_path
from sandbox.domains.store import DomainStore
from sandbox.errors import Conflict, NotFound, PermissionDenied, SandboxError
from sandbox.jobs.models import Job, JobState
from sandbox.ledger.log import Actor, append
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role

IDENTIFIER, STATUS, FOUND, NOT_FOUND = "identifier", "status", "found", "not_found"
RELEASED = "released"  # an exposure total that the gate released
MAX_RESULT_BYTES = 512 << 20
# Any other status (suppressed, unauthorized, malformed) ranks after these.
_RANK = {FOUND: 0, RELEASED: 0, NOT_FOUND: 1}

Table = tuple[tuple[str, ...], list[tuple[str, ...]]]


def _status(header: list[str], row: list[str]) -> str:
    if STATUS in header:
        return row[header.index(STATUS)]
    if FOUND in header:
        value = row[header.index(FOUND)]
        return {"true": FOUND, "false": NOT_FOUND}.get(value, value)
    return FOUND


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise SandboxError("the result file is too large", code="result.corrupt")
    with path.open("r", encoding="utf-8", newline="") as fh:
        try:
            rows = list(csv.reader(fh, strict=True))
        except (csv.Error, UnicodeDecodeError):
            raise SandboxError("the result file is not valid CSV", code="result.corrupt") from None
    if not rows or IDENTIFIER not in rows[0]:
        raise SandboxError("the result file has no identifier column", code="result.corrupt")
    header = rows[0]
    body = [r for r in rows[1:] if len(r) == len(header)]
    if len(body) != len(rows) - 1:
        raise SandboxError("the result file has ragged rows", code="result.corrupt")
    return header, body


def merge(tables: Sequence[tuple[list[str], list[list[str]]]], labels: Sequence[str]) -> Table:
    """One row per identifier (in first-seen order): the best status any table gives it, and
    each released column from the tables that found it. ``labels`` order the columns; any
    other released column follows in the order first seen."""
    columns = list(labels)
    for header, _ in tables:
        for name in header:
            if name not in (IDENTIFIER, STATUS, FOUND) and name not in columns:
                columns.append(name)
    merged: dict[str, tuple[str, dict[str, str]]] = {}
    for header, body in tables:
        at = header.index(IDENTIFIER)
        released = [(i, name) for i, name in enumerate(header) if name in columns]
        for row in body:
            key, status = row[at], _status(header, row)
            old_status, values = merged.get(key, (status, {}))
            if status in (FOUND, RELEASED):
                for i, name in released:
                    values[name] = row[i]
            best = min((old_status, status), key=lambda s: _RANK.get(s, 2))
            merged[key] = (best, values)
    out = [
        (key, status, *(values.get(name, "") for name in columns))
        for key, (status, values) in merged.items()
    ]
    return (IDENTIFIER, STATUS, *columns), out


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """A malformed input value is echoed as read; one that a spreadsheet would run as a
    formula is written with a leading apostrophe instead."""
    return "'" + value if value.startswith(_FORMULA) else value


def as_csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue()


def _job_file(session: Session, who: Principal, job_id: str, domain_root: Path) -> Path:
    job = session.get(Job, UUID(job_id))
    if job is None or job.state != JobState.SUCCEEDED.value or not job.steps:
        raise Conflict("a job of the call has no result", code="result.not_ready")
    if (job.params_json or {}).get("recipient") != who.org_slug:
        raise PermissionDenied(
            "only the calling organization reads this result", code="result.not_recipient"
        )
    last = max(job.steps, key=lambda s: s.seq)
    return result_path(DomainStore.at(domain_root, last.domain), job_id)


def call_result(
    session: Session, who: Principal, call_id: UUID, *, domain_root: Path, now: dt.datetime
) -> Table:
    """The merged result of a succeeded call, for a user of the calling bank only."""
    get_call(session, who, call_id)  # NotFound unless ``who`` may see the call at all
    call = session.get(ProductCall, call_id)
    if call is None:
        raise NotFound("no such call", code="call.not_found")
    if who.role != Role.BANK_ANALYST or call.consumer_id != who.org_id:
        raise PermissionDenied(
            "only the calling bank reads a call's result", code="result.not_recipient"
        )
    settle(session, call, now)
    if call.state == CallState.RUNNING.value:
        raise Conflict("the call is still running", code="result.not_ready")
    if call.state != CallState.SUCCEEDED.value:
        raise Conflict(f"the call {call.state}: it has no result", code="result.none")
    spec = spec_of(version_row(session, call.product_id, call.version))
    tables = []
    files: dict[str, str] = {}
    for job_id in call.job_ids:
        path = _job_file(session, who, job_id, domain_root)
        tables.append(_read(path))
        files[job_id] = hashlib.sha256(path.read_bytes()).hexdigest()
    header, rows = merge(tables, spec.label_names())
    result_digest = hashlib.sha256(as_csv(header, rows).encode("utf-8")).hexdigest()
    append(
        session,
        actor=Actor.of(who),
        action="result.downloaded",
        object_type="product_call",
        object_id=str(call.id),
        params={"call": str(call.id), "jobs": list(call.job_ids)},
        details={"result_digest": result_digest, "files": files, "rows": len(rows)},
        now=now,
    )
    return header, rows
