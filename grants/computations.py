"""Running a computation under a grant: the policy decides, the grant authority signs a ticket
per step, and the job carries ``grant:<id>`` as its authority, so that suspending or revoking
the grant or its license stops it (queued or running) and expiry sweeps it.

Which steps a kind needs (which domain, which action, which dataset) is a *plan*. The runtime's
protocol kinds register their planners in :data:`PLANS`; a kind without a planner, or whose
actions this runtime does not have, is refused before anything is charged.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import contributions as contributions_
from grants.applications import visible_grants
from grants.grants import authority, effective_state
from grants.models import GrantState
from grants.policy import Allowed, Computation, PlannedStep, Refused, authorize, decide
from grants.terms import Kind, Terms
from sandbox.compute import lookup_steps
from sandbox.compute.authorized import Authorizations
from sandbox.compute.derive import Derivation, check_set
from sandbox.compute.grouped import DECIMALS, grouping_of
from sandbox.compute.models import LookupTable
from sandbox.compute.plans import (
    DEFAULT_FPR,
    Contributor,
    GateControls,
    Limits,
    Party,
    PlanStep,
    exposure_plan,
    he_plan,
    isum_plan,
    lookup_plan,
    psi_plan,
    psi_shards,
    shard_count,
)
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import ColumnType, Schema
from sandbox.errors import InvalidInput, SandboxError
from sandbox.jobs.models import Job
from sandbox.jobs.service import StepSpec, create_job
from sandbox.parties.principal import Principal
from sandbox.settings import Settings
from sandbox.tickets import MAX_TICKET_CHARS, DatasetRef, TicketSigner


@dataclass(frozen=True, slots=True)
class Sizing:
    """How jobs are split to run in parallel (from Settings)."""

    psi_shard_rows: int = 5_000
    lookup_shard_rows: int = 500
    lookup_build_rows: int = 250_000
    max_shards: int = 64
    lookup_max_shards: int = 8
    gate_domain: str = "bureau"
    key_bits: int = 3072

    @classmethod
    def of(cls, settings: Settings) -> Sizing:
        return cls(
            settings.psi_shard_rows,
            settings.lookup_shard_rows,
            settings.lookup_build_rows,
            settings.max_shards,
            settings.lookup_max_shards,
            settings.gate_domain,
            settings.paillier_key_bits,
        )


@dataclass(frozen=True, slots=True)
class Plan:
    steps: list[PlannedStep]
    params: dict[str, Any] = field(default_factory=dict)


Planner = Callable[[Session, Computation, Allowed, Sizing], Plan]


def submit(
    session: Session,
    who: Principal,
    c: Computation,
    *,
    signer: TicketSigner,
    now: dt.datetime,
    sizing: Sizing | None = None,
) -> Job:
    """The job for an allowed computation (caller commits, then enqueues); a refusal is
    recorded in the ledger and raised as :class:`grants.policy.PolicyRefusal`."""
    planner = PLANS.get(c.kind)
    if planner is None:
        raise InvalidInput(
            f"the computation kind {c.kind.value} is not available yet", code="job.kind_unavailable"
        )
    decision = decide(session, who, c, now=now)
    job_id = uuid.uuid4()
    plan = (
        Plan([])
        if isinstance(decision, Refused)
        else planner(session, c, decision, sizing or Sizing())
    )
    tickets = authorize(session, who, c, job_id=job_id, steps=plan.steps, signer=signer, now=now)
    return create_job(
        session,
        job_id=job_id,
        kind=c.kind.value,
        who=who,
        params={
            "grant": str(c.grant_id),
            "recipient": c.recipient,
            "rows": c.rows,
            "datasets": [d.model_dump(mode="json") for d in c.datasets],
            "input": str(c.input_dataset) if c.input_dataset else None,
            "contributions": [d.model_dump(mode="json") for d in c.contributions],
            **(c.authorization.to_params() if c.authorization else {}),
            **plan.params,
        },
        request={"grant": str(c.grant_id), "kind": c.kind.value, "purpose": c.purpose},
        steps=[
            StepSpec(s.step_id, s.domain, s.action, tickets[s.step_id], s.after) for s in plan.steps
        ],
        authority=authority(c.grant_id),
        now=now,
    )


def input_rows(session: Session, dataset_id: uuid.UUID) -> int:
    """Valid rows of a dataset's current version (metadata: what the policy charges)."""
    rows = session.scalar(
        select(DatasetVersion.row_count)
        .where(DatasetVersion.dataset_id == dataset_id)
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )
    return int(rows or 0)


def _schema(session: Session, ref: DatasetRef) -> Schema:
    schema_json = session.scalar(
        select(DatasetVersion.schema_json).where(
            DatasetVersion.dataset_id == uuid.UUID(ref.id), DatasetVersion.version == ref.version
        )
    )
    if schema_json is None:
        raise InvalidInput("the dataset version is missing", code="job.dataset_missing")
    return Schema.model_validate(schema_json)


def _parties(
    session: Session, c: Computation, allowed: Allowed
) -> tuple[Party, Party, tuple[str, ...]]:
    """The requester (its input dataset) and the one provider dataset, with the provider's
    asked columns other than its identifier."""
    if allowed.input is None or allowed.input_domain is None:
        raise InvalidInput(
            "this computation needs the requester's input dataset", code="job.input_required"
        )
    if len(c.datasets) != 1:
        raise InvalidInput("name exactly one provider dataset", code="job.one_provider")
    (ask,) = c.datasets
    provider_ref = DatasetRef(id=str(ask.dataset_id), version=allowed.versions[ask.dataset_id])
    requester_schema = _schema(session, allowed.input)
    provider_schema = _schema(session, provider_ref)
    if requester_schema.identifier.kind != provider_schema.identifier.kind:
        raise InvalidInput(
            "the two datasets identify different things "
            f"({requester_schema.identifier.kind} and {provider_schema.identifier.kind})",
            code="job.identifier_mismatch",
        )
    if provider_schema.identifier.column not in ask.columns:
        raise InvalidInput(
            "ask for the provider dataset's identifier column", code="job.identifier_column"
        )
    others = tuple(col for col in ask.columns if col != provider_schema.identifier.column)
    requester = Party(allowed.input_domain, allowed.input, requester_schema.identifier.column)
    provider = Party(
        allowed.domains[ask.dataset_id], provider_ref, provider_schema.identifier.column
    )
    return requester, provider, others


def _limits(c: Computation, allowed: Allowed, *, min_items: int) -> Limits:
    return Limits(
        max_items=allowed.terms.rows_per_call,
        min_items=min_items,
        max_overlap=allowed.terms.max_overlap,
        grant=str(c.grant_id),
    )


def _planned(steps: list[PlanStep]) -> list[PlannedStep]:
    return [
        PlannedStep(
            uuid.uuid4(),
            s.domain,
            s.action,
            uuid.UUID(s.dataset.id) if s.dataset else None,
            after=s.after,
            scope=s.scope,
            columns=s.columns,
            version=s.dataset.version if s.dataset else None,
        )
        for s in steps
    ]


def _no_noise(c: Computation) -> None:
    if c.epsilon is not None or c.bounds is not None:
        raise InvalidInput(
            f"ε and bounds are for the output gate, which {c.kind.value} does not use",
            code="job.dp_unsupported",
        )


def _psi(session: Session, c: Computation, allowed: Allowed, sizing: Sizing) -> Plan:
    _no_noise(c)
    requester, provider, _ = _parties(session, c, allowed)
    cardinality = c.kind is Kind.PSI_CARDINALITY
    steps = psi_plan(
        c.kind.value,
        requester,
        provider,
        rows=c.rows,
        shards=psi_shards(c.rows, sizing.psi_shard_rows, sizing.max_shards, DEFAULT_FPR),
        limits=_limits(c, allowed, min_items=allowed.terms.min_set_size if cardinality else 1),
    )
    return Plan(_planned(steps))


def _lookup(session: Session, c: Computation, allowed: Allowed, sizing: Sizing) -> Plan:
    _no_noise(c)
    requester, provider, labels = _parties(session, c, allowed)
    if not labels:
        raise InvalidInput(
            "a lookup needs at least one label column besides the identifier",
            code="job.no_labels",
        )
    schema = _schema(session, provider.dataset)
    _check_derived(c.derived, labels, schema)
    if c.authorization is not None:
        _check_authorization(c.authorization, _schema(session, requester.dataset))
    released = tuple(d.name for d in c.derived) if c.derived else labels
    if lookup_steps.label_width(schema, released, c.derived) > lookup_steps.MAX_LABEL_WIDTH:
        raise InvalidInput(
            "the labels are too long together to be sealed; ask for fewer",
            code="job.labels_too_long",
        )
    digest = lookup_steps.labels_digest(released, c.derived)
    known = session.scalar(
        select(func.count())
        .select_from(LookupTable)
        .where(
            LookupTable.dataset_id == uuid.UUID(provider.dataset.id),
            LookupTable.version == provider.dataset.version,
            LookupTable.labels == digest,
        )
    )
    provider_rows = input_rows(session, uuid.UUID(provider.dataset.id))
    parts = 0 if known else shard_count(provider_rows, sizing.lookup_build_rows, sizing.max_shards)
    steps = lookup_plan(
        requester,
        provider,
        labels,
        shards=shard_count(c.rows, sizing.lookup_shard_rows, sizing.lookup_max_shards),
        build_parts=parts,
        limits=_limits(c, allowed, min_items=1),
        derived=c.derived,
        authorization=c.authorization,
    )
    table = {"dataset": provider.dataset.id, "version": provider.dataset.version, "labels": digest}
    return Plan(_planned(steps), {"lookup_table": table})


def _check_derived(derived: tuple[Derivation, ...], asked: tuple[str, ...], schema: Schema) -> None:
    """A lookup's derived labels: each computed from an asked (granted) column other than the
    identifier, by a rule that reads that column's type, under distinct names that are not the
    result's own columns."""

    def no(message: str) -> InvalidInput:
        return InvalidInput(message, code="job.derived_invalid")

    try:
        check_set(derived)
    except ValueError as exc:
        raise no(str(exc)) from None
    for d in derived:
        if d.column == schema.identifier.column:
            raise no(f"the derived label {d.name} may not read the identifier")
        if d.column not in asked or d.column not in schema.column_names:
            raise no(f"the derived label {d.name} reads {d.column}, which is not asked for")
        kind = schema.column(d.column).type
        if not lookup_steps.fits(d, kind):
            raise no(f"the rule {d.rule} of {d.name} does not read a {kind.value} column")
        if d.name in lookup_steps.RESERVED:
            raise no(f"{d.name} names a column of the result; choose another label name")
    if not _fits_a_ticket([d.to_json() for d in derived]):
        raise no("the derived labels are more than a ticket can carry; map fewer values")


# What a lookup step's ticket holds besides its derivations or authorizations (the claims,
# the rest of the scope, the signature), in base64 characters, with room to spare.
_TICKET_MARGIN = 1536


def _fits_a_ticket(value: object) -> bool:
    """Whether ``value`` leaves room in a ticket (a worker refuses a longer one, so the planner
    refuses first, clearly and before anything is charged)."""
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    return math.ceil(size / 3) * 4 <= MAX_TICKET_CHARS - _TICKET_MARGIN


def _check_authorization(authorization: Authorizations, requester: Schema) -> None:
    """The authorization reference is a column of the requester's input, not its identifier.
    (The digests ride in the job's params; the tickets sign their hash.)"""
    column = authorization.column
    if column not in requester.column_names or column == requester.identifier.column:
        raise InvalidInput(
            f"the input has no authorization reference column {column!r}",
            code="job.authorization_column",
        )


def _gate(c: Computation, allowed: Allowed, sizing: Sizing) -> GateControls:
    """The grant's output controls for this computation, as the gate's ticket carries them."""
    return GateControls(
        recipient=c.recipient,
        min_cohort=allowed.terms.min_cohort,
        epsilon=c.epsilon,
        round_to=allowed.terms.round_to,
        key_bits=sizing.key_bits,
    )


def _bounds_for_noise(c: Computation) -> None:
    """Noise on a sum is calibrated to the value bounds: ε without them is refused."""
    if c.epsilon is not None and c.bounds is None:
        raise InvalidInput(
            "a differentially private release needs bounds for the value column",
            code="job.bounds_required",
        )


def _encrypted_aggregate(
    session: Session, c: Computation, allowed: Allowed, sizing: Sizing
) -> Plan:
    """``aggregate`` and ``secure_sum``: every asked dataset contributes, grouped by its asked
    category columns, over its one asked numeric column; the datasets must agree on both. A
    ``secure_sum`` over the requester's own list is the per-identifier total (:func:`_exposure`).
    """
    if c.input_dataset is not None and c.kind is Kind.SECURE_SUM:
        return _exposure(session, c, allowed, sizing)
    bounds = None
    if c.bounds is not None:
        bounds = (Decimal(repr(c.bounds[0])), Decimal(repr(c.bounds[1])))
    contributors: list[Contributor] = []
    groupings = []
    for ask in (*c.datasets, *c.contributions):
        ref = DatasetRef(id=str(ask.dataset_id), version=allowed.versions[ask.dataset_id])
        try:
            groupings.append(grouping_of(_schema(session, ref), ask.columns, bounds=bounds))
        except SandboxError as exc:
            raise InvalidInput(exc.message, code=exc.code) from None
        rows = session.scalar(
            select(DatasetVersion.row_count).where(
                DatasetVersion.dataset_id == ask.dataset_id,
                DatasetVersion.version == ref.version,
            )
        )
        contributors.append(
            Contributor(allowed.domains[ask.dataset_id], ref, tuple(ask.columns), int(rows or 1))
        )
    first = groupings[0]
    if any(g != first for g in groupings[1:]):
        raise InvalidInput(
            "the datasets must share the same group-by and value columns",
            code="job.columns_differ",
        )
    if c.kind is Kind.SECURE_SUM and first.value_column is None:
        raise InvalidInput("a secure sum needs one numeric column", code="job.no_value")
    if first.value_column is not None:
        _bounds_for_noise(c)
    steps = he_plan(
        c.kind.value,
        sizing.gate_domain,
        contributors,
        first,
        _gate(c, allowed, sizing),
    )
    return Plan(_planned(steps), {"gate": sizing.gate_domain})


def _exposure(session: Session, c: Computation, allowed: Allowed, sizing: Sizing) -> Plan:
    """``secure_sum`` per identifier of the requester's input (the multi-lender exposure total,
    多头借贷): each contribution is an identifier and one numeric column, added up per
    identifier across the contributors; the gate releases an identifier's total only where at
    least ``min_contributors`` of them hold a row for it."""
    if c.epsilon is not None:
        raise InvalidInput(
            "a total per identifier is released without noise; ε is not available for it",
            code="job.dp_unsupported",
        )
    if allowed.input is None or allowed.input_domain is None:
        raise InvalidInput(
            "this computation needs the requester's input dataset", code="job.input_required"
        )
    bounds = None
    if c.bounds is not None:
        bounds = (Decimal(repr(c.bounds[0])), Decimal(repr(c.bounds[1])))
    requester_schema = _schema(session, allowed.input)
    if c.authorization is not None:
        _check_authorization(c.authorization, requester_schema)
    contributors: list[Contributor] = []
    values: list[str] = []
    decimals: set[int] = set()
    for ask in c.contributions:
        ref = DatasetRef(id=str(ask.dataset_id), version=allowed.versions[ask.dataset_id])
        schema = _schema(session, ref)
        if schema.identifier.kind != requester_schema.identifier.kind:
            raise InvalidInput(
                "a contribution identifies other things than the requester's input "
                f"({schema.identifier.kind} and {requester_schema.identifier.kind})",
                code="job.identifier_mismatch",
            )
        if schema.identifier.column not in ask.columns:
            raise InvalidInput(
                "each contribution must include its identifier column", code="job.identifier_column"
            )
        try:
            grouping = grouping_of(schema, ask.columns, bounds=bounds)
        except SandboxError as exc:
            raise InvalidInput(exc.message, code=exc.code) from None
        if grouping.group_columns:
            raise InvalidInput(
                "a total per identifier takes no group-by columns", code="job.columns_differ"
            )
        if grouping.value_column is None:
            raise InvalidInput("a secure sum needs one numeric column", code="job.no_value")
        rows = session.scalar(
            select(DatasetVersion.row_count).where(
                DatasetVersion.dataset_id == ask.dataset_id,
                DatasetVersion.version == ref.version,
            )
        )
        contributors.append(
            Contributor(
                allowed.domains[ask.dataset_id],
                ref,
                (schema.identifier.column, grouping.value_column),
                int(rows or 1),
            )
        )
        values.append(grouping.value_column)
        decimals.add(grouping.decimals)
    if len(decimals) != 1:
        raise InvalidInput(
            "the contributions' value columns must have the same precision",
            code="job.columns_differ",
        )
    requester = Party(allowed.input_domain, allowed.input, requester_schema.identifier.column)
    try:
        steps = exposure_plan(
            sizing.gate_domain,
            requester,
            contributors,
            values,
            decimals=decimals.pop(),
            bounds=(repr(c.bounds[0]), repr(c.bounds[1])) if c.bounds else None,
            min_contributors=c.min_contributors,
            limits=_limits(c, allowed, min_items=1),
            controls=_gate(c, allowed, sizing),
            authorization=c.authorization,
        )
    except ValueError as exc:
        raise InvalidInput(str(exc), code="job.too_few_contributors") from None
    return Plan(
        _planned(steps),
        {"gate": sizing.gate_domain, "min_contributors": c.min_contributors},
    )


def _isum(session: Session, c: Computation, allowed: Allowed, sizing: Sizing) -> Plan:
    """``intersection_sum``: the requester's list against the provider's identifier and one
    numeric column; the sum's key is the gate's."""
    requester, provider, others = _parties(session, c, allowed)
    schema = _schema(session, provider.dataset)
    numeric = [
        col for col in others if schema.column(col).type in (ColumnType.INTEGER, ColumnType.DECIMAL)
    ]
    if len(numeric) != 1 or len(others) != 1:
        raise InvalidInput(
            "ask for the identifier and exactly one numeric column to add up", code="job.one_value"
        )
    value = numeric[0]
    _bounds_for_noise(c)
    provider_rows = input_rows(session, uuid.UUID(provider.dataset.id))
    steps = isum_plan(
        sizing.gate_domain,
        requester,
        provider,
        value,
        decimals=DECIMALS[schema.column(value).type],
        bounds=(repr(c.bounds[0]), repr(c.bounds[1])) if c.bounds else None,
        provider_rows=provider_rows,
        shards=shard_count(max(c.rows, provider_rows), sizing.psi_shard_rows, sizing.max_shards),
        limits=_limits(c, allowed, min_items=allowed.terms.min_set_size),
        controls=_gate(c, allowed, sizing),
    )
    return Plan(_planned(steps), {"gate": sizing.gate_domain})


PLANS: dict[Kind, Planner] = {
    Kind.PSI_INTERSECTION: _psi,
    Kind.PSI_CARDINALITY: _psi,
    Kind.LOOKUP: _lookup,
    Kind.AGGREGATE: _encrypted_aggregate,
    Kind.SECURE_SUM: _encrypted_aggregate,
    Kind.INTERSECTION_SUM: _isum,
}


GATED = (Kind.AGGREGATE, Kind.SECURE_SUM, Kind.INTERSECTION_SUM)
RUNNABLE_KINDS = (
    Kind.PSI_INTERSECTION,
    Kind.PSI_CARDINALITY,
    Kind.LOOKUP,
    Kind.AGGREGATE,
    Kind.SECURE_SUM,
    Kind.INTERSECTION_SUM,
)


@dataclass(frozen=True, slots=True)
class DatasetChoice:
    id: str
    name: str
    title: str
    owner: str
    rows: int
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Runnable:
    """An approved grant the caller may run computations under, with the choices a form needs
    (metadata only: names, owners, row counts)."""

    grant_id: str
    purpose: str
    kinds: tuple[str, ...]
    recipients: tuple[str, ...]
    datasets: tuple[DatasetChoice, ...]
    inputs: tuple[DatasetChoice, ...]  # the recipients' own datasets, as requester inputs
    calls_per_day: int
    rows_per_call: int
    min_cohort: int = 10
    epsilon_left: float | None = None
    contributions: tuple[contributions_.ContributionView, ...] = ()

    @property
    def takes_input(self) -> bool:
        return any(Kind(k).takes_input for k in self.kinds)

    @property
    def aggregates(self) -> bool:
        """Kinds released by the output gate (ε, bounds)."""
        return any(k in GATED for k in self.kinds)


def _choice(session: Session, dataset: Dataset, columns: tuple[str, ...] | None) -> DatasetChoice:
    version = session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == dataset.id)
        .order_by(DatasetVersion.version.desc())
        .limit(1)
    )
    schema = Schema.model_validate(version.schema_json) if version else None
    return DatasetChoice(
        id=str(dataset.id),
        name=dataset.name,
        title=schema.title if schema else dataset.name,
        owner=dataset.domain.org.slug,
        rows=version.row_count if version else 0,
        columns=columns if columns is not None else ((schema.identifier.column,) if schema else ()),
    )


def runnable(session: Session, who: Principal, *, now: dt.datetime) -> list[Runnable]:
    out: list[Runnable] = []
    for grant in visible_grants(session, who):
        if grant.approved is None or effective_state(grant, now) != GrantState.APPROVED.value:
            continue
        terms = Terms.model_validate(grant.approved)
        operator = grant.operator_id == who.org_id
        if not operator and who.org_slug not in terms.recipients:
            continue
        kinds = tuple(k.value for k in terms.kinds if k in RUNNABLE_KINDS)
        if not kinds:
            continue
        recipients = terms.recipients if operator else (who.org_slug,)
        datasets = tuple(
            _choice(session, ds, d.columns)
            for d in terms.datasets
            if (ds := session.get(Dataset, d.dataset_id)) is not None
        )
        held = session.scalars(select(Dataset).order_by(Dataset.name)).all()
        inputs = tuple(
            _choice(session, ds, None) for ds in held if ds.domain.org.slug in recipients
        )
        out.append(
            Runnable(
                grant_id=str(grant.id),
                purpose=terms.purpose,
                kinds=kinds,
                recipients=tuple(recipients),
                datasets=datasets,
                inputs=inputs,
                calls_per_day=terms.calls_per_day,
                rows_per_call=terms.rows_per_call,
                min_cohort=terms.min_cohort,
                contributions=(
                    tuple(contributions_.views(session, grant.id))
                    if Kind.SECURE_SUM in terms.kinds
                    else ()
                ),
                epsilon_left=(
                    None
                    if terms.epsilon_budget is None
                    else max(terms.epsilon_budget - grant.epsilon_spent, 0.0)
                ),
            )
        )
    return out
