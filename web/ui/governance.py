"""Governance screens: the bureau's admissions and licenses, zones, purposes, catalog review
and grant queue; a provider CDO's grants on its data and their usage; an operator's licenses,
grant applications, quotas and vouchers; the auditor's read-only lists.

Views are thin: parse the form, call one service function, commit, redirect with a notice. A
service's refusal is shown on the page the form came from, with the service's message and
the status of ``web.errors``; the session is rolled back, so nothing changed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import wraps
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from flask import Blueprint, Response, redirect, render_template, request, url_for

from grants import catalog_review, dashboard, licenses, purposes, zones
from grants import grants as grant_service
from grants.applications import current_terms
from grants.terms import Kind, Terms
from grants.vouchers import issue_voucher
from sandbox.datasets.catalog import visible_datasets
from sandbox.datasets.schema import Grade, Openness, Sensitivity
from sandbox.errors import InvalidInput, NotFound, PermissionDenied, SandboxError
from sandbox.ids import parse_uuid
from sandbox.keys import load_or_create_private_key
from sandbox.parties.roles import OrgKind, Role
from web import context as ctx
from web.errors import status_of
from web.params import path_id
from web.ui.auth import login_required, who

bp = Blueprint("gov", __name__, url_prefix="/gov")
F = TypeVar("F", bound=Callable[..., Any])

BUREAU = (Role.BUREAU_ADMIN,)
GOVERNANCE = (Role.BUREAU_ADMIN, Role.PROVIDER_CDO, Role.OPERATOR, Role.AUDITOR)
LICENSE_READERS = (Role.BUREAU_ADMIN, Role.OPERATOR, Role.AUDITOR)
REVIEWERS = (Role.BUREAU_ADMIN, Role.PROVIDER_CDO)
LICENSE_ACTIONS = {
    "issue": licenses.issue,
    "refuse": licenses.refuse,
    "suspend": licenses.suspend,
    "reinstate": licenses.reinstate,
    "revoke": licenses.revoke,
}
GRANT_ACTIONS = {
    "suspend": grant_service.suspend,
    "reinstate": grant_service.reinstate,
    "revoke": grant_service.revoke,
}
MAX_DATE = 10


def roles(*allowed: Role) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if who().role not in allowed:
                raise PermissionDenied("your role may not use this page", code="forbidden.role")
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorate


@bp.app_template_filter("age")
def age(value: dt.timedelta) -> str:
    minutes = max(int(value.total_seconds()) // 60, 0)
    days, rest = divmod(minutes, 24 * 60)
    if days:
        return f"{days} d {rest // 60} h"
    if rest >= 60:
        return f"{rest // 60} h {rest % 60} min"
    return f"{rest} min"


@bp.app_template_filter("iso_when")
def iso_when(value: str | None) -> str:
    return value[:16].replace("T", " ") + " UTC" if value else "—"


# --- parsing ----------------------------------------------------------------------------------


def _field(name: str) -> str:
    return request.form.get(name, "")


def _form_id(name: str, what: str) -> UUID:
    parsed = parse_uuid(_field(name).strip())
    if parsed is None:
        raise InvalidInput(f"choose a {what}", code="invalid_form")
    return parsed


def _day(name: str, *, end: bool = False) -> dt.datetime:
    """A ``YYYY-MM-DD`` field as a UTC time: the day's start, or with ``end`` the next day's
    start (a term "until 30 June" runs through 30 June)."""
    text = _field(name).strip()
    try:
        day = dt.date.fromisoformat(text) if len(text) == MAX_DATE else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidInput(f"{name.replace('_', ' ')}: a date like 2027-06-30", code="invalid_form")
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start + dt.timedelta(days=1) if end else start


def _optional(name: str) -> str | None:
    text = _field(name).strip()
    return text or None


def _datasets_from_form() -> list[dict[str, Any]]:
    """Checkboxes named ``col:<dataset id>``, one per column."""
    out = []
    for key in request.form:
        if key.startswith("col:"):
            columns = request.form.getlist(key)
            if columns:
                out.append({"dataset_id": key[4:], "columns": columns})
    return out


# --- rendering and acting ---------------------------------------------------------------------


def _render(template: str, **values: Any) -> str:
    return render_template(
        template,
        me=who(),
        notice=request.args.get("notice"),
        error=values.pop("error", None),
        **values,
    )


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
        if exc.recorded:
            ctx.db().commit()  # the refusal is a ledger entry the service meant to keep
        else:
            ctx.db().rollback()
        return page(error=exc.message), status_of(exc)
    ctx.db().commit()
    return redirect(url_for(endpoint, notice=notice, **target))


# --- landing ----------------------------------------------------------------------------------


@bp.get("")
@roles(*GOVERNANCE)
def index() -> Any:
    if who().role is Role.BUREAU_ADMIN:
        return redirect(url_for("gov.licenses_page"))
    return redirect(url_for("gov.grants_page"))


# --- licenses ---------------------------------------------------------------------------------


def _licenses_page(error: str | None = None) -> str:
    me = who()
    rows = dashboard.license_rows(ctx.db(), me, now=ctx.now())
    return _render(
        "gov/licenses.html",
        error=error,
        rows=rows,
        applications=[r for r in rows if r.state == "submitted"],
        zones=zones.list_zones(ctx.db(), me),
        today=ctx.now().date().isoformat(),
    )


@bp.get("/licenses")
@roles(*LICENSE_READERS)
def licenses_page() -> Any:
    return _licenses_page()


@bp.post("/licenses")
@roles(Role.OPERATOR)
def apply_license() -> Any:
    def action() -> object:
        return licenses.apply(
            ctx.db(),
            who(),
            zone_id=_form_id("zone_id", "zone"),
            scope=_field("scope"),
            qualifications=_field("qualifications"),
            valid_from=_day("valid_from"),
            valid_until=_day("valid_until", end=True),
            now=ctx.now(),
        )

    return _act(
        action,
        page=_licenses_page,
        notice="Application sent to the bureau.",
        endpoint="gov.licenses_page",
    )


@bp.post("/licenses/<license_id>/<action>")
@roles(*BUREAU)
def decide_license(license_id: str, action: str) -> Any:
    service = LICENSE_ACTIONS.get(action)
    if service is None:
        raise NotFound("no such action", code="not_found")
    lic_id = path_id(license_id, "license")
    return _act(
        lambda: service(ctx.db(), who(), lic_id, reason=_field("reason"), now=ctx.now()),
        page=_licenses_page,
        notice=f"License {action}: done.",
        endpoint="gov.licenses_page",
    )


# --- zones and purposes -----------------------------------------------------------------------


def _zones_page(error: str | None = None) -> str:
    me = who()
    return _render(
        "gov/zones.html",
        error=error,
        zones=dashboard.zone_rows(ctx.db(), me),
        datasets=[
            e for e in visible_datasets(ctx.db(), me) if e.owner.kind == OrgKind.PROVIDER.value
        ],
        operators=dashboard.organizations(ctx.db(), OrgKind.OPERATOR),
    )


@bp.get("/zones")
@roles(*BUREAU)
def zones_page() -> Any:
    return _zones_page()


@bp.post("/zones")
@roles(*BUREAU)
def create_zone() -> Any:
    return _act(
        lambda: zones.create_zone(
            ctx.db(),
            who(),
            slug=_field("slug").strip(),
            name=_field("name"),
            description=_field("description"),
            now=ctx.now(),
        ),
        page=_zones_page,
        notice="Zone created.",
        endpoint="gov.zones_page",
    )


@bp.post("/zones/<zone_id>/datasets")
@roles(*BUREAU)
def add_zone_dataset(zone_id: str) -> Any:
    zid = path_id(zone_id, "zone")
    return _act(
        lambda: zones.add_dataset(
            ctx.db(), who(), zid, _form_id("dataset_id", "dataset"), now=ctx.now()
        ),
        page=_zones_page,
        notice="Dataset added to the zone.",
        endpoint="gov.zones_page",
    )


@bp.post("/zones/<zone_id>/operators")
@roles(*BUREAU)
def add_zone_operator(zone_id: str) -> Any:
    zid = path_id(zone_id, "zone")
    return _act(
        lambda: zones.add_operator(
            ctx.db(), who(), zid, _form_id("org_id", "operator"), now=ctx.now()
        ),
        page=_zones_page,
        notice="Operator added to the zone.",
        endpoint="gov.zones_page",
    )


def _purposes_page(error: str | None = None) -> str:
    return _render("gov/purposes.html", error=error, purposes=purposes.active_purposes(ctx.db()))


@bp.get("/purposes")
@roles(*BUREAU)
def purposes_page() -> Any:
    return _purposes_page()


@bp.post("/purposes")
@roles(*BUREAU)
def add_purpose() -> Any:
    return _act(
        lambda: purposes.add_purpose(
            ctx.db(), who(), code=_field("code").strip(), label=_field("label"), now=ctx.now()
        ),
        page=_purposes_page,
        notice="Purpose added.",
        endpoint="gov.purposes_page",
    )


# --- catalog review ---------------------------------------------------------------------------


def _catalog_page(error: str | None = None) -> str:
    return _render(
        "gov/catalog.html",
        error=error,
        pending=dashboard.pending_catalog(ctx.db(), who(), now=ctx.now()),
        opennesses=[o.value for o in Openness],
        grades=[g.value for g in Grade],
        sensitivities=[s.value for s in Sensitivity],
    )


@bp.get("/catalog")
@roles(*BUREAU)
def catalog_page() -> Any:
    return _catalog_page()


@bp.post("/catalog/<dataset_id>")
@roles(*BUREAU)
def review_dataset(dataset_id: str) -> Any:
    ds_id = path_id(dataset_id, "dataset")

    def action() -> object:
        sensitivities = {
            key[5:]: request.form[key] for key in request.form if key.startswith("sens:")
        }
        # The service checks the values; an unknown one is refused with its message.
        return catalog_review.review(
            ctx.db(),
            who(),
            ds_id,
            openness=cast(Openness, _field("openness")),
            grade=cast(Grade, _field("grade")),
            sensitivities=sensitivities,
            note=_field("note"),
            now=ctx.now(),
        )

    return _act(
        action,
        page=_catalog_page,
        notice="Classification confirmed.",
        endpoint="gov.catalog_page",
    )


# --- grants -----------------------------------------------------------------------------------


def _grants_page(error: str | None = None) -> str:
    me, db, now = who(), ctx.db(), ctx.now()
    rows = dashboard.grant_rows(db, me, now=now)
    values: dict[str, Any] = {
        "rows": rows,
        "queue": sorted(
            (r for r in rows if r.state == "pending"), key=lambda r: r.grant.created_at
        ),
    }
    if me.role is Role.OPERATOR:
        values.update(
            quotas=dashboard.quota_use(db, rows, now=now),
            licenses=[r for r in dashboard.license_rows(db, me, now=now) if r.state == "active"],
            catalog=dashboard.grantable_catalog(db, me),
            kinds=list(Kind),
            purposes=purposes.active_purposes(db),
            recipients=dashboard.organizations(db, OrgKind.BANK),
            today=now.date().isoformat(),
        )
    return _render("gov/grants.html", error=error, **values)


@bp.get("/grants")
@roles(*GOVERNANCE)
def grants_page() -> Any:
    return _grants_page()


def _number(name: str) -> str | None:
    # Pydantic validates the number (and says which field is wrong); blank means "default".
    return _optional(name)


@bp.post("/grants")
@roles(Role.OPERATOR)
def apply_grant() -> Any:
    def action() -> object:
        data: dict[str, Any] = {
            "datasets": _datasets_from_form(),
            "kinds": request.form.getlist("kind"),
            "purpose": _field("purpose"),
            "purpose_text": _field("purpose_text").strip(),
            "recipients": request.form.getlist("recipient"),
            "valid_from": _day("valid_from"),
            "valid_until": _day("valid_until", end=True),
            "calls_per_day": _number("calls_per_day"),
            "rows_per_call": _number("rows_per_call"),
            "epsilon_budget": _number("epsilon_budget"),
        }
        if _optional("min_cohort") is not None:
            data["min_cohort"] = _optional("min_cohort")
        return grant_service.apply(
            ctx.db(),
            who(),
            license_id=_form_id("license_id", "license"),
            terms=grant_service.parse_terms(data),
            justification=_field("justification"),
            now=ctx.now(),
        )

    return _act(
        action,
        page=_grants_page,
        notice="Grant application sent for review.",
        endpoint="gov.grants_page",
    )


def _grant_page(grant_id: UUID, error: str | None = None) -> str:
    me, db, now = who(), ctx.db(), ctx.now()
    grant = grant_service.get_visible_grant(db, me, grant_id)
    view = grant_service.review_view(db, grant)
    state = grant_service.effective_state(grant, now)
    mine = next((r for r in view["reviewers"] if r["org"] == me.org_slug), None)
    can_review = (
        me.role in REVIEWERS
        and grant.state == "pending"
        and mine is not None
        and mine["decision"] is None
        and grant.requested_by != me.user_id
    )
    until = view["current"]["valid_until"]
    return _render(
        "gov/grant.html",
        error=error,
        grant=grant,
        view=view,
        state=state,
        can_review=can_review,
        can_manage=me.role is Role.BUREAU_ADMIN,
        can_download=state == "approved" and me.role is not Role.PROVIDER_CDO,
        kinds=list(Kind),
        until_day=until[:MAX_DATE],
    )


@bp.get("/grants/<grant_id>")
@roles(*GOVERNANCE)
def grant_page(grant_id: str) -> Any:
    return _grant_page(path_id(grant_id, "grant"))


def _review(
    grant_id: str, decision: Literal["approve", "refuse"], *, narrowed: bool, notice: str
) -> Any:
    gid = path_id(grant_id, "grant")

    def action() -> object:
        conditions = _conditions(gid) if narrowed else None
        return grant_service.review(
            ctx.db(),
            who(),
            gid,
            decision=decision,
            reason=_field("reason"),
            conditions=conditions,
            now=ctx.now(),
        )

    return _act(
        action,
        page=lambda error: _grant_page(gid, error),
        notice=notice,
        endpoint="gov.grant_page",
        grant_id=str(gid),
    )


def _conditions(grant_id: UUID) -> Terms:
    """The current terms with the reviewer's narrower values; purpose and start stay."""
    grant = grant_service.get_visible_grant(ctx.db(), who(), grant_id)
    current = current_terms(grant).model_dump(mode="json")
    until: Any = current["valid_until"]
    if _field("valid_until").strip() != until[:MAX_DATE]:
        until = _day("valid_until", end=True)
    data = {
        **current,
        "datasets": _datasets_from_form(),
        "kinds": request.form.getlist("kind"),
        "recipients": request.form.getlist("recipient"),
        "valid_until": until,
        "calls_per_day": _number("calls_per_day"),
        "rows_per_call": _number("rows_per_call"),
        "min_cohort": _number("min_cohort"),
        "epsilon_budget": _number("epsilon_budget"),
    }
    return grant_service.parse_terms(data)


@bp.post("/grants/<grant_id>/approve")
@roles(*REVIEWERS)
def approve_grant(grant_id: str) -> Any:
    return _review(grant_id, "approve", narrowed=False, notice="Approved.")


@bp.post("/grants/<grant_id>/conditions")
@roles(*REVIEWERS)
def approve_grant_narrower(grant_id: str) -> Any:
    return _review(grant_id, "approve", narrowed=True, notice="Approved with conditions.")


@bp.post("/grants/<grant_id>/refuse")
@roles(*REVIEWERS)
def refuse_grant(grant_id: str) -> Any:
    return _review(grant_id, "refuse", narrowed=False, notice="Refused.")


@bp.post("/grants/<grant_id>/<action>")
@roles(*BUREAU)
def manage_grant(grant_id: str, action: str) -> Any:
    service = GRANT_ACTIONS.get(action)
    if service is None:
        raise NotFound("no such action", code="not_found")
    gid = path_id(grant_id, "grant")
    return _act(
        lambda: service(ctx.db(), who(), gid, reason=_field("reason"), now=ctx.now()),
        page=lambda error: _grant_page(gid, error),
        notice=f"Grant {action}: done.",
        endpoint="gov.grant_page",
        grant_id=str(gid),
    )


@bp.get("/grants/<grant_id>/voucher")
@roles(*GOVERNANCE)
def voucher(grant_id: str) -> Any:
    gid = path_id(grant_id, "grant")
    key = load_or_create_private_key(ctx.settings().ticket_key_path)
    signed = issue_voucher(ctx.db(), who(), gid, key, now=ctx.now())
    ctx.db().commit()  # issuing is a ledger entry
    return Response(
        json.dumps(signed, ensure_ascii=False, indent=2, sort_keys=True),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="voucher-{gid}.json"'},
    )


# --- a provider's usage -----------------------------------------------------------------------


@bp.get("/usage")
@roles(Role.PROVIDER_CDO)
def usage_page() -> Any:
    series = dashboard.provider_usage(ctx.db(), who(), now=ctx.now())
    return _render("gov/usage.html", series=series, days=dashboard.USAGE_DAYS)
