"""The demo's products: the credit check waits for the bureau (the CDOs have approved), the
exposure product is listed with bank-a subscribed, and both banks' applicants are authorized
except every 25th, registered as digests only."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import text

from products import catalog, subscriptions
from products.authorizations import valid_digests
from products.demo import (
    left_unauthorized,
    register_authorizations,
    seed_products,
)
from products.models import ProductState, SubscriptionState, VersionState
from sandbox.compute.authorized import digest
from sandbox.demo.world import write_world
from sandbox.identifiers import IdentifierKind, check
from tests.unit.products.helpers import Env


def _applicants(tmp_path: Path, bank: str) -> list[dict[str, str]]:
    files = {(f.domain, f.name): f.csv_path for f in write_world(tmp_path, enterprises=150)}
    with files[(bank, "applicants")].open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_demo_products_and_their_states(env: Env) -> None:
    seeded = seed_products(env.session, now=env.now, governance=env.g, enterprises=150)
    credit = catalog.get_product(env.session, seeded.credit_check_id)
    assert credit.state == ProductState.IN_REVIEW and credit.slug == "sme-credit-check"
    view = catalog.get_view(env.session, env.who("bureau"), credit.id, env.now)
    assert view.version_state == VersionState.SUBMITTED
    assert {r.org: r.decision for r in view.reviewers} == {
        "bureau": None,
        "market": "approve",
        "social": "approve",
        "tax": "approve",
    }
    spec = view.spec
    assert spec.label_names() == (
        "tax_grade_band",
        "arrears_flag",
        "headcount_band",
        "contribution_arrears_flag",
        "registration_status",
    )
    assert (spec.price_per_call_fen, spec.price_per_identifier_fen) == (200, 50)
    assert spec.operator_fee_share == 0.3 and spec.consumers == ("bank-a", "bank-b")
    assert [s.dataset for s in view.sources] == [
        "tax/tax_ratings",
        "social/social_insurance",
        "market/enterprise_registry",
    ]
    bands = spec.sources[1].labels[0].derivation()
    assert [bands.apply(v) for v in ("0", "9", "10", "49", "50", "99", "100")] == [
        "<10",
        "<10",
        "10-49",
        "10-49",
        "50-99",
        "50-99",
        "100+",
    ]
    status = spec.sources[2].labels[0].derivation()
    assert [status.apply(v) for v in ("存续", "在业", "吊销", "注销")] == [
        "active",
        "active",
        "closed",
        "closed",
    ]
    # the browser test's step: the bureau approves and lists it
    catalog.review(env.session, env.who("bureau"), credit.id, 1, decision="approve", now=env.now)
    catalog.list_product(env.session, env.who("bureau"), credit.id, 1, env.now)
    exposure = catalog.get_product(env.session, seeded.exposure_id)
    assert exposure.state == ProductState.LISTED and exposure.listed_version == 1
    assert {v.slug for v in catalog.store(env.session, env.who("bank-b"), env.now)} == {
        "sme-credit-check",
        "multi-lender-exposure",
    }
    (sub,) = subscriptions.subscriptions_for(env.session, env.who("bank-a"))
    assert sub.product_slug == "multi-lender-exposure" and sub.state == SubscriptionState.ACTIVE
    assert subscriptions.subscriptions_for(env.session, env.who("bank-b")) == []


@pytest.mark.parametrize("bank", ["bank-a", "bank-b"])
def test_every_25th_applicant_is_left_unauthorized(env: Env, tmp_path: Path, bank: str) -> None:
    counts = register_authorizations(env.session, now=env.now, enterprises=150)
    digests = valid_digests(env.session, env.who(bank).org_id, env.now)
    assert counts[bank] == len(digests) > 0
    rows = _applicants(tmp_path, bank)
    left_out = 0
    for n, row in enumerate(rows, start=1):
        code = check(IdentifierKind.CREDIT_CODE, row["credit_code"]).value
        if code is None:
            continue
        expected = digest(bank, code, row["authorization_ref"])
        assert (expected in digests) is not left_unauthorized(n)
        left_out += left_unauthorized(n)
    assert left_out >= 1  # the demo shows unauthorized rows
    assert [n for n in range(1, 60) if left_unauthorized(n)] == [5, 30, 55]
    # the control DB holds digests and references, never an applicant's code
    env.session.flush()
    stored = repr(env.session.execute(text("SELECT * FROM enterprise_authorizations")).all())
    stored += repr(env.session.execute(text("SELECT body FROM ledger_entries")).all())
    for row in rows:
        code = check(IdentifierKind.CREDIT_CODE, row["credit_code"]).value
        assert code is None or code not in stored


def test_a_world_of_another_size_is_refused(env: Env) -> None:
    with pytest.raises(ValueError, match="another seed or size"):
        register_authorizations(env.session, now=env.now, enterprises=300)
