"""The terms of a grant: what is asked for, and (after review) what is granted. One typed
model, used to validate applications, to narrow approvals, and by the policy function."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Kind(enum.StrEnum):
    """The computation kinds of DESIGN §4."""

    PSI_INTERSECTION = "psi.intersection"
    PSI_CARDINALITY = "psi.cardinality"
    LOOKUP = "lookup"
    INTERSECTION_SUM = "intersection_sum"
    SECURE_SUM = "secure_sum"
    AGGREGATE = "aggregate"

    @property
    def takes_input(self) -> bool:
        """Kinds that match a requester's own list against the providers' data."""
        return self in (
            Kind.PSI_INTERSECTION,
            Kind.PSI_CARDINALITY,
            Kind.LOOKUP,
            Kind.INTERSECTION_SUM,
        )

    @property
    def allows_dp(self) -> bool:
        """Kinds whose outputs are numbers the output gate can add noise to."""
        return self in (
            Kind.PSI_CARDINALITY,
            Kind.INTERSECTION_SUM,
            Kind.SECURE_SUM,
            Kind.AGGREGATE,
        )


ColumnName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]


class DatasetColumns(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    dataset_id: UUID
    columns: tuple[ColumnName, ...] = Field(min_length=1, max_length=200)


class Terms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    datasets: tuple[DatasetColumns, ...] = Field(min_length=1, max_length=20)
    kinds: tuple[Kind, ...] = Field(min_length=1, max_length=6)
    purpose: Annotated[str, Field(min_length=1, max_length=64)]
    purpose_text: str = Field(default="", max_length=2000)
    recipients: tuple[Slug, ...] = Field(min_length=1, max_length=50)
    valid_from: dt.datetime
    valid_until: dt.datetime
    calls_per_day: int = Field(gt=0, le=10_000_000)
    rows_per_call: int = Field(gt=0, le=100_000_000)
    min_cohort: int = Field(default=10, ge=1, le=100_000)
    # Probing guards (PSI): no membership test one identifier at a time.
    rows_per_day: int | None = Field(default=None, gt=0, le=1_000_000_000)
    min_set_size: int = Field(
        default=100, ge=1, le=1_000_000, description="Fewest requester ids for psi.cardinality."
    )
    max_overlap: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="How much two successive cardinality queries may overlap.",
    )
    epsilon_budget: float | None = Field(default=None, gt=0, le=100)
    round_to: float | None = Field(
        default=None, gt=0, le=1e9, description="The gate rounds released sums to multiples."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Terms:
        if self.valid_from.tzinfo is None or self.valid_until.tzinfo is None:
            raise ValueError("times need a time zone")
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if len({d.dataset_id for d in self.datasets}) != len(self.datasets):
            raise ValueError("each dataset once")
        for d in self.datasets:
            if len(set(d.columns)) != len(d.columns):
                raise ValueError("each column once")
        if len(set(self.kinds)) != len(self.kinds) or len(set(self.recipients)) != len(
            self.recipients
        ):
            raise ValueError("kinds and recipients each once")
        if self.epsilon_budget is not None and not any(k.allows_dp for k in self.kinds):
            raise ValueError("an epsilon budget needs a kind with numeric outputs")
        return self

    def columns_of(self, dataset_id: UUID) -> frozenset[str]:
        return frozenset(c for d in self.datasets if d.dataset_id == dataset_id for c in d.columns)

    def narrows(self, wider: Terms) -> bool:
        """True when every permission here is within ``wider``'s (for approve-with-conditions)."""
        return (
            all(set(d.columns) <= wider.columns_of(d.dataset_id) for d in self.datasets)
            and set(self.kinds) <= set(wider.kinds)
            and self.purpose == wider.purpose
            and set(self.recipients) <= set(wider.recipients)
            and self.valid_from >= wider.valid_from
            and self.valid_until <= wider.valid_until
            and self.calls_per_day <= wider.calls_per_day
            and self.rows_per_call <= wider.rows_per_call
            and self.min_cohort >= wider.min_cohort
            and self.min_set_size >= wider.min_set_size
            and self.max_overlap <= wider.max_overlap
            and (
                wider.rows_per_day is None
                or (self.rows_per_day is not None and self.rows_per_day <= wider.rows_per_day)
            )
            and self._budget_within(wider)
            and (
                wider.round_to is None
                or (self.round_to is not None and self.round_to >= wider.round_to)
            )
        )

    def _budget_within(self, wider: Terms) -> bool:
        if self.epsilon_budget is None:
            # No budget is narrower only if no numeric kind is left that would need one.
            return wider.epsilon_budget is None or not any(k.allows_dp for k in self.kinds)
        return wider.epsilon_budget is not None and self.epsilon_budget <= wider.epsilon_budget
