"""Which steps a protocol job needs: domains, actions, dependencies and the signed scope of
each step. Pure: the grants layer turns a plan into tickets and a job."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sandbox.compute import he_steps, isum_steps, lookup_steps, psi_steps
from sandbox.compute.authorized import Authorizations
from sandbox.compute.derive import Derivation
from sandbox.compute.grouped import Grouping
from sandbox.tickets import DatasetRef


@dataclass(frozen=True, slots=True)
class Party:
    domain: str
    dataset: DatasetRef
    id_column: str


@dataclass(frozen=True, slots=True)
class PlanStep:
    domain: str
    action: str
    dataset: DatasetRef | None  # None: the step opens no dataset (the gate's steps)
    columns: tuple[str, ...]
    after: tuple[int, ...]
    scope: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Limits:
    """The grant's bounds, as they reach the domains."""

    max_items: int
    min_items: int
    max_overlap: float
    grant: str


# openmined-psi sizes its GCS as largest * client / fpr and casts that to int64: a shard must
# keep (1.25 * shard size)² / fpr under 2**63, i.e. about 75,000 ids at fpr 1e-9.
MAX_HASH_RANGE = float((1 << 63) - 1024)
DEFAULT_FPR = 1e-9  # per shard query, as openmined-psi defines it
SHARD_MARGIN = 1.25


def shard_count(rows: int, per_shard: int, max_shards: int) -> int:
    return max(1, min(max_shards, math.ceil(max(rows, 1) / per_shard)))


def psi_shards(rows: int, per_shard: int, max_shards: int, fpr: float) -> int:
    """Shards for a PSI job: by the configured size, but never so large that a shard's GCS
    would overflow openmined-psi's hash range (that bound wins over ``max_shards``)."""
    largest = int(math.sqrt(MAX_HASH_RANGE * fpr) / SHARD_MARGIN) - 16
    return max(shard_count(rows, per_shard, max_shards), math.ceil(max(rows, 1) / largest))


def expected_shard(rows: int, shards: int) -> int:
    """A bound on one shard's size under the keyed-hash partition (binomial, far inside)."""
    return math.ceil(max(rows, 1) / shards * SHARD_MARGIN) + 16


def psi_plan(
    protocol: str,
    requester: Party,
    provider: Party,
    *,
    rows: int,
    shards: int,
    limits: Limits,
    fpr: float = DEFAULT_FPR,
) -> list[PlanStep]:
    req_cols, prov_cols = (requester.id_column,), (provider.id_column,)
    base = {"protocol": protocol, "shards": shards}
    steps = [
        PlanStep(
            requester.domain,
            psi_steps.PREPARE,
            requester.dataset,
            req_cols,
            (),
            {
                **base,
                "role": "requester",
                "max_items": limits.max_items,
                "min_items": limits.min_items,
                "max_overlap": limits.max_overlap,
                "grant": limits.grant,
                "peer": provider.domain,
            },
        ),
        PlanStep(
            provider.domain,
            psi_steps.PREPARE,
            provider.dataset,
            prov_cols,
            (),
            {**base, "role": "provider", "peer": requester.domain},
        ),
    ]
    finishes: list[int] = []
    for shard in range(shards):
        first = len(steps)
        shard_scope = {**base, "shard": shard}
        steps += [
            PlanStep(
                requester.domain, psi_steps.REQUEST, requester.dataset, req_cols, (0,), shard_scope
            ),
            PlanStep(
                provider.domain,
                psi_steps.SETUP,
                provider.dataset,
                prov_cols,
                (1,),
                {**shard_scope, "client_size": expected_shard(rows, shards), "fpr": fpr},
            ),
            PlanStep(
                provider.domain,
                psi_steps.RESPOND,
                provider.dataset,
                prov_cols,
                (first, first + 1),
                {**shard_scope, "max_items": limits.max_items},
            ),
            PlanStep(
                requester.domain,
                psi_steps.FINISH,
                requester.dataset,
                req_cols,
                (first + 1, first + 2),
                {**shard_scope, "fpr": fpr},
            ),
        ]
        finishes.append(first + 3)
    steps.append(
        PlanStep(
            requester.domain, psi_steps.COLLECT, requester.dataset, req_cols, (0, *finishes), base
        )
    )
    return steps


def lookup_plan(
    requester: Party,
    provider: Party,
    labels: tuple[str, ...],
    *,
    shards: int,
    build_parts: int,
    limits: Limits,
    derived: tuple[Derivation, ...] = (),
    authorization: Authorizations | None = None,
) -> list[PlanStep]:
    """``build_parts`` 0 when the provider's table for this version and labels is known.

    ``labels`` are the provider's raw label columns; with ``derived``, the table holds the
    derivations' outputs instead (named by them, computed from their columns, which must be
    among ``labels``) and the provider's steps read only those columns. With
    ``authorization``, the requester's blind and collect steps read its reference column too
    and query only the authorized rows."""
    if derived:
        sources = tuple(dict.fromkeys(d.column for d in derived))
        if not set(sources) <= set(labels):
            raise ValueError("a derived label's column is not among the label columns")
        released = tuple(d.name for d in derived)
    else:
        sources = released = labels
    req_cols = (requester.id_column,)
    prov_cols = (provider.id_column, *sources)
    context = lookup_steps.table_context(provider.dataset, released, derived).hex()
    table: dict[str, Any] = {"labels": list(released)}
    if derived:
        table["derived"] = [d.to_json() for d in derived]
    parts = max(build_parts, 1)
    steps = [
        PlanStep(
            provider.domain,
            lookup_steps.BUILD,
            provider.dataset,
            prov_cols,
            (),
            {**table, "part": part, "parts": parts},
        )
        for part in range(build_parts)
    ]
    publish = len(steps)
    steps.append(
        PlanStep(
            provider.domain,
            lookup_steps.PUBLISH,
            provider.dataset,
            prov_cols,
            tuple(range(build_parts)),
            {**table, "parts": parts},
        )
    )
    install = len(steps)
    steps.append(
        PlanStep(
            requester.domain,
            lookup_steps.INSTALL,
            requester.dataset,
            req_cols,
            (publish,),
            {"table_context": context, "peer": provider.domain},
        )
    )
    query = {
        "shards": shards,
        "max_items": limits.max_items,
        "min_items": limits.min_items,
        "labels": list(released),
        "table_context": context,
    }
    # The steps that read the requester's input rows (blind, collect) see its references.
    reading: tuple[str, ...] = req_cols
    filtered: dict[str, Any] = query
    if authorization is not None:
        reading = (requester.id_column, authorization.column)
        filtered = {**query, "authorization": authorization.to_scope()}
    opens: list[int] = []
    blinds: list[int] = []
    for shard in range(shards):
        blind = len(steps)
        blinds.append(blind)
        steps += [
            PlanStep(
                requester.domain,
                lookup_steps.BLIND,
                requester.dataset,
                reading,
                (),
                {**filtered, "shard": shard},
            ),
            PlanStep(
                provider.domain,
                lookup_steps.EVALUATE,
                provider.dataset,
                prov_cols,
                (blind, publish),
                {**table, "shard": shard, "max_items": limits.max_items},
            ),
            PlanStep(
                requester.domain,
                lookup_steps.OPEN,
                requester.dataset,
                req_cols,
                (blind, blind + 1, install),
                {**query, "shard": shard},
            ),
        ]
        opens.append(blind + 2)
    steps.append(
        PlanStep(
            requester.domain,
            lookup_steps.COLLECT,
            requester.dataset,
            reading,
            (blinds[0], *opens),
            {**filtered},
        )
    )
    return steps


@dataclass(frozen=True, slots=True)
class Contributor:
    """A domain that adds its own rows to an encrypted aggregate."""

    domain: str
    dataset: DatasetRef
    columns: tuple[str, ...]
    rows: int  # the dataset version's row count (catalog metadata): sizes the packing


@dataclass(frozen=True, slots=True)
class GateControls:
    """The grant's output controls, as the gate receives them (signed)."""

    recipient: str
    min_cohort: int
    epsilon: float | None = None
    round_to: float | None = None
    key_bits: int = 3072


def he_plan(
    protocol: str,
    gate_domain: str,
    contributors: list[Contributor],
    grouping: Grouping,
    controls: GateControls,
) -> list[PlanStep]:
    """keygen (gate) -> encrypt (each contributor) -> combine (first contributor) -> release
    (gate). The gate's steps name no dataset: they open nothing but the gate's own key."""
    if not contributors:
        raise ValueError("an aggregate needs at least one contributor")
    anchor = contributors[0]
    shared: dict[str, Any] = {
        "protocol": protocol,
        "group_columns": list(grouping.group_columns),
        "groups": [list(g) for g in grouping.groups],
        "value_column": grouping.value_column,
        "decimals": grouping.decimals,
        "bounds": [str(b) for b in grouping.bounds] if grouping.bounds else None,
        "parties": len(contributors),
        "max_rows": max(c.rows for c in contributors),
    }
    steps = [
        PlanStep(
            gate_domain,
            he_steps.KEYGEN,
            None,
            (),
            (),
            {"protocol": protocol, "key_bits": controls.key_bits},
        )
    ]
    steps += [
        PlanStep(c.domain, he_steps.ENCRYPT, c.dataset, c.columns, (0,), shared)
        for c in contributors
    ]
    steps.append(
        PlanStep(
            anchor.domain,
            he_steps.COMBINE,
            anchor.dataset,
            anchor.columns,
            (0, *range(1, len(contributors) + 1)),
            shared,
        )
    )
    steps.append(
        PlanStep(
            gate_domain,
            he_steps.RELEASE,
            None,
            (),
            (0, len(steps) - 1),
            {
                **shared,
                "recipient": controls.recipient,
                "min_cohort": controls.min_cohort,
                "epsilon": controls.epsilon,
                "round_to": controls.round_to,
            },
        )
    )
    return steps


def isum_plan(
    gate_domain: str,
    requester: Party,
    provider: Party,
    value_column: str,
    *,
    decimals: int,
    bounds: tuple[str, str] | None,
    provider_rows: int,
    shards: int,
    limits: Limits,
    controls: GateControls,
) -> list[PlanStep]:
    """``intersection_sum``: keygen (gate), both prepares, per shard request / setup / respond /
    finish, then collect (requester) and release (gate)."""
    req_cols, prov_cols = (requester.id_column,), (provider.id_column, value_column)
    base: dict[str, Any] = {
        "protocol": isum_steps.NAME,
        "shards": shards,
        "decimals": decimals,
        "bounds": list(bounds) if bounds else None,
        "max_rows": max(provider_rows, 1),
    }
    steps = [
        PlanStep(
            gate_domain,
            he_steps.KEYGEN,
            None,
            (),
            (),
            {"protocol": isum_steps.NAME, "key_bits": controls.key_bits},
        ),
        PlanStep(
            requester.domain,
            isum_steps.PREPARE,
            requester.dataset,
            req_cols,
            (),
            {
                **base,
                "role": "requester",
                "max_items": limits.max_items,
                "min_items": limits.min_items,
            },
        ),
        PlanStep(
            provider.domain,
            isum_steps.PREPARE,
            provider.dataset,
            prov_cols,
            (),
            {**base, "role": "provider", "value_column": value_column},
        ),
    ]
    finishes: list[int] = []
    for shard in range(shards):
        first = len(steps)
        shard_scope = {**base, "shard": shard}
        steps += [
            PlanStep(
                requester.domain, isum_steps.REQUEST, requester.dataset, req_cols, (1,), shard_scope
            ),
            PlanStep(
                provider.domain,
                isum_steps.SETUP,
                provider.dataset,
                prov_cols,
                (0, 2),
                shard_scope,
            ),
            PlanStep(
                provider.domain,
                isum_steps.RESPOND,
                provider.dataset,
                prov_cols,
                (first, first + 1),
                {**shard_scope, "max_items": limits.max_items},
            ),
            PlanStep(
                requester.domain,
                isum_steps.FINISH,
                requester.dataset,
                req_cols,
                (0, first + 1, first + 2),
                shard_scope,
            ),
        ]
        finishes.append(first + 3)
    collect = len(steps)
    steps.append(
        PlanStep(
            requester.domain,
            isum_steps.COLLECT,
            requester.dataset,
            req_cols,
            (0, 1, *finishes),
            base,
        )
    )
    steps.append(
        PlanStep(
            gate_domain,
            isum_steps.RELEASE,
            None,
            (),
            (0, collect),
            {
                **base,
                "recipient": controls.recipient,
                "min_cohort": controls.min_cohort,
                "epsilon": controls.epsilon,
                "round_to": controls.round_to,
            },
        )
    )
    return steps


def exposure_plan(
    gate_domain: str,
    requester: Party,
    contributors: list[Contributor],
    value_columns: list[str],
    *,
    decimals: int,
    bounds: tuple[str, str] | None,
    min_contributors: int,
    limits: Limits,
    controls: GateControls,
    authorization: Authorizations | None = None,
) -> list[PlanStep]:
    """``secure_sum`` per identifier (the multi-lender exposure total): keygen (gate), the
    requester's blind, per contributor offer / shuffle (requester) / match, then release (gate)
    and collect (requester, whose domain keeps the result). ``value_columns`` name each
    contributor's numeric column (its ``columns`` are the identifier and that column).
    With ``authorization``, the requester's steps read its reference column and blind queries
    only the authorized rows."""
    from sandbox.compute import exposure_steps

    if min_contributors < 2 or len(contributors) < min_contributors:
        raise ValueError("a per-identifier sum needs at least min_contributors >= 2 contributors")
    if len(value_columns) != len(contributors):
        raise ValueError("one value column per contributor")
    req_cols: tuple[str, ...] = (requester.id_column,)
    if authorization is not None:
        req_cols = (requester.id_column, authorization.column)
    base: dict[str, Any] = {
        "protocol": exposure_steps.NAME,
        "variant": exposure_steps.VARIANT,
        "parties": len(contributors),
        "min_contributors": min_contributors,
        "decimals": decimals,
        "bounds": list(bounds) if bounds else None,
        "max_rows": max(max(c.rows for c in contributors), 1),
        "max_items": limits.max_items,
    }
    blind_scope = {**base, "min_items": limits.min_items}
    if authorization is not None:
        blind_scope["authorization"] = authorization.to_scope()
    steps = [
        PlanStep(
            gate_domain,
            he_steps.KEYGEN,
            None,
            (),
            (),
            {"protocol": exposure_steps.NAME, "key_bits": controls.key_bits},
        ),
        PlanStep(
            requester.domain, exposure_steps.BLIND, requester.dataset, req_cols, (), blind_scope
        ),
    ]
    matches: list[int] = []
    for index, (c, value) in enumerate(zip(contributors, value_columns, strict=True)):
        mine = {**base, "contributor": index}
        offer = len(steps)
        steps += [
            PlanStep(
                c.domain,
                exposure_steps.OFFER,
                c.dataset,
                c.columns,
                (0,),
                {**mine, "value_column": value},
            ),
            PlanStep(
                requester.domain,
                exposure_steps.SHUFFLE,
                requester.dataset,
                req_cols,
                (0, 1, offer),
                mine,
            ),
            PlanStep(
                c.domain,
                exposure_steps.MATCH,
                c.dataset,
                c.columns,
                (0, 1, offer, offer + 1),
                mine,
            ),
        ]
        matches.append(offer + 2)
    release = len(steps)
    steps.append(
        PlanStep(
            gate_domain,
            exposure_steps.RELEASE,
            None,
            (),
            (0, 1, *matches),
            {**base, "recipient": controls.recipient, "round_to": controls.round_to},
        )
    )
    steps.append(
        PlanStep(
            requester.domain,
            exposure_steps.COLLECT,
            requester.dataset,
            req_cols,
            (1, release),
            base,
        )
    )
    return steps
