"""Governance records: zones, licenses, catalog reviews, purposes, grants and their reviews,
and per-day usage for quotas. Decisions are also ledger entries; these rows are their state."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

import sandbox.db.models  # noqa: F401  (the runtime tables that these foreign keys name)
from sandbox.db.base import Base, HasId


class Zone(HasId, Base):
    """A data zone (e.g. the finance zone, 金融公共数据专区)."""

    __tablename__ = "zones"
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime]


class ZoneDataset(Base):
    __tablename__ = "zone_datasets"
    zone_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"), primary_key=True)


class ZoneOperator(Base):
    __tablename__ = "zone_operators"
    zone_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), primary_key=True)


class LicenseState(enum.StrEnum):
    SUBMITTED = "submitted"  # the operator's application, awaiting the bureau
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    REFUSED = "refused"


class License(HasId, Base):
    """An operating license (运营授权): operator × zone × scope × term. Expiry is derived from
    ``valid_until`` and the time of the check, so a license expires by itself."""

    __tablename__ = "licenses"
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    zone_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("zones.id"))
    scope: Mapped[str] = mapped_column(Text)
    qualifications: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]
    applied_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]

    zone: Mapped[Zone] = relationship(lazy="joined")


class CatalogReview(HasId, Base):
    """The bureau's confirmed classification of one dataset version. Only a reviewed version
    can be granted; the review may tighten what the provider declared."""

    __tablename__ = "catalog_reviews"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[int]
    openness: Mapped[str] = mapped_column(String(16))
    grade: Mapped[str] = mapped_column(String(16))
    sensitivities: Mapped[dict[str, str]] = mapped_column(JSON)  # column -> sensitivity
    note: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[dt.datetime]


class Purpose(HasId, Base):
    """The bureau's list of allowed purposes (e.g. "SME credit assessment")."""

    __tablename__ = "purposes"
    code: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)


class GrantState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class Grant(HasId, Base):
    """A data-use grant (数据使用授权). ``terms`` holds what was asked; ``approved`` what the
    reviewers granted (possibly narrower). Both have the shape of :class:`grants.terms.Terms`."""

    __tablename__ = "grants"
    operator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), index=True)
    license_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("licenses.id"), index=True)
    requested_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16), index=True)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    approved: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    justification: Mapped[str] = mapped_column(Text)
    epsilon_spent: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[dt.datetime]
    decided_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)

    license: Mapped[License] = relationship(lazy="joined")
    reviews: Mapped[list[GrantReview]] = relationship(lazy="selectin", order_by="GrantReview.at")


class GrantReview(HasId, Base):
    """One required reviewer's decision: the bureau, or a providing department's CDO."""

    __tablename__ = "grant_reviews"
    __table_args__ = (UniqueConstraint("grant_id", "reviewer_org_id"),)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grants.id"), index=True)
    reviewer_org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approve | refuse
    conditions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime]


class GrantUsage(Base):
    """Calls and rows used per grant per day (UTC), for the quotas."""

    __tablename__ = "grant_usage"
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grants.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    calls: Mapped[int] = mapped_column(default=0)
    rows: Mapped[int] = mapped_column(default=0)


class Contribution(HasId, Base):
    """A data holder's standing consent to add one of its own datasets (say, a bank's loan
    book), encrypted, to secure sums under a grant that names it as a recipient. Withdrawn
    consent stops it at the next computation; the ledger keeps both decisions."""

    __tablename__ = "contributions"
    __table_args__ = (UniqueConstraint("grant_id", "dataset_id"),)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grants.id"), index=True)
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id"))
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"))
    columns: Mapped[list[str]] = mapped_column(JSON)
    consented_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    consented_at: Mapped[dt.datetime]
    withdrawn_at: Mapped[dt.datetime | None]
