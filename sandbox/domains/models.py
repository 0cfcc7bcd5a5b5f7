"""A domain row names the domain and its owner; the store itself is outside the control DB."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sandbox.db.base import Base, HasId
from sandbox.parties.models import Organization


class Domain(HasId, Base):
    __tablename__ = "domains"
    name: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id"), unique=True)
    created_at: Mapped[dt.datetime]

    org: Mapped[Organization] = relationship(lazy="joined")
