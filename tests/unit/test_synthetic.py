from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from sandbox.datasets.ingest import ingest_csv, iter_rows
from sandbox.datasets.schema import Schema, load_schema_text
from sandbox.datasets.synthetic import WITHHELD, synthetic_sample
from sandbox.errors import InvalidInput
from sandbox.identifiers import IdentifierKind, check

TODAY = dt.date(2025, 6, 30)


def schema_for(
    kind: str = "credit_code",
    *,
    title: str = "企业纳税信息",
    subject: str = "public",
    arrears: str = "public",
) -> Schema:
    return load_schema_text(
        f"""
name: taxes
title: {title}
openness: conditional
grade: important
identifier: {{column: subject, kind: {kind}}}
freshness_column: rated_on
columns:
  - {{name: subject, type: string, required: true, sensitivity: {subject}}}
  - {{name: company, type: string}}
  - {{name: arrears, type: decimal, sensitivity: {arrears}}}
  - {{name: headcount, type: integer}}
  - {{name: overdue, type: boolean}}
  - {{name: rated_on, type: date}}
  - {{name: grade, type: category, values: [A, B, M]}}
"""
    )


def test_same_seed_same_sample() -> None:
    schema = schema_for()
    first = synthetic_sample(schema, rows=8, seed=42, today=TODAY)
    assert first == synthetic_sample(schema, rows=8, seed=42, today=TODAY)
    assert first != synthetic_sample(schema, rows=8, seed=43, today=TODAY)
    assert len(first) == 8
    assert all(list(r) == list(schema.column_names) for r in first)


@pytest.mark.parametrize("kind", list(IdentifierKind))
def test_identifiers_are_valid_for_their_kind(kind: IdentifierKind) -> None:
    sample = synthetic_sample(schema_for(kind.value), rows=50, seed=7, today=TODAY)
    for r in sample:
        value = r["subject"]
        assert value is not None
        assert check(kind, value).value == value  # valid and already normalized
        if kind is IdentifierKind.OPAQUE:
            assert value.startswith("SYN-")
        if kind in (IdentifierKind.CREDIT_CODE, IdentifierKind.RESIDENT_ID):
            assert "99" in (value[2:4], value[:2])  # a division that does not exist


def test_values_follow_column_types() -> None:
    sample = synthetic_sample(schema_for(), rows=50, seed=1, today=TODAY)
    for r in sample:
        assert str(r["company"]).startswith("示例-")
        assert r["grade"] in ("A", "B", "M")
        assert r["overdue"] in ("true", "false")
        assert 0 <= int(str(r["headcount"])) < 1000
        rated = dt.date.fromisoformat(str(r["rated_on"]))
        assert TODAY - dt.timedelta(days=3 * 365) < rated <= TODAY
    english = synthetic_sample(schema_for(title="Taxes"), rows=1, seed=1, today=TODAY)
    assert str(english[0]["company"]).startswith("sample-")


def test_sample_loads_cleanly_through_ingestion(tmp_path: Path) -> None:
    schema = schema_for()
    sample = synthetic_sample(schema, rows=100, seed=9, today=TODAY)
    source = tmp_path / "sample.csv"
    with source.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=schema.column_names)
        writer.writeheader()
        writer.writerows(sample)
    report = ingest_csv(source, schema, tmp_path / "out.csv")
    assert report.rejected_count == 0
    # already canonical: ingestion changes nothing
    assert list(iter_rows(tmp_path / "out.csv", schema)) == sample


def test_hard_blocked_columns_are_withheld() -> None:
    blocked = schema_for(arrears="trade_secret", subject="personal_sensitive")
    sample = synthetic_sample(blocked, rows=3, seed=3, today=TODAY)
    assert {r["arrears"] for r in sample} == {r["subject"] for r in sample} == {WITHHELD}
    assert all(r["company"] != WITHHELD for r in sample)


def test_date_defaults_to_today() -> None:
    sample = synthetic_sample(schema_for(), rows=5, seed=3)
    for r in sample:
        assert dt.date.fromisoformat(str(r["rated_on"])) <= dt.date.today()


@pytest.mark.parametrize("rows", [-1, 1001])
def test_rows_bounded(rows: int) -> None:
    with pytest.raises(InvalidInput):
        synthetic_sample(schema_for(), rows=rows, seed=1)
