"""The schema a provider declares for a dataset: columns, types, sensitivity, identifier,
openness and security grade (DOMAIN.md, 分类分级). Parsed from YAML and validated strictly.

A schema is metadata: it may be stored in the control DB and shown to anyone who may see the
dataset. It must not carry a dataset's raw values (``values`` lists only declared categories).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sandbox.errors import InvalidInput
from sandbox.identifiers import IdentifierKind

MAX_SCHEMA_BYTES = 256 * 1024
NAME = r"^[a-z][a-z0-9_]{0,62}$"


class ColumnType(enum.StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    CATEGORY = "category"


class Sensitivity(enum.StrEnum):
    PUBLIC = "public"
    PERSONAL = "personal"
    PERSONAL_SENSITIVE = "personal_sensitive"
    TRADE_SECRET = "trade_secret"  # noqa: S105  (a sensitivity class, not a secret)
    STATE_SECRET = "state_secret"  # noqa: S105  (a sensitivity class, not a secret)

    @property
    def hard_blocked(self) -> bool:
        """Never enters any computation (DOMAIN.md, Classification)."""
        return self in (
            Sensitivity.PERSONAL_SENSITIVE,
            Sensitivity.TRADE_SECRET,
            Sensitivity.STATE_SECRET,
        )


class Openness(enum.StrEnum):
    OPEN = "open"  # 无条件开放
    CONDITIONAL = "conditional"  # 有条件开放
    CLOSED = "closed"  # 非开放


class Grade(enum.StrEnum):
    CORE = "core"  # 核心
    IMPORTANT = "important"  # 重要
    GENERAL = "general"  # 一般


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    name: Annotated[str, Field(pattern=NAME)]
    type: ColumnType
    sensitivity: Sensitivity = Sensitivity.PUBLIC
    required: bool = False
    description: str = Field(default="", max_length=500)
    values: tuple[Annotated[str, Field(min_length=1, max_length=64)], ...] | None = Field(
        default=None, max_length=100, description="Declared categories, for type category."
    )

    @model_validator(mode="after")
    def _categories(self) -> Column:
        if (self.type is ColumnType.CATEGORY) != (self.values is not None):
            raise ValueError("a category column needs 'values', and only it may have them")
        if self.values is not None and len(set(self.values)) != len(self.values):
            raise ValueError("category values must be distinct")
        return self


class Identifier(_Strict):
    column: Annotated[str, Field(pattern=NAME)]
    kind: IdentifierKind


class Schema(_Strict):
    name: Annotated[str, Field(pattern=NAME)]
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    openness: Openness
    grade: Grade
    identifier: Identifier
    freshness_column: str | None = None
    columns: tuple[Column, ...] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _consistent(self) -> Schema:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError("column names must be distinct")
        by_name = {c.name: c for c in self.columns}
        ident = by_name.get(self.identifier.column)
        if ident is None:
            raise ValueError("identifier.column must name one of the columns")
        if ident.type is not ColumnType.STRING:
            raise ValueError("the identifier column must have type string")
        if self.freshness_column is not None:
            fresh = by_name.get(self.freshness_column)
            if fresh is None or fresh.type is not ColumnType.DATE:
                raise ValueError("freshness_column must name a column of type date")
        return self

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "schema"
    return f"{where}: {err['msg']}"


def parse_schema(data: Any) -> Schema:
    try:
        return Schema.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"invalid schema: {_first_error(exc)}", code="schema.invalid") from exc


def load_schema_text(text: str | bytes) -> Schema:
    """Parse a schema YAML document (safe loader only)."""
    if len(text) > MAX_SCHEMA_BYTES:
        raise InvalidInput("schema file is larger than 256 KiB", code="schema.too_large")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"schema is not valid YAML{where}", code="schema.yaml") from exc
    if not isinstance(data, dict):
        raise InvalidInput("schema must be a YAML mapping", code="schema.invalid")
    return parse_schema(data)
