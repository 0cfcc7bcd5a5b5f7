"""What a product is: one typed, frozen spec per version, validated on its own here and
against the operator's grants by :mod:`products.catalog`.

A credit check names, per provider dataset, the raw columns it reads and the labels derived
from them inside the provider's domain (:class:`sandbox.compute.derive.Derivation`); an
exposure product names the secure-sum grant, the value column of the banks' consented loan
books and how many banks must hold a value before an applicant's total is released.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grants.terms import ColumnName, Slug
from sandbox.compute.derive import Derivation, check_set
from sandbox.errors import InvalidInput

MAX_FEN = 100_000_000  # 1,000,000 CNY: a price above this is a typing error, not a price
MAX_SOURCES = 8
MAX_LABELS = 20
MAX_IDENTIFIERS_PER_CALL = 1_000_000
RESERVED = frozenset({"identifier", "status", "found"})  # the result table's own columns

Label = Annotated[str, Field(max_length=64)]
Fen = Annotated[int, Field(ge=0, le=MAX_FEN, strict=True)]


class LabelSpec(BaseModel):
    """A derived label, as a spec carries it; :meth:`derivation` is what the provider runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: ColumnName
    column: ColumnName
    rule: Literal["map", "bands", "flag"]
    mapping: dict[Label, Label] = Field(default_factory=dict, max_length=200)
    edges: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(
        default_factory=list, max_length=200
    )
    labels: list[Label] = Field(default_factory=list, max_length=201)
    default: Label = ""

    @model_validator(mode="after")
    def _valid(self) -> LabelSpec:
        self.derivation()  # raises ValueError naming the problem
        return self

    def derivation(self) -> Derivation:
        return Derivation(
            name=self.name,
            column=self.column,
            rule=self.rule,
            mapping=tuple(self.mapping.items()),
            edges=tuple(self.edges),
            labels=tuple(self.labels),
            default=self.default,
        )


class SourceSpec(BaseModel):
    """One provider dataset of a credit check, under one grant: the raw columns the labels
    read (with the dataset's identifier column) and the labels released."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    grant_id: UUID
    dataset_id: UUID
    columns: tuple[ColumnName, ...] = Field(min_length=1, max_length=50)
    labels: tuple[LabelSpec, ...] = Field(min_length=1, max_length=MAX_LABELS)

    @model_validator(mode="after")
    def _consistent(self) -> SourceSpec:
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("each column once")
        check_set([label.derivation() for label in self.labels])
        outside = sorted({label.column for label in self.labels} - set(self.columns))
        if outside:
            raise ValueError(f"labels read columns the source does not name: {outside}")
        return self

    def derived(self) -> tuple[Derivation, ...]:
        return tuple(label.derivation() for label in self.labels)


class ExposureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    grant_id: UUID
    value_column: ColumnName = "outstanding_balance"
    min_contributors: int = Field(default=2, ge=2, le=100, strict=True)


class ProductSpec(BaseModel):
    """Everything a version of a product promises: its outputs, its terms and its price."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    purpose: str = Field(min_length=1, max_length=64)
    kind: Literal["credit_check", "exposure"]
    sources: tuple[SourceSpec, ...] = Field(default=(), max_length=MAX_SOURCES)
    exposure: ExposureSpec | None = None
    consumers: tuple[Slug, ...] = Field(min_length=1, max_length=50)
    price_per_call_fen: Fen = 0
    price_per_identifier_fen: Fen = 0
    operator_fee_share: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    calls_per_month: int = Field(default=1_000, gt=0, le=10_000_000, strict=True)
    identifiers_per_month: int = Field(default=100_000, gt=0, le=1_000_000_000, strict=True)
    max_identifiers_per_call: int = Field(
        default=10_000, gt=0, le=MAX_IDENTIFIERS_PER_CALL, strict=True
    )
    terms_text: str = Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _consistent(self) -> ProductSpec:
        if not self.title.strip() or not self.purpose.strip():
            raise ValueError("a title and a purpose are required")
        if len(set(self.consumers)) != len(self.consumers):
            raise ValueError("each consumer once")
        if self.kind == "credit_check":
            if not self.sources or self.exposure is not None:
                raise ValueError("a credit check has 1 to 8 sources and no exposure part")
            if len({s.dataset_id for s in self.sources}) != len(self.sources):
                raise ValueError("each source dataset once")
            names = self.label_names()
            if len(set(names)) != len(names):
                raise ValueError("each label name once across the sources")
            if RESERVED & set(names):
                raise ValueError(f"labels may not be named {', '.join(sorted(RESERVED))}")
        elif self.exposure is None or self.sources:
            raise ValueError("an exposure product has its exposure part and no sources")
        return self

    def label_names(self) -> tuple[str, ...]:
        """The labels a credit check releases, in the order of its result's columns."""
        return tuple(label.name for s in self.sources for label in s.labels)

    def grant_ids(self) -> tuple[UUID, ...]:
        ids = [s.grant_id for s in self.sources]
        if self.exposure is not None:
            ids.append(self.exposure.grant_id)
        return tuple(dict.fromkeys(ids))

    def charge_fen(self, identifiers: int) -> int:
        return self.price_per_call_fen + self.price_per_identifier_fen * identifiers


def parse_spec(data: Any) -> ProductSpec:
    """A spec from untrusted JSON (or a stored dump), or InvalidInput ``product.spec`` naming
    the first problem."""
    try:
        return ProductSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "spec"
        raise InvalidInput(
            f"invalid product spec: {where}: {err['msg']}", code="product.spec"
        ) from exc
