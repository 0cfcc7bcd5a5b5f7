"""Pages: role homes, catalog, jobs (with live progress), account and API tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from grants import dashboard
from products import calls as product_calls
from products import statements as product_statements
from sandbox import overview
from sandbox.datasets import catalog
from sandbox.errors import SandboxError
from sandbox.ids import JobId
from sandbox.jobs import service as jobs
from sandbox.jobs.requests import JobRequest, ProfileParams
from sandbox.parties import service as parties
from sandbox.parties.roles import Role
from web import context as ctx
from web.params import path_id
from web.ui.auth import login_required, who

bp = Blueprint("pages", __name__)

HOME_TEMPLATES = {
    Role.BUREAU_ADMIN: "home/bureau.html",
    Role.PROVIDER_CDO: "home/provider.html",
    Role.OPERATOR: "home/operator.html",
    Role.BANK_ANALYST: "home/bank.html",
    Role.AUDITOR: "home/auditor.html",
}
USAGE_DAYS = 30  # the product usage and revenue chart on the bureau's and the operator's homes


@bp.get("/")
def index() -> Any:
    return redirect(url_for("pages.home"))


@bp.get("/home")
@login_required
def home() -> Any:
    me = who()
    if me.role in (Role.BUREAU_ADMIN, Role.OPERATOR, Role.BANK_ANALYST):
        product_calls.settle_pending(ctx.db(), ctx.now())  # meter calls whose jobs ended
        ctx.db().commit()
    view = overview.build(ctx.db(), me, now=ctx.now())
    gov = dashboard.build(ctx.db(), me, now=ctx.now()) if me.role is Role.BUREAU_ADMIN else None
    usage = (
        product_statements.usage_series(ctx.db(), me, days=USAGE_DAYS, now=ctx.now())
        if me.role in (Role.BUREAU_ADMIN, Role.OPERATOR)
        else None
    )
    recent_calls = (
        product_calls.calls_for(ctx.db(), me, limit=5) if me.role is Role.BANK_ANALYST else []
    )
    return render_template(
        HOME_TEMPLATES[me.role],
        me=me,
        view=view,
        gov=gov,
        usage=usage,
        recent_calls=recent_calls,
        min_completeness=overview.min_completeness,
    )


@bp.get("/catalog")
@login_required
def catalog_page() -> Any:
    entries = catalog.visible_datasets(ctx.db(), who())
    return render_template(
        "catalog.html", entries=entries, min_completeness=overview.min_completeness
    )


@bp.get("/catalog/<dataset_id>")
@login_required
def dataset_page(dataset_id: str) -> Any:
    me = who()
    entry = catalog.get_visible(ctx.db(), me, path_id(dataset_id, "dataset"))
    history = catalog.quality_history(ctx.db(), entry)
    return render_template(
        "dataset.html",
        entry=entry,
        schema=entry.schema,
        sample=entry.sample(),
        history=history,
        can_profile=entry.owner.id == me.org_id,
    )


@bp.get("/jobs")
@login_required
def jobs_page() -> Any:
    rows = jobs.visible_jobs(ctx.db(), who(), limit=100)
    return render_template("jobs.html", jobs=rows)


@bp.post("/jobs")
@login_required
def submit_profile() -> Any:
    dataset_id = path_id(request.form.get("dataset_id", ""), "dataset")
    job_request = JobRequest(kind="dataset.profile", params=ProfileParams(dataset_id=dataset_id))
    job = jobs.submit(ctx.db(), who(), job_request, signer=ctx.signer(), now=ctx.now())
    ctx.db().commit()
    ctx.enqueuer().advance_job(JobId(job.id))
    return redirect(url_for("pages.job_page", job_id=str(job.id)))


@bp.get("/jobs/<job_id>")
@login_required
def job_page(job_id: str) -> Any:
    job = jobs.get_visible_job(ctx.db(), who(), path_id(job_id, "job"))
    return render_template("job.html", job=job, data=jobs.job_to_json(job))


@bp.get("/jobs/<job_id>/status")
@login_required
def job_status(job_id: str) -> Any:
    job = jobs.get_visible_job(ctx.db(), who(), path_id(job_id, "job"))
    return jsonify(jobs.job_to_json(job))


@bp.get("/account")
@login_required
def account() -> Any:
    me = who()
    return render_template(
        "account.html",
        me=me,
        tokens=parties.list_tokens(ctx.db(), me),
        notice=request.args.get("notice"),
        error=request.args.get("error"),
        new_secret=None,
    )


@bp.post("/account/tokens")
@login_required
def create_token() -> Any:
    me = who()
    try:
        new = parties.create_token(ctx.db(), me, name=request.form.get("name", ""), now=ctx.now())
    except SandboxError as exc:
        return redirect(url_for("pages.account", error=exc.message))
    ctx.db().commit()
    # The secret is rendered once, in this response, and never stored.
    return render_template(
        "account.html",
        me=me,
        tokens=parties.list_tokens(ctx.db(), me),
        notice=None,
        error=None,
        new_secret=new.secret,
    )


@bp.post("/account/tokens/<token_id>/revoke")
@login_required
def revoke_token(token_id: str) -> Any:
    parties.revoke_token(ctx.db(), who(), path_id(token_id, "token"), now=ctx.now())
    ctx.db().commit()
    return redirect(url_for("pages.account", notice="Token revoked."))
