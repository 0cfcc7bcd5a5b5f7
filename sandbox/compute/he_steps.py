"""``aggregate`` and ``secure_sum`` as job steps: Paillier under a per-job key held by the
output gate (DESIGN §4).

Plan (G = the gate's domain, by default the bureau's; C₁…Cₘ = the domains holding the data)::

    G he.keygen ──► Cᵢ he.encrypt ──► C₁ he.combine ──► G he.release

``keygen`` makes the job's key pair in the gate's domain and publishes the public key.
``encrypt`` reads the domain's own rows, groups them by the declared categories, and encrypts
per group (count, Σx, Σx²), packed. ``combine`` adds every party's vectors slot by slot and
re-randomizes the sum; it runs in a data-holding domain, which cannot decrypt, so the key holder
never receives one party's contribution. ``release`` decrypts only that sum, and only if it has
exactly one summand per party; applies the grant's controls (minimum cohort, ε, rounding);
writes what may be released to the gate's ``results/``, for the recipient alone; and destroys
the private key, with a ledger entry. A job that fails before ``release`` has its key destroyed
by the gate's next step (or its sweep).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

from homomorphic import errors as he_errors
from homomorphic.aggregates import decrypt_moments, encrypt_moments, moments_layout, sum_vectors
from homomorphic.encoding import FixedPoint
from homomorphic.keys import generate_keypair
from homomorphic.serialization import (
    packed_from_json,
    packed_to_json,
    private_key_from_bytes,
    private_key_to_bytes,
    public_key_from_bytes,
    public_key_to_bytes,
)
from sandbox.clock import utcnow
from sandbox.compute import gate, scope
from sandbox.compute.common import fetch
from sandbox.compute.grouped import Grouping, read_grouped
from sandbox.compute.inputs import read_bytes, write_bytes
from sandbox.compute.results import write_result
from sandbox.datasets.stored import open_stored
from sandbox.db.engine import session_scope
from sandbox.errors import SandboxError
from sandbox.jobs.context import Action, StepContext
from sandbox.jobs.models import Job, JobState
from sandbox.ledger.log import SYSTEM, append

KEYGEN = "he.keygen"
ENCRYPT = "he.encrypt"
COMBINE = "he.combine"
RELEASE = "he.release"
AGGREGATE = "aggregate"
SECURE_SUM = "secure_sum"
INTERSECTION_SUM = "intersection_sum"
STATISTICS = {
    AGGREGATE: ("count", "sum", "mean", "variance"),
    SECURE_SUM: ("count", "sum"),
    INTERSECTION_SUM: ("count", "sum"),
}
KEY_FILE = "gate-key"
MAX_KEY_MESSAGE = 8 * 1024
MAX_VECTOR_MESSAGE = 4 << 20
FORMAT = "sandbox/he-moments/1"


def _protocol(ctx: StepContext) -> str:
    name = scope.text(ctx.ticket, "protocol")
    if name not in STATISTICS:
        raise SandboxError("the ticket names no aggregate protocol", code="step.scope")
    return name


def opaque() -> SandboxError:
    return SandboxError(
        "a ciphertext or key was malformed, out of range or not for this job",
        code="protocol.rejected",
    )


def grouping(ctx: StepContext) -> Grouping:
    """The grouping signed into the ticket (the same at every party)."""
    groups = ctx.ticket.scope.get("groups")
    if not isinstance(groups, list) or not all(
        isinstance(g, list) and all(isinstance(v, str) for v in g) for g in groups
    ):
        raise SandboxError("the ticket's scope has no valid groups", code="step.scope")
    value = ctx.ticket.scope.get("value_column")
    if value is not None and not isinstance(value, str):
        raise SandboxError("the ticket's scope has no valid value column", code="step.scope")
    return Grouping(
        scope.texts(ctx.ticket, "group_columns"),
        tuple(tuple(g) for g in groups),
        value,
        scope.integer(ctx.ticket, "decimals"),
        scope.bounds(ctx.ticket),
    )


# --------------------------------------------------------------------------- the gate's key


def destroy_key(ctx: StepContext, job_id: str, reason: str) -> bool:
    path = ctx.store.job_dir(job_id) / KEY_FILE
    if not path.exists():
        return False
    key_digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.unlink(missing_ok=True)
    with session_scope(ctx.factory) as session:
        append(
            session,
            actor=SYSTEM,
            action="key.destroyed",
            object_type="job",
            object_id=job_id,
            params={"job": job_id, "domain": ctx.domain},
            details={"key_digest": key_digest, "reason": reason},
            job_id=uuid.UUID(job_id),
            now=utcnow(),
        )
    return True


def destroy_orphan_keys(ctx: StepContext) -> int:
    """Destroy the keys of this gate's jobs that ended without a release (failed, aborted)."""
    base = ctx.store.root / "jobs"
    if not base.exists():
        return 0
    held = [p.parent.name for p in base.glob(f"*/{KEY_FILE}")]
    if not held:
        return 0
    with session_scope(ctx.factory) as session:
        ended = {
            str(j.id)
            for j in session.query(Job).filter(Job.id.in_([uuid.UUID(h) for h in held]))
            if JobState(j.state).finished
        }
    return sum(destroy_key(ctx, job, "job ended without a release") for job in ended)


def keygen(ctx: StepContext) -> dict[str, Any]:
    _protocol(ctx)
    destroy_orphan_keys(ctx)
    bits = scope.integer(ctx.ticket, "key_bits", minimum=2048)
    public, private = generate_keypair(bits)
    write_bytes(ctx.store.job_dir(ctx.ticket.job) / KEY_FILE, private_key_to_bytes(private))
    return {
        "message": ctx.exchange.put(public_key_to_bytes(public)),
        "key_id": public.key_id,
        "key_bits": bits,
    }


def public_key(ctx: StepContext) -> Any:
    up = ctx.one(KEYGEN)
    data = fetch(ctx, up.result.get("message"), max_bytes=MAX_KEY_MESSAGE)
    try:
        key = public_key_from_bytes(data)
    except he_errors.HomomorphicError:
        raise opaque() from None
    if key.key_id != up.result.get("key_id"):
        raise opaque()
    return key


# --------------------------------------------------------------------------- the parties


def _layout(ctx: StepContext, key: Any, g: Grouping) -> Any:
    return moments_layout(
        key,
        max_abs=g.max_abs,
        decimals=g.decimals,
        max_rows=scope.integer(ctx.ticket, "max_rows", minimum=1),
        max_parties=scope.integer(ctx.ticket, "parties", minimum=1),
    )


def vector_message(ctx: StepContext, packed: list[Any]) -> bytes:
    body = {
        "format": FORMAT,
        "job": ctx.ticket.job,
        "vector": [packed_to_json(p) for p in packed],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def read_vector(ctx: StepContext, key: Any, name: object) -> list[Any]:
    data = fetch(ctx, name, max_bytes=MAX_VECTOR_MESSAGE)
    try:
        body = json.loads(data)
        if (
            not isinstance(body, dict)
            or body.get("format") != FORMAT
            or body.get("job") != ctx.ticket.job
            or not isinstance(body.get("vector"), list)
            or not body["vector"]
        ):
            raise opaque()
        return [packed_from_json(key, item) for item in body["vector"]]
    except (ValueError, he_errors.HomomorphicError):
        raise opaque() from None


def encrypt(ctx: StepContext) -> dict[str, Any]:
    _protocol(ctx)
    if len(ctx.ticket.datasets) != 1:
        raise SandboxError("the ticket must name exactly one dataset", code="step.scope")
    key = public_key(ctx)
    g = grouping(ctx)
    data = open_stored(ctx.factory, ctx.store, ctx.domain, ctx.ticket.datasets[0])
    grouped = read_grouped(data, g)
    if grouped.used > scope.integer(ctx.ticket, "max_rows", minimum=1):
        raise SandboxError("the dataset has more rows than the job allows", code="guard.too_many")
    ctx.progress(0.3)
    try:
        packed = encrypt_moments(
            key, grouped.values, _layout(ctx, key, g), fixed_point=FixedPoint(g.decimals)
        )
    except he_errors.Overflow:
        raise SandboxError(
            "a group's values do not fit the aggregate's bounds", code="aggregate.overflow"
        ) from None
    return {
        "message": ctx.exchange.put(vector_message(ctx, packed)),
        "rows": grouped.rows,
        "used": grouped.used,
        "rejected": grouped.rejected,
    }


def combine(ctx: StepContext) -> dict[str, Any]:
    _protocol(ctx)
    key = public_key(ctx)
    parties = scope.integer(ctx.ticket, "parties", minimum=1)
    sent = [up for up in ctx.upstream if up.action == ENCRYPT]
    if len(sent) != parties:
        raise SandboxError("a party's contribution is missing", code="step.plan")
    vectors = [read_vector(ctx, key, up.result.get("message")) for up in sent]
    try:
        total = [p.rerandomized() for p in sum_vectors(vectors)]
    except he_errors.HomomorphicError:
        raise opaque() from None
    return {"message": ctx.exchange.put(vector_message(ctx, total)), "parties": parties}


# --------------------------------------------------------------------------- the gate


def private_key(ctx: StepContext) -> Any:
    """The job's private key, in the gate's domain, checked against the published one."""
    try:
        private = private_key_from_bytes(read_bytes(ctx.store.job_dir(ctx.ticket.job) / KEY_FILE))
    except he_errors.HomomorphicError:
        raise SandboxError("the job's key is damaged", code="gate.key") from None
    if private.public_key.key_id != ctx.one(KEYGEN).result.get("key_id"):
        raise opaque()
    return private


def controls(ctx: StepContext, statistics: tuple[str, ...], bounds: Any) -> gate.Controls:
    """The grant's output controls, as signed into the gate's ticket."""
    epsilon = ctx.ticket.scope.get("epsilon")
    round_to = ctx.ticket.scope.get("round_to")
    return gate.Controls(
        min_cohort=scope.integer(ctx.ticket, "min_cohort", minimum=1),
        statistics=statistics,
        epsilon=float(epsilon) if isinstance(epsilon, int | float) else None,
        bounds=bounds,
        round_to=Decimal(str(round_to)) if isinstance(round_to, int | float) else None,
    )


def _controls(ctx: StepContext, name: str, g: Grouping) -> gate.Controls:
    return controls(ctx, STATISTICS[name] if g.value_column else ("count",), g.bounds)


def releasing(ctx: StepContext, body: Action) -> dict[str, Any]:
    """Run the gate's release and destroy the job's key however it ends."""
    job = ctx.ticket.job
    try:
        return body(ctx)
    finally:
        destroy_key(ctx, job, "released" if ctx.store.result_file(job).exists() else "failed")


def release(ctx: StepContext) -> dict[str, Any]:
    return releasing(ctx, _release)


def _release(ctx: StepContext) -> dict[str, Any]:
    name = _protocol(ctx)
    g = grouping(ctx)
    controls = _controls(ctx, name, g)
    parties = scope.integer(ctx.ticket, "parties", minimum=1)
    private = private_key(ctx)
    key = private.public_key
    vector = read_vector(ctx, key, ctx.one(COMBINE).result.get("message"))
    # The gate opens only the sum of every party's vector: one summand each, nothing less.
    if any(p.count != parties for p in vector):
        raise SandboxError(
            "the gate decrypts only the sum of every party's contribution",
            code="gate.not_aggregate",
        )
    try:
        moments = decrypt_moments(private, vector, fixed_point=FixedPoint(g.decimals))
    except he_errors.HomomorphicError:
        raise opaque() from None
    if len(moments) < len(g.groups):
        raise opaque()
    rows = gate.release(g.groups, moments[: len(g.groups)], controls)
    header = [*g.group_columns, "status", *controls.statistics]
    path = write_result(
        ctx.store,
        ctx.ticket.job,
        header,
        [[*r.group, r.status, *(r.values.get(s, "") for s in controls.statistics)] for r in rows],
    )
    released = sum(1 for r in rows if r.status == gate.RELEASED)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {
        "groups": len(rows),
        "released": released,
        "suppressed": len(rows) - released,
        "parties": parties,
        "epsilon": controls.epsilon,
        "result_digest": digest,
    }
