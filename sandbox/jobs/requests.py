"""Typed job requests, validated at the edge and documented in the OpenAPI schema."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict


class ProfileParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    dataset_id: UUID


class ProfileJobRequest(BaseModel):
    """Recompute a dataset's quality figures inside its own domain."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["dataset.profile"]
    params: ProfileParams


JobRequest = ProfileJobRequest
