"""Cell normalization: each column's canonical form, checked against its declared type.

A failure raises :class:`CellRejected` with a column and a reason code, never the value.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal

from sandbox.datasets.schema import Column, ColumnType, Schema
from sandbox.identifiers import IdentifierKind, check

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # no exponent: "1e999999999"
_DATE = re.compile(r"([0-9]{4})([-/])([0-9]{1,2})\2([0-9]{1,2})|([0-9]{4})([0-9]{2})([0-9]{2})")
_BOOLEANS = {
    "true": "true", "yes": "true", "1": "true", "是": "true",
    "false": "false", "no": "false", "0": "false", "否": "false",
}  # fmt: skip


class CellRejected(Exception):
    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def fold(raw: str) -> str:
    # ASCII is already in NFKC form, and most cells are ASCII.
    value = (raw if raw.isascii() else unicodedata.normalize("NFKC", raw)).strip()
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _integer(value: str) -> str:
    if not _INTEGER.fullmatch(value):
        raise CellRejected(None, "type.integer")
    try:
        return str(int(value))
    except ValueError:  # beyond int's digit limit
        raise CellRejected(None, "type.integer") from None


def _decimal(value: str) -> str:
    if not _DECIMAL.fullmatch(value):
        raise CellRejected(None, "type.decimal")
    number = Decimal(value)
    if number.is_zero():
        number = number.copy_abs()  # "-0.0" and "0.0" are one value
    return format(number, "f")


def _boolean(value: str) -> str:
    try:
        return _BOOLEANS[value.casefold()]
    except KeyError:
        raise CellRejected(None, "type.boolean") from None


def _date(value: str) -> str:
    match = _DATE.fullmatch(value)
    if match is None:
        raise CellRejected(None, "type.date")
    year, _, month, day, year8, month8, day8 = match.groups()
    try:
        return dt.date(int(year or year8), int(month or month8), int(day or day8)).isoformat()
    except ValueError:
        raise CellRejected(None, "type.date") from None


def _categories(column: Column) -> Callable[[str], str]:
    declared = {fold(v): v for v in column.values or ()}

    def convert(value: str) -> str:
        try:
            return declared[value]
        except KeyError:
            raise CellRejected(None, "category") from None

    return convert


def _identifier(kind: IdentifierKind) -> Callable[[str], str]:
    def convert(value: str) -> str:
        checked = check(kind, value)
        if checked.value is None:
            raise CellRejected(None, f"identifier.{checked.reason}")
        return checked.value

    return convert


def _converter(column: Column, schema: Schema) -> Callable[[str], str]:
    if column.name == schema.identifier.column:
        return _identifier(schema.identifier.kind)
    if column.type is ColumnType.CATEGORY:
        return _categories(column)
    simple: dict[ColumnType, Callable[[str], str]] = {
        ColumnType.STRING: str,
        ColumnType.INTEGER: _integer,
        ColumnType.DECIMAL: _decimal,
        ColumnType.BOOLEAN: _boolean,
        ColumnType.DATE: _date,
    }
    return simple[column.type]


class RowNormalizer:
    def __init__(
        self, schema: Schema, positions: list[int], width: int, *, max_cell_chars: int
    ) -> None:
        self._width = width
        self._max_chars = max_cell_chars
        self._plan = [
            (position, column.name, column.required, column.name == schema.identifier.column,
             _converter(column, schema))
            for position, column in zip(positions, schema.columns, strict=True)
        ]  # fmt: skip

    def __call__(self, fields: list[str]) -> list[str | None]:
        if len(fields) != self._width:
            raise CellRejected(None, "field_count")
        out: list[str | None] = []
        for position, name, required, is_identifier, convert in self._plan:
            raw = fields[position]
            if len(raw) > self._max_chars:
                raise CellRejected(name, "too_long")
            value = fold(raw)
            if len(value) > self._max_chars:  # NFKC can expand a character into several
                raise CellRejected(name, "too_long")
            if not value:
                if required:
                    raise CellRejected(name, "required")
                if is_identifier:  # a row without its identifier can never be matched
                    raise CellRejected(name, "identifier.empty")
                out.append(None)
                continue
            try:
                out.append(convert(value))
            except CellRejected as exc:
                raise CellRejected(name, exc.reason) from None
        return out
