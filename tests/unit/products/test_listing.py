"""Review and listing: the bureau and the CDO of every providing department each decide once;
a refusal needs a reason and refuses at once; the last approval approves; only the bureau
lists an approved version and delists; out-of-order actions are conflicts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from products import catalog
from products.models import Product, ProductState, ProductVersion, VersionState
from products.records import required_reviewers
from products.spec import ProductSpec
from sandbox.errors import Conflict, InvalidInput, PermissionDenied
from tests.helpers import refused
from tests.unit.products.helpers import Env, approve_all, create, credit_spec, exposure

TABLES = ("products", "product_versions", "product_reviews", "ledger_entries")


def _submitted(env: Env, spec: ProductSpec | None = None, slug: str = "credit") -> Product:
    product = create(env, spec, slug=slug)
    catalog.submit(env.session, env.who("operator"), product.id, 1, env.now)
    return product


def _review(
    env: Env, product: Product, username: str, decision: Any, reason: str = ""
) -> Callable[[], ProductVersion]:
    return lambda: catalog.review(
        env.session,
        env.who(username),
        product.id,
        1,
        decision=decision,
        reason=reason,
        now=env.now,
    )


def test_required_reviewers_are_the_bureau_and_the_source_departments(env: Env) -> None:
    credit = _submitted(env)
    cash = _submitted(env, exposure(env), slug="exposure")
    assert required_reviewers(env.session, catalog.version_row(env.session, credit.id, 1)) == [
        "bureau",
        "market",
        "social",
        "tax",
    ]
    assert required_reviewers(env.session, catalog.version_row(env.session, cash.id, 1)) == [
        "bureau"
    ]


def test_everyone_approves_then_the_bureau_lists(env: Env) -> None:
    product = _submitted(env)
    for username in ("tax-cdo", "social-cdo", "market-cdo"):
        row = _review(env, product, username, "approve")()
        assert row.state == VersionState.SUBMITTED
    refused(
        env.session,
        lambda: catalog.list_product(env.session, env.who("bureau"), product.id, 1, env.now),
        "product.not_approved",
        tables=TABLES,
    )
    row = _review(env, product, "bureau", "approve")()
    assert row.state == VersionState.APPROVED
    assert len(env.actions("product.approved")) == 1
    listed = catalog.list_product(env.session, env.who("bureau"), product.id, 1, env.now)
    assert listed.state == ProductState.LISTED and listed.listed_version == 1
    refused(
        env.session,
        lambda: catalog.list_product(env.session, env.who("bureau"), product.id, 1, env.now),
        "product.already_listed",
        tables=TABLES,
    )


@pytest.mark.parametrize(
    ("username", "code"),
    [
        ("operator", "product.not_reviewer"),  # separation of duties
        ("bank-a", "product.not_found"),  # not offered to it yet: as if it did not exist
        ("court-cdo", "product.not_found"),  # its dataset is not a source: likewise
        ("auditor", "product.not_reviewer"),
    ],
)
def test_only_required_reviewers_decide(env: Env, username: str, code: str) -> None:
    product = _submitted(env)
    refused(env.session, _review(env, product, username, "approve"), code, tables=TABLES)


def test_each_organization_decides_once_and_refusals_need_a_reason(env: Env) -> None:
    product = _submitted(env)
    _review(env, product, "tax-cdo", "approve")()
    refused(
        env.session,
        _review(env, product, "tax-cdo", "approve"),
        "product.already_reviewed",
        tables=TABLES,
    )
    refused(
        env.session,
        _review(env, product, "bureau", "refuse"),
        "product.reason_required",
        tables=TABLES,
    )
    refused(
        env.session,
        _review(env, product, "bureau", "refuse", "r" * 4001),
        "product.reason",
        tables=TABLES,
    )
    refused(
        env.session, _review(env, product, "bureau", "maybe"), "product.decision", tables=TABLES
    )


def test_a_refusal_refuses_the_version_at_once(env: Env) -> None:
    product = _submitted(env)
    row = _review(env, product, "social-cdo", "refuse", "headcount bands too fine")()
    assert row.state == VersionState.REFUSED
    assert product.state == ProductState.DRAFT
    assert len(env.actions("product.refused")) == 1
    refused(  # answering a decided version
        env.session,
        _review(env, product, "bureau", "approve"),
        "product.version_state",
        tables=TABLES,
    )
    # the operator may design a new version after a refusal
    row2 = catalog.new_version(
        env.session, env.who("operator"), product.id, credit_spec(env), env.now
    )
    assert row2.version == 2


def test_a_draft_cannot_be_reviewed_or_listed(env: Env) -> None:
    product = create(env)
    refused(
        env.session,
        _review(env, product, "bureau", "approve"),
        "product.version_state",
        tables=TABLES,
    )
    refused(
        env.session,
        lambda: catalog.list_product(env.session, env.who("bureau"), product.id, 1, env.now),
        "product.not_approved",
        tables=TABLES,
    )


def test_only_the_bureau_lists_and_delists(env: Env) -> None:
    product = _submitted(env)
    approve_all(env, product, 1)
    for username in ("operator", "tax-cdo", "bank-a", "auditor"):
        with pytest.raises(PermissionDenied):
            catalog.list_product(env.session, env.who(username), product.id, 1, env.now)
    catalog.list_product(env.session, env.who("bureau"), product.id, 1, env.now)
    for username in ("operator", "bank-a"):
        with pytest.raises(PermissionDenied):
            catalog.delist(env.session, env.who(username), product.id, reason="x", now=env.now)
    with pytest.raises(InvalidInput):
        catalog.delist(env.session, env.who("bureau"), product.id, reason=" ", now=env.now)
    delisted = catalog.delist(
        env.session, env.who("bureau"), product.id, reason="complaints", now=env.now
    )
    assert delisted.state == ProductState.DELISTED and delisted.listed_version is None
    with pytest.raises(Conflict) as caught:
        catalog.delist(env.session, env.who("bureau"), product.id, reason="again", now=env.now)
    assert caught.value.code == "product.not_listed"
    # an approved version may be listed again
    again = catalog.list_product(env.session, env.who("bureau"), product.id, 1, env.now)
    assert again.state == ProductState.LISTED


def test_listing_a_new_version_supersedes_the_old_one(env: Env) -> None:
    product = _submitted(env)
    approve_all(env, product, 1)
    catalog.list_product(env.session, env.who("bureau"), product.id, 1, env.now)
    operator = env.who("operator")
    catalog.new_version(
        env.session, operator, product.id, credit_spec(env, price_per_call_fen=300), env.now
    )
    catalog.submit(env.session, operator, product.id, 2, env.now)
    approve_all(env, product, 2)
    catalog.list_product(env.session, env.who("bureau"), product.id, 2, env.now)
    assert catalog.version_row(env.session, product.id, 1).state == VersionState.SUPERSEDED
    assert product.listed_version == 2
    spec = catalog.listed_spec(env.session, product)
    assert spec is not None and spec.price_per_call_fen == 300
    with pytest.raises(Conflict):  # a superseded version is not listed again
        catalog.list_product(env.session, env.who("bureau"), product.id, 1, env.now)
