"""Request and response models of the governance API (/zones, /purposes, /catalog, /licenses,
/grants). Requests forbid unknown fields and non-finite numbers; the meaning of a value (a zone
slug's shape, a term in the past, a reviewer's role) is checked by the services, which answer
with their own stable codes. Times leave as ISO 8601 strings."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grants.terms import DatasetColumns, Kind, Terms
from sandbox.datasets.schema import Grade, Openness, Sensitivity
from web.api.schemas import DatasetOut

# Generous bounds: they only keep a request small; the services state the real limits.
SHORT = 200
TEXT = 10_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- zones ------------------------------------------------------------------------------------


class ZoneCreate(_In):
    slug: str = Field(max_length=SHORT)
    name: str = Field(max_length=SHORT * 5)
    description: str = Field(default="", max_length=TEXT)


class ZoneDatasetAdd(_In):
    dataset_id: UUID


class ZoneOperatorAdd(_In):
    org_id: UUID = Field(description="An organization of kind operator.")


class ZoneOut(_Out):
    id: str
    slug: str
    name: str
    description: str
    created_at: str


class ZoneList(_Out):
    zones: list[ZoneOut]


class ZoneDatasetOut(_Out):
    zone_id: str
    dataset_id: str


class ZoneOperatorOut(_Out):
    zone_id: str
    org_id: str


# --- purposes ---------------------------------------------------------------------------------


class PurposeCreate(_In):
    code: str = Field(max_length=SHORT)
    label: str = Field(max_length=SHORT * 5)


class PurposeOut(_Out):
    id: str
    code: str
    label: str
    active: bool


class PurposeList(_Out):
    purposes: list[PurposeOut]


# --- catalog review ---------------------------------------------------------------------------


class CatalogReviewCreate(_In):
    openness: Openness
    grade: Grade
    sensitivities: dict[str, Sensitivity] = Field(
        max_length=200, description="Every column of the current version -> its sensitivity."
    )
    note: str = Field(default="", max_length=TEXT)


class CatalogReviewOut(_Out):
    id: str
    dataset_id: str
    version: int
    openness: str
    grade: str
    sensitivities: dict[str, str]
    note: str
    reviewed_at: str


class PendingReviews(_Out):
    datasets: list[DatasetOut] = Field(
        description="Provider datasets whose current version awaits the bureau's review."
    )


# --- licenses ---------------------------------------------------------------------------------


class LicenseApply(_In):
    zone_id: UUID
    scope: str = Field(max_length=TEXT)
    qualifications: str = Field(max_length=TEXT)
    valid_from: dt.datetime
    valid_until: dt.datetime


class LicenseDecision(_In):
    action: Literal["issue", "refuse", "suspend", "reinstate", "revoke"]
    reason: str = Field(
        default="", max_length=TEXT, description="Required for refuse, suspend and revoke."
    )


class ZoneRef(_Out):
    id: str
    slug: str
    name: str


class LicenseOut(_Out):
    id: str
    operator_id: str
    zone: ZoneRef
    scope: str
    qualifications: str
    state: str = Field(description="submitted, active, suspended, revoked, refused or expired.")
    valid_from: str
    valid_until: str
    created_at: str
    decided_at: str | None
    reason: str | None


class LicenseList(_Out):
    licenses: list[LicenseOut]


# --- grants -----------------------------------------------------------------------------------


class GrantApply(_In):
    license_id: UUID
    terms: Terms
    justification: str = Field(max_length=TEXT)


class GrantReviewCreate(_In):
    decision: Literal["approve", "refuse"]
    reason: str = Field(default="", max_length=TEXT, description="Required for a refusal.")
    conditions: Terms | None = Field(
        default=None, description="Narrower terms to approve with (approval only)."
    )


class GrantDecision(_In):
    action: Literal["suspend", "reinstate", "revoke"]
    reason: str = Field(max_length=TEXT)


class GrantOut(_Out):
    id: str
    license_id: str
    operator_id: str
    state: str = Field(
        description="pending, approved, refused, suspended, revoked, or expired (past its term)."
    )
    terms: Terms = Field(description="What was asked for.")
    approved: Terms | None = Field(description="What is granted (possibly narrower).")
    justification: str
    epsilon_spent: float
    created_at: str
    decided_at: str | None
    reason: str | None


class GrantList(_Out):
    grants: list[GrantOut]


class Requester(_Out):
    user: str | None
    name: str | None
    org: str | None
    org_name: str | None


class LicenseRef(_Out):
    id: str
    zone: str


class PurposeRef(_Out):
    code: str
    text: str


class Classification(_Out):
    version: int
    openness: str
    grade: str
    columns: dict[str, str] = Field(description="Each asked column -> its sensitivity.")


class ReviewedDataset(_Out):
    id: str
    name: str | None
    title: str | None
    owner: str | None
    classification: Classification | None


class Quotas(_Out):
    calls_per_day: int
    rows_per_call: int


class ReviewerOut(_Out):
    org: str
    name: str
    decision: str | None
    at: str | None
    reason: str | None
    narrowed: bool | None


class ReviewView(_Out):
    """What a reviewer sees: what was asked and why, the data's classification, what the
    outputs would reveal, and the decisions so far."""

    grant: str
    state: str
    requester: Requester
    license: LicenseRef
    asked: Terms
    current: Terms
    justification: str
    purpose: PurposeRef
    recipients: list[str]
    datasets: list[ReviewedDataset]
    reveals: dict[str, str] = Field(description="Kind -> what its outputs reveal.")
    quotas: Quotas
    min_cohort: int
    epsilon_budget: float | None
    reviewers: list[ReviewerOut]


class GrantDetail(GrantOut):
    review: ReviewView


class VoucherReviewer(_Out):
    org: str
    user: str
    decision: str
    conditions: bool
    at: str


class VoucherClaims(_Out):
    version: str
    grant: str
    operator: str
    license: LicenseRef
    terms: dict[str, Any] = Field(description="The approved terms, exactly as signed.")
    reviewers: list[VoucherReviewer]
    approved_at: str | None
    issued_at: str
    key_id: str


class VoucherOut(_Out):
    voucher: VoucherClaims
    signature: str = Field(description="Ed25519 over the canonical JSON of voucher, base64.")


class CheckRequest(_In):
    """A computation to try against the grant's policy, without running or recording it."""

    kind: Kind
    datasets: tuple[DatasetColumns, ...] = Field(min_length=1, max_length=20)
    purpose: str = Field(min_length=1, max_length=64)
    recipient: str = Field(min_length=1, max_length=64)
    rows: int = Field(strict=True, ge=0, le=10**12)
    epsilon: float | None = Field(default=None, strict=True, gt=0, le=100)


class ComputationRequest(_In):
    """A computation to run under the grant. The requester's input is one of the recipient's
    own datasets (it never leaves the recipient's domain); its size is taken from the catalog."""

    kind: Kind
    datasets: tuple[DatasetColumns, ...] = Field(
        default=(), max_length=20, description="Granted datasets and the columns asked for."
    )
    contributions: tuple[DatasetColumns, ...] = Field(
        default=(),
        max_length=50,
        description="secure_sum: data holders' own datasets, under their standing consent.",
    )
    purpose: str = Field(min_length=1, max_length=64)
    recipient: str = Field(min_length=1, max_length=64)
    input_dataset: UUID | None = Field(
        default=None, description="The requester's own list (PSI, lookup); none for aggregates."
    )
    epsilon: float | None = Field(
        default=None, gt=0, le=10, description="ε to spend on noise at the output gate."
    )
    bounds: tuple[float, float] | None = Field(
        default=None,
        description="Clamp an aggregate's values to [low, high] (required with ε).",
    )

    @model_validator(mode="after")
    def _finite_bounds(self) -> ComputationRequest:
        if not self.datasets and not self.contributions:
            raise ValueError("name at least one dataset or contribution")
        if self.bounds is not None:
            low, high = self.bounds
            if not (math.isfinite(low) and math.isfinite(high)) or low > high:
                raise ValueError("bounds must be finite with low <= high")
        return self


class ReasonOut(_Out):
    code: str
    message: str


class CheckOut(_Out):
    allowed: bool
    reasons: list[ReasonOut] = Field(description="Every reason for a refusal; empty if allowed.")


class ContributionRequest(_In):
    """Consent to add one of your own datasets, encrypted, to secure sums under this grant."""

    dataset_id: UUID
    columns: tuple[str, ...] = Field(min_length=1, max_length=50)


class ContributionOut(_Out):
    id: str
    grant_id: str
    dataset_id: str
    dataset: str
    owner: str
    columns: list[str]
    consented_at: dt.datetime


class ContributionsOut(_Out):
    contributions: list[ContributionOut]
