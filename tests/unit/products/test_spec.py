"""The product spec on its own: what a valid spec looks like, and hostile values refused
before any grant is looked at (negative prices, shares outside 0..1, huge strings, labels
that read columns the source does not name)."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from products.spec import ProductSpec, parse_spec
from sandbox.errors import InvalidInput

GRANT, DATASET = str(uuid.uuid4()), str(uuid.uuid4())


def _valid() -> dict[str, Any]:
    return {
        "title": "Credit check",
        "purpose": "sme_credit_assessment",
        "kind": "credit_check",
        "sources": [
            {
                "grant_id": GRANT,
                "dataset_id": DATASET,
                "columns": ["credit_code", "tax_credit_grade", "arrears"],
                "labels": [
                    {
                        "name": "tax_grade_band",
                        "column": "tax_credit_grade",
                        "rule": "map",
                        "mapping": {"A": "good", "D": "poor"},
                    },
                    {"name": "arrears_flag", "column": "arrears", "rule": "flag"},
                ],
            }
        ],
        "consumers": ["bank-a"],
        "price_per_call_fen": 200,
        "price_per_identifier_fen": 50,
        "operator_fee_share": 0.3,
    }


def _with(**changes: Any) -> dict[str, Any]:
    return {**_valid(), **changes}


def _label(**changes: Any) -> dict[str, Any]:
    spec = _valid()
    spec["sources"][0]["labels"][0] = {**spec["sources"][0]["labels"][0], **changes}
    return spec


def test_a_valid_spec_round_trips_and_converts_its_labels() -> None:
    spec = parse_spec(_valid())
    assert ProductSpec.model_validate(spec.model_dump(mode="json")) == spec
    assert spec.label_names() == ("tax_grade_band", "arrears_flag")
    assert spec.grant_ids() == (uuid.UUID(GRANT),)
    band, flag = spec.sources[0].derived()
    assert band.apply("A") == "good" and band.apply("D") == "poor" and band.apply("X") == ""
    assert flag.apply("true") == "yes" and flag.apply("false") == "no"
    assert spec.charge_fen(0) == 200 and spec.charge_fen(7) == 200 + 7 * 50


def test_an_exposure_spec_needs_its_part_and_no_sources() -> None:
    exposure = {"grant_id": GRANT, "min_contributors": 2}
    spec = parse_spec(_with(kind="exposure", sources=[], exposure=exposure))
    assert spec.exposure is not None and spec.exposure.value_column == "outstanding_balance"
    assert spec.grant_ids() == (uuid.UUID(GRANT),)
    for bad in (
        _with(kind="exposure", sources=[]),  # no exposure part
        _with(kind="exposure", exposure=exposure),  # sources too
        _with(exposure=exposure),  # a credit check with an exposure part
        _with(kind="exposure", sources=[], exposure={**exposure, "min_contributors": 1}),
        _with(sources=[]),  # a credit check without sources
    ):
        with pytest.raises(InvalidInput) as caught:
            parse_spec(bad)
        assert caught.value.code == "product.spec"


@pytest.mark.parametrize(
    "changes",
    [
        {"price_per_call_fen": -1},
        {"price_per_identifier_fen": -50},
        {"price_per_call_fen": 10**12},
        {"price_per_call_fen": 1.5},
        {"price_per_call_fen": "200"},
        {"operator_fee_share": 1.01},
        {"operator_fee_share": -0.1},
        {"operator_fee_share": math.nan},
        {"operator_fee_share": math.inf},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 201},
        {"description": "x" * 4001},
        {"terms_text": "x" * 100_000},
        {"purpose": "p" * 65},
        {"consumers": []},
        {"consumers": ["bank-a", "bank-a"]},
        {"consumers": ["Bank A; DROP TABLE"]},
        {"calls_per_month": 0},
        {"identifiers_per_month": -5},
        {"max_identifiers_per_call": 10**9},
        {"kind": "aggregate"},
        {"extra": "field"},
    ],
)
def test_hostile_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_spec(_with(**changes))
    assert caught.value.code == "product.spec"


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "Bad Name"},
        {"name": "x" * 100},
        {"column": "not_in_the_source"},
        {"rule": "regex"},
        {"mapping": {}},
        {"mapping": {"A": "x" * 65}},
        {"mapping": {f"v{i}": "x" for i in range(201)}},
        {"rule": "bands", "mapping": {}, "edges": [50, 10], "labels": ["a", "b", "c"]},
        {"rule": "bands", "mapping": {}, "edges": [10], "labels": ["only one"]},
        {"rule": "bands", "mapping": {}, "edges": [math.inf], "labels": ["a", "b"]},
        {"rule": "flag"},  # a flag with a mapping
        {"name": "arrears_flag"},  # the other label's name
        {"name": "status"},  # a column of the result table itself
        {"name": "identifier"},
    ],
)
def test_bad_labels_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        parse_spec(_label(**changes))


def test_label_names_are_unique_across_sources() -> None:
    spec = _valid()
    second = {**spec["sources"][0], "dataset_id": str(uuid.uuid4())}
    with pytest.raises(InvalidInput):
        parse_spec({**spec, "sources": [spec["sources"][0], second]})
    with pytest.raises(InvalidInput):  # the same dataset twice
        parse_spec({**spec, "sources": [spec["sources"][0], dict(spec["sources"][0])]})
    with pytest.raises(InvalidInput):  # too many sources
        parse_spec({**spec, "sources": [spec["sources"][0]] * 9})


def test_the_spec_is_frozen() -> None:
    spec = parse_spec(_valid())
    with pytest.raises(ValidationError):
        spec.price_per_call_fen = 0  # type: ignore[misc]
