"""``intersection_sum`` as job steps: Private Join and Compute, with the sum's key at the gate.

Plan for S shards (R = the requester's domain, P = the provider's, G = the gate's)::

    G he.keygen ──────────────────────┐
    R isum.prepare ──► R isum.request[i] ──► P isum.respond[i] ──► R isum.finish[i] ──►
    P isum.prepare ──► P isum.setup[i] ────────────┘────────────────────┘
        R isum.collect ──► G isum.release

The provider blinds its identifiers with its key and attaches to each, encrypted under the
gate's public key, the packed pair (value, 1); the requester's blinded identifiers come back
blinded by both keys and shuffled, so the requester matches without learning which of its own
identifiers matched; it adds the matching ciphertexts (value sum and count, under encryption),
re-randomizes and sends one ciphertext to the gate. The gate decrypts it, checks that the count
it holds equals the number of summands, suppresses an intersection smaller than the minimum
cohort, applies ε and rounding, and releases (count, sum) to the recipient.

Who learns what: the provider, the size of the requester's set; the requester, the number of
matches per shard (it holds the matching ciphertexts), never a value; the gate, the total and
the count. Semi-honest parties: a requester that adds ciphertexts of its own making could
inflate the count, which the gate cannot tell from the provider's.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from homomorphic import errors as he_errors
from homomorphic.aggregates import Moments
from homomorphic.packing import (
    PackedCiphertext,
    PackingLayout,
    decrypt_packed,
    encrypt_packed,
    sum_packed,
)
from homomorphic.serialization import (
    ciphertext_from_bytes,
    ciphertext_to_bytes,
    packed_from_json,
    packed_to_json,
)
from psi.pjc import PjcProvider, PjcRequester
from sandbox.compute import gate, he_steps, scope
from sandbox.compute.common import (
    MESSAGE_OVERHEAD,
    binding,
    clear_job,
    fetch,
    protocol,
    split_into_shards,
)
from sandbox.compute.grouped import DEFAULT_MAX_ABS, parse_value
from sandbox.compute.guards import check_size
from sandbox.compute.inputs import (
    read_bytes,
    read_identifiers,
    read_items,
    read_labeled,
    write_bytes,
)
from sandbox.compute.results import write_result
from sandbox.datasets.stored import open_stored
from sandbox.errors import SandboxError
from sandbox.jobs.context import StepContext

PREPARE = "isum.prepare"
SETUP = "isum.setup"
REQUEST = "isum.request"
RESPOND = "isum.respond"
FINISH = "isum.finish"
COLLECT = "isum.collect"
RELEASE = "isum.release"
NAME = he_steps.INTERSECTION_SUM
POINT_BYTES = 33


def _check(ctx: StepContext) -> None:
    if scope.text(ctx.ticket, "protocol") != NAME:
        raise SandboxError("the ticket names no intersection sum", code="step.scope")


def _layout(ctx: StepContext, key: Any) -> PackingLayout:
    """Two slots per row, (value, 1), with room for every provider row to be added."""
    bounds = scope.bounds(ctx.ticket)
    max_abs = max(abs(bounds[0]), abs(bounds[1])) if bounds else DEFAULT_MAX_ABS
    return PackingLayout.fit(
        key,
        max_abs=max_abs,
        max_additions=scope.integer(ctx.ticket, "max_rows", minimum=1),
        decimals=scope.integer(ctx.ticket, "decimals"),
        slots=2,
    )


def _dataset(ctx: StepContext) -> Any:
    if len(ctx.ticket.datasets) != 1:
        raise SandboxError("the ticket must name exactly one dataset", code="step.scope")
    return open_stored(ctx.factory, ctx.store, ctx.domain, ctx.ticket.datasets[0])


def prepare(ctx: StepContext) -> dict[str, Any]:
    """Each side's own rows, normalized, validated and split by the keyed-hash partition."""
    _check(ctx)
    role = scope.text(ctx.ticket, "role")
    data = _dataset(ctx)
    if role == "requester":
        ids = read_identifiers(data)
        check_size(
            len(ids.items),
            min_items=scope.integer(ctx.ticket, "min_items"),
            max_items=scope.integer(ctx.ticket, "max_items", minimum=1),
        )
        split_into_shards(ctx, "requester-items", ids.items)
        return {"role": role, **ids.counts()}
    if role != "provider":
        raise SandboxError("the ticket names no role", code="step.scope")
    column = scope.text(ctx.ticket, "value_column")
    bounds = scope.bounds(ctx.ticket)
    seen: set[str] = set()
    items: list[str] = []
    values: list[str] = []
    rejected = duplicates = 0
    for raw, labels in read_labeled(data, (column,)):
        ident = raw.decode()
        value = parse_value(json.loads(labels)[column], bounds)
        if value is None:
            rejected += 1
        elif ident in seen:
            duplicates += 1
        else:
            seen.add(ident)
            items.append(ident)
            values.append(str(value))
    if not items:
        raise SandboxError("the provider's dataset has no usable rows", code="guard.empty")
    if len(items) > scope.integer(ctx.ticket, "max_rows", minimum=1):
        raise SandboxError("the dataset has more rows than the job allows", code="guard.too_many")
    split_into_shards(
        ctx, "provider-rows", items, [f"{i}\t{v}" for i, v in zip(items, values, strict=True)]
    )
    return {"role": role, "items": len(items), "rejected": rejected, "duplicates": duplicates}


def _shard(ctx: StepContext) -> int:
    return scope.integer(ctx.ticket, "shard")


def _payload_size(key: Any) -> int:
    return (int(key.nsquare).bit_length() + 7) // 8


def setup(ctx: StepContext) -> dict[str, Any]:
    """The provider's shard: blinded ids, each with Enc_gate((value, 1))."""
    _check(ctx)
    shard = _shard(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    rows = [line.split("\t") for line in read_items(job / f"provider-rows-{shard}")]
    key = he_steps.public_key(ctx)
    provider = PjcProvider(binding(ctx, NAME, shard))
    write_bytes(job / f"provider-key-{shard}", provider.key_bytes())
    if not rows:
        return {"shard": shard, "message": None, "items": 0}
    layout = _layout(ctx, key)
    flat: list[Decimal | int] = []
    for _, value in rows:
        flat += [Decimal(value), 1]
    try:
        packed = encrypt_packed(key, flat, layout)
    except he_errors.Overflow:
        raise SandboxError(
            "a value does not fit the sum's bounds", code="aggregate.overflow"
        ) from None
    ctx.progress(0.6)
    payloads = [ciphertext_to_bytes(key, p.ciphertext) for p in packed]
    message = provider.setup(
        [ident.encode() for ident, _ in rows], payloads, payload_size=_payload_size(key)
    )
    return {"shard": shard, "message": ctx.exchange.put(message), "items": len(rows)}


def request(ctx: StepContext) -> dict[str, Any]:
    _check(ctx)
    shard = _shard(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    items = read_items(job / f"requester-items-{shard}")
    if not items:
        return {"shard": shard, "message": None, "items": 0}
    requester = PjcRequester(binding(ctx, NAME, shard))
    write_bytes(job / f"requester-key-{shard}", requester.key_bytes())
    message = requester.request([i.encode() for i in items])
    return {"shard": shard, "message": ctx.exchange.put(message), "items": len(items)}


def respond(ctx: StepContext) -> dict[str, Any]:
    _check(ctx)
    shard = _shard(ctx)
    max_items = scope.integer(ctx.ticket, "max_items", minimum=1)
    job = ctx.store.job_dir(ctx.ticket.job)
    asked = ctx.one(REQUEST, shard).result.get("message")
    offered = ctx.one(SETUP, shard).result.get("message")
    try:
        if asked is None or offered is None:
            return {"shard": shard, "message": None}
        provider = PjcProvider(
            binding(ctx, NAME, shard), key=read_bytes(job / f"provider-key-{shard}")
        )
        request_msg = fetch(ctx, asked, max_bytes=MESSAGE_OVERHEAD + max_items * POINT_BYTES)
        message = protocol(lambda: provider.respond(request_msg, max_items=max_items))
        return {"shard": shard, "message": ctx.exchange.put(message)}
    finally:
        for leftover in (f"provider-key-{shard}", f"provider-rows-{shard}"):
            (job / leftover).unlink(missing_ok=True)


def finish(ctx: StepContext) -> dict[str, Any]:
    """Match, and add the matching ciphertexts; the shard's partial sum stays in this domain."""
    _check(ctx)
    shard = _shard(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    items = read_items(job / f"requester-items-{shard}")
    response_name = ctx.one(RESPOND, shard).result.get("message")
    setup_name = ctx.one(SETUP, shard).result.get("message")
    if not items or response_name is None or setup_name is None:
        write_bytes(job / f"partial-{shard}", b"")
        return {"shard": shard}
    key = he_steps.public_key(ctx)
    size = _payload_size(key)
    max_rows = scope.integer(ctx.ticket, "max_rows", minimum=1)
    requester = PjcRequester(
        binding(ctx, NAME, shard), key=read_bytes(job / f"requester-key-{shard}")
    )
    setup_msg = fetch(
        ctx, setup_name, max_bytes=MESSAGE_OVERHEAD + max_rows * (POINT_BYTES + size + 8)
    )
    response = fetch(ctx, response_name, max_bytes=MESSAGE_OVERHEAD + len(items) * POINT_BYTES)
    payloads = protocol(
        lambda: requester.intersect(
            setup_msg, response, request_size=len(items), max_items=max_rows, payload_size=size
        )
    )
    (job / f"requester-key-{shard}").unlink(missing_ok=True)
    if not payloads:
        write_bytes(job / f"partial-{shard}", b"")
        return {"shard": shard}
    layout = _layout(ctx, key)
    try:
        total = sum_packed(
            PackedCiphertext(
                public_key=key,
                layout=layout,
                ciphertext=ciphertext_from_bytes(key, p),
                length=2,
            )
            for p in payloads
        )
    except he_errors.HomomorphicError:
        raise he_steps.opaque() from None
    write_bytes(job / f"partial-{shard}", json.dumps(packed_to_json(total)).encode())
    return {"shard": shard}


def collect(ctx: StepContext) -> dict[str, Any]:
    """One re-randomized ciphertext of (Σ value, count) for the gate; counts of inputs only."""
    _check(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    key = he_steps.public_key(ctx)
    shards = scope.integer(ctx.ticket, "shards", minimum=1)
    partials = []
    for shard in range(shards):
        raw = read_bytes(job / f"partial-{shard}")
        if raw:
            try:
                partials.append(packed_from_json(key, json.loads(raw)))
            except (ValueError, he_errors.HomomorphicError):
                raise he_steps.opaque() from None
    counts = ctx.one(PREPARE).result
    clear_job(ctx.store, ctx.ticket.job)
    base = {k: counts.get(k) for k in ("inputs", "rejected", "duplicates", "items")}
    if not partials:
        return {**base, "message": None}
    total = sum_packed(partials).rerandomized()
    return {**base, "message": ctx.exchange.put(he_steps.vector_message(ctx, [total]))}


def release(ctx: StepContext) -> dict[str, Any]:
    return he_steps.releasing(ctx, _release)


def _release(ctx: StepContext) -> dict[str, Any]:
    _check(ctx)
    private = he_steps.private_key(ctx)
    key = private.public_key
    controls = he_steps.controls(ctx, ("count", "sum"), scope.bounds(ctx.ticket))
    name = ctx.one(COLLECT).result.get("message")
    count, total = Decimal(0), Decimal(0)
    if name is not None:
        vector = he_steps.read_vector(ctx, key, name)
        if len(vector) != 1:
            raise he_steps.opaque()
        packed = vector[0]
        try:
            total, count = (Decimal(v) for v in decrypt_packed(private, packed))
        except he_errors.HomomorphicError:
            raise he_steps.opaque() from None
        # The count travels under encryption with the sum: it must equal the summands.
        if count != packed.count:
            raise he_steps.opaque()
    (row,) = gate.release([()], [Moments(int(count), total, 0)], controls)
    path = write_result(
        ctx.store,
        ctx.ticket.job,
        ["status", "intersection_size", "sum"],
        [[row.status, *(row.values.get(s, "") for s in controls.statistics)]],
    )
    return {
        "released": row.status == gate.RELEASED,
        "epsilon": controls.epsilon,
        "result_digest": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
