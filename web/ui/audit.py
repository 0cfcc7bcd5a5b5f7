"""The auditor's console: browse and filter the ledger, open an entry with its inclusion
proof verified in the browser, follow a job to everything behind it, inspect a sample of jobs,
and export evidence. Read-only: the only writes are the ledger's own records of these acts."""

from __future__ import annotations

import datetime as dt
import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from flask import Blueprint, jsonify, render_template, request, send_file

from sandbox.errors import InvalidInput, NotFound, PermissionDenied
from sandbox.keys import key_id, load_public_key
from sandbox.ledger import browse, trace
from sandbox.ledger import log as ledger
from sandbox.ledger.export import export
from sandbox.ledger.models import LedgerEntry
from sandbox.parties.roles import Role
from web import context as ctx
from web.api.ledger import checkpoint_json
from web.params import path_id, query_int
from web.ui.auth import login_required, who

bp = Blueprint("audit", __name__, url_prefix="/audit")
F = TypeVar("F", bound=Callable[..., Any])


def overseer_required(view: F) -> F:
    @wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if who().role not in (Role.AUDITOR, Role.BUREAU_ADMIN):
            raise PermissionDenied(
                "the audit console is for auditors and the bureau", code="forbidden.role"
            )
        return view(*args, **kwargs)

    return cast(F, wrapped)


def _keys() -> tuple[Any, Any]:
    settings = ctx.settings()
    return load_public_key(settings.ticket_key_path), ctx.ext()["ledger_key"].public_key()


def _date(name: str) -> dt.datetime | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a date like 2026-11-22", code="invalid_query") from exc


@bp.get("")
@overseer_required
def index() -> Any:
    filters = browse.Filters(
        org=request.args.get("org") or None,
        action=request.args.get("action") or None,
        object_id=(request.args.get("object") or "").strip()[:64] or None,
        since=_date("since"),
        until=_date("until"),
        refusals=request.args.get("refusals") == "1",
    )
    page = query_int("page", default=0, max_digits=6)
    rows, total = browse.search(ctx.db(), filters, page=page)
    latest = ledger.latest_checkpoint(ctx.db())
    return render_template(
        "audit/index.html",
        rows=[(e, json.loads(e.body)) for e in rows],
        total=total,
        page=page,
        pages=(total + browse.PAGE - 1) // browse.PAGE,
        filters=filters,
        actions=browse.actions(ctx.db()),
        orgs=browse.orgs(ctx.db()),
        checkpoint=checkpoint_json(latest) if latest else None,
        size=ledger.size(ctx.db()),
        args=request.args,
    )


@bp.get("/entries/<int:index>")
@overseer_required
def entry(index: int) -> Any:
    row = ctx.db().get(LedgerEntry, index)
    if row is None:
        raise NotFound("no such ledger entry", code="ledger.not_found")
    latest = ledger.latest_checkpoint(ctx.db())
    parsed = json.loads(row.body)
    job_id = str(row.job_id) if row.job_id else None
    return render_template(
        "audit/entry.html",
        row=row,
        parsed=parsed,
        raw=row.body.decode(),
        job_id=job_id,
        checkpoint=checkpoint_json(latest) if latest else None,
        covered=latest is not None and row.index < latest.tree_size,
    )


@bp.get("/jobs/<job_id>")
@overseer_required
def job(job_id: str) -> Any:
    ticket_key, ledger_key = _keys()
    traced = trace.trace(
        ctx.db(), path_id(job_id, "job"), ticket_key=ticket_key, ledger_key=ledger_key
    )
    return render_template("audit/job.html", t=traced, ticket_key_id=key_id(ticket_key))


@bp.post("/inspections")
@overseer_required
def inspection() -> Any:
    text = request.form.get("n", "5")
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= trace.MAX_SAMPLE):
        raise InvalidInput(f"sample size must be from 1 to {trace.MAX_SAMPLE}", code="invalid_form")
    ticket_key, ledger_key = _keys()
    traces = trace.inspect(ctx.db(), int(text), ticket_key=ticket_key, ledger_key=ledger_key)
    summary = {str(t.job.id): t.ok for t in traces}
    ledger.append(
        ctx.db(),
        actor=ledger.Actor.of(who()),
        action="audit.inspection",
        object_type="jobs",
        object_id=str(len(traces)),
        params={"sample": sorted(summary)},
        details={"sampled": len(traces), "passed": sum(summary.values())},
        now=ctx.now(),
    )
    ctx.db().commit()
    return render_template("audit/inspection.html", traces=traces)


@bp.post("/export")
@overseer_required
def export_evidence() -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ledger"
        done = export(
            ctx.db(), ctx.ext()["ledger_key"], out, actor=ledger.Actor.of(who()), now=ctx.now()
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.iterdir()):
                archive.write(path, f"ledger/{path.name}")
    ctx.db().commit()
    buffer.seek(0)
    return send_file(
        buffer,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"ledger-evidence-{done.tree_size}.zip",
    )


# --- JSON for the in-browser verifier (session auth; the /api/v1 twins take tokens) ---------


@bp.get("/data/checkpoint")
@overseer_required
def data_checkpoint() -> Any:
    latest = ledger.latest_checkpoint(ctx.db())
    if latest is None:
        raise NotFound("no checkpoint has been signed yet", code="ledger.no_checkpoint")
    return jsonify(checkpoint_json(latest))


@bp.get("/data/entries")
@overseer_required
def data_entries() -> Any:
    start = query_int("start")
    end = min(query_int("end"), start + ledger.MAX_PAGE)
    rows = ledger.entries(ctx.db(), start, end)
    return jsonify({"entries": [{"index": e.index, "raw": e.body.decode()} for e in rows]})


@bp.get("/data/inclusion")
@overseer_required
def data_inclusion() -> Any:
    return jsonify(ledger.inclusion(ctx.db(), query_int("index"), query_int("tree_size")))
