"""Request and response models of the data-product API (/products, /subscriptions,
/authorizations, /calls, /statements, /tickets). Requests forbid unknown fields and non-finite
numbers, and bound every string so that a request stays small; what a value means (a credit
code's check character, a reference's shape, a quota's limit, who may decide) is checked by
``products``, which answers with its own stable codes. Money is integer fen (分); times leave
as ISO 8601 strings. No model carries a raw identifier from a dataset, except a correction
ticket's ``subject``, shown only to the filing bank, the providing department and the bureau."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from products.spec import ProductSpec

SHORT = 64
TEXT = 4000
MAX_QUOTA = 10**12


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- products ---------------------------------------------------------------------------------


class ProductCreate(_In):
    """A new product under one of the operator's licenses; version 1 is a draft."""

    slug: str = Field(max_length=SHORT, description="2 to 63 lower-case letters, digits, hyphens.")
    name: str = Field(max_length=200)
    license_id: UUID
    spec: ProductSpec


class VersionCreate(_In):
    spec: ProductSpec


class ProductReviewCreate(_In):
    decision: Literal["approve", "refuse"]
    reason: str = Field(default="", max_length=TEXT, description="Required for a refusal.")


class ListingCreate(_In):
    version: int = Field(strict=True, ge=1, le=1_000_000, description="An approved version.")


class Delisting(_In):
    reason: str = Field(max_length=TEXT, description="Why the product leaves the store.")


class SourceOut(_Out):
    dataset_id: str
    dataset: str = Field(description="domain/name")
    title: str
    owner: str
    labels: list[str]


class ProductReviewerOut(_Out):
    org: str
    decision: str | None
    at: str | None
    reason: str | None


class VersionOut(_Out):
    product_id: str
    version: int
    state: str = Field(description="draft, submitted, approved, refused or superseded.")
    submitted_at: str | None
    decided_at: str | None


class RatingSummaryOut(_Out):
    average: float | None
    total: int


class ProductOut(_Out):
    """A product as the caller may see it: metadata, terms and price, never data. A bank sees
    the listed version; the operator, the reviewers, the bureau and the auditor the latest."""

    id: str
    slug: str
    name: str
    kind: str
    state: str = Field(description="draft, in_review, listed or delisted.")
    operator: str
    operator_name: str
    listed_version: int | None
    version: int
    version_state: str
    spec: ProductSpec
    sources: list[SourceOut]
    reviewers: list[ProductReviewerOut] = Field(
        description="Required reviewers of the version shown."
    )
    versions: list[VersionOut]
    license_in_force: bool
    rating: RatingSummaryOut


class ProductList(_Out):
    products: list[ProductOut]


class RatingCreate(_In):
    stars: int = Field(strict=True, ge=1, le=5)
    comment: str = Field(default="", max_length=1000)


class RatingOut(_Out):
    product_id: str
    stars: int
    comment: str
    at: str
    summary: RatingSummaryOut


# --- subscriptions ----------------------------------------------------------------------------


class SubscriptionCreate(_In):
    product_id: UUID
    accept_terms: bool = Field(strict=True, description="Must be true: the listed terms.")


class SubscriptionDecision(_In):
    approve: bool = Field(strict=True)
    reason: str = Field(default="", max_length=TEXT, description="Required for a rejection.")
    calls_per_month: int | None = Field(default=None, strict=True, ge=1, le=MAX_QUOTA)
    identifiers_per_month: int | None = Field(default=None, strict=True, ge=1, le=MAX_QUOTA)


class SubscriptionOut(_Out):
    id: str
    product_id: str
    product_slug: str
    product_name: str
    consumer: str
    consumer_name: str
    state: str = Field(description="requested, active, rejected or cancelled.")
    accepted_version: int
    listed_version: int | None
    calls_per_month: int
    identifiers_per_month: int
    requested_at: str
    decided_at: str | None
    reason: str | None


class SubscriptionList(_Out):
    subscriptions: list[SubscriptionOut]


# --- enterprise authorizations ----------------------------------------------------------------


class AuthorizationCreate(_In):
    """An enterprise's authorization of credit checks, registered on its behalf. Only a
    digest of (bank, normalized credit code, reference) is stored."""

    credit_code: str = Field(max_length=SHORT)
    reference: str = Field(max_length=SHORT)
    valid_until: dt.datetime = Field(description="With a time zone; within ten years.")


class AuthorizationOut(_Out):
    id: str
    reference: str
    state: str = Field(description="active or revoked (see valid_until for expiry).")
    valid_until: str
    registered_at: str
    revoked_at: str | None


class AuthorizationList(_Out):
    authorizations: list[AuthorizationOut]


# --- calls ------------------------------------------------------------------------------------


class CallCreate(_In):
    input_dataset_id: UUID = Field(description="One of the bank's own datasets: its applicants.")
    reference_column: str = Field(
        default="authorization_ref",
        max_length=SHORT,
        description="The input's column holding each enterprise's authorization reference.",
    )


class CallOut(_Out):
    """A call's usage record. For the operator: counts and charges only."""

    id: str
    product_id: str
    product_slug: str
    product_name: str
    version: int
    consumer: str
    caller: str | None
    state: str = Field(description="running, succeeded, failed or refused.")
    job_ids: list[str]
    input_dataset_id: str | None
    identifiers: int
    matched: int | None
    unauthorized: int | None
    rejected: int | None
    compute_seconds: float
    charge_fen: int
    period: str
    created_at: str
    settled_at: str | None
    refusal_code: str | None


class CallList(_Out):
    calls: list[CallOut]


class CallResult(_Out):
    call: str
    columns: list[str]
    rows: list[list[str]]
    row_count: int


# --- statements -------------------------------------------------------------------------------


class StatementLineOut(_Out):
    product_id: str
    product_slug: str
    product_name: str
    operator: str
    consumer: str
    calls: int
    identifiers: int
    amount_fen: int
    operator_fee_fen: int
    public_finance_fen: int


class TotalsOut(_Out):
    calls: int
    identifiers: int
    amount_fen: int
    operator_fee_fen: int
    public_finance_fen: int


class StatementOut(_Out):
    period: str
    consumer: str | None
    operator: str | None
    lines: list[StatementLineOut]
    totals: TotalsOut


# --- correction tickets -----------------------------------------------------------------------


class TicketCreate(_In):
    product_id: UUID
    dataset_id: UUID = Field(description="A source dataset of the product.")
    subject: str = Field(max_length=SHORT, description="The enterprise's credit code.")
    field: str = Field(max_length=SHORT, description="A label or source column.")
    description: str = Field(max_length=TEXT)


class TicketAnswer(_In):
    answer: str = Field(max_length=TEXT)
    close: bool = Field(default=False, strict=True)


class TicketOut(_Out):
    id: str
    product_id: str
    product_slug: str
    consumer: str | None
    provider: str
    dataset: str
    field: str
    subject: str | None
    description: str | None
    state: str = Field(description="open, answered or closed.")
    filed_at: str
    due_at: str
    overdue: bool
    answer: str | None
    answered_at: str | None


class TicketList(_Out):
    tickets: list[TicketOut]
