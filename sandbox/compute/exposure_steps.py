"""``secure_sum`` per identifier as job steps: the multi-lender exposure total (多头借贷).

A requesting bank R has a list of applicants; contributing banks B₀…Bₘ₋₁ hold loan books they
consented to add. R learns, for each of its (authorized) applicants, the total outstanding
balance across the contributors, and only where at least k of them hold a loan for it (k =
the computation's ``min_contributors``); otherwise "suppressed". Plan (G = the gate's domain)::

    G he.keygen ──┬──────────────────┬─────────────────────┬──────────────────┐
    R exposure.blind ──┬─────────────┼──► R exposure.shuffle[i] ──► Bᵢ exposure.match[i] ──►
    Bᵢ exposure.offer[i] ─┴──────────┘─────────────────────┘
        G exposure.release ──► R exposure.collect

``blind``: R's authorized, valid, distinct ids, blinded with R's key (``psi.exposure``), in R's
order. ``offer``: Bᵢ adds up its rows per id (values parsed and clamped like every aggregate's),
encrypts (balance, 1) per borrower under the gate's key, packed, and offers them with its ids
blinded by its own key, shuffled. ``shuffle``: R raises the offer's points to its key,
re-randomizes every ciphertext and shuffles, so Bᵢ cannot link them to its borrowers. ``match``:
Bᵢ computes its key times R's blinded ids itself (never sent: it would show R who borrows
where), takes the ciphertext whose point matches at each of R's positions or a fresh Enc(0, 0),
re-randomizes every output and sends the vector to the gate. ``release``: the gate adds the m
vectors position by position (each position must hold exactly one summand per contributor),
decrypts (total, lenders) per position, releases the total only where lenders ≥ k (rounded as
the grant says), seals the per-position outcome to R and destroys the job's key. ``collect``:
R opens it, joins positions back to its ids, writes its result and clears the job's state.

Who learns what: Bᵢ learns R's list size and how many of its own borrowers are in it (never
which, and never reported to the control DB); R learns each contributor's book size and, per
applicant, "released" with the total or "suppressed", never which bank lends (with m = k a
release shows that every contributor lends: that is the output, not the protocol); the gate
learns per position the total and the number of lenders, no identifier. Semi-honest parties.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from homomorphic import errors as he_errors
from homomorphic.aggregates import Moments
from homomorphic.encryption import rerandomize_raw
from homomorphic.packing import (
    PackedCiphertext,
    PackingLayout,
    decrypt_packed_many,
    encrypt_packed,
    sum_packed,
)
from homomorphic.serialization import ciphertext_from_bytes, ciphertext_to_bytes
from psi.errors import ProtocolError
from psi.exposure import (
    ExposureProvider,
    ExposureRequester,
    Query,
    read_query,
    read_vector,
    seal_release,
)
from psi.wire import Binding
from sandbox.compute import gate, he_steps, scope
from sandbox.compute.authorized import Authorizations
from sandbox.compute.common import MESSAGE_OVERHEAD, clear_job, fetch, outcome, protocol
from sandbox.compute.grouped import DEFAULT_MAX_ABS, parse_value
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
from sandbox.datasets.stored import StoredDataset, open_stored
from sandbox.errors import SandboxError
from sandbox.jobs.context import StepContext

BLIND = "exposure.blind"
OFFER = "exposure.offer"
SHUFFLE = "exposure.shuffle"
MATCH = "exposure.match"
RELEASE = "exposure.release"
COLLECT = "exposure.collect"
NAME = he_steps.SECURE_SUM
VARIANT = "exposure"
PROTOCOL = "secure_sum/exposure"
RELEASE_FORMAT = "sandbox/exposure-release/1"
HEADER = ("identifier", "status", "total", "lenders")
RELEASED, SUPPRESSED = gate.RELEASED, gate.SUPPRESSED
UNAUTHORIZED, MALFORMED = "unauthorized", "malformed"
POINT_BYTES = 33
# A released total as the gate writes it: sign, digits, point; far below this per position.
RELEASE_BYTES_PER_ITEM = 64


# --------------------------------------------------------------------------- shared


def _check(ctx: StepContext) -> None:
    if scope.text(ctx.ticket, "protocol") != NAME or scope.text(ctx.ticket, "variant") != VARIANT:
        raise SandboxError("the ticket names no per-identifier secure sum", code="step.scope")


def _binding(ctx: StepContext) -> Binding:
    return Binding(job=ctx.ticket.job, shard=0, protocol=PROTOCOL)


def _contributor(ctx: StepContext) -> int:
    index = scope.integer(ctx.ticket, "contributor")
    if index >= _parties(ctx):
        raise SandboxError("the ticket's contributor is out of range", code="step.scope")
    return index


def _parties(ctx: StepContext) -> int:
    return scope.integer(ctx.ticket, "parties", minimum=2)


def _min_contributors(ctx: StepContext) -> int:
    return scope.integer(ctx.ticket, "min_contributors", minimum=2)


def _dataset(ctx: StepContext) -> StoredDataset:
    if len(ctx.ticket.datasets) != 1:
        raise SandboxError("the ticket must name exactly one dataset", code="step.scope")
    return open_stored(ctx.factory, ctx.store, ctx.domain, ctx.ticket.datasets[0])


def _layout(ctx: StepContext, key: Any) -> PackingLayout:
    """Two slots, (total, lenders), the same at every party (from the signed scope): room for
    one bank's sum over up to ``max_rows`` rows per borrower, added once per contributor."""
    bounds = scope.bounds(ctx.ticket)
    max_abs = max(abs(bounds[0]), abs(bounds[1])) if bounds else DEFAULT_MAX_ABS
    try:
        return PackingLayout.fit(
            key,
            max_abs=max_abs * scope.integer(ctx.ticket, "max_rows", minimum=1),
            max_additions=_parties(ctx),
            decimals=scope.integer(ctx.ticket, "decimals"),
            slots=2,
        )
    except he_errors.HomomorphicError:
        raise SandboxError(
            "the sum's bounds do not fit the job's key", code="aggregate.overflow"
        ) from None


def _payload_size(key: Any) -> int:
    return (int(key.nsquare).bit_length() + 7) // 8


def _packed(key: Any, layout: PackingLayout, payload: bytes) -> PackedCiphertext:
    return PackedCiphertext(
        public_key=key, layout=layout, ciphertext=ciphertext_from_bytes(key, payload), length=2
    )


def _rerandomize(key: Any, payloads: list[bytes]) -> list[bytes]:
    """Each ciphertext times a fresh encryption of zero; a ciphertext out of range or not a
    unit is a protocol error."""
    try:
        return [
            ciphertext_to_bytes(key, rerandomize_raw(key, ciphertext_from_bytes(key, p)))
            for p in payloads
        ]
    except he_errors.HomomorphicError:
        raise ProtocolError from None


def _provider_key(index: int) -> str:
    return f"provider-key-{index}"


# --------------------------------------------------------------------------- the requester


def blind(ctx: StepContext) -> dict[str, Any]:
    """R's authorized ids, blinded in R's order; R keeps its key, ids and per-row outcomes."""
    _check(ctx)
    data = _dataset(ctx)
    ids = read_identifiers(data, Authorizations.load(ctx.ticket, ctx.factory))
    check_size(
        len(ids.items),
        min_items=scope.integer(ctx.ticket, "min_items"),
        max_items=scope.integer(ctx.ticket, "max_items", minimum=1),
    )
    requester = ExposureRequester(_binding(ctx))
    message = requester.query([item.encode() for item in ids.items])
    job = ctx.store.job_dir(ctx.ticket.job)
    write_bytes(job / "requester-key", requester.key_bytes())
    write_items(job / "items", ids.items)
    # Input counts and the rows left out stay here until collect: the contributors, whose steps
    # see this step's result, learn only the list's size.
    rest = {
        "counts": {**ids.counts(), "malformed": len(ids.malformed)},
        UNAUTHORIZED: ids.unauthorized,
        MALFORMED: ids.malformed,
    }
    write_bytes(job / "rows.json", json.dumps(rest, ensure_ascii=False).encode())
    return {"message": ctx.exchange.put(message), "items": len(ids.items)}


def shuffle(ctx: StepContext) -> dict[str, Any]:
    """Contributor i's offer raised to R's key, re-randomized, shuffled."""
    _check(ctx)
    index = _contributor(ctx)
    key = he_steps.public_key(ctx)
    size = _payload_size(key)
    max_rows = scope.integer(ctx.ticket, "max_rows", minimum=1)
    requester = ExposureRequester(
        _binding(ctx), key=read_bytes(ctx.store.job_dir(ctx.ticket.job) / "requester-key")
    )
    offer = fetch(
        ctx,
        ctx.one(OFFER, index).result.get("message"),
        max_bytes=MESSAGE_OVERHEAD + max_rows * (POINT_BYTES + size),
    )
    message = protocol(
        lambda: requester.shuffle(
            offer,
            provider=index,
            max_rows=max_rows,
            payload_size=size,
            rerandomize=lambda payloads: _rerandomize(key, payloads),
        )
    )
    return {"shard": index, "message": ctx.exchange.put(message)}


def collect(ctx: StepContext) -> dict[str, Any]:
    """Open the gate's release, join it to R's ids, write R's result; counts only out."""
    _check(ctx)
    k = _min_contributors(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    items = read_items(job / "items")
    rest = json.loads(read_bytes(job / "rows.json"))
    requester = ExposureRequester(_binding(ctx), key=read_bytes(job / "requester-key"))
    limit = MESSAGE_OVERHEAD + len(items) * RELEASE_BYTES_PER_ITEM
    sealed = fetch(ctx, ctx.one(RELEASE).result.get("message"), max_bytes=limit)
    totals = protocol(lambda: _totals(ctx, requester.open(sealed, max_bytes=limit), len(items), k))
    rows: list[list[str]] = []
    for item, total in zip(items, totals, strict=True):
        if total is None:
            rows.append([item, SUPPRESSED, "", ""])
        else:
            rows.append([item, RELEASED, total, f"≥{k}"])
    rows += [[item, UNAUTHORIZED, "", ""] for item in rest[UNAUTHORIZED]]
    rows += [[value, MALFORMED, "", ""] for value in rest[MALFORMED]]
    path = write_result(ctx.store, ctx.ticket.job, HEADER, rows)
    clear_job(ctx.store, ctx.ticket.job)
    released = sum(1 for t in totals if t is not None)
    return {
        **outcome(rest["counts"], released),
        RELEASED: released,
        SUPPRESSED: len(totals) - released,
        UNAUTHORIZED: len(rest[UNAUTHORIZED]),
        MALFORMED: len(rest[MALFORMED]),
        "result_digest": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def _totals(ctx: StepContext, plaintext: bytes, size: int, k: int) -> list[str | None]:
    """The gate's per-position outcome, checked: one entry per id, a finite number or None."""
    try:
        body = json.loads(plaintext)
    except ValueError:
        raise ProtocolError from None
    if (
        not isinstance(body, dict)
        or set(body) != {"format", "job", "min_contributors", "totals"}
        or body["format"] != RELEASE_FORMAT
        or body["job"] != ctx.ticket.job
        or body["min_contributors"] != k
        or not isinstance(body["totals"], list)
        or len(body["totals"]) != size
    ):
        raise ProtocolError
    out: list[str | None] = []
    for total in body["totals"]:
        if total is not None:
            if not isinstance(total, str) or len(total) > RELEASE_BYTES_PER_ITEM - 8:
                raise ProtocolError
            try:
                if not Decimal(total).is_finite():
                    raise ProtocolError
            except InvalidOperation:
                raise ProtocolError from None
        out.append(total)
    return out


# --------------------------------------------------------------------------- the contributors


def _book(ctx: StepContext, data: StoredDataset) -> tuple[dict[str, Decimal], dict[str, int]]:
    """This contributor's rows added up per borrower (values parsed and clamped)."""
    column = scope.text(ctx.ticket, "value_column")
    if column not in ctx.ticket.columns:
        raise SandboxError("the ticket does not grant the value column", code="step.scope")
    bounds = scope.bounds(ctx.ticket)
    totals: dict[str, Decimal] = {}
    used = rejected = 0
    for raw, labels in read_labeled(data, (column,)):
        value = parse_value(json.loads(labels)[column], bounds)
        if value is None:
            rejected += 1
            continue
        ident = raw.decode()
        totals[ident] = totals.get(ident, Decimal(0)) + value
        used += 1
    return totals, {"rows": used, "rejected": rejected, "items": len(totals)}


def offer(ctx: StepContext) -> dict[str, Any]:
    """Contributor i's borrowers, each with Enc_gate((Σ balance, 1)), blinded and shuffled."""
    _check(ctx)
    index = _contributor(ctx)
    totals, counts = _book(ctx, _dataset(ctx))
    if not totals:
        raise SandboxError("the contributor's dataset has no usable rows", code="guard.empty")
    if counts["rows"] > scope.integer(ctx.ticket, "max_rows", minimum=1):
        raise SandboxError("the dataset has more rows than the job allows", code="guard.too_many")
    key = he_steps.public_key(ctx)
    flat: list[Decimal | int] = []
    for value in totals.values():
        flat += [value, 1]
    ctx.progress(0.2)
    try:
        packed = encrypt_packed(key, flat, _layout(ctx, key))
    except he_errors.Overflow:
        raise SandboxError(
            "a value does not fit the sum's bounds", code="aggregate.overflow"
        ) from None
    ctx.progress(0.7)
    provider = ExposureProvider(_binding(ctx), index)
    size = _payload_size(key)
    message = provider.offer(
        [ident.encode() for ident in totals],
        [ciphertext_to_bytes(key, p.ciphertext) for p in packed],
        payload_size=size,
    )
    write_bytes(ctx.store.job_dir(ctx.ticket.job) / _provider_key(index), provider.key_bytes())
    return {"shard": index, "message": ctx.exchange.put(message), **counts}


def match(ctx: StepContext) -> dict[str, Any]:
    """Fill R's positions with this contributor's re-randomized ciphertexts or fresh zeros."""
    _check(ctx)
    index = _contributor(ctx)
    job = ctx.store.job_dir(ctx.ticket.job)
    try:
        key = he_steps.public_key(ctx)
        size = _payload_size(key)
        max_items = scope.integer(ctx.ticket, "max_items", minimum=1)
        offered = ctx.one(OFFER, index).result.get("items")
        if isinstance(offered, bool) or not isinstance(offered, int) or offered < 1:
            raise SandboxError("the contributor's offer is missing", code="step.plan")
        provider = ExposureProvider(
            _binding(ctx), index, key=read_bytes(job / _provider_key(index))
        )
        query = fetch(
            ctx,
            ctx.one(BLIND).result.get("message"),
            max_bytes=MESSAGE_OVERHEAD + max_items * POINT_BYTES,
        )
        shuffled = fetch(
            ctx,
            ctx.one(SHUFFLE, index).result.get("message"),
            max_bytes=MESSAGE_OVERHEAD + offered * (POINT_BYTES + size),
        )
        matched = protocol(
            lambda: provider.match(
                query, shuffled, max_items=max_items, offered=offered, payload_size=size
            )
        )
        payloads = protocol(lambda: _fill(ctx, key, matched.positions))
        message = provider.vector(matched, payloads, payload_size=size)
        # The number of matches stays in this domain: not even the step's result carries it.
        return {"shard": index, "message": ctx.exchange.put(message)}
    finally:
        (job / _provider_key(index)).unlink(missing_ok=True)
        if job.exists() and not any(job.iterdir()):
            job.rmdir()


def _fill(ctx: StepContext, key: Any, positions: tuple[bytes | None, ...]) -> list[bytes]:
    """Every position a fresh-looking ciphertext: a match re-randomized (so R cannot recognise
    its own), a miss a fresh Enc((0, 0)) (one summand, like a match)."""
    layout = _layout(ctx, key)
    misses = sum(1 for p in positions if p is None)
    zeros: Iterator[PackedCiphertext] = iter(
        encrypt_packed(key, [0, 0] * misses, layout) if misses else []
    )
    out: list[bytes] = []
    for payload in positions:
        if payload is None:
            out.append(ciphertext_to_bytes(key, next(zeros).ciphertext))
        else:
            out.extend(_rerandomize(key, [payload]))
    return out


# --------------------------------------------------------------------------- the gate


def release(ctx: StepContext) -> dict[str, Any]:
    """The gate's release; the job's key is destroyed however it ends."""
    job = ctx.ticket.job
    done = False
    try:
        result = _release(ctx)
        done = True
        return result
    finally:
        he_steps.destroy_key(ctx, job, "released" if done else "failed")


def _release(ctx: StepContext) -> dict[str, Any]:
    _check(ctx)
    parties = _parties(ctx)
    k = _min_contributors(ctx)
    max_items = scope.integer(ctx.ticket, "max_items", minimum=1)
    private = he_steps.private_key(ctx)
    key = private.public_key
    size = _payload_size(key)
    layout = _layout(ctx, key)
    binding = _binding(ctx)
    raw_query = fetch(
        ctx,
        ctx.one(BLIND).result.get("message"),
        max_bytes=MESSAGE_OVERHEAD + max_items * POINT_BYTES,
    )
    query = protocol(lambda: read_query(raw_query, binding, max_items=max_items))
    matches = [up for up in ctx.upstream if up.action == MATCH]
    sent = {up.shard: up for up in matches}
    if len(matches) != parties or set(sent) != set(range(parties)):
        raise SandboxError("a contributor's vector is missing", code="step.plan")
    vectors = [
        _vector(ctx, sent[index].result.get("message"), index, query, size)
        for index in range(parties)
    ]
    ctx.progress(0.2)
    try:
        sums = [
            sum_packed(_packed(key, layout, vector[j]) for vector in vectors)
            for j in range(query.size)
        ]
        # One summand per contributor at every position, nothing less: the gate opens sums only.
        if any(s.count != parties for s in sums):
            raise he_steps.opaque()
        opened = decrypt_packed_many(private, sums)
    except he_errors.HomomorphicError:
        raise he_steps.opaque() from None
    ctx.progress(0.8)
    moments: list[Moments] = []
    for total, lenders in opened:
        count = Decimal(lenders)
        # Each contributor adds 1 or 0 lenders, and 0 lenders means nothing was added.
        if count != count.to_integral_value() or not 0 <= count <= parties:
            raise he_steps.opaque()
        if count == 0 and total != 0:
            raise he_steps.opaque()
        moments.append(Moments(int(count), Decimal(total), 0))
    round_to = ctx.ticket.scope.get("round_to")
    controls = gate.Controls(
        min_cohort=k,
        statistics=("sum",),
        round_to=Decimal(str(round_to)) if isinstance(round_to, int | float) else None,
    )
    rows = gate.release([()] * len(moments), moments, controls)
    totals = [r.values["sum"] if r.status == gate.RELEASED else None for r in rows]
    body = {
        "format": RELEASE_FORMAT,
        "job": ctx.ticket.job,
        "min_contributors": k,
        "totals": totals,
    }
    sealed = protocol(
        lambda: seal_release(query, binding, json.dumps(body, separators=(",", ":")).encode())
    )
    released = sum(1 for t in totals if t is not None)
    return {
        "message": ctx.exchange.put(sealed),
        "positions": len(totals),
        RELEASED: released,
        SUPPRESSED: len(totals) - released,
        "parties": parties,
    }


def _vector(ctx: StepContext, name: object, index: int, query: Query, size: int) -> list[bytes]:
    message = fetch(ctx, name, max_bytes=MESSAGE_OVERHEAD + query.size * size)
    return protocol(
        lambda: read_vector(message, _binding(ctx), provider=index, query=query, payload_size=size)
    )
