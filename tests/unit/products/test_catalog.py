"""Designing products: an operator creates a product under its own license and grants, adds
versions and submits them. Every spec is checked against the grants (kind, purpose,
recipients, columns, quotas, term), and every refusal leaves the session as it was."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from grants import grants as grants_service
from grants import licenses
from products import catalog
from products.models import Product, ProductState, VersionState
from products.spec import LabelSpec, ProductSpec, SourceSpec
from sandbox.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.helpers import refused
from tests.unit.products.helpers import Env, create, credit_spec, exposure, listed

TABLES = ("products", "product_versions", "ledger_entries")


def _create(env: Env, spec: ProductSpec | None = None, **kw: Any) -> Callable[[], Product]:
    return lambda: catalog.create_product(
        env.session,
        kw.get("who", env.who("operator")),
        slug=kw.get("slug", "credit"),
        name=kw.get("name", "Credit"),
        license_id=kw.get("license_id", env.g.license_id),
        spec=spec or credit_spec(env),
        now=env.now,
    )


def test_an_operator_creates_a_draft_product_with_version_1(env: Env) -> None:
    product = create(env)
    assert product.state == ProductState.DRAFT and product.listed_version is None
    assert product.kind == "credit_check" and product.operator_id == env.who("operator").org_id
    row = catalog.version_row(env.session, product.id, 1)
    assert row.state == VersionState.DRAFT
    assert catalog.spec_of(row) == credit_spec(env)
    (entry,) = env.actions("product.created")
    assert entry.object_id == str(product.id)


@pytest.mark.parametrize("username", ["bureau", "bank-a", "tax-cdo", "auditor"])
def test_only_an_operator_creates_products(env: Env, username: str) -> None:
    refused(env.session, _create(env, who=env.who(username)), "forbidden.role", tables=TABLES)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"slug": "X"}, "product.slug"),
        ({"slug": "a" * 64}, "product.slug"),
        ({"slug": "credit; drop"}, "product.slug"),
        ({"name": "  "}, "product.name"),
        ({"name": "n" * 201}, "product.name"),
        ({"license_id": uuid.uuid4()}, "license.not_found"),
    ],
)
def test_bad_names_and_licenses_are_refused(
    env: Env, changes: dict[str, object], code: str
) -> None:
    refused(env.session, _create(env, **changes), code, tables=TABLES)


def test_a_slug_is_taken_once(env: Env) -> None:
    create(env)
    refused(env.session, _create(env), "product.slug_taken", tables=TABLES)


def test_a_suspended_license_makes_no_products(env: Env) -> None:
    licenses.suspend(
        env.session, env.who("bureau"), env.g.license_id, reason="inspection", now=env.now
    )
    refused(env.session, _create(env), "product.license_not_in_force", tables=TABLES)


def test_the_spec_is_checked_against_the_grants(env: Env) -> None:
    tax = env.dataset("tax", "tax_ratings").id
    court = env.dataset("court", "judgments").id
    first = credit_spec(env).sources[0]
    cases = [
        # a credit check under a grant that allows no lookup
        (
            credit_spec(
                env,
                sources=[
                    {**first.model_dump(mode="json"), "grant_id": str(env.g.statistics_grant_id)}
                ],
            ),
            "product.kind_not_granted",
        ),
        # an exposure product under a grant that allows no secure sum
        (
            exposure(env, exposure={"grant_id": str(env.g.approved_grant_id)}),
            "product.kind_not_granted",
        ),
        # the court's grant is still pending
        (
            credit_spec(
                env,
                sources=[
                    SourceSpec(
                        grant_id=env.g.pending_grant_id,
                        dataset_id=court,
                        columns=("credit_code", "dishonest_debtor"),
                        labels=(
                            LabelSpec(name="dishonest", column="dishonest_debtor", rule="flag"),
                        ),
                    ).model_dump(mode="json")
                ],
            ),
            "product.grant_not_in_force",
        ),
        (credit_spec(env, purpose="insurance_underwriting"), "product.purpose"),
        (credit_spec(env, consumers=["bank-a", "operator"]), "product.consumers"),
        (credit_spec(env, consumers=["bank-z"]), "product.consumers"),
        (credit_spec(env, max_identifiers_per_call=10_001), "product.max_identifiers"),
        # a column the grant does not name (tax paid is a trade secret, never granted)
        (
            credit_spec(
                env,
                sources=[
                    {
                        **first.model_dump(mode="json"),
                        "columns": ["credit_code", "tax_credit_grade", "tax_paid_last_year"],
                        "labels": [
                            {"name": "paid", "column": "tax_paid_last_year", "rule": "flag"}
                        ],
                    }
                ],
            ),
            "product.columns_not_granted",
        ),
        # a dataset outside the source's grant
        (
            credit_spec(
                env,
                sources=[{**first.model_dump(mode="json"), "dataset_id": str(court)}],
            ),
            "product.dataset_not_granted",
        ),
        # the identifier column must be among the source's columns
        (
            credit_spec(
                env,
                sources=[
                    {
                        **first.model_dump(mode="json"),
                        "columns": ["tax_credit_grade", "arrears"],
                    }
                ],
            ),
            "product.identifier_column",
        ),
        # a grant that does not exist
        (
            credit_spec(
                env, sources=[{**first.model_dump(mode="json"), "grant_id": str(uuid.uuid4())}]
            ),
            "grant.not_found",
        ),
    ]
    assert first.dataset_id == tax
    for spec, code in cases:
        refused(env.session, _create(env, spec), code, tables=TABLES)


def test_a_suspended_grant_refuses_the_spec(env: Env) -> None:
    grants_service.suspend(
        env.session, env.who("bureau"), env.g.approved_grant_id, reason="check", now=env.now
    )
    refused(env.session, _create(env), "product.grant_not_in_force", tables=TABLES)


def test_new_versions_keep_the_kind_and_one_open_version(env: Env) -> None:
    product = create(env)
    operator = env.who("operator")
    with pytest.raises(Conflict) as caught:  # version 1 is still a draft
        catalog.new_version(env.session, operator, product.id, credit_spec(env), env.now)
    assert caught.value.code == "product.version_open"
    catalog.submit(env.session, operator, product.id, 1, env.now)
    with pytest.raises(Conflict):  # and now in review
        catalog.new_version(env.session, operator, product.id, credit_spec(env), env.now)


def test_a_listed_product_stays_listed_while_its_next_version_is_reviewed(env: Env) -> None:
    product = listed(env)
    operator = env.who("operator")
    cheaper = credit_spec(env, price_per_call_fen=100)
    with pytest.raises(InvalidInput) as caught:
        catalog.new_version(env.session, operator, product.id, exposure(env), env.now)
    assert caught.value.code == "product.kind_changed"
    row = catalog.new_version(env.session, operator, product.id, cheaper, env.now)
    assert row.version == 2 and row.state == VersionState.DRAFT
    catalog.submit(env.session, operator, product.id, 2, env.now)
    assert product.state == ProductState.LISTED and product.listed_version == 1
    assert catalog.listed_spec(env.session, product) == credit_spec(env)


def test_submit_checks_state_owner_and_grants_again(env: Env) -> None:
    product = create(env)
    for username in ("bank-a", "bureau"):
        with pytest.raises(PermissionDenied):
            catalog.submit(env.session, env.who(username), product.id, 1, env.now)
    with pytest.raises(NotFound):
        catalog.submit(env.session, env.who("operator"), product.id, 7, env.now)
    with pytest.raises(NotFound):
        catalog.submit(env.session, env.who("operator"), uuid.uuid4(), 1, env.now)
    grants_service.suspend(
        env.session, env.who("bureau"), env.g.approved_grant_id, reason="check", now=env.now
    )
    refused(
        env.session,
        lambda: catalog.submit(env.session, env.who("operator"), product.id, 1, env.now),
        "product.grant_not_in_force",
        tables=TABLES,
    )
    grants_service.reinstate(
        env.session, env.who("bureau"), env.g.approved_grant_id, reason="ok", now=env.now
    )
    row = catalog.submit(env.session, env.who("operator"), product.id, 1, env.now)
    assert row.state == VersionState.SUBMITTED and product.state == ProductState.IN_REVIEW
    (entry,) = env.actions("product.submitted")
    assert '"reviewers":["bureau","market","social","tax"]' in entry.body.decode()
    with pytest.raises(Conflict) as caught:  # submitted twice
        catalog.submit(env.session, env.who("operator"), product.id, 1, env.now)
    assert caught.value.code == "product.version_state"


def test_an_expired_grant_refuses_the_spec(env: Env) -> None:
    later = env.now + dt.timedelta(days=200)  # the demo grants end after 180 days
    with pytest.raises(Conflict) as caught:
        catalog.check_spec(
            env.session,
            env.who("operator"),
            licenses.get_visible_license(env.session, env.who("operator"), env.g.license_id),
            "credit_check",
            credit_spec(env),
            later,
        )
    assert caught.value.code == "product.grant_not_in_force"


@pytest.mark.parametrize(
    ("label", "column"),
    [
        (
            {
                "name": "grade_band",
                "column": "tax_credit_grade",
                "rule": "bands",
                "edges": [1],
                "labels": ["low", "high"],
            },
            "tax_credit_grade",
        ),  # bands on a category column
        ({"name": "grade_flag", "column": "tax_credit_grade", "rule": "flag"}, "tax_credit_grade"),
        (
            {"name": "code_flag", "column": "credit_code", "rule": "map", "mapping": {"x": "y"}},
            "credit_code",
        ),  # the identifier is never a label's source
    ],
)
def test_a_label_rule_that_cannot_read_its_column_is_refused_at_design_time(
    env: Env, label: dict[str, Any], column: str
) -> None:
    spec = credit_spec(env)
    tax = spec.sources[0]
    assert column in tax.columns
    changed = spec.model_dump(mode="json")
    changed["sources"][0]["labels"] = [label]
    refused(
        env.session,
        _create(env, ProductSpec.model_validate(changed)),
        "product.label_rule",
        tables=TABLES,
    )
