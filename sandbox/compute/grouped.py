"""A domain's own rows, grouped: per group (the declared categories of the group-by columns),
the values of one numeric column, read from the domain's store with the same parsing rules as
dataset loading. Only the encrypted moments of these lists ever leave the domain."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sandbox.compute.inputs import rows_of
from sandbox.datasets.schema import ColumnType, Schema
from sandbox.datasets.stored import StoredDataset
from sandbox.errors import SandboxError

MAX_GROUPS = 1000
DEFAULT_MAX_ABS = Decimal(10) ** 12  # without stated bounds, a larger value fails the step
NUMERIC = (ColumnType.INTEGER, ColumnType.DECIMAL)
DECIMALS = {ColumnType.INTEGER: 0, ColumnType.DECIMAL: 2}


@dataclass(frozen=True, slots=True)
class Grouping:
    """What a grouped aggregate reads: the same at every party (it is signed into the ticket)."""

    group_columns: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]  # every combination of declared categories, in order
    value_column: str | None  # None: counts only
    decimals: int
    bounds: tuple[Decimal, Decimal] | None = None

    @property
    def max_abs(self) -> Decimal:
        if self.bounds is None:
            return DEFAULT_MAX_ABS
        return max(abs(self.bounds[0]), abs(self.bounds[1]))


def grouping_of(
    schema: Schema,
    columns: Sequence[str],
    *,
    bounds: tuple[Decimal, Decimal] | None = None,
) -> Grouping:
    """Split asked columns into group-by columns (categories) and one value column (numeric);
    the identifier, if asked, is ignored. Refuses anything else, with the reason."""
    by_name = {c.name: c for c in schema.columns}
    group_cols: list[str] = []
    values: list[str] = []
    for name in columns:
        col = by_name.get(name)
        if col is None:
            raise SandboxError(f"the dataset has no column {name}", code="job.column_unknown")
        if name == schema.identifier.column:
            continue
        if col.type is ColumnType.CATEGORY:
            group_cols.append(name)
        elif col.type in NUMERIC:
            values.append(name)
        else:
            raise SandboxError(
                f"{name} is neither a category to group by nor a number to add up",
                code="job.column_kind",
            )
    if len(values) > 1:
        raise SandboxError("ask for one numeric column to aggregate", code="job.one_value")
    categories = [by_name[g].values or () for g in group_cols]
    groups = tuple(itertools.product(*categories)) if group_cols else ((),)
    if len(groups) > MAX_GROUPS:
        raise SandboxError(
            f"{len(groups)} groups are more than {MAX_GROUPS}", code="job.too_many_groups"
        )
    value = values[0] if values else None
    decimals = DECIMALS[by_name[value].type] if value else 0
    if bounds is not None and not bounds[0] <= bounds[1]:
        raise SandboxError("the lower bound exceeds the upper bound", code="job.bounds")
    return Grouping(tuple(group_cols), groups, value, decimals, bounds)


@dataclass(frozen=True, slots=True)
class Grouped:
    values: list[list[Decimal]]  # per group of the grouping, in its order
    rows: int
    used: int
    rejected: int  # rows with a group or value that does not parse, counted, never shown


def parse_value(raw: str | None, bounds: tuple[Decimal, Decimal] | None) -> Decimal | None:
    """A stored number, clamped to the bounds; None if it does not parse (counted as rejected,
    never shown). Without bounds, a value beyond DEFAULT_MAX_ABS fails the step."""
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if bounds is not None:
        return min(max(value, bounds[0]), bounds[1])
    if abs(value) > DEFAULT_MAX_ABS:
        raise SandboxError(
            "a value is larger than the aggregate allows without stated bounds",
            code="aggregate.out_of_bounds",
        )
    return value


def read_grouped(data: StoredDataset, grouping: Grouping) -> Grouped:
    rows, header = rows_of(data)
    try:
        group_at = [header.index(g) for g in grouping.group_columns]
        value_at = header.index(grouping.value_column) if grouping.value_column else None
    except ValueError:
        raise SandboxError("a column is not in the dataset", code="step.scope") from None
    index = {g: i for i, g in enumerate(grouping.groups)}
    out: list[list[Decimal]] = [[] for _ in grouping.groups]
    total = used = rejected = 0
    zero = Decimal(0)
    for fields in rows:
        total += 1
        if len(fields) != len(header):
            rejected += 1
            continue
        slot = index.get(tuple(fields[i] for i in group_at))
        if slot is None:
            rejected += 1
            continue
        value = zero
        if value_at is not None:
            parsed = parse_value(fields[value_at], grouping.bounds)
            if parsed is None:
                rejected += 1
                continue
            value = parsed
        out[slot].append(value)
        used += 1
    return Grouped(out, total, used, rejected)
