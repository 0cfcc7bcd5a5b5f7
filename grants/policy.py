"""The one policy function (DESIGN §3): may this computation run under this grant, now?

:func:`decide` checks license, zone, grant, datasets, columns, kind, purpose, recipient, term,
quotas and privacy budget, and returns every reason for a refusal, or the approved scope.
:func:`authorize` turns a pass into job tickets signed by the grant authority, charges the
grant's quotas and ε budget, and records the decision either way in the ledger.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants import catalog_review, contributions, licenses, zones
from grants.grants import effective_state
from grants.models import Grant, GrantState, GrantUsage
from grants.terms import DatasetColumns, Kind, Terms
from sandbox.compute.authorized import Authorizations
from sandbox.compute.derive import Derivation
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.errors import PermissionDenied
from sandbox.ledger.entry import digest
from sandbox.ledger.log import Actor, append
from sandbox.parties.principal import Principal
from sandbox.tickets import DatasetRef, TicketSigner


@dataclass(frozen=True, slots=True)
class Computation:
    """A requested computation under a grant."""

    grant_id: uuid.UUID
    kind: Kind
    datasets: tuple[DatasetColumns, ...]
    purpose: str
    recipient: str  # organization slug that receives the outputs
    rows: int  # size of the requester's input
    epsilon: float | None = None
    # The requester's own input: a dataset held in the recipient's domain (PSI and lookup).
    input_dataset: uuid.UUID | None = None
    # Clamping bounds of an aggregate's value column (a DP release needs them).
    bounds: tuple[float, float] | None = None
    # Data holders' own datasets added to a secure sum under their standing consent.
    contributions: tuple[DatasetColumns, ...] = ()
    # The enterprises' authorizations (授权查询) a product call needs: the requester's worker
    # queries only input rows whose (identifier, reference) digest is among them.
    authorization: Authorizations | None = None
    # Labels a lookup releases, derived inside the provider's domain from the asked columns
    # (a band, a flag) instead of the raw values; empty: the asked columns themselves.
    derived: tuple[Derivation, ...] = ()
    # A per-identifier secure sum (multi-lender exposure) releases an identifier's total only
    # when at least this many contributors hold a value for it.
    min_contributors: int = 2


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Allowed:
    grant: Grant
    terms: Terms
    versions: dict[uuid.UUID, int]  # dataset id -> current (reviewed) version
    domains: dict[uuid.UUID, str]  # dataset id -> domain name
    input: DatasetRef | None = None  # the requester's input dataset, current version
    input_domain: str | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class PlannedStep:
    step_id: uuid.UUID
    domain: str
    action: str
    dataset_id: uuid.UUID | None  # the dataset this step reads, if any
    after: tuple[int, ...] | None = None  # seqs it waits for; None: the previous step
    scope: dict[str, Any] = field(default_factory=dict)  # signed into the ticket
    columns: tuple[str, ...] | None = None  # None: the columns asked for this dataset
    version: int | None = None  # None: the dataset's reviewed current version


class PolicyRefusal(PermissionDenied):
    """Raised by :func:`authorize` after the refusal has been written to the ledger."""

    def __init__(self, reasons: tuple[Reason, ...]) -> None:
        super().__init__("; ".join(r.message for r in reasons), code=reasons[0].code)
        self.reasons = reasons
        self.recorded = True


def _usage(session: Session, grant_id: uuid.UUID, day: dt.date) -> GrantUsage:
    row = session.get(GrantUsage, (grant_id, day))
    if row is None:
        row = GrantUsage(grant_id=grant_id, day=day, calls=0, rows=0)
        session.add(row)
    return row


def decide(
    session: Session, who: Principal, c: Computation, *, now: dt.datetime
) -> Allowed | Refused:
    reasons: list[Reason] = []

    def no(code: str, message: str) -> None:
        reasons.append(Reason(code, message))

    grant = session.get(Grant, c.grant_id)
    if grant is None or not _may_invoke(grant, who, c):
        return Refused((Reason("policy.no_grant", "no such grant for your organization"),))
    lic = grant.license
    state = licenses.effective_state(lic, now)
    if state != "active" or not licenses.is_in_force(lic, now):
        no(
            f"policy.license_{state if state != 'active' else 'not_in_term'}",
            f"the operating license is {state if state != 'active' else 'not in its term'}",
        )
    grant_state = effective_state(grant, now)
    if grant_state != GrantState.APPROVED.value or grant.approved is None:
        no(f"policy.grant_{grant_state}", f"the grant is {grant_state}")
        return Refused(tuple(reasons))
    terms = Terms.model_validate(grant.approved)
    if now < terms.valid_from:
        no("policy.grant_not_started", "the grant's term has not started")
    if c.kind not in terms.kinds:
        no("policy.kind_not_granted", f"the grant does not allow {c.kind.value}")
    if c.purpose != terms.purpose:
        no("policy.purpose", f"the grant's purpose is {terms.purpose}, not {c.purpose}")
    if c.recipient not in terms.recipients:
        no("policy.recipient", f"{c.recipient} is not a recipient named in the grant")
    input_ref, input_domain = _input(session, c, reasons)
    if c.rows > terms.rows_per_call:
        no(
            "policy.rows_per_call",
            f"{c.rows} rows exceed the grant's {terms.rows_per_call} per call",
        )
    per_identifier = c.kind is Kind.SECURE_SUM and c.input_dataset is not None
    if c.kind.takes_input or per_identifier:
        if c.rows <= 0 and (input_ref is not None or c.input_dataset is None):
            no("policy.rows", "the requester's input is empty")
    elif c.input_dataset is not None:
        no("policy.input", f"{c.kind.value} takes no requester input")
    if per_identifier:
        _per_identifier(session, c, no)
    used = session.get(GrantUsage, (grant.id, now.date()))
    if used is not None and used.calls >= terms.calls_per_day:
        no("policy.quota_used", f"today's {terms.calls_per_day} calls are used up")
    if terms.rows_per_day is not None and (used.rows if used else 0) + c.rows > terms.rows_per_day:
        no("policy.rows_per_day", f"the call would exceed today's {terms.rows_per_day} rows")
    if c.kind is Kind.PSI_CARDINALITY and 0 < c.rows < terms.min_set_size:
        no(
            "policy.min_set_size",
            f"a cardinality query needs at least {terms.min_set_size} identifiers",
        )
    if c.epsilon is not None:
        left = (terms.epsilon_budget or 0.0) - grant.epsilon_spent
        if terms.epsilon_budget is None or c.epsilon > left + 1e-12:
            no("policy.budget_used", f"ε {c.epsilon} exceeds the {max(left, 0.0):.3g} left")
    versions: dict[uuid.UUID, int] = {}
    domains: dict[uuid.UUID, str] = {}
    for ask in c.datasets:
        granted = terms.columns_of(ask.dataset_id)
        if not granted:
            no("policy.dataset_not_granted", f"dataset {ask.dataset_id} is not in the grant")
            continue
        outside = sorted(set(ask.columns) - granted)
        if outside:
            no("policy.column_not_granted", f"columns not in the grant: {', '.join(outside)}")
        cls = catalog_review.classification(session, ask.dataset_id)
        blocked = sorted(set(ask.columns) - catalog_review.grantable_columns(cls)) if cls else []
        if cls is None:
            no("policy.unreviewed", f"dataset {ask.dataset_id}'s current version is not reviewed")
        elif blocked:
            no("policy.column_blocked", f"columns no longer grantable: {', '.join(blocked)}")
        if lic.zone_id not in zones.zone_of_dataset(session, ask.dataset_id):
            no("policy.outside_zone", f"dataset {ask.dataset_id} is not in the license's zone")
        dataset = session.get(Dataset, ask.dataset_id)
        if dataset is not None and cls is not None:
            versions[ask.dataset_id] = cls.version
            domains[ask.dataset_id] = dataset.domain.name
    _contributions(session, grant, c, versions, domains, no)
    if not c.datasets and not c.contributions:
        no("policy.no_data", "name at least one dataset")
    if reasons:
        return Refused(tuple(reasons))
    return Allowed(grant, terms, versions, domains, input_ref, input_domain)


def _contributions(
    session: Session,
    grant: Grant,
    c: Computation,
    versions: dict[uuid.UUID, int],
    domains: dict[uuid.UUID, str],
    no: Callable[[str, str], None],
) -> None:
    """A holder's own dataset enters only a secure sum, only under its standing consent, only
    with the columns it consented to."""
    if not c.contributions:
        return
    if c.kind is not Kind.SECURE_SUM:
        no("policy.contribution_kind", "only a secure sum takes contributed datasets")
        return
    consents = {row.dataset_id: row for row in contributions.active(session, grant.id)}
    for ask in c.contributions:
        row = consents.get(ask.dataset_id)
        dataset = session.get(Dataset, ask.dataset_id)
        if row is None or dataset is None:
            no("policy.no_consent", f"dataset {ask.dataset_id} has no consent under this grant")
            continue
        outside = sorted(set(ask.columns) - set(row.columns))
        if outside:
            no("policy.column_not_consented", f"columns not consented: {', '.join(outside)}")
        current = session.scalar(
            select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset.id)
        )
        if current is not None:
            versions[ask.dataset_id] = current
            domains[ask.dataset_id] = dataset.domain.name


def _per_identifier(session: Session, c: Computation, no: Callable[[str, str], None]) -> None:
    """A secure sum over the requester's list (the multi-lender exposure total): only holders'
    contributions, at least k = ``min_contributors`` >= 2 of them (fewer could never release
    anything), and none held by the requester, which could otherwise subtract its own book
    and learn another holder's exposure, or whether it lends at all."""
    if c.datasets:
        no("policy.exposure_datasets", "a per-identifier secure sum adds contributions only")
    if c.min_contributors < 2:
        no("policy.min_contributors", "a total per identifier needs at least 2 contributors")
    elif len(c.contributions) < c.min_contributors:
        no(
            "policy.too_few_contributors",
            f"{len(c.contributions)} contributions can never reach {c.min_contributors} lenders",
        )
    for ask in c.contributions:
        dataset = session.get(Dataset, ask.dataset_id)
        if ask.dataset_id == c.input_dataset or (
            dataset is not None and dataset.domain.org.slug == c.recipient
        ):
            no("policy.own_contribution", "the requester's own data may not be a contribution")
            break


def _may_invoke(grant: Grant, who: Principal, c: Computation) -> bool:
    """The grant's operator, or an organization the approved grant names as a recipient,
    asking for its own outputs."""
    if grant.operator_id == who.org_id:
        return True
    if grant.approved is None or c.recipient != who.org_slug:
        return False
    return who.org_slug in Terms.model_validate(grant.approved).recipients


def _input(
    session: Session, c: Computation, reasons: list[Reason]
) -> tuple[DatasetRef | None, str | None]:
    """The requester's input must be a dataset of the recipient, in the recipient's domain."""
    if c.input_dataset is None:
        return None, None
    dataset = session.get(Dataset, c.input_dataset)
    owner = dataset.domain.org if dataset is not None else None
    current = (
        session.scalar(
            select(func.max(DatasetVersion.version)).where(DatasetVersion.dataset_id == dataset.id)
        )
        if dataset is not None
        else None
    )
    if dataset is None or owner is None or owner.slug != c.recipient or current is None:
        reasons.append(Reason("policy.input", "the input must be a dataset held by the recipient"))
        return None, None
    return DatasetRef(id=str(dataset.id), version=current), dataset.domain.name


def authorize(
    session: Session,
    who: Principal,
    c: Computation,
    *,
    job_id: uuid.UUID,
    steps: list[PlannedStep],
    signer: TicketSigner,
    now: dt.datetime,
) -> dict[uuid.UUID, str]:
    """Tickets (by step id) for an allowed computation, with quotas and ε charged; or a
    :class:`PolicyRefusal` raised after the refusal, with every reason, is in the ledger."""
    decision = decide(session, who, c, now=now)
    params = {
        "grant": str(c.grant_id),
        "kind": c.kind.value,
        "purpose": c.purpose,
        "recipient": c.recipient,
        "rows": c.rows,
        "epsilon": c.epsilon,
        "datasets": [d.model_dump(mode="json") for d in c.datasets],
        "input": str(c.input_dataset) if c.input_dataset else None,
        "contributions": [d.model_dump(mode="json") for d in c.contributions],
    }
    if isinstance(decision, Refused):
        _refuse(session, who, c, params, decision, now)
    tickets: dict[uuid.UUID, str] = {}
    for step in steps:
        cols = step.columns
        if cols is None:
            cols = next((d.columns for d in c.datasets if d.dataset_id == step.dataset_id), ())
        refs: tuple[DatasetRef, ...] = ()
        if step.dataset_id is not None:
            version = step.version
            if version is None:
                version = decision.versions[step.dataset_id]
            refs = (DatasetRef(id=str(step.dataset_id), version=version),)
        tickets[step.step_id] = signer.sign(
            job=str(job_id),
            step=str(step.step_id),
            domain=step.domain,
            action=step.action,
            datasets=refs,
            columns=tuple(cols),
            scope=step.scope,
            now=now,
        )
    usage = _usage(session, decision.grant.id, now.date())
    usage.calls += 1
    usage.rows += c.rows
    if c.epsilon is not None:
        decision.grant.epsilon_spent += c.epsilon
    append(
        session,
        actor=Actor.of(who),
        action="policy.allowed",
        object_type="grant",
        object_id=str(c.grant_id),
        params=params,
        job_id=job_id,
        details={
            "kind": c.kind.value,
            "recipient": c.recipient,
            "rows": c.rows,
            "epsilon": c.epsilon,
            "job": str(job_id),
            "tickets": {str(k): digest(v.encode()) for k, v in tickets.items()},
        },
        now=now,
    )
    return tickets


def _refuse(
    session: Session,
    who: Principal,
    c: Computation,
    params: dict[str, Any],
    decision: Refused,
    now: dt.datetime,
) -> NoReturn:
    append(
        session,
        actor=Actor.of(who),
        action="policy.refused",
        object_type="grant",
        object_id=str(c.grant_id),
        params=params,
        details={"kind": c.kind.value, "reasons": [r.code for r in decision.reasons]},
        now=now,
    )
    raise PolicyRefusal(decision.reasons)
