"""Typed ids. Every id is a UUID; the NewTypes keep an org id from being passed as a job id."""

from __future__ import annotations

from typing import NewType
from uuid import UUID

OrgId = NewType("OrgId", UUID)
UserId = NewType("UserId", UUID)
DomainId = NewType("DomainId", UUID)
DatasetId = NewType("DatasetId", UUID)
DatasetVersionId = NewType("DatasetVersionId", UUID)
JobId = NewType("JobId", UUID)
StepId = NewType("StepId", UUID)
TokenId = NewType("TokenId", UUID)


def parse_uuid(text: str) -> UUID | None:
    """A UUID from untrusted text, or None (callers turn None into their own not-found)."""
    try:
        return UUID(text)
    except (ValueError, TypeError, AttributeError):
        return None
