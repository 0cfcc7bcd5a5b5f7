"""The output gate's controls (suppression, OpenDP noise, rounding) and the grouped reading of
a domain's rows (declared groups, one numeric column, bounds), on their own."""

from __future__ import annotations

import statistics
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from homomorphic.aggregates import Moments
from sandbox.compute import gate
from sandbox.compute.grouped import DEFAULT_MAX_ABS, Grouping, grouping_of, read_grouped
from sandbox.datasets.schema import Schema
from sandbox.datasets.stored import StoredDataset
from sandbox.errors import SandboxError

SCHEMA = Schema.model_validate(
    {
        "name": "firms",
        "title": "firms",
        "openness": "conditional",
        "grade": "general",
        "identifier": {"column": "credit_code", "kind": "credit_code"},
        "columns": [
            {"name": "credit_code", "type": "string", "required": True},
            {"name": "region", "type": "category", "values": ["north", "south"]},
            {"name": "size", "type": "category", "values": ["s", "m", "l"]},
            {"name": "capital", "type": "decimal"},
            {"name": "staff", "type": "integer"},
            {"name": "name", "type": "string"},
        ],
    }
)


def _stored(tmp_path: Path, lines: list[str]) -> StoredDataset:
    path = tmp_path / "firms.csv"
    path.write_text(
        "credit_code,region,size,capital,staff,name\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    return StoredDataset(uuid.uuid4(), "firms", 1, SCHEMA, len(lines), 0, path)


def test_grouping_splits_categories_from_one_number() -> None:
    g = grouping_of(SCHEMA, ("credit_code", "region", "size", "capital"))
    assert g.group_columns == ("region", "size") and g.value_column == "capital"
    assert len(g.groups) == 6 and g.decimals == 2
    assert grouping_of(SCHEMA, ("staff",)).groups == ((),)  # no group: one total
    for columns, code in [
        (("region", "capital", "staff"), "job.one_value"),
        (("region", "name"), "job.column_kind"),
        (("region", "ghost"), "job.column_unknown"),
    ]:
        with pytest.raises(SandboxError) as err:
            grouping_of(SCHEMA, columns)
        assert err.value.code == code
    with pytest.raises(SandboxError) as bad:
        grouping_of(SCHEMA, ("capital",), bounds=(Decimal(5), Decimal(1)))
    assert bad.value.code == "job.bounds"


def test_reading_rejects_what_does_not_parse_and_clamps_to_bounds(tmp_path: Path) -> None:
    data = _stored(
        tmp_path,
        [
            "A,north,s,10.50,1,x",
            "B,south,m,-3,2,x",
            "C,west,s,1,3,x",  # undeclared group
            "D,north,s,,4,x",  # no value
            "E,north,s,NaN,5,x",
            "F,north,s,Infinity,6,x",
            "G,north,s,abc,7,x",
            "H,south,l,900,8,x",
        ],
    )
    g = grouping_of(SCHEMA, ("region", "capital"))
    out = read_grouped(data, g)
    assert (out.rows, out.used, out.rejected) == (8, 3, 5)
    assert out.values == [[Decimal("10.50")], [Decimal(-3), Decimal(900)]]
    clamped = read_grouped(data, grouping_of(SCHEMA, ("region", "capital"), bounds=(0, 100)))
    assert clamped.values == [[Decimal("10.50")], [Decimal(0), Decimal(100)]]


def test_a_huge_value_without_bounds_fails_without_saying_it(tmp_path: Path) -> None:
    data = _stored(tmp_path, ["A,north,s,99999999999999999,1,x"])
    with pytest.raises(SandboxError) as err:
        read_grouped(data, grouping_of(SCHEMA, ("region", "capital")))
    assert err.value.code == "aggregate.out_of_bounds"
    assert "9999" not in err.value.message


def _moments(count: int, total: str, squares: str = "0") -> Moments:
    return Moments(count, Decimal(total), Decimal(squares))


def test_small_groups_are_suppressed_and_the_rest_exact() -> None:
    controls = gate.Controls(min_cohort=10, statistics=("count", "sum", "mean", "variance"))
    rows = gate.release(
        [("north",), ("south",)],
        [_moments(9, "90"), _moments(10, "100", "1010")],
        controls,
    )
    assert rows[0] == gate.Row(("north",), gate.SUPPRESSED, {})
    assert rows[1].status == gate.RELEASED
    assert rows[1].values == {"count": "10", "sum": "100", "mean": "10", "variance": "1"}


def test_rounding_as_the_grant_says() -> None:
    controls = gate.Controls(min_cohort=1, statistics=("sum", "mean"), round_to=Decimal(1000))
    (row,) = gate.release([()], [_moments(3, "12345.67")], controls)
    assert row.values == {"sum": "12000", "mean": "4000"}


def test_noise_is_added_under_epsilon_and_needs_bounds() -> None:
    with pytest.raises(SandboxError) as err:
        gate.Controls(min_cohort=1, statistics=("count", "sum"), epsilon=1.0)
    assert err.value.code == "gate.bounds_required"
    for eps in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(SandboxError):
            gate.Controls(min_cohort=1, statistics=("count",), epsilon=eps)
    controls = gate.Controls(
        min_cohort=1,
        statistics=("count", "sum"),
        epsilon=1.0,
        bounds=(Decimal(0), Decimal(10)),
    )
    counts, sums = [], []
    for _ in range(200):
        (row,) = gate.release([()], [_moments(1000, "5000")], controls)
        counts.append(int(row.values["count"]))
        sums.append(float(row.values["sum"]))
    # Laplace noise at scale 2 (count) and 20 (sum): centred, spread, never absurd.
    assert len(set(counts)) > 5 and len(set(sums)) > 50
    assert abs(statistics.mean(counts) - 1000) < 2 and abs(statistics.mean(sums) - 5000) < 20
    assert max(abs(c - 1000) for c in counts) < 60


def test_a_noisy_count_decides_suppression() -> None:
    controls = gate.Controls(
        min_cohort=10, statistics=("count",), epsilon=0.5, bounds=(Decimal(0), Decimal(1))
    )
    outcomes = {gate.release([()], [_moments(10, "0")], controls)[0].status for _ in range(100)}
    assert outcomes == {gate.SUPPRESSED, gate.RELEASED}


def test_the_gate_refuses_a_mismatched_release() -> None:
    controls = gate.Controls(min_cohort=1, statistics=("count",))
    with pytest.raises(SandboxError) as err:
        gate.release([("a",), ("b",)], [_moments(1, "0")], controls)
    assert err.value.code == "gate.mismatch"
    assert Grouping((), ((),), None, 0).max_abs == DEFAULT_MAX_ABS  # no bounds: the default
