"""`sandbox dataset load` end to end: every bad input gets an error that says what and where,
and leaves the domain's store and the catalog exactly as they were."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import MetaData, select

from tests.conftest import World
from tests.integration.stacks import CANARY_SCHEMA, credit_codes
from web.cli import main

GOOD_HEADER = "credit_code,company_name,remark,amount,updated_on\n"


def _csv(
    path: Path, rows: list[str], *, header: str = GOOD_HEADER, encoding: str = "utf-8"
) -> Path:
    path.write_bytes((header + "".join(r + "\n" for r in rows)).encode(encoding))
    return path


def _rows(n: int, *, name: str = "Acme") -> list[str]:
    return [
        f"{code},{name} {i},,{i}.5,2026-10-01" for i, code in enumerate(credit_codes(n, seed=n))
    ]


def _state(world: World) -> tuple[str, str]:
    """A digest of the whole control DB and of every file in every domain store."""
    engine = world.factory.kw["bind"]
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        db = "\n".join(repr(tuple(r)) for t in meta.sorted_tables for r in conn.execute(select(t)))
    files = sorted(
        (str(p.relative_to(world.settings.domain_root)), hashlib.sha256(p.read_bytes()).hexdigest())
        for p in world.settings.domain_root.rglob("*")
        if p.is_file()
    )
    return hashlib.sha256(db.encode()).hexdigest(), repr(files)


def _load(
    world: World, csv: Path, schema: Path, *, domain: str = "tax", **env: str
) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["dataset", "load", "--domain", domain, "--file", str(csv), "--schema", str(schema)],
        env={"SANDBOX_DATA_DIR": str(world.settings.data_dir), **env},
    )
    return result.exit_code, result.output


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "schema.yaml"
    path.write_text(CANARY_SCHEMA, encoding="utf-8")
    return path


def test_good_load_registers_a_version_and_reports_rejections(
    world: World, tmp_path: Path, schema_file: Path
) -> None:
    rows = [*_rows(20), "91110108MA01ABCDE0,Bad check,,1.0,2026-10-01"]
    code, out = _load(world, _csv(tmp_path / "ok.csv", rows), schema_file)
    assert code == 0, out
    assert "loaded tax/canary_records v1: 20 rows (utf-8), 1 rejected" in out
    assert "line 22: credit_code: identifier.bad_check_character" in out
    assert "91110108MA01ABCDE0" not in out  # line numbers and reasons, never values


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown_domain", "unknown domain 'nowhere'"),
        ("header_mismatch", "missing"),
        ("unclosed_quote", "line"),
        ("not_utf8_nor_gbk", "encoding"),
        ("oversized", "larger than"),
        ("bad_schema", "invalid schema"),
        ("schema_yaml", "not valid YAML"),
        ("too_many_rejects", "rejected"),
        ("missing_file", "does not exist"),
    ],
)
def test_bad_input_leaves_store_and_catalog_unchanged(
    world: World, tmp_path: Path, schema_file: Path, case: str, expected: str
) -> None:
    before = _state(world)
    csv = _csv(tmp_path / "data.csv", _rows(10))
    domain, env, schema = "tax", {}, schema_file
    if case == "unknown_domain":
        domain = "nowhere"
    elif case == "header_mismatch":
        csv = _csv(tmp_path / "data.csv", _rows(3), header="credit_code,company_name\n")
    elif case == "unclosed_quote":
        csv.write_text(GOOD_HEADER + '91110108MA01ABCDE1,"unterminated,,1,2026-10-01\n')
    elif case == "not_utf8_nor_gbk":
        csv.write_bytes(GOOD_HEADER.encode() + b"\xff\xfe\xfa\x80,x,,1,2026-10-01\n")
    elif case == "oversized":
        env["SANDBOX_MAX_DATASET_BYTES"] = "64"
    elif case == "bad_schema":
        schema = tmp_path / "bad.yaml"
        schema.write_text(CANARY_SCHEMA.replace("grade: important", "grade: sky-high"))
    elif case == "schema_yaml":
        schema = tmp_path / "bad.yaml"
        schema.write_text("name: [unclosed\n")
    elif case == "too_many_rejects":
        csv = _csv(
            tmp_path / "data.csv", _rows(2) + [f"BADCODE{i},x,,1,2026-10-01" for i in range(8)]
        )
    elif case == "missing_file":
        csv = tmp_path / "nope.csv"
    code, out = _load(world, csv, schema, domain=domain, **env)
    assert code != 0
    assert expected in out, out
    assert "Traceback" not in out
    assert _state(world) == before


def test_gbk_file_is_detected_and_loaded(world: World, tmp_path: Path, schema_file: Path) -> None:
    csv = _csv(tmp_path / "gbk.csv", _rows(5, name="北京星河科技有限公司"), encoding="gbk")
    code, out = _load(world, csv, schema_file)
    assert code == 0, out
    assert "(gb18030)" in out


def test_duplicate_upload_is_refused_and_changes_nothing(
    world: World, tmp_path: Path, schema_file: Path
) -> None:
    csv = _csv(tmp_path / "data.csv", _rows(10))
    assert _load(world, csv, schema_file)[0] == 0
    before = _state(world)
    code, out = _load(world, csv, schema_file)
    assert code != 0 and "duplicate upload: identical to tax/canary_records version 1" in out
    assert _state(world) == before
    changed = _csv(tmp_path / "data2.csv", _rows(11))
    code, out = _load(world, changed, schema_file)
    assert code == 0 and "v2" in out
