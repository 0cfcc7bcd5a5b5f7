"""Quality figures of a dataset (DOMAIN.md, 数据质量): completeness, duplication, malformed
identifiers, rejections at ingestion and timeliness.

Figures are counts and fractions only; they may be shown to anyone who may see the dataset's
metadata. The profiler keeps 16-byte digests, never identifiers or rows, so memory stays
bounded by the number of distinct rows and no raw value lingers in it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sandbox.datasets.schema import Schema
from sandbox.errors import InvalidInput
from sandbox.identifiers import check

_DIGEST_BYTES = 16


@dataclass(frozen=True, slots=True)
class Quality:
    rows: int
    completeness: dict[str, float]
    duplicate_identifiers: int
    duplicate_rows: int
    invalid_identifiers: int
    rejected_rows: int
    freshness: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "completeness": dict(self.completeness),
            "duplicate_identifiers": self.duplicate_identifiers,
            "duplicate_rows": self.duplicate_rows,
            "invalid_identifiers": self.invalid_identifiers,
            "rejected_rows": self.rejected_rows,
            "freshness": self.freshness,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Quality:
        completeness = data.get("completeness")
        freshness = data.get("freshness")
        if not isinstance(completeness, Mapping) or not (
            freshness is None or isinstance(freshness, str)
        ):
            raise _corrupt()
        fractions: dict[str, float] = {}
        for name, value in completeness.items():
            if not isinstance(name, str) or not _is_number(value):
                raise _corrupt()
            fractions[name] = float(value)
        return cls(
            rows=_count(data, "rows"),
            completeness=fractions,
            duplicate_identifiers=_count(data, "duplicate_identifiers"),
            duplicate_rows=_count(data, "duplicate_rows"),
            invalid_identifiers=_count(data, "invalid_identifiers"),
            rejected_rows=_count(data, "rejected_rows"),
            freshness=freshness,
        )


def _corrupt() -> InvalidInput:
    return InvalidInput("stored quality figures are malformed", code="quality.invalid")


def _is_number(value: object) -> bool:
    # bool is an int subclass; a stored True is corruption, not 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(data: Mapping[str, object], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _corrupt()
    return value


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=_DIGEST_BYTES).digest()


class Profiler:
    """Streaming accumulator of quality figures over normalized rows."""

    def __init__(self, schema: Schema) -> None:
        self._names = schema.column_names
        self._identifier_at = self._names.index(schema.identifier.column)
        fresh = schema.freshness_column
        self._freshness_at = None if fresh is None else self._names.index(fresh)
        self._rows = 0
        self._filled = [0] * len(self._names)
        self._identifiers: set[bytes] = set()
        self._row_digests: set[bytes] = set()
        self._duplicate_identifiers = 0
        self._duplicate_rows = 0
        self._newest: dt.date | None = None

    def add(self, row: Mapping[str, str | None]) -> None:
        self.add_values([row.get(name) for name in self._names])

    def add_values(self, values: Sequence[str | None]) -> None:
        """Add one row given as values in schema column order (ingestion's fast path)."""
        if len(values) != len(self._names):
            raise ValueError("one value per schema column is needed")
        self._rows += 1
        filled = self._filled
        for i, value in enumerate(values):
            if value is not None:
                filled[i] += 1

        ident = values[self._identifier_at]
        if ident is not None:
            key = _digest(ident)
            if key in self._identifiers:
                self._duplicate_identifiers += 1
            else:
                self._identifiers.add(key)

        # repr of a tuple of str/None is unambiguous, unlike a join on any separator.
        key = _digest(repr(tuple(values)))
        if key in self._row_digests:
            self._duplicate_rows += 1
        else:
            self._row_digests.add(key)

        if self._freshness_at is not None:
            self._see_date(values[self._freshness_at])

    def _see_date(self, value: str | None) -> None:
        if value is None:
            return
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            return  # not a normalized date: it says nothing about freshness
        if self._newest is None or day > self._newest:
            self._newest = day

    def result(self, *, rejected_rows: int = 0, invalid_identifiers: int = 0) -> Quality:
        if self._rows == 0:
            completeness = dict.fromkeys(self._names, 1.0)
        else:
            completeness = {
                name: round(count / self._rows, 4)
                for name, count in zip(self._names, self._filled, strict=True)
            }
        return Quality(
            rows=self._rows,
            completeness=completeness,
            duplicate_identifiers=self._duplicate_identifiers,
            duplicate_rows=self._duplicate_rows,
            invalid_identifiers=invalid_identifiers,
            rejected_rows=rejected_rows,
            freshness=None if self._newest is None else self._newest.isoformat(),
        )


def profile_file(
    path: Path,
    schema: Schema,
    *,
    progress: Callable[[int], None] | None = None,
    every: int = 5000,
) -> Quality:
    """Profile a normalized store file, re-checking every identifier on the way."""
    # Imported here because ingest imports this module for Profiler.
    from sandbox.datasets.ingest import iter_rows

    if every < 1:
        raise ValueError("every must be at least 1")
    profiler = Profiler(schema)
    kind, column = schema.identifier.kind, schema.identifier.column
    invalid = 0
    done = 0
    for row in iter_rows(path, schema):
        value = row.get(column)
        if value is None or not check(kind, value).ok:
            invalid += 1
        profiler.add(row)
        done += 1
        if progress is not None and done % every == 0:
            progress(done)
    return profiler.result(invalid_identifiers=invalid)
