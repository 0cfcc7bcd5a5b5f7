"""Subscriptions: a bank subscribes to a listed product offered to it, accepting its terms;
the operator (or the bureau) decides, possibly setting quotas; one live subscription per bank
and product; a bank never sees another bank's subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from products import catalog, subscriptions
from products.models import Subscription, SubscriptionState
from sandbox.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.helpers import refused
from tests.unit.products.helpers import Env, approve_all, create, credit_spec, listed, subscribed

TABLES = ("subscriptions", "ledger_entries")


def _subscribe(
    env: Env, product_id: uuid.UUID, bank: str = "bank-a", accept: bool = True
) -> Callable[[], Subscription]:
    return lambda: subscriptions.subscribe(
        env.session, env.who(bank), product_id, accept_terms=accept, now=env.now
    )


def test_a_bank_subscribes_and_the_operator_approves_with_quotas(env: Env) -> None:
    product = listed(env)
    sub = _subscribe(env, product.id)()
    assert sub.state == SubscriptionState.REQUESTED and sub.accepted_version == 1
    assert (sub.calls_per_month, sub.identifiers_per_month) == (1_000, 100_000)
    (entry,) = env.actions("subscription.requested")
    assert '"terms_digest":"sha256:' in entry.body.decode()
    decided = subscriptions.decide(
        env.session,
        env.who("operator"),
        sub.id,
        approve=True,
        calls_per_month=5,
        identifiers_per_month=500,
        now=env.now,
    )
    assert decided.state == SubscriptionState.ACTIVE
    assert (decided.calls_per_month, decided.identifiers_per_month) == (5, 500)
    refused(
        env.session,
        lambda: subscriptions.decide(
            env.session, env.who("bureau"), sub.id, approve=False, reason="late", now=env.now
        ),
        "subscription.decided",
        tables=TABLES,
    )


def test_terms_must_be_accepted_and_products_listed_and_offered(env: Env) -> None:
    only_a = listed(env, credit_spec(env, consumers=["bank-a"]), slug="only-a")
    draft = create(env, slug="draft")
    refused(
        env.session, _subscribe(env, only_a.id, accept=False), "subscription.terms", tables=TABLES
    )
    refused(env.session, _subscribe(env, only_a.id, "bank-b"), "product.not_found", tables=TABLES)
    refused(env.session, _subscribe(env, draft.id), "product.not_found", tables=TABLES)
    refused(env.session, _subscribe(env, uuid.uuid4()), "product.not_found", tables=TABLES)
    refused(env.session, _subscribe(env, only_a.id, "operator"), "forbidden.role", tables=TABLES)
    catalog.delist(env.session, env.who("bureau"), only_a.id, reason="gone", now=env.now)
    refused(env.session, _subscribe(env, only_a.id), "product.not_found", tables=TABLES)


def test_one_live_subscription_per_bank_and_product(env: Env) -> None:
    product = listed(env)
    sub = _subscribe(env, product.id)()
    refused(env.session, _subscribe(env, product.id), "subscription.exists", tables=TABLES)
    subscriptions.decide(env.session, env.who("operator"), sub.id, approve=True, now=env.now)
    refused(env.session, _subscribe(env, product.id), "subscription.exists", tables=TABLES)
    subscriptions.cancel(env.session, env.who("bank-a"), sub.id, now=env.now)
    again = _subscribe(env, product.id)()
    assert again.id != sub.id and again.state == SubscriptionState.REQUESTED


def test_a_newly_listed_version_is_accepted_by_subscribing_again(env: Env) -> None:
    product = listed(env)
    sub = subscribed(env, product)
    operator = env.who("operator")
    catalog.new_version(env.session, operator, product.id, credit_spec(env), env.now)
    catalog.submit(env.session, operator, product.id, 2, env.now)
    approve_all(env, product, 2)
    catalog.list_product(env.session, env.who("bureau"), product.id, 2, env.now)
    same = _subscribe(env, product.id)()
    assert same.id == sub.id and same.accepted_version == 2
    assert same.state == SubscriptionState.ACTIVE
    assert len(env.actions("subscription.terms_accepted")) == 1


def test_who_decides_and_with_what(env: Env) -> None:
    product = listed(env)
    sub = _subscribe(env, product.id)()

    def decide(username: str, **kw: Any) -> Callable[[], Subscription]:
        return lambda: subscriptions.decide(
            env.session,
            env.who(username),
            sub.id,
            now=env.now,
            **kw,
        )

    refused(env.session, decide("bank-a", approve=True), "forbidden.role", tables=TABLES)
    refused(env.session, decide("bank-b", approve=True), "subscription.not_found", tables=TABLES)
    refused(env.session, decide("tax-cdo", approve=True), "subscription.not_found", tables=TABLES)
    refused(env.session, decide("auditor", approve=True), "forbidden.role", tables=TABLES)
    refused(
        env.session,
        decide("operator", approve=False),
        "subscription.reason_required",
        tables=TABLES,
    )
    for bad in (0, -1, 10**12, True, 2.5, "9"):
        refused(
            env.session,
            decide("operator", approve=True, calls_per_month=bad),
            "subscription.quota",
            tables=TABLES,
        )
        refused(
            env.session,
            decide("operator", approve=True, identifiers_per_month=bad),
            "subscription.quota",
            tables=TABLES,
        )
    rejected = decide("bureau", approve=False, reason="no such need")()
    assert rejected.state == SubscriptionState.REJECTED and rejected.reason == "no such need"
    with pytest.raises(Conflict):
        subscriptions.cancel(env.session, env.who("bank-a"), sub.id, now=env.now)


def test_a_bank_sees_only_its_own_subscriptions(env: Env) -> None:
    product = listed(env)
    sub_a = subscribed(env, product, "bank-a")
    sub_b = _subscribe(env, product.id, "bank-b")()
    assert [v.id for v in subscriptions.subscriptions_for(env.session, env.who("bank-a"))] == [
        str(sub_a.id)
    ]
    assert [
        v.consumer for v in subscriptions.subscriptions_for(env.session, env.who("bank-b"))
    ] == ["bank-b"]
    for username in ("operator", "bureau", "auditor"):
        seen = subscriptions.subscriptions_for(env.session, env.who(username))
        assert {v.id for v in seen} == {str(sub_a.id), str(sub_b.id)}
    assert subscriptions.subscriptions_for(env.session, env.who("tax-cdo")) == []
    for call in (
        lambda: subscriptions.get_subscription(env.session, env.who("bank-b"), sub_a.id),
        lambda: subscriptions.cancel(env.session, env.who("bank-b"), sub_a.id, now=env.now),
    ):
        with pytest.raises(NotFound):
            call()
    with pytest.raises(PermissionDenied):
        subscriptions.cancel(env.session, env.who("auditor"), sub_a.id, now=env.now)
    with pytest.raises(InvalidInput):
        subscriptions.cancel(
            env.session, env.who("bank-a"), sub_a.id, reason="r" * 5000, now=env.now
        )
    cancelled = subscriptions.cancel(env.session, env.who("operator"), sub_a.id, now=env.now)
    assert cancelled.state == SubscriptionState.CANCELLED


def test_quota_use_counts_this_month(env: Env) -> None:
    product = listed(env)
    sub = subscribed(env, product)
    use = subscriptions.quota_use(env.session, sub, env.now)
    assert (use.calls, use.identifiers) == (0, 0)
    assert use.period == env.now.strftime("%Y-%m")
