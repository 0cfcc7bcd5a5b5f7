"""``lookup`` (labeled PSI, the credit check) as job steps.

The provider's table (an OPRF tag and an AEAD-sealed copy of the granted labels per row) is
built once per dataset version, set of labels and key, in parallel parts, kept in the
provider's domain store, published to the exchange by content name, and installed in the
requester's domain once per version. A query then costs three group operations per
identifier, in shards that run in parallel::

    P build[j] ──► P publish ──► R install ────────────┐
                        └──────────┐                    ▼
    R blind[i] ──────────────► P evaluate[i] ──► R open[i] ──► R collect

(build steps only when the control DB knows no table for this version and labels; publish
then only checks the cached table.) The provider learns only how many identifiers were
queried; the requester learns the granted labels of its identifiers that are present.

Labels are either the granted raw columns (scope ``labels``) or, for a data product, labels
*derived* from them (scope ``derived``: :class:`sandbox.compute.derive.Derivation` specs, and
``labels`` their names): the provider's worker applies the derivations while it builds the
table, so the raw values never leave its domain, not even sealed. A table's identity (its
folder, its context, the control DB's record) names the derivations, so a table built for raw
labels or for other derivations is never reused.

With an authorization scope (``authorization``, on the requester's blind and collect steps)
only the input rows whose enterprise authorized the query are blinded and queried; the others
are reported in the requester's own result as ``unauthorized`` or ``malformed``.
"""

from __future__ import annotations

import hashlib
import json
import mmap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psi.errors import ProtocolError
from psi.lookup import (
    MAX_LABEL_BYTES,
    LookupKey,
    LookupQuery,
    TableView,
    answer,
    assemble,
    build_records,
)
from sandbox.compute import scope
from sandbox.compute.authorized import Authorizations
from sandbox.compute.common import (
    MESSAGE_OVERHEAD,
    binding,
    clear_job,
    fetch,
    outcome,
    protocol,
)
from sandbox.compute.derive import Derivation, check_set, derived_digest
from sandbox.compute.guards import check_size
from sandbox.compute.inputs import (
    Identifiers,
    read_bytes,
    read_derived,
    read_identifiers,
    read_items,
    read_labeled,
    write_bytes,
    write_items,
)
from sandbox.compute.results import write_result
from sandbox.datasets.schema import ColumnType, Schema
from sandbox.datasets.stored import StoredDataset, open_stored
from sandbox.errors import SandboxError
from sandbox.jobs.context import StepContext
from sandbox.tickets import DatasetRef, Ticket
from sandbox.write_once import read_or_create

BUILD = "lookup.build"
PUBLISH = "lookup.publish"
INSTALL = "lookup.install"
BLIND = "lookup.blind"
EVALUATE = "lookup.evaluate"
OPEN = "lookup.open"
COLLECT = "lookup.collect"
PROTOCOL = "lookup"
UNAUTHORIZED, MALFORMED = "unauthorized", "malformed"  # a row's found, besides true / false
POINT_WIRE_BYTES = 33
MAX_TABLE_BYTES = 4 << 30
MAX_LABEL_WIDTH = MAX_LABEL_BYTES  # the most label_width a table can hold (the planner checks)
_VALUE_BYTES = {
    ColumnType.INTEGER: 24,
    ColumnType.DECIMAL: 48,
    ColumnType.BOOLEAN: 5,
    ColumnType.DATE: 10,
    ColumnType.STRING: 256,
}
# Which column types each derivation rule reads (derive.py's rules).
RULE_TYPES: dict[str, frozenset[ColumnType]] = {
    "bands": frozenset({ColumnType.INTEGER, ColumnType.DECIMAL}),
    "flag": frozenset({ColumnType.BOOLEAN, ColumnType.INTEGER, ColumnType.DECIMAL}),
    "map": frozenset({ColumnType.CATEGORY, ColumnType.STRING, ColumnType.BOOLEAN}),
}
RESERVED = ("identifier", "found")  # the result's own columns: no label may be named so


def fits(derivation: Derivation, column_type: ColumnType) -> bool:
    """Whether the rule can read a column of this type."""
    return column_type in RULE_TYPES.get(derivation.rule, frozenset())


def labels_digest(labels: tuple[str, ...], derived: Sequence[Derivation] = ()) -> str:
    """Names a table's labels: the raw columns, or (with derivations) the derivations, whose
    names are the labels."""
    if not derived:
        return hashlib.sha256(json.dumps(list(labels)).encode()).hexdigest()[:32]
    return hashlib.sha256(b"derived:" + derived_digest(derived).encode()).hexdigest()[:32]


def table_context(
    ref: DatasetRef, labels: tuple[str, ...], derived: Sequence[Derivation] = ()
) -> bytes:
    """What a table is for: both parties compute it from their tickets, and a table or a
    message for another dataset version, other labels or other derivations fails against it."""
    what: dict[str, Any] = {"dataset": ref.id, "version": ref.version, "labels": list(labels)}
    if derived:
        what["derived"] = derived_digest(derived)
    return hashlib.sha256(json.dumps(what, sort_keys=True, separators=(",", ":")).encode()).digest()


def label_width(schema: Schema, labels: tuple[str, ...], derived: Sequence[Derivation] = ()) -> int:
    """Fixed plaintext width of the sealed labels (every record the same size, so a record's
    length says nothing about its values): JSON of the labels at their longest. Derived labels
    are as long as the longest value their rule can produce (a blank one is null)."""
    width = 2
    if derived:
        for d in derived:
            longest = max(
                len(json.dumps(v or None, ensure_ascii=False).encode()) for v in d.outputs()
            )
            width += len(json.dumps(d.name)) + 1 + longest + 1
        return width
    for name in labels:
        column = schema.column(name)
        longest = (
            max(len(v.encode()) for v in column.values or ("",))
            if column.type is ColumnType.CATEGORY
            else _VALUE_BYTES[column.type]
        )
        width += len(json.dumps(name)) + 1 + longest + 2 + 1
    return width


def derivations(ticket: Ticket) -> tuple[Derivation, ...]:
    """The ticket's derived labels (none: the raw label columns); any malformed spec fails the
    step."""
    value: Any = ticket.scope.get("derived", [])
    if not isinstance(value, list):
        raise SandboxError("the ticket's scope has no valid derived", code="step.scope")
    try:
        derived = tuple(Derivation.from_json(v) for v in value)
        check_set(derived)
    except (ValueError, TypeError):
        raise SandboxError("the ticket's scope has no valid derived", code="step.scope") from None
    return derived


@dataclass(frozen=True, slots=True)
class _Table:
    """A provider's table as its ticket names it: dataset, labels (as released), derivations
    and the folder its key and table live in."""

    data: StoredDataset
    labels: tuple[str, ...]
    derived: tuple[Derivation, ...]
    folder: Path
    context: bytes

    @property
    def width(self) -> int:
        return label_width(self.data.schema, self.labels, self.derived)

    def rows(self, *, part: int, parts: int) -> Iterator[tuple[bytes, bytes]]:
        if self.derived:
            return read_derived(self.data, self.derived, part=part, parts=parts)
        return read_labeled(self.data, self.labels, part=part, parts=parts)


def _provider(ctx: StepContext) -> _Table:
    if len(ctx.ticket.datasets) != 1:
        raise SandboxError("the ticket must name exactly one dataset", code="step.scope")
    ref = ctx.ticket.datasets[0]
    labels = scope.texts(ctx.ticket, "labels")
    derived = derivations(ctx.ticket)
    data = open_stored(ctx.factory, ctx.store, ctx.domain, ref)
    if derived:
        _check_derived(ctx.ticket, data, labels, derived)
    else:
        if not labels or not set(labels) <= set(ctx.ticket.columns):
            raise SandboxError("the ticket grants none of these labels", code="step.scope")
        for name in labels:
            if name not in data.schema.column_names:
                raise SandboxError("a label column is not in the dataset", code="step.scope")
    folder = ctx.store.lookup_dir(ref.id, ref.version, labels_digest(labels, derived))
    return _Table(data, labels, derived, folder, table_context(ref, labels, derived))


def _check_derived(
    ticket: Ticket, data: StoredDataset, labels: tuple[str, ...], derived: tuple[Derivation, ...]
) -> None:
    """Derived labels read only granted columns of a fitting type, never the identifier, and
    the released labels are exactly their names."""
    bad = SandboxError("the ticket's derived labels are not granted", code="step.scope")
    if labels != tuple(d.name for d in derived) or set(labels) & set(RESERVED):
        raise bad
    schema = data.schema
    for d in derived:
        if d.column not in ticket.columns or d.column == schema.identifier.column:
            raise bad
        if d.column not in schema.column_names or not fits(d, schema.column(d.column).type):
            raise bad


def _key(folder: Path) -> LookupKey:
    """The table's key: made once (build parts run at once; the first to get here wins)."""
    return LookupKey.from_bytes(
        read_or_create(folder / "key", lambda: LookupKey.generate().to_bytes())
    )


def _meta(folder: Any) -> dict[str, Any] | None:
    path = folder / "table.json"
    return json.loads(path.read_text()) if path.exists() else None


def build(ctx: StepContext) -> dict[str, Any]:
    table = _provider(ctx)
    part = scope.integer(ctx.ticket, "part")
    parts = scope.integer(ctx.ticket, "parts", minimum=1)
    folder, context, width = table.folder, table.context, table.width
    if _meta(folder) is not None:
        return {"part": part, "cached": True}
    key = _key(folder)
    total = max(table.data.row_count // parts, 1)
    mine = list(table.rows(part=part, parts=parts))
    chunk = 20_000
    out: list[bytes] = []
    for start in range(0, len(mine), chunk):
        try:
            out.append(
                build_records(key, mine[start : start + chunk], context=context, label_width=width)
            )
        except ValueError:
            raise SandboxError(
                "a label value is longer than its column allows", code="lookup.label_too_long"
            ) from None
        ctx.progress(min(start / total, 1.0))
    write_bytes(folder / f"part-{part}-of-{parts}", b"".join(out))
    return {"part": part, "cached": False, "rows": len(mine)}


def publish(ctx: StepContext) -> dict[str, Any]:
    table = _provider(ctx)
    meta = _meta(table.folder)
    if meta is None:
        meta = _assemble(ctx, table)
    if not ctx.exchange.has(meta["digest"]):
        ctx.exchange.put((table.folder / "table.bin").read_bytes())
    return {"table": meta["digest"], "key_id": meta["key_id"], "rows": meta["rows"]}


def _assemble(ctx: StepContext, built: _Table) -> dict[str, Any]:
    parts = scope.integer(ctx.ticket, "parts", minimum=1)
    folder, context, width = built.folder, built.context, built.width
    key = _key(folder)
    blobs = []
    for part in range(parts):
        path = folder / f"part-{part}-of-{parts}"
        if path.exists():
            blobs.append(path.read_bytes())
        else:  # no build step ran (the cache was lost): build the part here
            rows = list(built.rows(part=part, parts=parts))
            try:
                blobs.append(build_records(key, rows, context=context, label_width=width))
            except ValueError:
                raise SandboxError(
                    "a label value is longer than its column allows",
                    code="lookup.label_too_long",
                ) from None
    table = assemble(blobs, context=context, key_id=key.key_id, label_width=width)
    count = len(TableView(table, context=context, key_id=key.key_id))
    write_bytes(folder / "table.bin", table)
    meta = {
        "digest": hashlib.sha256(table).hexdigest(),
        "key_id": key.key_id,
        "rows": count,
        "label_width": width,
    }
    write_bytes(folder / "table.json", json.dumps(meta).encode())
    for part in range(parts):
        (folder / f"part-{part}-of-{parts}").unlink(missing_ok=True)
    return meta


def install(ctx: StepContext) -> dict[str, Any]:
    published = ctx.one(PUBLISH).result
    digest, key_id = published.get("table"), published.get("key_id")
    if not isinstance(digest, str) or not isinstance(key_id, str):
        raise SandboxError("the provider published no table", code="step.plan")
    context = bytes.fromhex(scope.text(ctx.ticket, "table_context"))
    path = ctx.store.table_file(digest)
    if path.exists():
        return {"table": digest, "key_id": key_id, "fetched": False}
    blob = fetch(ctx, digest, max_bytes=MAX_TABLE_BYTES)
    protocol(lambda: TableView(blob, context=context, key_id=key_id))
    write_bytes(path, blob)
    return {"table": digest, "key_id": key_id, "fetched": True}


def _requester_input(ctx: StepContext) -> tuple[Identifiers, Authorizations | None]:
    """The requester's set, normalized; with an authorization scope, only the authorized rows
    in ``items`` (the others listed as unauthorized or malformed)."""
    if len(ctx.ticket.datasets) != 1:
        raise SandboxError("the ticket must name exactly one dataset", code="step.scope")
    authorization = Authorizations.load(ctx.ticket, ctx.factory)
    data = open_stored(ctx.factory, ctx.store, ctx.domain, ctx.ticket.datasets[0])
    if authorization is not None and authorization.column == data.schema.identifier.column:
        raise SandboxError("the ticket's scope has no valid authorization", code="step.scope")
    return read_identifiers(data, authorization), authorization


def _query_items(ctx: StepContext) -> tuple[list[str], dict[str, int]]:
    """This shard's identifiers: the requester's (authorized) set, split into equal runs."""
    ids, authorization = _requester_input(ctx)
    counts = ids.counts()
    if authorization is not None:
        counts["unauthorized"] = len(ids.unauthorized)
    check_size(
        len(ids.items),
        min_items=scope.integer(ctx.ticket, "min_items"),
        max_items=scope.integer(ctx.ticket, "max_items", minimum=1),
    )
    shard = scope.integer(ctx.ticket, "shard")
    shards = scope.integer(ctx.ticket, "shards", minimum=1)
    size = -(-len(ids.items) // shards)
    return ids.items[shard * size : (shard + 1) * size], counts


def blind(ctx: StepContext) -> dict[str, Any]:
    shard = scope.integer(ctx.ticket, "shard")
    items, counts = _query_items(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    state, message = (
        LookupQuery.start(binding(ctx, PROTOCOL, shard), [item.encode() for item in items])
        if items
        else (None, b"")
    )
    write_items(job / f"query-items-{shard}", items)
    if state is None:
        return {"shard": shard, "message": None, "items": 0, **_first(shard, counts)}
    write_bytes(job / f"query-secret-{shard}", state.secret())
    return {
        "shard": shard,
        "message": ctx.exchange.put(message),
        "items": len(items),
        **_first(shard, counts),
    }


def _first(shard: int, counts: dict[str, int]) -> dict[str, Any]:
    return {"counts": counts} if shard == 0 else {}


def evaluate(ctx: StepContext) -> dict[str, Any]:
    shard = scope.integer(ctx.ticket, "shard")
    max_items = scope.integer(ctx.ticket, "max_items", minimum=1)
    folder = _provider(ctx).folder
    meta = _meta(folder)
    if meta is None:
        raise SandboxError("the provider's table is not built", code="lookup.table_missing")
    key = _key(folder)
    if key.key_id != meta["key_id"]:
        raise SandboxError("the provider's table key changed", code="lookup.table_stale")
    name = ctx.one(BLIND, shard).result.get("message")
    if name is None:
        return {"shard": shard, "message": None, "items": 0}
    query = fetch(ctx, name, max_bytes=MESSAGE_OVERHEAD + max_items * POINT_WIRE_BYTES)
    message = protocol(
        lambda: answer(key, binding(ctx, PROTOCOL, shard), query, max_items=max_items)
    )
    return {"shard": shard, "message": ctx.exchange.put(message), "key_id": key.key_id}


def _open_shard(ctx: StepContext, shard: int) -> list[list[str]]:
    job = ctx.store.job_dir(ctx.ticket.job)
    items = read_items(job / f"query-items-{shard}")
    labels = scope.texts(ctx.ticket, "labels")
    name = ctx.one(EVALUATE, shard).result.get("message")
    if not items or name is None:
        return []
    installed = ctx.one(INSTALL).result
    key_id, digest = str(installed.get("key_id")), str(installed.get("table"))
    context = bytes.fromhex(scope.text(ctx.ticket, "table_context"))
    state = LookupQuery.restore(
        binding(ctx, PROTOCOL, shard),
        [item.encode() for item in items],
        read_bytes(job / f"query-secret-{shard}"),
    )
    reply = fetch(ctx, name, max_bytes=MESSAGE_OVERHEAD + len(items) * POINT_WIRE_BYTES)
    with (
        ctx.store.table_file(digest).open("rb") as fh,
        mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
    ):
        found = state.finish(
            reply, TableView(mapped, context=context, key_id=key_id), context=context
        )
    rows: list[list[str]] = []
    for item, sealed in zip(items, found, strict=True):
        if sealed is None:
            rows.append([item, "false", *("" for _ in labels)])
            continue
        try:
            values = json.loads(sealed)
        except ValueError:
            raise ProtocolError() from None
        rows.append([item, "true", *(_cell(values.get(n)) for n in labels)])
    (job / f"query-secret-{shard}").unlink(missing_ok=True)
    return rows


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def open_(ctx: StepContext) -> dict[str, Any]:
    shard = scope.integer(ctx.ticket, "shard")
    rows = protocol(lambda: _open_shard(ctx, shard))
    job = ctx.store.job_dir(ctx.ticket.job)
    write_bytes(
        job / f"opened-{shard}",
        json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode(),
    )
    return {"shard": shard, "matched": sum(1 for r in rows if r[1] == "true")}


def collect(ctx: StepContext) -> dict[str, Any]:
    """The requester's result: ``identifier, found, *labels``, one row per queried identifier
    (found ``true`` / ``false``); with an authorization scope, then one row per identifier not
    queried for want of an authorization (``unauthorized``) and per input value that is not a
    valid identifier (``malformed``, the value as read), their labels blank."""
    labels = scope.texts(ctx.ticket, "labels")
    shards = scope.integer(ctx.ticket, "shards", minimum=1)
    job = ctx.store.job_dir(ctx.ticket.job)
    rows: list[list[str]] = []
    for shard in range(shards):
        rows.extend(json.loads(read_bytes(job / f"opened-{shard}")))
    out = outcome(ctx.one(BLIND, 0).result.get("counts") or {}, sum(r[1] == "true" for r in rows))
    if Authorizations.load(ctx.ticket, ctx.factory) is not None:
        ids, _ = _requester_input(ctx)
        blanks = ["" for _ in labels]
        rows += [[item, UNAUTHORIZED, *blanks] for item in ids.unauthorized]
        rows += [[value, MALFORMED, *blanks] for value in ids.malformed]
        out["unauthorized"] = len(ids.unauthorized)
    write_result(ctx.store, ctx.ticket.job, ["identifier", "found", *labels], rows)
    clear_job(ctx.store, ctx.ticket.job)
    return out
