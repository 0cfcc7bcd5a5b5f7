"""Subscriptions: a bank subscribes to a listed product, accepting the terms of its listed
version; the product's operator (or the bureau) approves or rejects, and may set the monthly
quotas. One live (requested or active) subscription per product and bank.

A bank sees only its own subscriptions; an operator those of its products; the bureau and the
auditor all. A subscription another account may not see is "not found", never "forbidden".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from products.models import CallState, Product, ProductCall, Subscription, SubscriptionState
from products.records import get_product, listed_spec
from sandbox.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sandbox.ledger.entry import digest
from sandbox.ledger.log import Actor, append
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role
from sandbox.parties.service import require_role

MAX_REASON = 4000
MAX_CALLS_PER_MONTH = 10_000_000
MAX_IDENTIFIERS_PER_MONTH = 1_000_000_000
LIVE = (SubscriptionState.REQUESTED.value, SubscriptionState.ACTIVE.value)
CHARGEABLE = (CallState.RUNNING.value, CallState.SUCCEEDED.value)


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    id: str
    product_id: str
    product_slug: str
    product_name: str
    consumer: str
    consumer_name: str
    state: str
    accepted_version: int
    listed_version: int | None
    calls_per_month: int
    identifiers_per_month: int
    requested_at: dt.datetime
    decided_at: dt.datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """This month's use of a subscription: running and succeeded calls count; a running
    call counts its input's rows until it is settled."""

    period: str
    calls: int
    calls_per_month: int
    identifiers: int
    identifiers_per_month: int


def period_of(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m")


def quota_use(session: Session, sub: Subscription, now: dt.datetime) -> QuotaUse:
    period = period_of(now)
    calls, identifiers = session.execute(
        select(func.count(), func.coalesce(func.sum(ProductCall.identifiers), 0)).where(
            ProductCall.subscription_id == sub.id,
            ProductCall.period == period,
            ProductCall.state.in_(CHARGEABLE),
        )
    ).one()
    return QuotaUse(
        period, int(calls), sub.calls_per_month, int(identifiers), sub.identifiers_per_month
    )


def live_subscription(session: Session, product_id: UUID, consumer_id: UUID) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.product_id == product_id,
            Subscription.consumer_id == consumer_id,
            Subscription.state.in_(LIVE),
        )
    )


def _visible(who: Principal) -> Select[Subscription]:
    query = select(Subscription)
    if who.oversees_all:
        return query
    if who.role == Role.BANK_ANALYST:
        return query.where(Subscription.consumer_id == who.org_id)
    if who.role == Role.OPERATOR:
        mine = select(Product.id).where(Product.operator_id == who.org_id)
        return query.where(Subscription.product_id.in_(mine))
    return query.where(Subscription.id.is_(None))


def get_subscription(session: Session, who: Principal, subscription_id: UUID) -> Subscription:
    sub = session.scalar(_visible(who).where(Subscription.id == subscription_id))
    if sub is None:
        raise NotFound("no such subscription", code="subscription.not_found")
    return sub


def subscribe(
    session: Session, who: Principal, product_id: UUID, *, accept_terms: bool, now: dt.datetime
) -> Subscription:
    """A bank asks to subscribe to a listed product offered to it, accepting the listed
    version's terms. An active subscriber accepts a newly listed version the same way."""
    require_role(who, Role.BANK_ANALYST)
    product = get_product(session, product_id)
    spec = listed_spec(session, product)
    if spec is None or who.org_slug not in spec.consumers or product.listed_version is None:
        raise NotFound("no such product in the store", code="product.not_found")
    if accept_terms is not True:
        raise InvalidInput("subscribing means accepting the terms", code="subscription.terms")
    terms = {"version": product.listed_version, "spec": spec.model_dump(mode="json")}
    current = live_subscription(session, product.id, who.org_id)
    if current is not None:
        if (
            current.state == SubscriptionState.ACTIVE.value
            and current.accepted_version != product.listed_version
        ):
            current.accepted_version = product.listed_version
            _ledger(
                session,
                who,
                current,
                "subscription.terms_accepted",
                now,
                params={"product": str(product.id), "terms": terms},
                details={"version": product.listed_version, "terms_digest": digest(terms)},
            )
            return current
        raise Conflict(
            f"you already have a {current.state} subscription", code="subscription.exists"
        )
    sub = Subscription(
        product_id=product.id,
        consumer_id=who.org_id,
        state=SubscriptionState.REQUESTED.value,
        accepted_version=product.listed_version,
        calls_per_month=spec.calls_per_month,
        identifiers_per_month=spec.identifiers_per_month,
        requested_by=who.user_id,
        requested_at=now,
    )
    session.add(sub)
    session.flush()
    _ledger(
        session,
        who,
        sub,
        "subscription.requested",
        now,
        params={"product": str(product.id), "terms": terms},
        details={
            "product": product.slug,
            "version": product.listed_version,
            "terms_digest": digest(terms),
        },
    )
    return sub


def _quota(value: int | None, default: int, limit: int, field: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= limit:
        raise InvalidInput(f"{field}: a whole number from 1 to {limit}", code="subscription.quota")
    return value


def decide(
    session: Session,
    who: Principal,
    subscription_id: UUID,
    *,
    approve: bool,
    reason: str = "",
    calls_per_month: int | None = None,
    identifiers_per_month: int | None = None,
    now: dt.datetime,
) -> Subscription:
    """The product's operator or the bureau approves (optionally setting the quotas) or
    rejects (with a reason) a requested subscription."""
    sub = get_subscription(session, who, subscription_id)
    if who.role not in (Role.OPERATOR, Role.BUREAU_ADMIN):
        raise PermissionDenied(
            "only the product's operator or the bureau decides", code="forbidden.role"
        )
    if sub.state != SubscriptionState.REQUESTED.value:
        raise Conflict(f"the subscription is {sub.state}", code="subscription.decided")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"reason: at most {MAX_REASON} characters", code="subscription.reason")
    if not approve and not reason:
        raise InvalidInput("a rejection needs a reason", code="subscription.reason_required")
    calls = _quota(calls_per_month, sub.calls_per_month, MAX_CALLS_PER_MONTH, "calls_per_month")
    identifiers = _quota(
        identifiers_per_month,
        sub.identifiers_per_month,
        MAX_IDENTIFIERS_PER_MONTH,
        "identifiers_per_month",
    )
    sub.decided_by, sub.decided_at, sub.reason = who.user_id, now, reason or None
    if approve:
        sub.state = SubscriptionState.ACTIVE.value
        sub.calls_per_month, sub.identifiers_per_month = calls, identifiers
    else:
        sub.state = SubscriptionState.REJECTED.value
    session.flush()
    _ledger(
        session,
        who,
        sub,
        "subscription.approved" if approve else "subscription.rejected",
        now,
        params={"reason": reason, "calls_per_month": calls, "identifiers_per_month": identifiers},
        details={
            "calls_per_month": sub.calls_per_month,
            "identifiers_per_month": sub.identifiers_per_month,
        },
    )
    return sub


def cancel(
    session: Session, who: Principal, subscription_id: UUID, *, reason: str = "", now: dt.datetime
) -> Subscription:
    """The subscriber, the product's operator or the bureau ends a live subscription."""
    sub = get_subscription(session, who, subscription_id)
    if who.role == Role.AUDITOR:
        raise PermissionDenied("auditors are read-only", code="forbidden.read_only")
    if sub.state not in LIVE:
        raise Conflict(f"the subscription is {sub.state}", code="subscription.not_live")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"reason: at most {MAX_REASON} characters", code="subscription.reason")
    sub.state, sub.reason = SubscriptionState.CANCELLED.value, reason or sub.reason
    sub.decided_by, sub.decided_at = who.user_id, now
    session.flush()
    _ledger(session, who, sub, "subscription.cancelled", now, params={"reason": reason}, details={})
    return sub


def subscriptions_for(session: Session, who: Principal) -> list[SubscriptionView]:
    """Newest first: a bank its own, an operator its products', the bureau and auditor all."""
    subs = list(session.scalars(_visible(who).order_by(Subscription.requested_at.desc())))
    return _views(session, subs)


def subscription_view(session: Session, who: Principal, subscription_id: UUID) -> SubscriptionView:
    """One subscription ``who`` may see (404 otherwise, as for a missing id)."""
    (view,) = _views(session, [get_subscription(session, who, subscription_id)])
    return view


def _views(session: Session, subs: list[Subscription]) -> list[SubscriptionView]:
    products = {p.id: p for p in session.scalars(select(Product))} if subs else {}
    orgs = {o.id: o for o in session.scalars(select(Organization))} if subs else {}
    return [
        SubscriptionView(
            id=str(s.id),
            product_id=str(s.product_id),
            product_slug=products[s.product_id].slug,
            product_name=products[s.product_id].name,
            consumer=orgs[s.consumer_id].slug,
            consumer_name=orgs[s.consumer_id].name,
            state=s.state,
            accepted_version=s.accepted_version,
            listed_version=products[s.product_id].listed_version,
            calls_per_month=s.calls_per_month,
            identifiers_per_month=s.identifiers_per_month,
            requested_at=s.requested_at,
            decided_at=s.decided_at,
            reason=s.reason,
        )
        for s in subs
    ]


def _ledger(
    session: Session,
    who: Principal,
    sub: Subscription,
    action: str,
    now: dt.datetime,
    *,
    params: dict[str, object],
    details: dict[str, object],
) -> None:
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type="subscription",
        object_id=str(sub.id),
        params={"subscription": str(sub.id), **params},
        details={"product": str(sub.product_id), "state": sub.state, **details},
        now=now,
    )
