"""Computations under a grant, from the browser: the operator (for a recipient) or a recipient
bank (for itself) picks a kind, the provider's granted columns and (PSI, lookup) the
recipient's own input dataset, or (aggregates) ε and value bounds for the output gate; the job
page follows it live; only the recipient downloads the result."""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from grants import computations, contributions
from grants.policy import Computation
from grants.terms import DatasetColumns, Kind
from sandbox.compute.delivery import deliver
from sandbox.errors import InvalidInput, SandboxError
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.jobs import service as jobs
from sandbox.jobs.coordinator import dispatch
from sandbox.parties.roles import Role
from web import context as ctx
from web.params import path_id
from web.ui.auth import login_required, who

bp = Blueprint("compute", __name__)
RUNNERS = (Role.OPERATOR, Role.BANK_ANALYST)
PROTOCOL_KINDS = {k.value for k in computations.RUNNABLE_KINDS}


def _page(error: str | None = None, status: int = 200) -> Any:
    me = who()
    grants = computations.runnable(ctx.db(), me, now=ctx.now()) if me.role in RUNNERS else []
    recent = [j for j in jobs.visible_jobs(ctx.db(), me, limit=100) if j.kind in PROTOCOL_KINDS][
        :20
    ]
    return (
        render_template("compute/index.html", grants=grants, recent=recent, error=error, me=me),
        status,
    )


@bp.get("/compute")
@login_required
def index() -> Any:
    return _page()


def _number(name: str) -> float | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number", code="invalid_form") from None
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number", code="invalid_form")
    return value


def _computation() -> Computation:
    form = request.form
    grant_id = path_id(form.get("grant_id", ""), "grant")
    try:
        kind = Kind(form.get("kind", ""))
    except ValueError:
        raise InvalidInput("choose a computation kind", code="invalid_form") from None
    datasets: tuple[DatasetColumns, ...] = ()
    if form.get("dataset_id"):
        dataset_id = path_id(form.get("dataset_id", ""), "dataset")
        columns = tuple(form.getlist(f"columns-{dataset_id}"))
        if not columns:
            raise InvalidInput("choose the provider's columns", code="invalid_form")
        try:
            datasets = (DatasetColumns(dataset_id=dataset_id, columns=columns),)
        except ValueError:
            raise InvalidInput(
                "the columns are not valid column names", code="invalid_form"
            ) from None
    # The consented columns of each ticked contribution (the policy checks the consent again).
    consented = {
        str(c.dataset_id): tuple(c.columns) for c in contributions.active(ctx.db(), grant_id)
    }
    contributed = tuple(
        DatasetColumns(dataset_id=path_id(d, "dataset"), columns=consented[d])
        for d in form.getlist("contribution")
        if d in consented
    )
    if not datasets and not contributed:
        raise InvalidInput("choose a dataset or a contribution", code="invalid_form")
    input_id = path_id(form.get("input_dataset", ""), "dataset") if kind.takes_input else None
    low, high = _number("bound_low"), _number("bound_high")
    if (low is None) != (high is None) or (low is not None and high is not None and low > high):
        raise InvalidInput("give both bounds, the low one first", code="invalid_form")
    gated = kind in computations.GATED
    epsilon = _number("epsilon") if gated else None
    if epsilon is not None and not 0 < epsilon <= 10:
        raise InvalidInput("ε must be above 0 and at most 10", code="invalid_form")
    return Computation(
        grant_id=grant_id,
        kind=kind,
        datasets=datasets,
        purpose=form.get("purpose", "")[:64],
        recipient=form.get("recipient", "")[:64],
        rows=computations.input_rows(ctx.db(), input_id) if input_id else 0,
        input_dataset=input_id,
        epsilon=epsilon,
        bounds=(low, high) if low is not None and high is not None and gated else None,
        contributions=contributed,
    )


@bp.post("/compute/run")
@login_required
def run() -> Any:
    if who().role not in RUNNERS:
        return _page("only operators and recipient banks run computations", 403)
    session = ctx.db()
    try:
        job = computations.submit(
            session,
            who(),
            _computation(),
            signer=ctx.signer(),
            now=ctx.now(),
            sizing=computations.Sizing.of(ctx.settings()),
        )
    except SandboxError as exc:
        if exc.recorded:
            session.commit()  # the refusal stays in the ledger
        else:
            session.rollback()
        return _page(f"{exc.code}: {exc.message}", 400)
    first = engine.advance(session, JobId(job.id), now=ctx.now())  # queue the first steps
    session.commit()
    dispatch(ctx.enqueuer(), first)  # only after commit
    return redirect(url_for("pages.job_page", job_id=str(job.id)))


@bp.get("/jobs/<job_id>/result.csv")
@login_required
def result_csv(job_id: str) -> Any:
    session = ctx.db()
    delivery = deliver(
        session,
        who(),
        path_id(job_id, "job"),
        domain_root=ctx.settings().domain_root,
        now=ctx.now(),
    )
    session.commit()
    return Response(
        delivery.path.read_bytes(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{delivery.filename}"'},
    )


@bp.post("/compute/contributions")
@login_required
def contribute() -> Any:
    """A data holder consents (or withdraws) to add its own dataset to secure sums."""
    form = request.form
    session = ctx.db()
    try:
        grant_id = path_id(form.get("grant_id", ""), "grant")
        dataset_id = path_id(form.get("dataset_id", ""), "dataset")
        if form.get("action") == "withdraw":
            contributions.withdraw(session, who(), grant_id, dataset_id, now=ctx.now())
        else:
            columns = [c.strip() for c in form.get("columns", "").split(",") if c.strip()]
            contributions.consent(session, who(), grant_id, dataset_id, columns, now=ctx.now())
    except SandboxError as exc:
        session.rollback()
        return _page(f"{exc.code}: {exc.message}", 400)
    session.commit()
    return redirect(url_for("compute.index"))
