from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sandbox.datasets.ingest import IngestReport, Limits, Rejection, ingest_csv, iter_rows
from sandbox.datasets.schema import Schema, load_schema_text
from sandbox.errors import InvalidInput, SandboxError, TooLarge
from sandbox.identifiers import credit_code_check_char

SCHEMA = load_schema_text(
    """
name: enterprises
title: 企业登记
openness: conditional
grade: general
identifier: {column: credit_code, kind: credit_code}
freshness_column: registered_on
columns:
  - {name: credit_code, type: string, required: true}
  - {name: company, type: string}
  - {name: capital, type: decimal}
  - {name: staff, type: integer}
  - {name: active, type: boolean}
  - {name: registered_on, type: date}
  - {name: kind, type: category, values: [有限责任公司, 个体工商户]}
"""
)
HEADER = "credit_code,company,capital,staff,active,registered_on,kind"
CANARY = "CANARY-7f3e"
NO_REJECTS_LIMIT = Limits(max_reject_ratio=1.0)


def code(n: int) -> str:
    head = f"91350100M{n:08d}"
    return head + credit_code_check_char(head)


def good(n: int, company: str = "甲公司") -> str:
    return f"{code(n)},{company},100.50,12,yes,2024-03-01,有限责任公司"


def write(tmp_path: Path, text: str | bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def csv_text(*rows: str) -> str:
    return "\n".join((HEADER, *rows)) + "\n"


def ingest(
    tmp_path: Path, text: str | bytes, *, schema: Schema = SCHEMA, **kwargs: object
) -> tuple[IngestReport, Path]:
    dest = tmp_path / "store" / "out.csv"
    dest.parent.mkdir(exist_ok=True)
    report = ingest_csv(write(tmp_path, text), schema, dest, **kwargs)  # type: ignore[arg-type]
    return report, dest


def fails(tmp_path: Path, text: str | bytes, code_: str, **kwargs: object) -> SandboxError:
    dest = tmp_path / "store" / "out.csv"
    dest.parent.mkdir(exist_ok=True)
    with pytest.raises(SandboxError) as info:
        ingest_csv(write(tmp_path, text), SCHEMA, dest, **kwargs)  # type: ignore[arg-type]
    exc = info.value
    assert exc.code == code_
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []  # the temp file went too
    assert CANARY not in str(exc)
    assert CANARY not in repr(exc.details)
    return exc


# --- happy path -----------------------------------------------------------------------------


def test_happy_path_writes_canonical_rows_in_schema_order(tmp_path: Path) -> None:
    text = (
        # columns in another order, padded and upper-case names
        " Kind ,credit_code,COMPANY,capital,staff,active,registered_on\n"
        f"个体工商户,{code(1)},  乙商店 ,+007.50,+042,是,2023/7/4\n"
        f'有限责任公司,{code(2)},"Comma, Inc.",-0.0,-0,FALSE,20240131\n'
        f"有限责任公司,{code(3)},,,,,\n"
        f"有限责任公司,{code(4)},=SUM(A1),.5,0,No,2024-02-29\n"
    )
    report, dest = ingest(tmp_path, text)
    assert dest.read_text("utf-8") == (
        HEADER + "\n"
        f"{code(1)},乙商店,7.50,42,true,2023-07-04,个体工商户\n"
        f'{code(2)},"Comma, Inc.",0.0,0,false,2024-01-31,有限责任公司\n'
        f"{code(3)},,,,,,有限责任公司\n"
        f"{code(4)},=SUM(A1),0.5,0,false,2024-02-29,有限责任公司\n"
    )
    assert report.encoding == "utf-8"
    assert (report.rows_read, report.rows_loaded, report.rejected_count) == (4, 4, 0)
    assert report.rejections == ()
    assert report.fingerprint == "sha256:" + hashlib.sha256(dest.read_bytes()).hexdigest()
    assert report.quality.rows == 4
    assert report.quality.completeness["company"] == 0.75
    assert report.quality.freshness == "2024-02-29"


def test_cells_are_nfkc_folded(tmp_path: Path) -> None:
    _, dest = ingest(tmp_path, csv_text(f"{code(1)},ＡＢＣ　有限,１２.５,３,ｙｅｓ,2024-01-01,"))
    row = next(iter_rows(dest, SCHEMA))
    assert row["company"] == "ABC 有限"
    assert (row["capital"], row["staff"], row["active"]) == ("12.5", "3", "true")
    assert row["kind"] is None


def test_credit_codes_are_normalized(tmp_path: Path) -> None:
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in code(1))
    spaced = " ".join((code(2)[:4], code(2)[4:10], code(2)[10:]))
    text = csv_text(f"{full_width},a,,,,,", f"{code(3).lower()},b,,,,,", f"  {spaced}  ,c,,,,,")
    report, dest = ingest(tmp_path, text)
    assert report.rejected_count == 0
    assert [r["credit_code"] for r in iter_rows(dest, SCHEMA)] == [code(1), code(3), code(2)]


def test_bad_check_character_rejected_on_its_physical_line(tmp_path: Path) -> None:
    bad = code(9)[:17] + ("0" if code(9)[17] != "0" else "1")
    text = csv_text(
        f'{code(1)},"multi\nline\ncell",,,,,',  # lines 2-4
        good(2),  # line 5
        f"{bad},{CANARY},,,,,",  # line 6
        good(3),
    )
    report, dest = ingest(tmp_path, text, limits=NO_REJECTS_LIMIT)
    assert report.rejections == (Rejection(6, "credit_code", "identifier.bad_check_character"),)
    assert (report.rows_read, report.rows_loaded, report.rejected_count) == (4, 3, 1)
    assert report.quality.invalid_identifiers == 1
    assert report.quality.rejected_rows == 1
    assert next(iter_rows(dest, SCHEMA))["company"] == "multi\nline\ncell"
    assert CANARY not in repr(report)
    assert CANARY not in dest.read_text("utf-8")


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (f"{code(1)},x,1,2,yes,2024-01-01", None, "field_count"),
        (f"{code(1)},x,1,2,yes,2024-01-01,有限责任公司,extra", None, "field_count"),
        (f"{code(1)},x,1,{CANARY},yes,2024-01-01,", "staff", "type.integer"),
        (f"{code(1)},x,1.5,2.0,yes,2024-01-01,", "staff", "type.integer"),
        (f'{code(1)},x,"1,234.50",2,yes,2024-01-01,', "capital", "type.decimal"),
        (f"{code(1)},x,NaN,2,yes,2024-01-01,", "capital", "type.decimal"),
        (f"{code(1)},x,1e3,2,yes,2024-01-01,", "capital", "type.decimal"),
        (f"{code(1)},x,1,2,{CANARY},2024-01-01,", "active", "type.boolean"),
        (f"{code(1)},x,1,2,yes,2024-02-30,", "registered_on", "type.date"),
        (f"{code(1)},x,1,2,yes,{CANARY},", "registered_on", "type.date"),
        (f"{code(1)},x,1,2,yes,2024-01/01,", "registered_on", "type.date"),
        (f"{code(1)},x,1,2,yes,2024-01-01,{CANARY}", "kind", "category"),
        (f" ,{CANARY},1,2,yes,2024-01-01,", "credit_code", "required"),
        (f"{CANARY},x,1,2,yes,2024-01-01,", "credit_code", "identifier.wrong_length"),
        (f"{code(1)},{CANARY * 400},1,2,yes,2024-01-01,", "company", "too_long"),
    ],
)
def test_row_rejections(tmp_path: Path, row: str, column: str | None, reason: str) -> None:
    report, _ = ingest(tmp_path, csv_text(good(1), row), limits=NO_REJECTS_LIMIT)
    assert report.rejections == (Rejection(3, column, reason),)
    assert report.rows_loaded == 1
    assert CANARY not in repr(report)


def test_optional_identifier_may_not_be_empty(tmp_path: Path) -> None:
    schema = load_schema_text(
        "{name: codes, title: Codes, openness: open, grade: general,"
        " identifier: {column: credit_code, kind: credit_code},"
        " columns: [{name: credit_code, type: string}]}"
    )
    dest = tmp_path / "out.csv"
    source = write(tmp_path, f"credit_code\n{code(1)}\n\n  \n")
    report = ingest_csv(source, schema, dest, limits=NO_REJECTS_LIMIT)
    assert report.rejections == (Rejection(4, "credit_code", "identifier.empty"),)
    assert report.rows_read == 2  # the blank line 3 is not a record


def test_rejections_kept_are_capped_but_all_counted(tmp_path: Path) -> None:
    rows = [f"{code(n)},x,,bad,,," for n in range(1500)] + [good(1)]
    report, _ = ingest(tmp_path, csv_text(*rows), limits=NO_REJECTS_LIMIT)
    assert report.rejected_count == 1500
    assert len(report.rejections) == 1000
    assert report.rejections[-1].line == 1001


def test_progress_every_5000_rows(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    rows = [good(n) for n in range(10_001)]
    report, _ = ingest(tmp_path, csv_text(*rows), progress=lambda r, b: calls.append((r, b)))
    assert [r for r, _ in calls] == [5000, 10000]
    assert 0 < calls[0][1] < calls[1][1] < (tmp_path / "in.csv").stat().st_size
    assert report.rows_loaded == 10_001
    assert report.quality.duplicate_rows == 0


def test_existing_dest_is_replaced_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "out.csv"
    dest.write_text("old")
    ingest_csv(write(tmp_path, csv_text(good(1))), SCHEMA, dest)
    assert dest.read_text("utf-8").startswith(HEADER)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


# --- encodings ------------------------------------------------------------------------------


def test_gbk_file_is_detected_and_loaded(tmp_path: Path) -> None:
    text = csv_text(good(1, "北京数据科技有限公司"), good(2, "上海测试商店"))
    report, dest = ingest(tmp_path, text.encode("gbk"))
    assert report.encoding == "gb18030"
    companies = [r["company"] for r in iter_rows(dest, SCHEMA)]
    assert companies == ["北京数据科技有限公司", "上海测试商店"]


def test_explicit_gbk(tmp_path: Path) -> None:
    report, dest = ingest(tmp_path, csv_text(good(1, "北京")).encode("gbk"), encoding="gbk")
    assert report.encoding == "gbk"
    assert next(iter_rows(dest, SCHEMA))["company"] == "北京"


def test_utf8_bom(tmp_path: Path) -> None:
    report, _ = ingest(tmp_path, b"\xef\xbb\xbf" + csv_text(good(1)).encode())
    assert report.encoding == "utf-8-sig"
    report, _ = ingest(tmp_path, b"\xef\xbb\xbf" + csv_text(good(1)).encode(), encoding="utf-8")
    assert report.encoding == "utf-8-sig"


def test_bytes_in_neither_encoding_name_the_line(tmp_path: Path) -> None:
    data = csv_text(good(1), good(2)).encode() + f"{code(3)},".encode() + b"\x80\xff,,,,,\n"
    exc = fails(tmp_path, data, "dataset.encoding")
    assert exc.details["line"] == 4
    assert "line 4" in str(exc)
    assert "UTF-8" in str(exc) and "GB18030" in str(exc)


def test_gbk_file_with_a_bad_byte_names_its_line(tmp_path: Path) -> None:
    data = csv_text(good(1, "北京"), good(2, "上海")).encode("gbk") + b"\x80,,,,,,\n"
    exc = fails(tmp_path, data, "dataset.encoding")
    assert exc.details["line"] == 4
    assert "UTF-8 (first undecodable byte on line 2)" in str(exc)


def test_explicit_wrong_encoding(tmp_path: Path) -> None:
    data = csv_text(good(1), good(2, f"{CANARY}北京")).encode("gbk")
    exc = fails(tmp_path, data, "dataset.encoding", encoding="utf-8")
    assert exc.details["line"] == 2  # good(1) has Chinese too
    assert "line 2" in str(exc)


def test_unknown_encoding_name(tmp_path: Path) -> None:
    fails(tmp_path, csv_text(good(1)), "dataset.encoding", encoding="latin-1")


# --- whole-file failures --------------------------------------------------------------------


def test_too_large_checked_before_reading(tmp_path: Path) -> None:
    exc = fails(tmp_path, csv_text(good(1)), "dataset.too_large", limits=Limits(max_bytes=10))
    assert isinstance(exc, TooLarge)


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_empty(tmp_path: Path, text: str) -> None:
    fails(tmp_path, text, "dataset.empty")


def test_header_mismatch_lists_names(tmp_path: Path) -> None:
    text = "credit_code,company,capital,staff,active,registered,kind,notes,联系人\n" + good(1)
    exc = fails(tmp_path, text, "dataset.header")
    message = str(exc)
    assert "missing columns: registered_on" in message
    assert "unexpected columns: registered, notes, column 9 (name not shown)" in message
    assert exc.details["missing"] == ["registered_on"]


def test_header_order_may_differ_but_not_repeat(tmp_path: Path) -> None:
    exc = fails(tmp_path, HEADER + ",Company\n" + good(1) + ",x\n", "dataset.header")
    assert "repeats columns: company" in str(exc)


def test_headerless_file_does_not_echo_its_first_row(tmp_path: Path) -> None:
    exc = fails(tmp_path, f"{code(1)},{CANARY},1,2,yes,2024-01-01,x\n", "dataset.header")
    assert code(1) not in str(exc)
    assert "does not look like a header" in str(exc)


def test_too_many_columns(tmp_path: Path) -> None:
    exc = fails(tmp_path, csv_text(good(1)), "dataset.header", limits=Limits(max_columns=5))
    assert "7 columns" in str(exc)


def test_unclosed_quote(tmp_path: Path) -> None:
    text = csv_text(good(1), f'{code(2)},"{CANARY},1,2,yes,2024-01-01,', good(3))
    exc = fails(tmp_path, text, "dataset.csv")
    assert "unclosed quote" in str(exc)
    assert exc.details["line"] == 3


def test_stray_quote(tmp_path: Path) -> None:
    exc = fails(tmp_path, csv_text(good(1), f'{code(2)},"{CANARY}"x,,,,,'), "dataset.csv")
    assert exc.details["line"] == 3


def test_nul_byte(tmp_path: Path) -> None:
    exc = fails(tmp_path, csv_text(good(1), good(2), f"{code(3)},{CANARY}\x00,,,,,"), "dataset.csv")
    assert "NUL byte on line 4" in str(exc)


def test_line_without_end_is_bounded(tmp_path: Path) -> None:
    limits = Limits(max_cell_chars=1, max_columns=7)  # records of at most 98 bytes
    exc = fails(tmp_path, csv_text(CANARY * 20), "dataset.csv", limits=limits)
    assert exc.details["line"] == 2


def test_no_rows(tmp_path: Path) -> None:
    fails(tmp_path, HEADER + "\n", "dataset.no_rows")
    all_rejected = csv_text(f"{CANARY},,,,,,")
    fails(tmp_path, all_rejected, "dataset.no_rows", limits=NO_REJECTS_LIMIT)


def test_too_many_rejects(tmp_path: Path) -> None:
    rows = [good(1), good(2), f"{CANARY},,,,,,", good(3), f"{code(4)},{CANARY},,{CANARY},,,"]
    exc = fails(tmp_path, csv_text(*rows), "dataset.too_many_rejects")  # 2 of 5 > 20%
    assert "2 of 5 rows" in str(exc)
    assert "4 (identifier.wrong_length), 6 (type.integer)" in str(exc)
    assert exc.details["rejected_count"] == 2
    report, _ = ingest(tmp_path, csv_text(*rows), limits=Limits(max_reject_ratio=0.4))
    assert report.rejected_count == 2


def test_invalid_input_is_the_leaf_for_all_but_size(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        ingest(tmp_path, HEADER + "\n")


# --- reading back ---------------------------------------------------------------------------


def test_iter_rows_round_trip(tmp_path: Path) -> None:
    text = csv_text(good(1), f'{code(2)},"line\nbreak, and ""quotes""",,,,,')
    _, dest = ingest(tmp_path, text)
    rows = list(iter_rows(dest, SCHEMA))
    assert rows[0] == {
        "credit_code": code(1),
        "company": "甲公司",
        "capital": "100.50",
        "staff": "12",
        "active": "true",
        "registered_on": "2024-03-01",
        "kind": "有限责任公司",
    }
    assert rows[1]["company"] == 'line\nbreak, and "quotes"'
    assert rows[1]["capital"] is None
    # a second load of the normalized file is a fixed point
    again = tmp_path / "again.csv"
    report = ingest_csv(dest, SCHEMA, again)
    assert again.read_bytes() == dest.read_bytes()
    assert report.fingerprint == "sha256:" + hashlib.sha256(dest.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "company,credit_code,capital,staff,active,registered_on,kind\n",
        HEADER + "\na,b\n",
        HEADER + '\n"unclosed,,,,,,\n',
    ],
)
def test_iter_rows_refuses_a_corrupt_store(tmp_path: Path, text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        list(iter_rows(write(tmp_path, text), SCHEMA))
    assert info.value.code == "store.corrupt"
