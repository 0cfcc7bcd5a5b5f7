"""Imports every model, so that ``Base.metadata`` is complete (for Alembic and tests)."""

from sandbox.compute.models import LookupTable
from sandbox.datasets.models import Dataset, DatasetVersion, QualitySnapshot
from sandbox.domains.models import Domain
from sandbox.jobs.models import Job, Step
from sandbox.ledger.models import LedgerCheckpoint, LedgerEntry
from sandbox.parties.models import ApiToken, Organization, User, UserSession

__all__ = [
    "ApiToken",
    "Dataset",
    "DatasetVersion",
    "Domain",
    "Job",
    "LedgerCheckpoint",
    "LedgerEntry",
    "LookupTable",
    "Organization",
    "QualitySnapshot",
    "Step",
    "User",
    "UserSession",
]
