from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.datasets.ingest import ingest_csv
from sandbox.datasets.quality import Profiler, Quality, profile_file
from sandbox.datasets.schema import load_schema_text
from sandbox.errors import InvalidInput
from sandbox.identifiers import resident_id_check_char

SCHEMA = load_schema_text(
    """
name: insured
title: Insured persons
openness: conditional
grade: important
identifier: {column: person, kind: resident_id}
freshness_column: enrolled_on
columns:
  - {name: person, type: string, required: true, sensitivity: personal}
  - {name: county, type: string}
  - {name: enrolled_on, type: date}
"""
)


def person(n: int) -> str:
    head = f"11010519800101{n:03d}"
    return head + resident_id_check_char(head)


def row(ident: str | None, county: str | None, day: str | None) -> dict[str, str | None]:
    return {"person": ident, "county": county, "enrolled_on": day}


def test_figures_on_a_known_table() -> None:
    profiler = Profiler(SCHEMA)
    for r in [
        row(person(1), "海淀", "2023-05-01"),
        row(person(2), None, "2024-02-29"),
        row(person(1), "海淀", "2023-05-01"),  # duplicate row, so duplicate identifier too
        row(person(1), "朝阳", None),  # duplicate identifier only
        row(person(3), None, "2019-12-31"),
    ]:
        profiler.add(r)
    quality = profiler.result(rejected_rows=4, invalid_identifiers=2)
    assert quality == Quality(
        rows=5,
        completeness={"person": 1.0, "county": 0.6, "enrolled_on": 0.8},
        duplicate_identifiers=2,
        duplicate_rows=1,
        invalid_identifiers=2,
        rejected_rows=4,
        freshness="2024-02-29",
    )


def test_completeness_rounds_to_four_places() -> None:
    profiler = Profiler(SCHEMA)
    for n in range(3):
        profiler.add(row(person(n), "x" if n == 0 else None, None))
    assert profiler.result().completeness["county"] == 0.3333


def test_rows_differing_only_in_null_and_text_are_distinct() -> None:
    profiler = Profiler(SCHEMA)
    profiler.add(row(person(1), None, None))
    profiler.add(row(person(2), "None", None))
    profiler.add(row(person(2), "None", None))
    assert profiler.result().duplicate_rows == 1


def test_empty_profile() -> None:
    quality = Profiler(SCHEMA).result()
    assert quality.rows == 0
    assert quality.completeness == {"person": 1.0, "county": 1.0, "enrolled_on": 1.0}
    assert quality.freshness is None
    assert (quality.duplicate_rows, quality.duplicate_identifiers) == (0, 0)


def test_json_round_trip() -> None:
    profiler = Profiler(SCHEMA)
    profiler.add(row(person(1), "a", "2024-01-01"))
    quality = profiler.result(rejected_rows=3)
    assert Quality.from_json(quality.to_json()) == quality


@pytest.mark.parametrize(
    "change",
    [
        {"rows": "5"},
        {"rows": -1},
        {"duplicate_rows": True},
        {"completeness": [1.0]},
        {"completeness": {"person": "1"}},
        {"freshness": 20240101},
    ],
)
def test_from_json_refuses_malformed(change: dict[str, object]) -> None:
    data = Profiler(SCHEMA).result().to_json() | change
    with pytest.raises(InvalidInput) as info:
        Quality.from_json(data)
    assert info.value.code == "quality.invalid"


def test_profile_file_matches_ingest_and_reports_progress(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    lines = [f"{person(n % 4)},c{n % 2},2024-01-{n + 1:02d}" for n in range(7)]
    source.write_text("person,county,enrolled_on\n" + "\n".join(lines) + "\n", "utf-8")
    store = tmp_path / "store.csv"
    report = ingest_csv(source, SCHEMA, store)

    calls: list[int] = []
    quality = profile_file(store, SCHEMA, progress=calls.append, every=2)
    assert calls == [2, 4, 6]
    assert quality == report.quality
    assert quality.duplicate_identifiers == 3
    assert quality.freshness == "2024-01-07"


def test_profile_file_recounts_invalid_identifiers(tmp_path: Path) -> None:
    store = tmp_path / "store.csv"
    bad = person(1)[:17] + ("0" if person(1)[17] != "0" else "1")
    store.write_text(f"person,county,enrolled_on\n{person(1)},,\n{bad},,\n,,\n", "utf-8")
    quality = profile_file(store, SCHEMA)
    assert quality.invalid_identifiers == 2
    assert quality.rows == 3
    assert quality.completeness["person"] == 0.6667
