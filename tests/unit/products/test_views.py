"""Who sees which products: the store shows listed products with their listed version to the
banks they are offered to; drafts and products in review are the operator's, the bureau's,
the auditor's and the source departments' to see; a delisted product leaves the store."""

from __future__ import annotations

import uuid

import pytest

from products import catalog
from products.models import ProductState
from sandbox.errors import NotFound
from tests.unit.products.helpers import Env, create, credit_spec, listed


def _slugs(views: list[catalog.ProductView]) -> list[str]:
    return [v.slug for v in views]


def test_the_store_shows_listed_products_to_the_banks_they_are_offered_to(env: Env) -> None:
    listed(env, credit_spec(env, consumers=["bank-a"]), slug="only-a")
    listed(env, slug="both")
    create(env, slug="draft")
    assert _slugs(catalog.store(env.session, env.who("bank-a"), env.now)) == ["both", "only-a"]
    assert _slugs(catalog.store(env.session, env.who("bank-b"), env.now)) == ["both"]
    for username in ("bureau", "operator", "auditor"):
        assert _slugs(catalog.store(env.session, env.who(username), env.now)) == [
            "both",
            "only-a",
        ]
    view = catalog.store(env.session, env.who("bank-b"), env.now)[0]
    assert view.version == 1 and view.state == ProductState.LISTED
    assert view.spec.price_per_call_fen == 200 and view.license_in_force
    assert [s.dataset for s in view.sources] == [
        "tax/tax_ratings",
        "social/social_insurance",
        "market/enterprise_registry",
    ]
    assert [s.owner for s in view.sources] == ["tax", "social", "market"]
    assert [r.decision for r in view.reviewers] == ["approve"] * 4


def test_each_role_sees_its_own_products(env: Env) -> None:
    listed(env, slug="listed")
    create(env, slug="draft")
    assert _slugs(catalog.products_for(env.session, env.who("operator"), env.now)) == [
        "draft",
        "listed",
    ]
    assert _slugs(catalog.products_for(env.session, env.who("bureau"), env.now)) == [
        "draft",
        "listed",
    ]
    assert _slugs(catalog.products_for(env.session, env.who("tax-cdo"), env.now)) == [
        "draft",
        "listed",
    ]
    assert catalog.products_for(env.session, env.who("court-cdo"), env.now) == []
    assert _slugs(catalog.products_for(env.session, env.who("bank-a"), env.now)) == ["listed"]


def test_a_bank_cannot_see_drafts_or_products_not_offered_to_it(env: Env) -> None:
    draft = create(env, slug="draft")
    only_a = listed(env, credit_spec(env, consumers=["bank-a"]), slug="only-a")
    for product_id in (draft.id, only_a.id, uuid.uuid4()):
        with pytest.raises(NotFound):
            catalog.get_view(env.session, env.who("bank-b"), product_id, env.now)
    with pytest.raises(NotFound):
        catalog.get_view(env.session, env.who("court-cdo"), draft.id, env.now)
    view = catalog.get_view(env.session, env.who("bank-a"), only_a.id, env.now)
    assert view.slug == "only-a" and [v.version for v in view.versions] == [1]
    assert catalog.get_view(env.session, env.who("operator"), draft.id, env.now).slug == "draft"


def test_a_delisted_product_leaves_the_store(env: Env) -> None:
    product = listed(env)
    catalog.delist(env.session, env.who("bureau"), product.id, reason="withdrawn", now=env.now)
    assert catalog.store(env.session, env.who("bank-a"), env.now) == []
    with pytest.raises(NotFound):
        catalog.get_view(env.session, env.who("bank-a"), product.id, env.now)
    view = catalog.get_view(env.session, env.who("bureau"), product.id, env.now)
    assert view.state == ProductState.DELISTED and view.listed_version is None


def test_the_operator_sees_its_new_version_and_the_bank_the_listed_one(env: Env) -> None:
    product = listed(env)
    catalog.new_version(
        env.session,
        env.who("operator"),
        product.id,
        credit_spec(env, price_per_call_fen=999),
        env.now,
    )
    mine = catalog.get_view(env.session, env.who("operator"), product.id, env.now)
    assert mine.version == 2 and mine.spec.price_per_call_fen == 999
    assert [v.state for v in mine.versions] == ["approved", "draft"]
    theirs = catalog.get_view(env.session, env.who("bank-a"), product.id, env.now)
    assert theirs.version == 1 and theirs.spec.price_per_call_fen == 200
