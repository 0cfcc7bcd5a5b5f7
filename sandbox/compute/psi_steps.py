"""``psi.intersection`` and ``psi.cardinality`` as job steps (openmined-psi, ECDH with GCS).

Plan for S shards (R = requester's domain, P = provider's domain)::

    R psi.prepare ──► R psi.request[i] ──► P psi.respond[i] ──► R psi.finish[i] ──► R psi.collect
    P psi.prepare ──► P psi.setup[i]   ──────────┘──────────────────┘

``prepare`` reads the domain's own identifiers, normalizes and validates them, applies the
guards (requester) and splits them by a keyed hash both sides agree on into S item files in
the domain's job directory. Every message goes through the exchange; step results hold only
message names and counts. The requester's matches stay in its domain (``results/``).
"""

from __future__ import annotations

import os
from typing import Any

from psi.ecdh import PsiClient, PsiServer
from sandbox.compute import scope
from sandbox.compute.common import (
    MESSAGE_OVERHEAD,
    binding,
    clear_job,
    fetch,
    outcome,
    protocol,
    split_into_shards,
)
from sandbox.compute.guards import check_overlap, check_size
from sandbox.compute.inputs import (
    read_bytes,
    read_identifiers,
    read_items,
    write_bytes,
    write_items,
)
from sandbox.compute.results import write_result
from sandbox.datasets.stored import open_stored
from sandbox.errors import SandboxError
from sandbox.jobs.context import StepContext

PREPARE = "psi.prepare"
SETUP = "psi.setup"
REQUEST = "psi.request"
RESPOND = "psi.respond"
FINISH = "psi.finish"
COLLECT = "psi.collect"
INTERSECTION = "psi.intersection"
CARDINALITY = "psi.cardinality"
POINT_WIRE_BYTES = 40  # an encrypted element in openmined-psi's protobuf, with framing
STALE_JOB_SECONDS = 24 * 3600
EMPTY_MARK = "\x00sandbox/psi/empty/"  # a control character: no valid identifier has one


def _protocol(ctx: StepContext) -> str:
    name = scope.text(ctx.ticket, "protocol")
    if name not in (INTERSECTION, CARDINALITY):
        raise SandboxError("the ticket names no PSI protocol", code="step.scope")
    return name


def _dataset(ctx: StepContext) -> Any:
    if len(ctx.ticket.datasets) != 1:
        raise SandboxError("the ticket must name exactly one dataset", code="step.scope")
    return open_stored(ctx.factory, ctx.store, ctx.domain, ctx.ticket.datasets[0])


def prepare(ctx: StepContext) -> dict[str, Any]:
    ctx.store.sweep_jobs(STALE_JOB_SECONDS)
    name = _protocol(ctx)
    role = scope.text(ctx.ticket, "role")
    ids = read_identifiers(_dataset(ctx))
    ctx.progress(0.5)
    if role == "requester":
        check_size(
            len(ids.items),
            min_items=scope.integer(ctx.ticket, "min_items"),
            max_items=scope.integer(ctx.ticket, "max_items", minimum=1),
        )
        if name == CARDINALITY:
            check_overlap(
                ctx.store,
                scope.text(ctx.ticket, "grant"),
                ids.items,
                max_overlap=scope.number(ctx.ticket, "max_overlap"),
            )
    elif role != "provider":
        raise SandboxError("the ticket names no role", code="step.scope")
    elif not ids.items:
        raise SandboxError("the provider's dataset has no valid identifiers", code="guard.empty")
    sizes = split_into_shards(ctx, f"{role}-items", ids.items)
    return {"role": role, **ids.counts(), "shard_sizes": sizes}


def _shard(ctx: StepContext) -> int:
    return scope.integer(ctx.ticket, "shard")


def setup(ctx: StepContext) -> dict[str, Any]:
    name, shard = _protocol(ctx), _shard(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    items = read_items(job / f"provider-items-{shard}")
    server = PsiServer(binding(ctx, name, shard), reveal=name == INTERSECTION)
    write_bytes(job / f"provider-key-{shard}", server.key_bytes())
    # An empty shard still answers, with one random item no identifier can equal.
    message = server.setup(
        items or [EMPTY_MARK + os.urandom(16).hex()],
        client_size=max(scope.integer(ctx.ticket, "client_size", minimum=1), 1),
        fpr=scope.number(ctx.ticket, "fpr"),
    )
    return {"shard": shard, "message": ctx.exchange.put(message), "items": len(items)}


def request(ctx: StepContext) -> dict[str, Any]:
    name, shard = _protocol(ctx), _shard(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    items = read_items(job / f"requester-items-{shard}")
    if not items:  # nothing of ours fell in this shard: nothing to send
        return {"shard": shard, "message": None, "items": 0}
    client = PsiClient(binding(ctx, name, shard), reveal=name == INTERSECTION)
    write_bytes(job / f"requester-key-{shard}", client.key_bytes())
    message = client.request(items)
    return {"shard": shard, "message": ctx.exchange.put(message), "items": len(items)}


def respond(ctx: StepContext) -> dict[str, Any]:
    name, shard = _protocol(ctx), _shard(ctx)
    max_items = scope.integer(ctx.ticket, "max_items", minimum=1)
    job = ctx.store.job_dir(ctx.ticket.job)
    server = PsiServer(
        binding(ctx, name, shard),
        reveal=name == INTERSECTION,
        key=read_bytes(job / f"provider-key-{shard}"),
    )
    asked = ctx.one(REQUEST, shard).result.get("message")
    if asked is None:
        for leftover in (f"provider-key-{shard}", f"provider-items-{shard}"):
            (job / leftover).unlink(missing_ok=True)
        return {"shard": shard, "message": None}
    request_msg = fetch(
        ctx,
        asked,
        max_bytes=MESSAGE_OVERHEAD + max_items * POINT_WIRE_BYTES,
    )
    message = protocol(lambda: server.respond(request_msg, max_items=max_items))
    # The shard's key and items are not needed again: destroy them now.
    for leftover in (f"provider-key-{shard}", f"provider-items-{shard}"):
        (job / leftover).unlink(missing_ok=True)
    return {"shard": shard, "message": ctx.exchange.put(message)}


def finish(ctx: StepContext) -> dict[str, Any]:
    name, shard = _protocol(ctx), _shard(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    items = read_items(job / f"requester-items-{shard}")
    if not items:
        write_items(job / f"matched-{shard}", [])
        write_items(job / f"count-{shard}", ["0"])
        return {"shard": shard} if name == CARDINALITY else {"shard": shard, "matched": 0}
    client = PsiClient(
        binding(ctx, name, shard),
        reveal=name == INTERSECTION,
        key=read_bytes(job / f"requester-key-{shard}"),
    )
    setup_msg = fetch(ctx, ctx.one(SETUP, shard).result.get("message"), max_bytes=1 << 30)
    response = fetch(ctx, ctx.one(RESPOND, shard).result.get("message"), max_bytes=1 << 30)
    fpr = scope.number(ctx.ticket, "fpr")
    if name == INTERSECTION:
        indices = protocol(
            lambda: client.intersect(setup_msg, response, request_size=len(items), fpr=fpr)
        )
        write_items(job / f"matched-{shard}", [items[i] for i in indices])
        matched = len(indices)
    else:
        matched = protocol(
            lambda: client.cardinality(setup_msg, response, request_size=len(items), fpr=fpr)
        )
    (job / f"requester-key-{shard}").unlink(missing_ok=True)
    if name == CARDINALITY:
        # Only the total is released: a shard's count stays in the requester's domain.
        write_items(job / f"count-{shard}", [str(matched)])
        return {"shard": shard}
    return {"shard": shard, "matched": matched}


def collect(ctx: StepContext) -> dict[str, Any]:
    name = _protocol(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    counts = ctx.one(PREPARE).result
    shards = scope.integer(ctx.ticket, "shards", minimum=1)
    if name == INTERSECTION:
        matched = sum(
            int(up.result.get("matched", 0)) for up in ctx.upstream if up.action == FINISH
        )
        items: list[str] = []
        for shard in range(shards):
            items.extend(read_items(job / f"matched-{shard}"))
        # Sorted as strings and written as 1-tuples made in C: this step runs alone at the
        # job's end, so its time is the job's (a list per row costs 5x at 500k matches).
        items.sort()
        write_result(ctx.store, ctx.ticket.job, ["identifier"], zip(items, strict=True))
    else:
        matched = sum(int(read_items(job / f"count-{i}")[0]) for i in range(shards))
        write_result(ctx.store, ctx.ticket.job, ["intersection_size"], [[str(matched)]])
    clear_job(ctx.store, ctx.ticket.job)
    return outcome(counts, matched)
