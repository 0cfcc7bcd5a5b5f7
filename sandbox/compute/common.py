"""What the protocol steps share: bindings, shard keys, the exchange with size bounds, and the
rule that a protocol error is opaque."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from psi.errors import ProtocolError
from psi.shards import partition
from psi.wire import Binding
from sandbox.compute import scope
from sandbox.compute.inputs import write_items
from sandbox.domains.store import DomainStore
from sandbox.errors import SandboxError
from sandbox.exchange.store import ExchangeError
from sandbox.jobs.context import StepContext

T = TypeVar("T")
MESSAGE_OVERHEAD = 4096


def binding(ctx: StepContext, protocol: str, shard: int) -> Binding:
    return Binding(job=ctx.ticket.job, shard=shard, protocol=protocol)


def shard_key(job: str) -> bytes:
    """The keyed-hash partition both sides of a job agree on, without talking."""
    return hashlib.sha256(b"sandbox/shard/v1:" + job.encode()).digest()


def split_into_shards(
    ctx: StepContext, name: str, items: Sequence[str], lines: Sequence[str] | None = None
) -> list[int]:
    """Write ``items`` (or, aligned with them, ``lines``) into ``<name>-<shard>`` files in the
    job's directory, by the keyed-hash partition both sides agree on; returns shard sizes."""
    shards = scope.integer(ctx.ticket, "shards", minimum=1)
    parts = partition([item.encode() for item in items], shard_key(ctx.ticket.job), shards)
    job = ctx.store.job_dir(ctx.ticket.job)
    rows = items if lines is None else lines
    for shard, indices in enumerate(parts):
        write_items(job / f"{name}-{shard}", [rows[i] for i in indices])
    return [len(p) for p in parts]


def fetch(ctx: StepContext, name: object, *, max_bytes: int) -> bytes:
    if not isinstance(name, str):
        raise SandboxError("an upstream step sent no message", code="step.plan")
    try:
        return ctx.exchange.get(name, max_bytes=max_bytes)
    except ExchangeError as exc:
        raise SandboxError(exc.message, code=exc.code) from None


def protocol(call: Callable[[], T]) -> T:
    """Run a protocol move; a malformed or hostile message fails the step with one opaque
    error, whatever was wrong with it."""
    try:
        return call()
    except ProtocolError:
        raise SandboxError(
            "a protocol message was malformed, out of range or not for this job",
            code="protocol.rejected",
        ) from None


def outcome(counts: Mapping[str, Any], matched: int) -> dict[str, Any]:
    """What a finished protocol job reports (and the control DB keeps): counts only."""
    items = int(counts.get("items", 0))
    return {
        "inputs": int(counts.get("inputs", 0)),
        "rejected": int(counts.get("rejected", 0)),
        "duplicates": int(counts.get("duplicates", 0)),
        "items": items,
        "matched": matched,
        "match_rate": round(matched / items, 6) if items else 0.0,
    }


def clear_job(store: DomainStore, job_id: str) -> None:
    """Destroy a finished job's state in this domain (keys, partitions, partial results)."""
    job = store.job_dir(job_id)
    if job.exists():
        for path in job.glob("*"):
            path.unlink(missing_ok=True)
        job.rmdir()
