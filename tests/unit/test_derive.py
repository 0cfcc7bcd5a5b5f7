"""Derived labels (sandbox/compute/derive.py): what each rule gives at its edges, blanks and
unreadable values, the JSON form a ticket carries (and every malformed spec it refuses), and
the digest that names a table built with them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.compute.derive import MAX_ENTRIES, MAX_LABEL, Derivation, check_set, derived_digest

GRADE = Derivation(
    name="tax_grade_band",
    column="tax_credit_grade",
    rule="map",
    mapping=(("A", "good"), ("B", "good"), ("C", "watch"), ("D", "poor")),
    default="other",
)
HEADCOUNT = Derivation(
    name="headcount_band",
    column="insured_headcount",
    rule="bands",
    edges=(10.0, 50.0),
    labels=("micro", "small", "medium"),
)
ARREARS = Derivation(name="arrears_flag", column="arrears", rule="flag")


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("A", "good"),
        ("B", "good"),
        ("C", "watch"),
        (" D ", "poor"),  # trimmed like every stored value
        ("M", "other"),  # not named: the default
        ("a", "other"),  # matching is exact
        ("", ""),  # blank: unknown, not the default
        ("   ", ""),
        (None, ""),
    ],
)
def test_map(raw: str | None, label: str) -> None:
    assert GRADE.apply(raw) == label


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("0", "micro"),
        ("-3", "micro"),
        ("9.999", "micro"),
        ("10", "small"),  # an edge belongs to the band above it
        ("10.0", "small"),
        ("49", "small"),
        ("50", "medium"),
        ("1e6", "medium"),
        ("", ""),
        ("many", ""),  # not a number: blank, never a guess
        ("NaN", ""),
        ("Infinity", ""),
    ],
)
def test_bands(raw: str, label: str) -> None:
    assert HEADCOUNT.apply(raw) == label


def test_band_edges_compare_as_decimals_not_floats() -> None:
    tenth = Derivation(
        name="ratio_band", column="ratio", rule="bands", edges=(0.1,), labels=("low", "high")
    )
    assert tenth.apply("0.1") == "high"
    assert tenth.apply("0.09999999999999999999") == "low"  # a float would round it up to 0.1


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("true", "yes"),
        ("TRUE", "yes"),
        ("false", "no"),
        ("1", "yes"),
        ("0", "no"),
        ("0.0", "no"),
        ("2.5", "yes"),
        ("-1", "no"),
        ("", ""),
        ("maybe", ""),
        ("NaN", ""),
    ],
)
def test_flag(raw: str, label: str) -> None:
    assert ARREARS.apply(raw) == label


@pytest.mark.parametrize("derivation", [GRADE, HEADCOUNT, ARREARS])
def test_outputs_cover_every_value_the_rule_gives(derivation: Derivation) -> None:
    samples = ["", "A", "B", "C", "D", "M", "x", "-5", "0", "10", "49.5", "50", "true", "false"]
    assert {derivation.apply(s) for s in samples} <= set(derivation.outputs())
    assert "" in derivation.outputs()


@pytest.mark.parametrize("derivation", [GRADE, HEADCOUNT, ARREARS])
def test_json_round_trip_keeps_the_derivation_and_its_digest(derivation: Derivation) -> None:
    wire = json.loads(json.dumps(derivation.to_json()))
    again = Derivation.from_json(wire)
    assert again == derivation
    assert derived_digest([again]) == derived_digest([derivation])


def test_a_mapping_may_arrive_as_an_object() -> None:
    spec = {**GRADE.to_json(), "mapping": dict(GRADE.mapping)}
    assert Derivation.from_json(spec) == GRADE


def test_the_digest_names_every_field() -> None:
    base = derived_digest([GRADE, ARREARS])
    assert len(base) == 32 and int(base, 16) >= 0
    variants = [
        [GRADE],
        [GRADE, Derivation(name="arrears_yes", column="arrears", rule="flag")],
        [
            Derivation(
                name=GRADE.name,
                column=GRADE.column,
                rule="map",
                mapping=GRADE.mapping,
                default="unrated",
            ),
            ARREARS,
        ],
        [
            Derivation(
                name=GRADE.name,
                column=GRADE.column,
                rule="map",
                mapping=(*GRADE.mapping[:3], ("D", "watch")),
                default=GRADE.default,
            ),
            ARREARS,
        ],
    ]
    digests = {derived_digest(v) for v in variants}
    assert base not in digests and len(digests) == len(variants)


def test_names_must_be_distinct_in_a_set() -> None:
    check_set([GRADE, HEADCOUNT, ARREARS])
    twin = Derivation(name=GRADE.name, column="arrears", rule="flag")
    with pytest.raises(ValueError, match="once"):
        check_set([GRADE, twin])


def _spec(**changes: Any) -> dict[str, Any]:
    return {**HEADCOUNT.to_json(), **changes}


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(["not", "an", "object"], id="not-an-object"),
        pytest.param("bands", id="a-string"),
        pytest.param(_spec(extra=1), id="unknown-field"),
        pytest.param({"name": "x", "column": "y"}, id="no-rule"),
        pytest.param(_spec(rule="median"), id="unknown-rule"),
        pytest.param(_spec(name="Headcount"), id="upper-case-name"),
        pytest.param(_spec(name="headcount\n"), id="name-with-a-trailing-newline"),
        pytest.param(_spec(column="insured headcount"), id="column-with-a-space"),
        pytest.param(_spec(name=7), id="name-not-text"),
        pytest.param(_spec(default=None), id="default-not-text"),
        pytest.param(_spec(edges=[50, 10]), id="edges-descending"),
        pytest.param(_spec(edges=[10, 10]), id="edges-repeated"),
        pytest.param(_spec(edges=["10", "50"]), id="edges-as-text"),
        pytest.param(_spec(edges=[True, 50]), id="edge-a-boolean"),
        pytest.param(_spec(edges=[float("nan"), 50]), id="edge-nan"),
        pytest.param(_spec(edges=[10, float("inf")]), id="edge-infinite"),
        pytest.param(_spec(edges=[10, 10**400]), id="edge-too-large-for-a-float"),
        pytest.param(_spec(edges="10,50"), id="edges-not-a-list"),
        pytest.param(_spec(labels=["micro", "small"]), id="one-label-short"),
        pytest.param(_spec(labels=["micro", "small", 3]), id="label-not-text"),
        pytest.param(_spec(labels=["micro", "small", "x" * (MAX_LABEL + 1)]), id="label-too-long"),
        pytest.param(
            _spec(edges=list(range(MAX_ENTRIES + 1)), labels=["b"] * (MAX_ENTRIES + 2)),
            id="too-many-edges",
        ),
        pytest.param(_spec(mapping=[["1", "one"]]), id="bands-with-a-mapping"),
        pytest.param(
            {"name": "g", "column": "grade", "rule": "map", "mapping": []}, id="empty-mapping"
        ),
        pytest.param(
            {"name": "g", "column": "grade", "rule": "map", "mapping": [["A", "x"], ["A", "y"]]},
            id="value-mapped-twice",
        ),
        pytest.param(
            {"name": "g", "column": "grade", "rule": "map", "mapping": [["A", 1]]},
            id="mapped-to-a-number",
        ),
        pytest.param(
            {"name": "g", "column": "grade", "rule": "map", "mapping": [["A", "x", "y"]]},
            id="mapping-not-pairs",
        ),
        pytest.param(
            {"name": "g", "column": "grade", "rule": "map", "mapping": {"A": "x"}, "edges": [1]},
            id="map-with-edges",
        ),
        pytest.param(
            {"name": "f", "column": "arrears", "rule": "flag", "labels": ["y", "n"]},
            id="flag-with-labels",
        ),
    ],
)
def test_a_malformed_spec_is_refused(spec: Any) -> None:
    with pytest.raises(ValueError):
        Derivation.from_json(spec)


def test_integer_edges_name_the_same_table_as_float_ones() -> None:
    """The planner digests the derivation it was given; the provider digests the one parsed
    from its ticket: ``10`` and ``10.0`` must be the same table on both sides."""
    given = Derivation(
        name="headcount_band",
        column="insured_headcount",
        rule="bands",
        edges=(10, 50),  # ints, as a caller may well write them
        labels=("micro", "small", "medium"),
    )
    assert given == HEADCOUNT
    assert derived_digest([given]) == derived_digest([HEADCOUNT])
    parsed = Derivation.from_json(json.loads(json.dumps(given.to_json())))
    assert derived_digest([parsed]) == derived_digest([given])
    with pytest.raises(ValueError):
        Derivation(
            name="headcount_band",
            column="insured_headcount",
            rule="bands",
            edges=(10**400,),
            labels=("a", "b"),
        )
