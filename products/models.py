"""Data-product records: products and their reviewed versions, subscriptions, enterprises'
authorizations (as digests), calls (the usage records), ratings and correction tickets.

Every decision is also a ledger entry; these rows are their state. Money is integer fen (分).
No row holds a raw identifier from a dataset, with one documented exception: a correction
ticket's ``subject``, the credit code a bank chooses to disclose to the providing department.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

import grants.models  # noqa: F401  (the governance tables that these foreign keys name)
import sandbox.db.models  # noqa: F401  (the runtime tables that these foreign keys name)
from sandbox.db.base import Base, HasId


class ProductKind(enum.StrEnum):
    CREDIT_CHECK = "credit_check"  # private lookup of derived labels (labeled PSI)
    EXPOSURE = "exposure"  # per-applicant secure sum across banks (多头借贷)


class ProductState(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    LISTED = "listed"  # 上架
    DELISTED = "delisted"  # 下架


class VersionState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REFUSED = "refused"
    SUPERSEDED = "superseded"


class SubscriptionState(enum.StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class AuthorizationState(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class CallState(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"


class TicketState(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class Product(HasId, Base):
    """A data product (数据产品) of an operator, under its license. ``listed_version`` is the
    version consumers call while the product is listed."""

    __tablename__ = "products"
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    license_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("licenses.id"))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime]
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    listed_version: Mapped[int | None]
    state: Mapped[str] = mapped_column(String(16), index=True)


class ProductVersion(HasId, Base):
    """One version of a product's spec (a :class:`products.spec.ProductSpec` dump); every
    version is reviewed before it can be listed."""

    __tablename__ = "product_versions"
    __table_args__ = (UniqueConstraint("product_id", "version"),)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    version: Mapped[int]
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    submitted_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]


class ProductReview(HasId, Base):
    """One required reviewer's decision on a version: the bureau, or a providing CDO."""

    __tablename__ = "product_reviews"
    __table_args__ = (UniqueConstraint("version_id", "org_id"),)
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("product_versions.id"), index=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approve | refuse
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime]


class Subscription(HasId, Base):
    """A consumer's subscription, accepting the terms of ``accepted_version``; quotas are per
    calendar month (UTC)."""

    __tablename__ = "subscriptions"
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    consumer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    accepted_version: Mapped[int]
    calls_per_month: Mapped[int]
    identifiers_per_month: Mapped[int]
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)


class EnterpriseAuthorization(HasId, Base):
    """An enterprise's authorization of credit checks by one consumer (授权查询), stored as
    the digest of (consumer, normalized credit code, reference) only: never the code."""

    __tablename__ = "enterprise_authorizations"
    __table_args__ = (UniqueConstraint("consumer_id", "reference"),)
    consumer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    valid_until: Mapped[dt.datetime]
    registered_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))


class ProductCall(HasId, Base):
    """One call of a product (the usage record). While running, ``identifiers`` holds the
    input's row count, reserved against the monthly quota; once settled, the identifiers
    actually queried. Counts only: the per-row result stays in the consumer's domain."""

    __tablename__ = "product_calls"
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    version: Mapped[int]
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("subscriptions.id"), index=True)
    consumer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    caller: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16), index=True)
    job_ids: Mapped[list[str]] = mapped_column(JSON)
    input_dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"))
    identifiers: Mapped[int] = mapped_column(default=0)
    matched: Mapped[int] = mapped_column(default=0)
    unauthorized: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    compute_seconds: Mapped[float] = mapped_column(default=0.0)
    charge_fen: Mapped[int] = mapped_column(default=0)
    period: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM (UTC)
    created_at: Mapped[dt.datetime]
    settled_at: Mapped[dt.datetime | None]
    refusal_code: Mapped[str | None] = mapped_column(String(64))  # refused, or failed: why


class Rating(HasId, Base):
    """A consumer's rating of a product: one per (product, consumer); a new one replaces it."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("product_id", "consumer_id"),)
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    consumer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    stars: Mapped[int]
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime]


class CorrectionTicket(HasId, Base):
    """A consumer's report of suspected wrong data (反馈纠错) to the providing department,
    which answers by ``due_at``. ``subject`` is the enterprise's credit code as the bank
    discloses it: seen only by the filing bank, the providing department and the bureau."""

    __tablename__ = "correction_tickets"
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id"), index=True)
    consumer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"))
    subject: Mapped[str] = mapped_column(String(18))
    field: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    due_at: Mapped[dt.datetime]
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None]
    answered_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    filed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    filed_at: Mapped[dt.datetime]
