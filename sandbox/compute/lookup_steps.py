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
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from typing import Any

from psi.errors import ProtocolError
from psi.lookup import LookupKey, LookupQuery, TableView, answer, assemble, build_records
from sandbox.compute import scope
from sandbox.compute.common import (
    MESSAGE_OVERHEAD,
    binding,
    clear_job,
    fetch,
    outcome,
    protocol,
)
from sandbox.compute.guards import check_size
from sandbox.compute.inputs import (
    read_bytes,
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
from sandbox.tickets import DatasetRef

BUILD = "lookup.build"
PUBLISH = "lookup.publish"
INSTALL = "lookup.install"
BLIND = "lookup.blind"
EVALUATE = "lookup.evaluate"
OPEN = "lookup.open"
COLLECT = "lookup.collect"
PROTOCOL = "lookup"
POINT_WIRE_BYTES = 33
MAX_TABLE_BYTES = 4 << 30
_VALUE_BYTES = {
    ColumnType.INTEGER: 24,
    ColumnType.DECIMAL: 48,
    ColumnType.BOOLEAN: 5,
    ColumnType.DATE: 10,
    ColumnType.STRING: 256,
}


def labels_digest(labels: tuple[str, ...]) -> str:
    return hashlib.sha256(json.dumps(list(labels)).encode()).hexdigest()[:32]


def table_context(ref: DatasetRef, labels: tuple[str, ...]) -> bytes:
    """What a table is for: both parties compute it from their tickets, and a table or a
    message for another dataset version or other labels fails against it."""
    return hashlib.sha256(
        json.dumps(
            {"dataset": ref.id, "version": ref.version, "labels": list(labels)},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
    ).digest()


def label_width(schema: Schema, labels: tuple[str, ...]) -> int:
    """Fixed plaintext width of the sealed labels (every record the same size, so a record's
    length says nothing about its values): JSON of the labels at their longest."""
    width = 2
    for name in labels:
        column = schema.column(name)
        longest = (
            max(len(v.encode()) for v in column.values or ("",))
            if column.type is ColumnType.CATEGORY
            else _VALUE_BYTES[column.type]
        )
        width += len(json.dumps(name)) + 1 + longest + 2 + 1
    return width


def _provider(ctx: StepContext) -> tuple[StoredDataset, tuple[str, ...], Any]:
    if len(ctx.ticket.datasets) != 1:
        raise SandboxError("the ticket must name exactly one dataset", code="step.scope")
    ref = ctx.ticket.datasets[0]
    data = open_stored(ctx.factory, ctx.store, ctx.domain, ref)
    labels = scope.texts(ctx.ticket, "labels")
    if not labels or not set(labels) <= set(ctx.ticket.columns):
        raise SandboxError("the ticket grants none of these labels", code="step.scope")
    for name in labels:
        if name not in data.schema.column_names:
            raise SandboxError("a label column is not in the dataset", code="step.scope")
    return data, labels, ctx.store.lookup_dir(ref.id, ref.version, labels_digest(labels))


def _key(folder: Any) -> LookupKey:
    """The table's key: created once (the first part to get here wins), then read."""
    path = folder / "key"
    folder.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(LookupKey.generate().to_bytes())
    return LookupKey.from_bytes(path.read_bytes())


def _meta(folder: Any) -> dict[str, Any] | None:
    path = folder / "table.json"
    return json.loads(path.read_text()) if path.exists() else None


def build(ctx: StepContext) -> dict[str, Any]:
    data, labels, folder = _provider(ctx)
    part = scope.integer(ctx.ticket, "part")
    parts = scope.integer(ctx.ticket, "parts", minimum=1)
    if _meta(folder) is not None:
        return {"part": part, "cached": True}
    key = _key(folder)
    context = table_context(ctx.ticket.datasets[0], labels)
    width = label_width(data.schema, labels)
    total = max(data.row_count // parts, 1)
    mine = list(read_labeled(data, labels, part=part, parts=parts))
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
    data, labels, folder = _provider(ctx)
    meta = _meta(folder)
    if meta is None:
        meta = _assemble(ctx, data, labels, folder)
    table = folder / "table.bin"
    if not ctx.exchange.has(meta["digest"]):
        ctx.exchange.put(table.read_bytes())
    return {"table": meta["digest"], "key_id": meta["key_id"], "rows": meta["rows"]}


def _assemble(
    ctx: StepContext, data: StoredDataset, labels: tuple[str, ...], folder: Any
) -> dict[str, Any]:
    parts = scope.integer(ctx.ticket, "parts", minimum=1)
    key = _key(folder)
    context = table_context(ctx.ticket.datasets[0], labels)
    width = label_width(data.schema, labels)
    blobs = []
    for part in range(parts):
        path = folder / f"part-{part}-of-{parts}"
        if path.exists():
            blobs.append(path.read_bytes())
        else:  # no build step ran (the cache was lost): build the part here
            rows = list(read_labeled(data, labels, part=part, parts=parts))
            blobs.append(build_records(key, rows, context=context, label_width=width))
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


def _query_items(ctx: StepContext) -> tuple[list[str], dict[str, int]]:
    """This shard's identifiers: the requester's set, normalized, split into equal runs."""
    if len(ctx.ticket.datasets) != 1:
        raise SandboxError("the ticket must name exactly one dataset", code="step.scope")
    data = open_stored(ctx.factory, ctx.store, ctx.domain, ctx.ticket.datasets[0])
    ids = read_identifiers(data)
    check_size(
        len(ids.items),
        min_items=scope.integer(ctx.ticket, "min_items"),
        max_items=scope.integer(ctx.ticket, "max_items", minimum=1),
    )
    shard = scope.integer(ctx.ticket, "shard")
    shards = scope.integer(ctx.ticket, "shards", minimum=1)
    size = -(-len(ids.items) // shards)
    return ids.items[shard * size : (shard + 1) * size], ids.counts()


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
    _data, _labels, folder = _provider(ctx)
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
    labels = scope.texts(ctx.ticket, "labels")
    shards = scope.integer(ctx.ticket, "shards", minimum=1)
    job = ctx.store.job_dir(ctx.ticket.job)
    rows: list[list[str]] = []
    for shard in range(shards):
        rows.extend(json.loads(read_bytes(job / f"opened-{shard}")))
    write_result(ctx.store, ctx.ticket.job, ["identifier", "found", *labels], rows)
    counts = ctx.one(BLIND, 0).result.get("counts") or {}
    clear_job(ctx.store, ctx.ticket.job)
    return outcome(counts, sum(1 for r in rows if r[1] == "true"))
