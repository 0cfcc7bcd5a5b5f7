"""Data products in the browser: the product store and each product's versions, reviews and
listing; subscriptions; a bank's enterprise authorizations, calls and their results;
statements; ratings and correction tickets.

Views are thin: parse the form, call one service function of ``products``, commit, redirect
with a notice. A service's refusal is shown on the page the form came from, with the
service's message and the status of ``web.errors``; the session is rolled back (or committed
when the service recorded the refusal in the ledger). Who may do what is decided by the
services; the role lists here only pick which pages and forms to offer.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from uuid import UUID

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from sqlalchemy.orm import Session

from grants import dashboard, purposes
from grants.terms import Kind, Terms
from products import authorizations, calls, catalog, feedback, results, statements, subscriptions
from products.demo import REFERENCE_COLUMN, REGISTRY_LABELS, SOCIAL_LABELS, TAX_LABELS
from products.models import ProductCall
from products.spec import parse_spec
from products.subscriptions import period_of
from products.views import ProductView
from sandbox.datasets.catalog import visible_datasets
from sandbox.datasets.models import Dataset
from sandbox.errors import InvalidInput, NotFound, SandboxError
from sandbox.ids import JobId, parse_uuid
from sandbox.jobs import engine
from sandbox.jobs import service as jobs
from sandbox.jobs.coordinator import dispatch
from sandbox.jobs.models import Job
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role
from web import context as ctx
from web.errors import status_of
from web.params import path_id
from web.ui.auth import login_required, who
from web.ui.governance import roles

bp = Blueprint("products", __name__)

BANK = (Role.BANK_ANALYST,)
REVIEWERS = (Role.BUREAU_ADMIN, Role.PROVIDER_CDO)
CALL_READERS = (Role.BANK_ANALYST, Role.OPERATOR, Role.BUREAU_ADMIN, Role.AUDITOR)
SHOWN_ROWS = 200
MAX_DIGITS = 12
MAX_JSON = 100_000
DATE_LENGTH = 10
# The example labels the new-product form starts with: the demo credit check's, keyed by the
# source dataset ("domain/name") they are derived in.
LABELS_EXAMPLE = json.dumps(
    {
        source: [label.model_dump(mode="json", exclude_defaults=True) for label in labels]
        for source, labels in (
            ("tax/tax_ratings", TAX_LABELS),
            ("social/social_insurance", SOCIAL_LABELS),
            ("market/enterprise_registry", REGISTRY_LABELS),
        )
    },
    ensure_ascii=False,
    indent=2,
)


@bp.app_template_filter("cny")
def cny(fen: int | None) -> str:
    """Integer fen (分) as yuan: 12345 -> ¥123.45."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    return f"{sign}¥{yuan:,}.{cents:02d}"


# --- parsing ----------------------------------------------------------------------------------


def _field(name: str) -> str:
    return request.form.get(name, "")


def _form_id(name: str, what: str) -> UUID:
    parsed = parse_uuid(_field(name).strip())
    if parsed is None:
        raise InvalidInput(f"choose a {what}", code="invalid_form")
    return parsed


def _whole(name: str, *, required: bool = False) -> int | None:
    """A whole number from the form (ASCII digits, bounded), or None when blank."""
    text = _field(name).strip()
    if not text:
        if required:
            raise InvalidInput(f"{name.replace('_', ' ')} is required", code="invalid_form")
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        raise InvalidInput(f"{name.replace('_', ' ')} must be a whole number", code="invalid_form")
    return int(text)


def _fen(name: str) -> int | None:
    """A price typed in yuan (up to two decimals) as integer fen, or None when blank."""
    text = _field(name).strip()
    if not text:
        return None
    try:
        yuan = Decimal(text) if len(text) <= MAX_DIGITS and text.isascii() else None
    except InvalidOperation:
        yuan = None
    if yuan is None or not yuan.is_finite() or yuan < 0 or yuan != yuan.quantize(Decimal("0.01")):
        raise InvalidInput(
            f"{name.replace('_', ' ')}: an amount in yuan like 2.50", code="invalid_form"
        )
    return int(yuan * 100)


def _share(name: str) -> float:
    text = _field(name).strip()
    try:
        value = float(text) if len(text) <= MAX_DIGITS else None
    except ValueError:
        value = None
    if value is None:
        raise InvalidInput("the operator's fee share is a number from 0 to 1", code="invalid_form")
    return value  # the spec checks the range and refuses NaN and infinity


def _day_end(name: str) -> dt.datetime:
    """A ``YYYY-MM-DD`` field as the end of that day (UTC): "valid until 30 June" includes it."""
    text = _field(name).strip()
    try:
        day = dt.date.fromisoformat(text) if len(text) == DATE_LENGTH else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput(f"{name.replace('_', ' ')}: a date like 2027-06-30", code="invalid_form")
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def _json_field(name: str) -> Any:
    text = _field(name)
    if len(text) > MAX_JSON:
        raise InvalidInput(f"{name}: at most {MAX_JSON} characters", code="invalid_form")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidInput(f"{name}: not valid JSON", code="invalid_form") from None


# --- rendering and acting ---------------------------------------------------------------------


def _render(template: str, **values: Any) -> str:
    return render_template(
        template,
        me=who(),
        notice=request.args.get("notice"),
        error=values.pop("error", None),
        **values,
    )


def _refused(exc: SandboxError) -> None:
    if exc.recorded:
        ctx.db().commit()  # the refusal is a ledger entry the service meant to keep
    else:
        ctx.db().rollback()


def _act(
    action: Callable[[], object],
    *,
    page: Callable[..., str],
    notice: str,
    endpoint: str,
    **target: Any,
) -> Any:
    """Run one service call; commit and redirect, or show its refusal on ``page``."""
    try:
        action()
    except SandboxError as exc:
        _refused(exc)
        return page(error=exc.message), status_of(exc)
    ctx.db().commit()
    return redirect(url_for(endpoint, notice=notice, **target))


# --- the store --------------------------------------------------------------------------------


def _awaits(view: ProductView, me: Principal) -> bool:
    """The version shown waits for a decision of ``me``'s organization."""
    return (
        me.role in REVIEWERS
        and view.version_state == "submitted"
        and any(r.org == me.org_slug and r.decision is None for r in view.reviewers)
    )


def _to_list(view: ProductView) -> bool:
    return view.version in _listable(view)


def _listable(view: ProductView) -> list[int]:
    """Approved versions the bureau may list (not the one already listed)."""
    listed = view.listed_version if view.state == "listed" else None
    return [v.version for v in view.versions if v.state == "approved" and v.version != listed]


def _grant_choices(session: Session, me: Principal, now: dt.datetime) -> list[dict[str, Any]]:
    """The operator's approved grants, with the granted columns of each dataset."""
    out = []
    for row in dashboard.grant_rows(session, me, now=now):
        if row.state != "approved" or row.grant.approved is None:
            continue
        terms = Terms.model_validate(row.grant.approved)
        datasets = []
        for d in terms.datasets:
            dataset = session.get(Dataset, d.dataset_id)
            name = f"{dataset.domain.name}/{dataset.name}" if dataset else str(d.dataset_id)
            datasets.append({"id": str(d.dataset_id), "name": name, "columns": d.columns})
        out.append(
            {
                "id": str(row.grant.id),
                "purpose": terms.purpose,
                "kinds": [k.value for k in terms.kinds],
                "lookup": Kind.LOOKUP in terms.kinds,
                "secure_sum": Kind.SECURE_SUM in terms.kinds,
                "recipients": terms.recipients,
                "rows_per_call": terms.rows_per_call,
                "datasets": datasets,
            }
        )
    return out


def _store_page(error: str | None = None) -> str:
    me, session, now = who(), ctx.db(), ctx.now()
    store = catalog.store(session, me, now)
    products = catalog.products_for(session, me, now) if me.role is not Role.BANK_ANALYST else []
    values: dict[str, Any] = {
        "store": store,
        "products": products,
        "queue": [v for v in products if _awaits(v, me)],
        "to_list": [v for v in products if _to_list(v)] if me.role is Role.BUREAU_ADMIN else [],
        "ratings": {v.id: feedback.ratings(session, UUID(v.id)) for v in store},
        "subscribed": {},
        "form": request.form if request.method == "POST" else {},
    }
    if me.role is Role.BANK_ANALYST:
        values["subscribed"] = {
            s.product_id: s
            for s in subscriptions.subscriptions_for(session, me)
            if s.state in ("requested", "active")
        }
    if me.role is Role.OPERATOR:
        values.update(
            licenses=[
                r for r in dashboard.license_rows(session, me, now=now) if r.state == "active"
            ],
            grants=_grant_choices(session, me, now),
            banks=dashboard.organizations(session, OrgKind.BANK),
            purposes=purposes.active_purposes(session),
            labels_example=LABELS_EXAMPLE,
        )
    return _render("products/store.html", error=error, **values)


@bp.get("/products")
@login_required
def store() -> Any:
    return _store_page()


def _sources(grants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Credit-check sources from the ticked columns (``col:<grant>:<dataset>``) and the labels
    JSON (an object: source dataset "domain/name" -> list of labels)."""
    names = {(g["id"], d["id"]): d["name"] for g in grants for d in g["datasets"]}
    labels = _json_field("labels")
    if not isinstance(labels, dict) or not all(isinstance(v, list) for v in labels.values()):
        raise InvalidInput(
            'labels: a JSON object like {"tax/tax_ratings": [ … ]}', code="invalid_form"
        )
    sources, used = [], set()
    for key in request.form:
        if not key.startswith("col:"):
            continue
        grant_id, _, dataset_id = key[4:].partition(":")
        name = names.get((grant_id, dataset_id))
        if name is None:
            raise InvalidInput("choose columns of your approved grants", code="invalid_form")
        used.add(name)
        sources.append(
            {
                "grant_id": grant_id,
                "dataset_id": dataset_id,
                "columns": request.form.getlist(key),
                "labels": labels.get(name, []),
            }
        )
    stray = sorted(set(labels) - used)
    if stray:
        raise InvalidInput(
            f"labels for datasets without ticked columns: {', '.join(stray)}", code="invalid_form"
        )
    return sources


def _spec_from_form(grants: list[dict[str, Any]]) -> dict[str, Any]:
    kind = _field("kind")
    data: dict[str, Any] = {
        "title": _field("title").strip(),
        "description": _field("description").strip(),
        "purpose": _field("purpose"),
        "kind": kind,
        "consumers": request.form.getlist("consumer"),
        "operator_fee_share": _share("operator_fee_share"),
        "terms_text": _field("terms_text").strip(),
    }
    optional = {
        "price_per_call_fen": _fen("price_per_call"),
        "price_per_identifier_fen": _fen("price_per_identifier"),
        "calls_per_month": _whole("calls_per_month"),
        "identifiers_per_month": _whole("identifiers_per_month"),
        "max_identifiers_per_call": _whole("max_identifiers_per_call"),
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    if kind == "exposure":
        exposure: dict[str, Any] = {
            "grant_id": _field("exposure_grant"),
            "value_column": _field("value_column").strip() or "outstanding_balance",
        }
        contributors = _whole("min_contributors")
        if contributors is not None:
            exposure["min_contributors"] = contributors
        data["exposure"] = exposure
    else:
        data["sources"] = _sources(grants)
    return data


@bp.post("/products")
@roles(Role.OPERATOR)
def create() -> Any:
    me, session, now = who(), ctx.db(), ctx.now()
    created: list[str] = []

    def action() -> object:
        spec = parse_spec(_spec_from_form(_grant_choices(session, me, now)))
        product = catalog.create_product(
            session,
            me,
            slug=_field("slug").strip(),
            name=_field("title"),
            license_id=_form_id("license_id", "license"),
            spec=spec,
            now=now,
        )
        created.append(str(product.id))
        return product

    try:
        action()
    except SandboxError as exc:
        _refused(exc)
        return _store_page(error=exc.message), status_of(exc)
    session.commit()
    return redirect(
        url_for(
            "products.product_page",
            product_id=created[0],
            notice="Product created as a draft: submit version 1 for review.",
        )
    )


# --- one product ------------------------------------------------------------------------------


def _product_page(product_id: UUID, error: str | None = None) -> str:
    me, session, now = who(), ctx.db(), ctx.now()
    view = catalog.get_view(session, me, product_id, now)
    if me.role in CALL_READERS:
        calls.settle_pending(session, now)  # the recent calls below, metered
        session.commit()
    values: dict[str, Any] = {
        "view": view,
        "rating": feedback.ratings(session, product_id),
        "can_review": _awaits(view, me),
        "own": me.role is Role.OPERATOR and view.operator == me.org_slug,
        "listable": _listable(view) if me.role is Role.BUREAU_ADMIN else [],
        "spec_json": json.dumps(view.spec.model_dump(mode="json"), ensure_ascii=False, indent=2),
        "calls": calls.calls_for(session, me, product_id=product_id, limit=20)
        if me.role in CALL_READERS
        else [],
        "subscription": None,
        "quota": None,
        "inputs": [],
        "reference_column": REFERENCE_COLUMN,
    }
    if me.role is Role.BANK_ANALYST:
        sub = subscriptions.live_subscription(session, product_id, me.org_id)
        if sub is not None:
            values["subscription"] = sub
            values["quota"] = subscriptions.quota_use(session, sub, now)
            values["inputs"] = [e for e in visible_datasets(session, me) if e.owner.id == me.org_id]
    return _render("products/product.html", error=error, **values)


@bp.get("/products/<product_id>")
@login_required
def product_page(product_id: str) -> Any:
    return _product_page(path_id(product_id, "product"))


def _on_product(product_id: str, action: Callable[[UUID], object], notice: str) -> Any:
    pid = path_id(product_id, "product")
    return _act(
        lambda: action(pid),
        page=lambda error: _product_page(pid, error),
        notice=notice,
        endpoint="products.product_page",
        product_id=str(pid),
    )


@bp.post("/products/<product_id>/versions")
@roles(Role.OPERATOR)
def new_version(product_id: str) -> Any:
    return _on_product(
        product_id,
        lambda pid: catalog.new_version(
            ctx.db(), who(), pid, parse_spec(_json_field("spec")), ctx.now()
        ),
        "New version saved as a draft.",
    )


@bp.post("/products/<product_id>/versions/<int(max=1000000):version>/submit")
@roles(Role.OPERATOR)
def submit(product_id: str, version: int) -> Any:
    return _on_product(
        product_id,
        lambda pid: catalog.submit(ctx.db(), who(), pid, version, ctx.now()),
        f"Version {version} sent for review.",
    )


@bp.post("/products/<product_id>/versions/<int(max=1000000):version>/review")
@roles(*REVIEWERS)
def review(product_id: str, version: int) -> Any:
    decision = _field("decision")

    def action(pid: UUID) -> object:
        if decision not in ("approve", "refuse"):
            raise InvalidInput("choose approve or refuse", code="invalid_form")
        chosen: Literal["approve", "refuse"] = "approve" if decision == "approve" else "refuse"
        return catalog.review(
            ctx.db(), who(), pid, version, decision=chosen, reason=_field("reason"), now=ctx.now()
        )

    return _on_product(product_id, action, "Approved." if decision == "approve" else "Refused.")


@bp.post("/products/<product_id>/listing")
@roles(Role.BUREAU_ADMIN)
def list_product(product_id: str) -> Any:
    def action(pid: UUID) -> object:
        version = _whole("version", required=True)
        assert version is not None
        return catalog.list_product(ctx.db(), who(), pid, version, ctx.now())

    return _on_product(product_id, action, "Listed in the product store (上架).")


@bp.post("/products/<product_id>/delisting")
@roles(Role.BUREAU_ADMIN)
def delist(product_id: str) -> Any:
    return _on_product(
        product_id,
        lambda pid: catalog.delist(ctx.db(), who(), pid, reason=_field("reason"), now=ctx.now()),
        "Taken off the store (下架).",
    )


@bp.post("/products/<product_id>/subscription")
@roles(*BANK)
def subscribe(product_id: str) -> Any:
    return _on_product(
        product_id,
        lambda pid: subscriptions.subscribe(
            ctx.db(), who(), pid, accept_terms=_field("accept_terms") == "yes", now=ctx.now()
        ),
        "Terms accepted: the subscription waits for the operator's or the bureau's approval.",
    )


@bp.post("/products/<product_id>/calls")
@roles(*BANK)
def run(product_id: str) -> Any:
    """Call the product on one of the bank's own datasets: its jobs are queued after the
    commit, and the call's page follows them."""
    me, session, now = who(), ctx.db(), ctx.now()
    pid = path_id(product_id, "product")
    try:
        call = calls.run(
            session,
            me,
            pid,
            input_dataset_id=_form_id("input_dataset", "dataset of yours"),
            reference_column=_field("reference_column").strip()[:64],
            signer=ctx.signer(),
            now=now,
        )
        followups = [engine.advance(session, JobId(UUID(j)), now=now) for j in call.job_ids]
    except SandboxError as exc:
        _refused(exc)
        return _product_page(pid, error=exc.message), status_of(exc)
    session.commit()
    for first in followups:
        dispatch(ctx.enqueuer(), first)  # only after commit
    notice = (
        f"The call was refused ({call.refusal_code}); nothing was charged."
        if call.state == "refused"
        else "The call started: this page follows its jobs."
    )
    return redirect(url_for("products.call_page", call_id=str(call.id), notice=notice))


@bp.post("/products/<product_id>/rating")
@roles(*BANK)
def rate(product_id: str) -> Any:
    def action(pid: UUID) -> object:
        stars = _whole("stars", required=True)
        assert stars is not None
        return feedback.rate(
            ctx.db(), who(), pid, stars=stars, comment=_field("comment"), now=ctx.now()
        )

    return _on_product(product_id, action, "Thank you: your rating is recorded.")


@bp.post("/products/<product_id>/tickets")
@roles(*BANK)
def file_ticket(product_id: str) -> Any:
    return _on_product(
        product_id,
        lambda pid: feedback.file_ticket(
            ctx.db(),
            who(),
            pid,
            dataset_id=_form_id("dataset_id", "source dataset"),
            subject=_field("subject"),
            field=_field("field").strip(),
            description=_field("description"),
            now=ctx.now(),
        ),
        "Correction ticket filed: the providing department answers within 15 days.",
    )


# --- calls ------------------------------------------------------------------------------------


@bp.get("/calls")
@roles(*CALL_READERS)
def calls_page() -> Any:
    session = ctx.db()
    calls.settle_pending(session, ctx.now())
    session.commit()
    return _render("products/calls.html", calls=calls.calls_for(session, who(), limit=200))


def _settled(call_id: UUID) -> calls.CallView:
    """The call as ``who`` may see it, metered first if its jobs have all ended."""
    me, session = who(), ctx.db()
    view = calls.get_call(session, me, call_id)
    if view.state == "running":
        row = session.get(ProductCall, call_id)
        if row is not None:
            calls.settle(session, row, ctx.now())
            session.commit()
            view = calls.get_call(session, me, call_id)
    return view


def _call_jobs(view: calls.CallView) -> list[Job]:
    found = []
    for job_id in view.job_ids:
        try:
            found.append(jobs.get_visible_job(ctx.db(), who(), UUID(job_id)))
        except NotFound:
            continue
    return found


def _call_status(view: calls.CallView, found: list[Job]) -> dict[str, Any]:
    if view.state != "running":
        progress = 1.0
    else:  # the operator sees no jobs: nothing to show until the call settles
        progress = sum(j.progress for j in found) / len(found) if found else 0.0
    return {
        "id": view.id,
        "state": view.state,
        "progress": round(progress, 4),
        "identifiers": view.identifiers,
        "matched": view.matched,
        "unauthorized": view.unauthorized,
        "rejected": view.rejected,
        "charge_fen": view.charge_fen,
        "refusal_code": view.refusal_code,
        "jobs": [
            {"id": str(j.id), "kind": j.kind, "status": j.state, "progress": round(j.progress, 4)}
            for j in found
        ],
    }


@bp.get("/calls/<call_id>")
@roles(*CALL_READERS)
def call_page(call_id: str) -> Any:
    me, session = who(), ctx.db()
    cid = path_id(call_id, "call")
    view = _settled(cid)
    table: tuple[tuple[str, ...], list[tuple[str, ...]]] | None = None
    table_error = None
    is_caller = me.role is Role.BANK_ANALYST and view.consumer == me.org_slug
    if is_caller and view.state == "succeeded":
        try:
            table = results.call_result(
                session, me, cid, domain_root=ctx.settings().domain_root, now=ctx.now()
            )
        except SandboxError as exc:
            _refused(exc)
            table_error = exc.message
        else:
            session.commit()  # the read is in the ledger
    found = _call_jobs(view)
    return _render(
        "products/call.html",
        call=view,
        status=_call_status(view, found),
        jobs=found,
        is_caller=is_caller,
        header=table[0] if table else (),
        rows=table[1][:SHOWN_ROWS] if table else [],
        total_rows=len(table[1]) if table else 0,
        table_error=table_error,
    )


@bp.get("/calls/<call_id>/status")
@roles(*CALL_READERS)
def call_status(call_id: str) -> Any:
    view = _settled(path_id(call_id, "call"))
    return jsonify(_call_status(view, _call_jobs(view)))


@bp.get("/calls/<call_id>/result.csv")
@roles(*CALL_READERS)
def call_result_csv(call_id: str) -> Any:
    session = ctx.db()
    cid = path_id(call_id, "call")
    header, rows = results.call_result(
        session, who(), cid, domain_root=ctx.settings().domain_root, now=ctx.now()
    )
    session.commit()  # the download is in the ledger before anything is sent
    return Response(
        results.as_csv(header, rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="call-{cid}.csv"'},
    )


# --- subscriptions ----------------------------------------------------------------------------


def _subscriptions_page(error: str | None = None) -> str:
    me, session, now = who(), ctx.db(), ctx.now()
    rows = subscriptions.subscriptions_for(session, me)
    quotas = {
        s.id: subscriptions.quota_use(
            session, subscriptions.get_subscription(session, me, UUID(s.id)), now
        )
        for s in rows
        if s.state == "active"
    }
    return _render(
        "products/subscriptions.html",
        error=error,
        subscriptions=rows,
        quotas=quotas,
        can_decide=me.role in (Role.OPERATOR, Role.BUREAU_ADMIN),
    )


@bp.get("/subscriptions")
@roles(*CALL_READERS)
def subscriptions_page() -> Any:
    return _subscriptions_page()


@bp.post("/subscriptions/<subscription_id>/decision")
@roles(Role.OPERATOR, Role.BUREAU_ADMIN)
def decide_subscription(subscription_id: str) -> Any:
    sid = path_id(subscription_id, "subscription")
    approve = _field("action") == "approve"

    def action() -> object:
        if _field("action") not in ("approve", "reject"):
            raise InvalidInput("choose approve or reject", code="invalid_form")
        return subscriptions.decide(
            ctx.db(),
            who(),
            sid,
            approve=approve,
            reason=_field("reason"),
            calls_per_month=_whole("calls_per_month"),
            identifiers_per_month=_whole("identifiers_per_month"),
            now=ctx.now(),
        )

    return _act(
        action,
        page=_subscriptions_page,
        notice="Subscription approved." if approve else "Subscription rejected.",
        endpoint="products.subscriptions_page",
    )


@bp.post("/subscriptions/<subscription_id>/cancel")
@roles(Role.BANK_ANALYST, Role.OPERATOR, Role.BUREAU_ADMIN)
def cancel_subscription(subscription_id: str) -> Any:
    sid = path_id(subscription_id, "subscription")
    return _act(
        lambda: subscriptions.cancel(ctx.db(), who(), sid, reason=_field("reason"), now=ctx.now()),
        page=_subscriptions_page,
        notice="Subscription cancelled.",
        endpoint="products.subscriptions_page",
    )


# --- enterprise authorizations ----------------------------------------------------------------


def _authorizations_page(error: str | None = None) -> str:
    me, now = who(), ctx.now()
    return _render(
        "products/authorizations.html",
        error=error,
        authorizations=authorizations.authorizations_for(ctx.db(), me),
        now=now,
        default_until=(now + dt.timedelta(days=365)).date().isoformat(),
    )


@bp.get("/authorizations")
@roles(*BANK)
def authorizations_page() -> Any:
    return _authorizations_page()


@bp.post("/authorizations")
@roles(*BANK)
def register_authorization() -> Any:
    return _act(
        lambda: authorizations.register(
            ctx.db(),
            who(),
            credit_code=_field("credit_code"),
            reference=_field("reference"),
            valid_until=_day_end("valid_until"),
            now=ctx.now(),
        ),
        page=_authorizations_page,
        notice="Authorization registered (only its digest is stored).",
        endpoint="products.authorizations_page",
    )


@bp.post("/authorizations/<authorization_id>/revoke")
@roles(*BANK)
def revoke_authorization(authorization_id: str) -> Any:
    aid = path_id(authorization_id, "authorization")
    return _act(
        lambda: authorizations.revoke(ctx.db(), who(), aid, ctx.now()),
        page=_authorizations_page,
        notice="Authorization revoked: later calls no longer query this enterprise.",
        endpoint="products.authorizations_page",
    )


# --- statements -------------------------------------------------------------------------------


def _period() -> str:
    return request.args.get("period", "").strip()[:16] or period_of(ctx.now())


@bp.get("/statements")
@roles(*CALL_READERS)
def statements_page() -> Any:
    period = _period()
    try:
        stmt = statements.statement(ctx.db(), who(), period=period)
    except InvalidInput as exc:
        return _render("products/statements.html", error=exc.message, period=period, stmt=None), 400
    return _render("products/statements.html", period=period, stmt=stmt)


@bp.get("/statements.csv")
@roles(*CALL_READERS)
def statement_csv() -> Any:
    stmt = statements.statement(ctx.db(), who(), period=_period())
    return Response(
        statements.to_csv(stmt),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="statement-{stmt.period}.csv"'},
    )


# --- correction tickets -----------------------------------------------------------------------


def _tickets_page(error: str | None = None) -> str:
    me = who()
    return _render(
        "products/tickets.html",
        error=error,
        tickets=feedback.tickets_for(ctx.db(), me, now=ctx.now()),
        can_answer=me.role is Role.PROVIDER_CDO,
    )


@bp.get("/tickets")
@login_required
def tickets_page() -> Any:
    return _tickets_page()


@bp.post("/tickets/<ticket_id>/answer")
@roles(Role.PROVIDER_CDO)
def answer_ticket(ticket_id: str) -> Any:
    tid = path_id(ticket_id, "ticket")
    return _act(
        lambda: feedback.answer(
            ctx.db(),
            who(),
            tid,
            answer=_field("answer"),
            close=_field("close") == "yes",
            now=ctx.now(),
        ),
        page=_tickets_page,
        notice="Answer sent to the bank.",
        endpoint="products.tickets_page",
    )
