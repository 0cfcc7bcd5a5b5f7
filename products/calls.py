"""Calling a product: the bank's applicant list (a dataset in its own domain) goes through one
governed computation per source, and the call is metered.

:func:`run` checks, in order: the product is listed, the bank has an active subscription to
the listed version, the input is a dataset of the bank's own with 1 to
``max_identifiers_per_call`` rows and the reference column, this month's quota has room, and
the bank has authorizations in force. Each failure is a ledger entry and an error (recorded,
so the edge keeps the entry). Then it builds the computations (a credit check: one private
lookup per source with the derived labels; an exposure: one per-applicant secure sum over the
other banks' consented loan books) and submits them under the operator's grants. If the policy
refuses any, none runs: the call is recorded as refused and never charged.

:func:`settle` meters a call once all its jobs have ended: counts from the jobs' results
(never a row), compute seconds from the steps, and the charge from the version's price.
Failed and refused calls are never charged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from grants import computations, contributions
from grants.computations import Sizing
from grants.policy import Computation, PolicyRefusal
from grants.terms import DatasetColumns, Kind
from products.authorizations import valid_digests
from products.models import (
    CallState,
    Product,
    ProductCall,
    Subscription,
    SubscriptionState,
)
from products.records import current_schema, listed_spec, spec_of, version_row
from products.spec import ExposureSpec, ProductSpec
from products.subscriptions import live_subscription, period_of, quota_use
from products.views import visible_product
from sandbox.compute.authorized import Authorizations
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SandboxError,
    TooLarge,
)
from sandbox.identifiers import IdentifierKind
from sandbox.jobs.models import Job, JobState
from sandbox.ledger.log import SYSTEM, Actor, append
from sandbox.parties.models import Organization, User
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role
from sandbox.parties.service import require_role
from sandbox.tickets import TicketSigner

MAX_LIST = 500


@dataclass(frozen=True, slots=True)
class CallView:
    """A call as one account may see it. The operator sees its products' calls as counts of
    use and charges only: no caller, no input dataset, no match counts."""

    id: str
    product_id: str
    product_slug: str
    product_name: str
    version: int
    consumer: str
    caller: str | None
    state: str
    job_ids: tuple[str, ...]
    input_dataset_id: str | None
    identifiers: int
    matched: int | None
    unauthorized: int | None
    rejected: int | None
    compute_seconds: float
    charge_fen: int
    period: str
    created_at: dt.datetime
    settled_at: dt.datetime | None
    refusal_code: str | None


def authorizations_digest(digests: frozenset[str]) -> str:
    """Names the set of authorizations a call carried, for the auditor's trace."""
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()


# --------------------------------------------------------------------------- running


def _refuse(
    session: Session,
    who: Principal,
    product: Product,
    exc: SandboxError,
    now: dt.datetime,
) -> SandboxError:
    """Record a refusal before anything ran, and hand back the error to raise."""
    append(
        session,
        actor=Actor.of(who),
        action="product.call_refused",
        object_type="product",
        object_id=str(product.id),
        params={"product": str(product.id), "consumer": who.org_slug, "code": exc.code},
        details={"product": product.slug, "version": product.listed_version, "code": exc.code},
        now=now,
    )
    exc.recorded = True
    return exc


def _input(
    session: Session, who: Principal, spec: ProductSpec, dataset_id: UUID, reference_column: str
) -> tuple[Dataset, int]:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.domain.org_id != who.org_id:
        raise NotFound("no such dataset of yours", code="call.input_not_found")
    schema = current_schema(session, dataset.id)
    rows = session.scalar(
        select(DatasetVersion.row_count).where(
            DatasetVersion.dataset_id == dataset.id,
            DatasetVersion.version == dataset.current_version,
        )
    )
    if schema is None or rows is None:
        raise NotFound("no such dataset of yours", code="call.input_not_found")
    if schema.identifier.kind != IdentifierKind.CREDIT_CODE:
        raise InvalidInput(
            "the applicant list must be identified by credit codes", code="call.input_identifier"
        )
    if reference_column == schema.identifier.column or reference_column not in schema.column_names:
        raise InvalidInput(
            "name the input's column that holds the authorization references",
            code="call.reference_column",
        )
    if rows <= 0:
        raise InvalidInput("the applicant list is empty", code="call.input_empty")
    if rows > spec.max_identifiers_per_call:
        raise TooLarge(
            f"{rows} applicants exceed the product's {spec.max_identifiers_per_call} per call",
            code="call.input_too_large",
        )
    return dataset, rows


def _exposure_contributions(
    session: Session, who: Principal, exposure: ExposureSpec
) -> tuple[DatasetColumns, ...]:
    """The other holders' consented datasets (the other banks' loan books) that hold the value
    column, each with its identifier and the value column. The caller's own are left out: it
    could subtract its own book from a total and learn another bank's exposure."""
    value = exposure.value_column
    out = []
    for row in sorted(contributions.active(session, exposure.grant_id), key=lambda r: str(r.id)):
        if row.org_id == who.org_id or value not in row.columns:
            continue
        schema = current_schema(session, row.dataset_id)
        if schema is None or schema.identifier.column not in row.columns:
            continue
        out.append(
            DatasetColumns(dataset_id=row.dataset_id, columns=(schema.identifier.column, value))
        )
    return tuple(out)


def build_computations(
    session: Session,
    who: Principal,
    spec: ProductSpec,
    *,
    input_id: UUID,
    rows: int,
    authorization: Authorizations,
) -> list[Computation]:
    """What a call asks of the policy: one computation per source, or one secure sum."""
    if spec.exposure is None:
        return [
            Computation(
                grant_id=source.grant_id,
                kind=Kind.LOOKUP,
                datasets=(DatasetColumns(dataset_id=source.dataset_id, columns=source.columns),),
                purpose=spec.purpose,
                recipient=who.org_slug,
                rows=rows,
                input_dataset=input_id,
                authorization=authorization,
                derived=source.derived(),
            )
            for source in spec.sources
        ]
    contributed = _exposure_contributions(session, who, spec.exposure)
    if len(contributed) < spec.exposure.min_contributors:
        raise Conflict(
            f"{len(contributed)} other bank(s) contribute; the product needs "
            f"{spec.exposure.min_contributors}",
            code="call.contributors",
        )
    return [
        Computation(
            grant_id=spec.exposure.grant_id,
            kind=Kind.SECURE_SUM,
            datasets=(),
            purpose=spec.purpose,
            recipient=who.org_slug,
            rows=rows,
            input_dataset=input_id,
            contributions=contributed,
            authorization=authorization,
            min_contributors=spec.exposure.min_contributors,
        )
    ]


def _recorded_refusal(
    session: Session,
    who: Principal,
    c: Computation,
    refusal: PolicyRefusal,
    *,
    signer: TicketSigner,
    now: dt.datetime,
    sizing: Sizing | None,
) -> SandboxError:
    """The policy refused ``c`` among the call's computations, all since rolled back: submit
    it once more alone, so the refusal is recorded the policy's way. Should it pass alone
    (the call's own earlier computations used up a quota), nothing of it stays."""
    nested = session.begin_nested()
    try:
        computations.submit(session, who, c, signer=signer, now=now, sizing=sizing)
    except SandboxError as exc:
        nested.commit()
        return exc
    nested.rollback()
    return refusal


def _submit_all(
    session: Session,
    who: Principal,
    comps: Sequence[Computation],
    *,
    signer: TicketSigner,
    now: dt.datetime,
    sizing: Sizing | None,
) -> list[Job] | SandboxError:
    """All the call's jobs, or the first refusal with none of them left in the session."""
    nested = session.begin_nested()
    jobs: list[Job] = []
    for c in comps:
        try:
            jobs.append(computations.submit(session, who, c, signer=signer, now=now, sizing=sizing))
        except PolicyRefusal as exc:
            nested.rollback()
            return _recorded_refusal(session, who, c, exc, signer=signer, now=now, sizing=sizing)
        except SandboxError as exc:
            nested.rollback()
            return exc
    nested.commit()
    return jobs


def _admitted(
    session: Session, who: Principal, product: Product
) -> tuple[ProductSpec, Subscription]:
    """The listed spec and the bank's active subscription to it, or the reason why not."""
    spec = listed_spec(session, product)
    if spec is None:
        raise Conflict("the product is not listed", code="product.not_listed")
    sub = live_subscription(session, product.id, who.org_id)
    if (
        sub is None
        or sub.state != SubscriptionState.ACTIVE.value
        or who.org_slug not in spec.consumers
    ):
        raise PermissionDenied("an active subscription is required", code="subscription.required")
    if sub.accepted_version != product.listed_version:
        raise Conflict(
            f"version {product.listed_version} is listed: accept its terms first",
            code="subscription.terms_changed",
        )
    return spec, sub


def _check_quota(session: Session, sub: Subscription, rows: int, now: dt.datetime) -> None:
    use = quota_use(session, sub, now)
    if use.calls >= use.calls_per_month:
        raise Conflict(f"this month's {use.calls_per_month} calls are used", code="quota.exceeded")
    if use.identifiers + rows > use.identifiers_per_month:
        raise Conflict(
            f"{rows} identifiers would exceed this month's {use.identifiers_per_month} "
            f"({use.identifiers} used)",
            code="quota.exceeded",
        )


def run(
    session: Session,
    who: Principal,
    product_id: UUID,
    *,
    input_dataset_id: UUID,
    reference_column: str,
    signer: TicketSigner,
    now: dt.datetime,
    sizing: Sizing | None = None,
) -> ProductCall:
    """A bank calls a product on its own applicant list. The caller commits, then enqueues
    the call's jobs (none for a refused call)."""
    require_role(who, Role.BANK_ANALYST)
    product = visible_product(session, who, product_id)  # a stranger hears "no such product"
    try:
        spec, sub = _admitted(session, who, product)
        dataset, rows = _input(session, who, spec, input_dataset_id, reference_column)
        _check_quota(session, sub, rows, now)
        digests = valid_digests(session, who.org_id, now)
        if not digests:
            raise Conflict(
                "register the enterprises' authorizations first", code="authorization.none"
            )
        authorization = Authorizations(reference_column, who.org_slug, digests)
        comps = build_computations(
            session, who, spec, input_id=dataset.id, rows=rows, authorization=authorization
        )
    except SandboxError as exc:
        raise _refuse(session, who, product, exc, now) from None
    call = ProductCall(
        id=uuid.uuid4(),
        product_id=product.id,
        version=product.listed_version,
        subscription_id=sub.id,
        consumer_id=who.org_id,
        caller=who.user_id,
        state=CallState.RUNNING.value,
        job_ids=[],
        input_dataset_id=dataset.id,
        identifiers=rows,  # reserved against the quota until settled
        matched=0,
        unauthorized=0,
        rejected=0,
        compute_seconds=0.0,
        charge_fen=0,
        period=period_of(now),
        created_at=now,
    )
    outcome = _submit_all(session, who, comps, signer=signer, now=now, sizing=sizing)
    common: dict[str, Any] = {
        "call": str(call.id),
        "product": product.slug,
        "version": product.listed_version,
        "consumer": who.org_slug,
    }
    if isinstance(outcome, SandboxError):
        call.state, call.refusal_code = CallState.REFUSED.value, outcome.code
        call.identifiers, call.settled_at = 0, now
        reasons = (
            [r.code for r in outcome.reasons]
            if isinstance(outcome, PolicyRefusal)
            else [outcome.code]
        )
        action = "product.call_refused"
        details = {**common, "code": outcome.code, "reasons": reasons, "charge_fen": 0}
    else:
        call.job_ids = [str(job.id) for job in outcome]
        action = "product.called"
        details = {
            **common,
            "jobs": call.job_ids,
            "input": str(dataset.id),
            "rows": rows,
            "authorizations": {"digest": authorizations_digest(digests), "count": len(digests)},
        }
    session.add(call)
    session.flush()
    _call_ledger(session, Actor.of(who), call, action, now, details)
    return call


def _call_ledger(
    session: Session,
    actor: Actor,
    call: ProductCall,
    action: str,
    now: dt.datetime,
    details: dict[str, Any],
) -> None:
    append(
        session,
        actor=actor,
        action=action,
        object_type="product_call",
        object_id=str(call.id),
        params={"call": str(call.id), "product": str(call.product_id), **details},
        details=details,
        now=now,
    )


# --------------------------------------------------------------------------- settling


def _count(result: dict[str, Any], *keys: str) -> int:
    for key in keys:
        value = result.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    return 0


def _unauthorized(result: dict[str, Any]) -> int:
    """Reported, or else what is left of the input after the rejected, the duplicates and
    the identifiers queried: the valid rows without an authorization."""
    if "unauthorized" in result:
        return _count(result, "unauthorized")
    rest = _count(result, "inputs") - sum(_count(result, k) for k in ("rejected", "duplicates"))
    return max(rest - _count(result, "items"), 0)


def _seconds(jobs: Sequence[Job]) -> float:
    total = 0.0
    for job in jobs:
        for step in job.steps:
            if step.started_at is not None and step.finished_at is not None:
                total += max((step.finished_at - step.started_at).total_seconds(), 0.0)
    return round(total, 3)


def settle(session: Session, call: ProductCall, now: dt.datetime) -> ProductCall:
    """Meter a running call whose jobs have all ended; otherwise leave it as it is."""
    if call.state != CallState.RUNNING.value:
        return call
    jobs = [session.get(Job, UUID(job_id)) for job_id in call.job_ids]
    found = [job for job in jobs if job is not None]
    if len(found) == len(jobs) and not all(JobState(j.state).finished for j in found):
        return call
    call.compute_seconds, call.settled_at = _seconds(found), now
    failed = [j for j in found if j.state != JobState.SUCCEEDED.value]
    if not found or len(found) != len(jobs) or failed:
        call.state, call.charge_fen, call.identifiers = CallState.FAILED.value, 0, 0
        call.refusal_code = (failed[0].error_code if failed else None) or "call.job_failed"
    else:
        results = [j.result_json or {} for j in found]
        # Every job read the same list with the same authorizations: its counts agree; a
        # source's matches are its own, so the call's matched is the most any source found.
        call.identifiers = max(_count(r, "items") for r in results)
        call.matched = max(_count(r, "matched", "released") for r in results)
        call.unauthorized = max(_unauthorized(r) for r in results)
        call.rejected = max(_count(r, "rejected") for r in results)
        spec = spec_of(version_row(session, call.product_id, call.version))
        call.state, call.charge_fen = CallState.SUCCEEDED.value, spec.charge_fen(call.identifiers)
    session.flush()
    _call_ledger(
        session,
        SYSTEM,
        call,
        "product.usage",
        now,
        {
            "call": str(call.id),
            "state": call.state,
            "version": call.version,
            "period": call.period,
            "identifiers": call.identifiers,
            "matched": call.matched,
            "unauthorized": call.unauthorized,
            "rejected": call.rejected,
            "compute_seconds": call.compute_seconds,
            "charge_fen": call.charge_fen,
            "code": call.refusal_code,
        },
    )
    return call


def settle_pending(session: Session, now: dt.datetime) -> int:
    """Settle every running call whose jobs have ended (the coordinator's periodic task);
    returns how many were settled."""
    running = session.scalars(
        select(ProductCall)
        .where(ProductCall.state == CallState.RUNNING.value)
        .order_by(ProductCall.created_at)
    )
    return sum(1 for call in list(running) if settle(session, call, now).state != "running")


# --------------------------------------------------------------------------- reading


def _visible(who: Principal) -> Select[ProductCall]:
    query = select(ProductCall)
    if who.oversees_all:
        return query
    if who.role == Role.BANK_ANALYST:
        return query.where(ProductCall.consumer_id == who.org_id)
    if who.role == Role.OPERATOR:
        mine = select(Product.id).where(Product.operator_id == who.org_id)
        return query.where(ProductCall.product_id.in_(mine))
    return query.where(ProductCall.id.is_(None))


def _views(session: Session, who: Principal, calls: Sequence[ProductCall]) -> list[CallView]:
    if not calls:
        return []
    products = {
        p.id: p
        for p in session.scalars(
            select(Product).where(Product.id.in_({c.product_id for c in calls}))
        )
    }
    orgs = {
        o.id: o.slug
        for o in session.scalars(
            select(Organization).where(Organization.id.in_({c.consumer_id for c in calls}))
        )
    }
    users = {
        u.id: u.username
        for u in session.scalars(select(User).where(User.id.in_({c.caller for c in calls})))
    }
    full = who.role != Role.OPERATOR
    return [
        CallView(
            id=str(c.id),
            product_id=str(c.product_id),
            product_slug=products[c.product_id].slug,
            product_name=products[c.product_id].name,
            version=c.version,
            consumer=orgs.get(c.consumer_id, ""),
            caller=users.get(c.caller) if full else None,
            state=c.state,
            job_ids=tuple(c.job_ids) if full else (),
            input_dataset_id=str(c.input_dataset_id) if full else None,
            identifiers=c.identifiers,
            matched=c.matched if full else None,
            unauthorized=c.unauthorized if full else None,
            rejected=c.rejected if full else None,
            compute_seconds=c.compute_seconds,
            charge_fen=c.charge_fen,
            period=c.period,
            created_at=c.created_at,
            settled_at=c.settled_at,
            refusal_code=c.refusal_code,
        )
        for c in calls
    ]


def calls_for(
    session: Session,
    who: Principal,
    *,
    product_id: UUID | None = None,
    period: str | None = None,
    limit: int = 100,
) -> list[CallView]:
    """Newest first: a bank its own organization's calls; an operator its products' calls
    (counts and charges only); the bureau and the auditor all; anyone else none."""
    query = _visible(who).order_by(ProductCall.created_at.desc())
    if product_id is not None:
        query = query.where(ProductCall.product_id == product_id)
    if period is not None:
        query = query.where(ProductCall.period == period)
    calls = list(session.scalars(query.limit(min(max(limit, 1), MAX_LIST))))
    return _views(session, who, calls)


def get_call(session: Session, who: Principal, call_id: UUID) -> CallView:
    call = session.scalar(_visible(who).where(ProductCall.id == call_id))
    if call is None:
        raise NotFound("no such call", code="call.not_found")
    return _views(session, who, [call])[0]
