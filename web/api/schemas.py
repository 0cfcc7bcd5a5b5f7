"""Request and response models of /api/v1. The same models validate requests, shape responses
and generate the OpenAPI 3.1 document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sandbox.jobs.requests import JobRequest, ProfileParams


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Out):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class Error(_Out):
    error: ErrorBody


class Health(_Out):
    status: str


class Org(_Out):
    id: str
    slug: str
    name: str
    kind: str


class Me(_Out):
    username: str
    display_name: str
    role: str
    organization: Org


class OrgList(_Out):
    organizations: list[Org]


class DomainOut(_Out):
    name: str
    owner: Org


class DomainList(_Out):
    domains: list[DomainOut]


class Owner(_Out):
    slug: str
    name: str
    kind: str


class DatasetOut(_Out):
    id: str
    domain: str
    owner: Owner
    name: str
    title: str
    description: str
    openness: str
    grade: str
    version: int
    version_id: str
    row_count: int
    rejected_count: int
    fingerprint: str
    source_encoding: str
    loaded_at: str
    schema_: dict[str, Any] = Field(alias="schema")
    quality: dict[str, Any]
    synthetic_sample: list[dict[str, str | None]] = Field(
        description="Rows generated from the schema alone; never real rows."
    )
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DatasetList(_Out):
    datasets: list[DatasetOut]


class StepOut(_Out):
    seq: int
    domain: str
    action: str
    status: str
    attempts: int
    progress: float
    started_at: str | None
    finished_at: str | None
    error: ErrorBody | None


class JobOut(_Out):
    id: str
    kind: str
    status: str
    progress: float
    params: dict[str, Any]
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    error: ErrorBody | None
    result: dict[str, Any] | None
    steps: list[StepOut]


class JobList(_Out):
    jobs: list[JobOut]


class JobResult(_Out):
    job: str
    kind: str
    columns: list[str]
    rows: list[list[str]]
    row_count: int
    digest: str = Field(description="SHA-256 of the result file, as recorded in the ledger.")


class TokenOut(_Out):
    id: str
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class TokenList(_Out):
    tokens: list[TokenOut]


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)


class TokenCreated(_Out):
    token: TokenOut
    secret: str = Field(description="Shown once; only its hash is stored.")


__all__ = ["JobRequest", "ProfileParams"]


class CheckpointOut(_Out):
    tree_size: int
    root_hash: str
    time: str
    key_id: str
    body: str = Field(description="The signed bytes (UTF-8 canonical JSON).")
    signature: str = Field(description="Ed25519 over body, standard base64.")
    public_key_pem: str


class LedgerEntryOut(_Out):
    index: int
    leaf_hash: str
    raw: str = Field(description="Exactly the bytes that were hashed (UTF-8).")
    entry: dict[str, Any]


class LedgerEntries(_Out):
    size: int
    entries: list[LedgerEntryOut]


class InclusionProof(_Out):
    index: int
    tree_size: int
    leaf_hash: str
    path: list[str]
    root_hash: str


class ConsistencyProof(_Out):
    first: int
    second: int
    first_root: str
    second_root: str
    path: list[str]
