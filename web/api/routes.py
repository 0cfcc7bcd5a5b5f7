"""/api/v1 routes: parse, call one service function, shape the response. No business rules."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, request
from pydantic import BaseModel
from sqlalchemy import select

from sandbox.compute.delivery import deliver
from sandbox.datasets import catalog
from sandbox.domains.service import visible_domains
from sandbox.errors import InvalidInput
from sandbox.ids import JobId
from sandbox.jobs import service as jobs
from sandbox.jobs.models import JobState
from sandbox.jobs.requests import JobRequest
from sandbox.parties import service as parties
from sandbox.parties.models import ApiToken, Organization
from sandbox.parties.principal import Principal
from web import context as ctx
from web.api import schemas as s
from web.api.spec import openapi_document, operation
from web.params import json_body, path_id, query_int

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def shaped(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """Validate what leaves against the documented schema."""
    return model.model_validate(data).model_dump(mode="json", by_alias=True)


def _org(org: Organization) -> dict[str, Any]:
    return {"id": str(org.id), "slug": org.slug, "name": org.name, "kind": org.kind}


def _token(token: ApiToken) -> dict[str, Any]:
    return {
        "id": str(token.id),
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def caller() -> Principal:
    return ctx.api_principal()


@operation(bp, "GET", "/me", summary="Who this token belongs to", response=s.Me)
def me() -> Any:
    who = caller()
    org = parties.organization_of(ctx.db(), who)
    return shaped(
        s.Me,
        {
            "username": who.username,
            "display_name": who.display_name,
            "role": who.role.value,
            "organization": _org(org),
        },
    )


@operation(bp, "GET", "/organizations", summary="Organizations you may see", response=s.OrgList)
def organizations() -> Any:
    who = caller()
    query = select(Organization).order_by(Organization.kind, Organization.slug)
    if not who.oversees_all:
        query = query.where(Organization.id == who.org_id)
    return shaped(s.OrgList, {"organizations": [_org(o) for o in ctx.db().scalars(query)]})


@operation(bp, "GET", "/domains", summary="Data domains you may see", response=s.DomainList)
def domains() -> Any:
    who = caller()
    rows = visible_domains(ctx.db(), who)
    return shaped(s.DomainList, {"domains": [{"name": d.name, "owner": _org(d.org)} for d in rows]})


@operation(
    bp,
    "GET",
    "/datasets",
    summary="Catalog: metadata and synthetic samples",
    response=s.DatasetList,
)
def datasets() -> Any:
    who = caller()
    entries = catalog.visible_datasets(ctx.db(), who)
    return shaped(s.DatasetList, {"datasets": [e.to_json() for e in entries]})


@operation(bp, "GET", "/datasets/{dataset_id}", summary="One catalog entry", response=s.DatasetOut)
def dataset(dataset_id: str) -> Any:
    who = caller()
    entry = catalog.get_visible(ctx.db(), who, path_id(dataset_id, "dataset"))
    return shaped(s.DatasetOut, entry.to_json())


@operation(
    bp,
    "GET",
    "/jobs",
    summary="Jobs you may see, newest first",
    response=s.JobList,
    query=(("status", "string"), ("limit", "integer")),
)
def list_jobs() -> Any:
    who = caller()
    state = request.args.get("status")
    if state is not None and state not in {s.value for s in JobState}:
        raise InvalidInput(
            "status must be one of queued, running, succeeded, failed", code="invalid_query"
        )
    limit = query_int("limit", default=50, max_digits=6)
    if not 1 <= limit <= jobs.MAX_LIST:
        raise InvalidInput(
            f"limit must be a whole number from 1 to {jobs.MAX_LIST}", code="invalid_query"
        )
    rows = jobs.visible_jobs(ctx.db(), who, limit=limit, state=state)
    return shaped(s.JobList, {"jobs": [jobs.job_to_json(j) for j in rows]})


@operation(
    bp, "POST", "/jobs", summary="Submit a job", request=JobRequest, response=s.JobOut, status=202
)
def submit_job() -> Any:
    who = caller()
    job_request = json_body(JobRequest)
    session = ctx.db()
    job = jobs.submit(session, who, job_request, signer=ctx.signer(), now=ctx.now())
    body = jobs.job_to_json(job)
    session.commit()
    ctx.enqueuer().advance_job(JobId(job.id))  # only after commit
    return shaped(s.JobOut, body), 202


@operation(
    bp, "GET", "/jobs/{job_id}", summary="A job's status, progress and result", response=s.JobOut
)
def get_job(job_id: str) -> Any:
    who = caller()
    job = jobs.get_visible_job(ctx.db(), who, path_id(job_id, "job"))
    return shaped(s.JobOut, jobs.job_to_json(job))


@operation(
    bp,
    "GET",
    "/jobs/{job_id}/result",
    summary="A protocol job's result, for the recipient organization only (format=csv for a file)",
    response=s.JobResult,
    query=(("format", "json (default) or csv"),),
)
def get_job_result(job_id: str) -> Any:
    who = caller()
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidInput("format must be json or csv", code="invalid_query")
    session = ctx.db()
    delivery = deliver(
        session,
        who,
        path_id(job_id, "job"),
        domain_root=ctx.settings().domain_root,
        now=ctx.now(),
    )
    session.commit()  # the download is in the ledger before anything is sent
    data = delivery.path.read_bytes()
    if fmt == "csv":
        headers = {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{delivery.filename}"',
        }
        return data, 200, headers
    table = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    return shaped(
        s.JobResult,
        {
            "job": str(delivery.job.id),
            "kind": delivery.job.kind,
            "columns": table[0] if table else [],
            "rows": table[1:],
            "row_count": max(len(table) - 1, 0),
            "digest": delivery.digest,
        },
    )


@operation(bp, "GET", "/tokens", summary="Your API tokens", response=s.TokenList)
def list_tokens() -> Any:
    who = caller()
    return shaped(s.TokenList, {"tokens": [_token(t) for t in parties.list_tokens(ctx.db(), who)]})


@operation(
    bp,
    "POST",
    "/tokens",
    summary="Create an API token",
    request=s.TokenCreate,
    response=s.TokenCreated,
    status=201,
)
def create_token() -> Any:
    who = caller()
    body = json_body(s.TokenCreate)
    new = parties.create_token(ctx.db(), who, name=body.name, now=ctx.now())
    ctx.db().commit()
    return shaped(s.TokenCreated, {"token": _token(new.token), "secret": new.secret}), 201


@operation(
    bp, "DELETE", "/tokens/{token_id}", summary="Revoke an API token", response=None, status=204
)
def revoke_token(token_id: str) -> Any:
    who = caller()
    parties.revoke_token(ctx.db(), who, path_id(token_id, "token"), now=ctx.now())
    ctx.db().commit()
    return "", 204


@operation(bp, "GET", "/openapi.json", summary="This document", response=None, public=True)
def openapi() -> Any:
    return openapi_document("/api/v1", "1")
