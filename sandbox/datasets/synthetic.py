"""Synthetic sample rows for the catalog, generated from a schema alone.

Operators browse samples instead of data (DOMAIN.md: metadata and synthetic samples only), so
nothing here takes a dataset: a sample cannot leak what it never sees. Values are in the
store's canonical form, so a sample looks exactly like rows read back with ``iter_rows``.
"""

from __future__ import annotations

import datetime as dt
import random

from sandbox.datasets.schema import Column, ColumnType, Schema
from sandbox.errors import InvalidInput
from sandbox.identifiers import (
    CREDIT_CODE_ALPHABET,
    IdentifierKind,
    credit_code_check_char,
    resident_id_check_char,
)

WITHHELD = "█ withheld"
MAX_SAMPLE_ROWS = 1000
# No province code starts with 99, so a generated resident id or credit code can never be a
# real person's or enterprise's, even though it passes every check.
_NO_SUCH_DIVISION = "99"
_SAMPLE_DAYS = 3 * 365


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def _identifier(kind: IdentifierKind, rng: random.Random) -> str:
    if kind is IdentifierKind.CREDIT_CODE:
        # 9 = registered with market supervision, 1 = enterprise (GB 32100-2015, table 1).
        head = "91" + _NO_SUCH_DIVISION + _digits(rng, 4)
        head += "".join(rng.choice(CREDIT_CODE_ALPHABET) for _ in range(9))
        return head + credit_code_check_char(head)
    if kind is IdentifierKind.RESIDENT_ID:
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(55 * 365))
        head = _NO_SUCH_DIVISION + _digits(rng, 4) + born.strftime("%Y%m%d") + _digits(rng, 3)
        return head + resident_id_check_char(head)
    if kind is IdentifierKind.PHONE:
        return "1" + rng.choice("3456789") + _digits(rng, 9)
    return "SYN-" + _hex(rng, 8)


def _value(column: Column, rng: random.Random, *, prefix: str, today: dt.date) -> str:
    if column.type is ColumnType.STRING:
        return prefix + _hex(rng, 6)
    if column.type is ColumnType.INTEGER:
        return str(rng.randint(0, 999))
    if column.type is ColumnType.DECIMAL:
        cents = rng.randint(0, 9_999_999)
        return f"{cents // 100}.{cents % 100:02d}"
    if column.type is ColumnType.BOOLEAN:
        return rng.choice(("true", "false"))
    if column.type is ColumnType.DATE:
        return (today - dt.timedelta(days=rng.randrange(_SAMPLE_DAYS))).isoformat()
    return rng.choice(column.values or ("",))


def synthetic_sample(
    schema: Schema, *, rows: int = 5, seed: int, today: dt.date | None = None
) -> list[dict[str, str | None]]:
    """``rows`` made-up rows shaped like ``schema``; the same seed and day give the same rows."""
    if not 0 <= rows <= MAX_SAMPLE_ROWS:
        raise InvalidInput(
            f"a sample has between 0 and {MAX_SAMPLE_ROWS} rows", code="synthetic.rows"
        )
    rng = random.Random(seed)  # noqa: S311 - shapes demo values; nothing secret depends on it
    day = today or dt.date.today()
    prefix = "示例-" if _has_cjk(schema.title + schema.description) else "sample-"
    sample: list[dict[str, str | None]] = []
    for _ in range(rows):
        row: dict[str, str | None] = {}
        for column in schema.columns:
            if column.sensitivity.hard_blocked:
                row[column.name] = WITHHELD
            elif column.name == schema.identifier.column:
                row[column.name] = _identifier(schema.identifier.kind, rng)
            else:
                row[column.name] = _value(column, rng, prefix=prefix, today=day)
        sample.append(row)
    return sample
