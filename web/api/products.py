"""/api/v1 data products: products and their versions, reviews and listing; subscriptions;
enterprise authorizations; calls, their usage records and results; statements; ratings and
correction tickets. The same rules as the screens, because both call the same service
functions of ``products``: each view parses, calls one service function, commits and shapes.
Objects of another bank answer 404, as if they did not exist."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from flask import request

from products import authorizations, calls, catalog, feedback, results, statements, subscriptions
from products.models import EnterpriseAuthorization, ProductCall, ProductVersion
from products.subscriptions import SubscriptionView, period_of
from products.views import ProductView
from sandbox.errors import InvalidInput, NotFound
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.jobs.coordinator import dispatch
from web import context as ctx
from web.api import products_schemas as ps
from web.api.routes import bp, caller, shaped
from web.api.spec import operation
from web.errors import json_error
from web.params import json_body, path_id, query_int

MAX_VERSION_DIGITS = 7


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _version(text: str) -> int:
    """A version number from the path; anything else is simply not found."""
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_VERSION_DIGITS):
        raise NotFound("no such product version", code="product.version_not_found")
    return int(text)


def _version_json(product_id: str, row: ProductVersion) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "version": row.version,
        "state": row.state,
        "submitted_at": _time(row.submitted_at),
        "decided_at": _time(row.decided_at),
    }


def _rating_summary(product_id: UUID) -> dict[str, Any]:
    summary = feedback.ratings(ctx.db(), product_id)
    return {"average": summary.average, "total": summary.total}


def _product_json(view: ProductView) -> dict[str, Any]:
    return {
        "id": view.id,
        "slug": view.slug,
        "name": view.name,
        "kind": view.kind,
        "state": view.state,
        "operator": view.operator,
        "operator_name": view.operator_name,
        "listed_version": view.listed_version,
        "version": view.version,
        "version_state": view.version_state,
        "spec": view.spec.model_dump(mode="json"),
        "sources": [
            {
                "dataset_id": s.dataset_id,
                "dataset": s.dataset,
                "title": s.title,
                "owner": s.owner,
                "labels": list(s.labels),
            }
            for s in view.sources
        ],
        "reviewers": [
            {"org": r.org, "decision": r.decision, "at": _time(r.at), "reason": r.reason}
            for r in view.reviewers
        ],
        "versions": [
            {
                "product_id": view.id,
                "version": v.version,
                "state": v.state,
                "submitted_at": _time(v.submitted_at),
                "decided_at": _time(v.decided_at),
            }
            for v in view.versions
        ],
        "license_in_force": view.license_in_force,
        "rating": _rating_summary(UUID(view.id)),
    }


def _product_out(product_id: UUID) -> dict[str, Any]:
    view = catalog.get_view(ctx.db(), caller(), product_id, ctx.now())
    return shaped(ps.ProductOut, _product_json(view))


# --- products ---------------------------------------------------------------------------------


@operation(
    bp,
    "GET",
    "/products",
    summary="Products you may see (a bank: the store; the operator: its own, drafts too)",
    response=ps.ProductList,
)
def list_products() -> Any:
    who = caller()
    views = catalog.products_for(ctx.db(), who, ctx.now())
    return shaped(ps.ProductList, {"products": [_product_json(v) for v in views]})


@operation(
    bp,
    "POST",
    "/products",
    summary="Design a product under your license and grants (operator); version 1 is a draft",
    request=ps.ProductCreate,
    response=ps.ProductOut,
    status=201,
)
def create_product() -> Any:
    who = caller()
    body = json_body(ps.ProductCreate)
    session = ctx.db()
    product = catalog.create_product(
        session,
        who,
        slug=body.slug,
        name=body.name,
        license_id=body.license_id,
        spec=body.spec,
        now=ctx.now(),
    )
    session.commit()
    return _product_out(product.id), 201


@operation(bp, "GET", "/products/{product_id}", summary="One product", response=ps.ProductOut)
def get_product(product_id: str) -> Any:
    caller()
    return _product_out(path_id(product_id, "product"))


@operation(
    bp,
    "POST",
    "/products/{product_id}/versions",
    summary="A new draft version of your product (operator); it is reviewed again",
    request=ps.VersionCreate,
    response=ps.VersionOut,
    status=201,
)
def create_product_version(product_id: str) -> Any:
    who = caller()
    target = path_id(product_id, "product")
    body = json_body(ps.VersionCreate)
    session = ctx.db()
    row = catalog.new_version(session, who, target, body.spec, ctx.now())
    out = _version_json(str(target), row)
    session.commit()
    return shaped(ps.VersionOut, out), 201


@operation(
    bp,
    "POST",
    "/products/{product_id}/versions/{version}/submit",
    summary="Send a draft version to its reviewers (operator)",
    response=ps.VersionOut,
)
def submit_product_version(product_id: str, version: str) -> Any:
    who = caller()
    target = path_id(product_id, "product")
    session = ctx.db()
    row = catalog.submit(session, who, target, _version(version), ctx.now())
    out = _version_json(str(target), row)
    session.commit()
    return shaped(ps.VersionOut, out)


@operation(
    bp,
    "POST",
    "/products/{product_id}/versions/{version}/reviews",
    summary="Approve or refuse a submitted version (the bureau, the providing CDOs)",
    request=ps.ProductReviewCreate,
    response=ps.VersionOut,
    status=201,
)
def review_product_version(product_id: str, version: str) -> Any:
    who = caller()
    target = path_id(product_id, "product")
    number = _version(version)
    body = json_body(ps.ProductReviewCreate)
    session = ctx.db()
    row = catalog.review(
        session, who, target, number, decision=body.decision, reason=body.reason, now=ctx.now()
    )
    out = _version_json(str(target), row)
    session.commit()
    return shaped(ps.VersionOut, out), 201


@operation(
    bp,
    "POST",
    "/products/{product_id}/listing",
    summary="List an approved version in the product store (上架; bureau)",
    request=ps.ListingCreate,
    response=ps.ProductOut,
)
def list_product(product_id: str) -> Any:
    who = caller()
    target = path_id(product_id, "product")
    body = json_body(ps.ListingCreate)
    session = ctx.db()
    catalog.list_product(session, who, target, body.version, ctx.now())
    session.commit()
    return _product_out(target)


@operation(
    bp,
    "DELETE",
    "/products/{product_id}/listing",
    summary="Take a product off the store (下架; bureau): no further calls",
    request=ps.Delisting,
    response=ps.ProductOut,
)
def delist_product(product_id: str) -> Any:
    who = caller()
    target = path_id(product_id, "product")
    body = json_body(ps.Delisting)
    session = ctx.db()
    catalog.delist(session, who, target, reason=body.reason, now=ctx.now())
    session.commit()
    return _product_out(target)


@operation(
    bp,
    "POST",
    "/products/{product_id}/ratings",
    summary="Rate a product you subscribe to (1 to 5 stars); a new rating replaces yours",
    request=ps.RatingCreate,
    response=ps.RatingOut,
    status=201,
)
def rate_product(product_id: str) -> Any:
    who = caller()
    target = path_id(product_id, "product")
    body = json_body(ps.RatingCreate)
    session = ctx.db()
    row = feedback.rate(session, who, target, stars=body.stars, comment=body.comment, now=ctx.now())
    out = {
        "product_id": str(target),
        "stars": row.stars,
        "comment": row.comment,
        "at": row.at.isoformat(),
    }
    session.commit()
    return shaped(ps.RatingOut, {**out, "summary": _rating_summary(target)}), 201


# --- subscriptions ----------------------------------------------------------------------------


def _subscription_json(view: SubscriptionView) -> dict[str, Any]:
    return {
        "id": view.id,
        "product_id": view.product_id,
        "product_slug": view.product_slug,
        "product_name": view.product_name,
        "consumer": view.consumer,
        "consumer_name": view.consumer_name,
        "state": view.state,
        "accepted_version": view.accepted_version,
        "listed_version": view.listed_version,
        "calls_per_month": view.calls_per_month,
        "identifiers_per_month": view.identifiers_per_month,
        "requested_at": view.requested_at.isoformat(),
        "decided_at": _time(view.decided_at),
        "reason": view.reason,
    }


def _subscription_out(subscription_id: UUID) -> dict[str, Any]:
    view = subscriptions.subscription_view(ctx.db(), caller(), subscription_id)
    return shaped(ps.SubscriptionOut, _subscription_json(view))


@operation(
    bp,
    "GET",
    "/subscriptions",
    summary="Subscriptions (a bank: its own; the operator: its products'; bureau, auditor: all)",
    response=ps.SubscriptionList,
)
def list_subscriptions() -> Any:
    views = subscriptions.subscriptions_for(ctx.db(), caller())
    return shaped(ps.SubscriptionList, {"subscriptions": [_subscription_json(v) for v in views]})


@operation(
    bp,
    "POST",
    "/subscriptions",
    summary="Subscribe to a listed product, accepting its terms (bank); an active subscriber "
    "accepts a newly listed version the same way",
    request=ps.SubscriptionCreate,
    response=ps.SubscriptionOut,
    status=201,
)
def create_subscription() -> Any:
    who = caller()
    body = json_body(ps.SubscriptionCreate)
    session = ctx.db()
    sub = subscriptions.subscribe(
        session, who, body.product_id, accept_terms=body.accept_terms, now=ctx.now()
    )
    session.commit()
    return _subscription_out(sub.id), 201


@operation(
    bp,
    "POST",
    "/subscriptions/{subscription_id}/decision",
    summary="Approve (optionally with other monthly quotas) or reject a requested subscription "
    "(the product's operator or the bureau)",
    request=ps.SubscriptionDecision,
    response=ps.SubscriptionOut,
)
def decide_subscription(subscription_id: str) -> Any:
    who = caller()
    target = path_id(subscription_id, "subscription")
    body = json_body(ps.SubscriptionDecision)
    session = ctx.db()
    subscriptions.decide(
        session,
        who,
        target,
        approve=body.approve,
        reason=body.reason,
        calls_per_month=body.calls_per_month,
        identifiers_per_month=body.identifiers_per_month,
        now=ctx.now(),
    )
    session.commit()
    return _subscription_out(target)


# --- enterprise authorizations ----------------------------------------------------------------


def _authorization_json(row: EnterpriseAuthorization) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "reference": row.reference,
        "state": row.state,
        "valid_until": row.valid_until.isoformat(),
        "registered_at": row.registered_at.isoformat(),
        "revoked_at": _time(row.revoked_at),
    }


@operation(
    bp,
    "GET",
    "/authorizations",
    summary="Your bank's enterprise authorizations (references only, never a credit code)",
    response=ps.AuthorizationList,
)
def list_authorizations() -> Any:
    rows = authorizations.authorizations_for(ctx.db(), caller())
    return shaped(ps.AuthorizationList, {"authorizations": [_authorization_json(r) for r in rows]})


@operation(
    bp,
    "POST",
    "/authorizations",
    summary="Register an enterprise's authorization of credit checks (bank); only a digest "
    "of the credit code is stored",
    request=ps.AuthorizationCreate,
    response=ps.AuthorizationOut,
    status=201,
)
def register_authorization() -> Any:
    who = caller()
    body = json_body(ps.AuthorizationCreate)
    session = ctx.db()
    row = authorizations.register(
        session,
        who,
        credit_code=body.credit_code,
        reference=body.reference,
        valid_until=body.valid_until,
        now=ctx.now(),
    )
    out = _authorization_json(row)
    session.commit()
    return shaped(ps.AuthorizationOut, out), 201


@operation(
    bp,
    "DELETE",
    "/authorizations/{authorization_id}",
    summary="Revoke an authorization: later calls no longer query the enterprise",
    response=None,
    status=204,
)
def revoke_authorization(authorization_id: str) -> Any:
    who = caller()
    target = path_id(authorization_id, "authorization")
    session = ctx.db()
    authorizations.revoke(session, who, target, ctx.now())
    session.commit()
    return "", 204


# --- calls ------------------------------------------------------------------------------------


def _call_json(view: calls.CallView) -> dict[str, Any]:
    return {
        "id": view.id,
        "product_id": view.product_id,
        "product_slug": view.product_slug,
        "product_name": view.product_name,
        "version": view.version,
        "consumer": view.consumer,
        "caller": view.caller,
        "state": view.state,
        "job_ids": list(view.job_ids),
        "input_dataset_id": view.input_dataset_id,
        "identifiers": view.identifiers,
        "matched": view.matched,
        "unauthorized": view.unauthorized,
        "rejected": view.rejected,
        "compute_seconds": view.compute_seconds,
        "charge_fen": view.charge_fen,
        "period": view.period,
        "created_at": view.created_at.isoformat(),
        "settled_at": _time(view.settled_at),
        "refusal_code": view.refusal_code,
    }


@operation(
    bp,
    "POST",
    "/products/{product_id}/calls",
    summary="Run a listed product on one of your own datasets (bank); its jobs are queued. "
    "A call the policy refuses is recorded, never charged, and answered 403 with its code",
    request=ps.CallCreate,
    response=ps.CallOut,
    status=202,
)
def call_product(product_id: str) -> Any:
    who = caller()
    target = path_id(product_id, "product")
    body = json_body(ps.CallCreate)
    session, now = ctx.db(), ctx.now()
    call = calls.run(
        session,
        who,
        target,
        input_dataset_id=body.input_dataset_id,
        reference_column=body.reference_column,
        signer=ctx.signer(),
        now=now,
    )
    followups = [engine.advance(session, JobId(UUID(j)), now=now) for j in call.job_ids]
    out = _call_json(calls.get_call(session, who, call.id))
    session.commit()
    for first in followups:
        dispatch(ctx.enqueuer(), first)  # only after commit
    if call.state == "refused":
        return json_error(
            403,
            call.refusal_code or "call.refused",
            "the policy refused the call; it is recorded and nothing was charged",
            details=[{"call": out["id"], "charge_fen": 0}],
        )
    return shaped(ps.CallOut, out), 202


@operation(
    bp,
    "GET",
    "/calls",
    summary="Product calls (a bank: its own; the operator: its products', counts only; "
    "bureau, auditor: all), newest first",
    response=ps.CallList,
    query=(("product_id", "string"), ("period", "string"), ("limit", "integer")),
)
def list_calls() -> Any:
    who = caller()
    session = ctx.db()
    product = request.args.get("product_id")
    product_id = path_id(product, "product") if product is not None else None
    period = request.args.get("period")
    if period is not None and (len(period) != len("YYYY-MM") or period[4:5] != "-"):
        raise InvalidInput("period must look like 2026-11", code="invalid_query")
    limit = query_int("limit", default=100, max_digits=4)
    if not 1 <= limit <= calls.MAX_LIST:
        raise InvalidInput(f"limit must be from 1 to {calls.MAX_LIST}", code="invalid_query")
    calls.settle_pending(session, ctx.now())
    session.commit()
    views = calls.calls_for(session, who, product_id=product_id, period=period, limit=limit)
    return shaped(ps.CallList, {"calls": [_call_json(v) for v in views]})


@operation(bp, "GET", "/calls/{call_id}", summary="One call's usage record", response=ps.CallOut)
def get_call(call_id: str) -> Any:
    who = caller()
    target = path_id(call_id, "call")
    session = ctx.db()
    view = calls.get_call(session, who, target)
    if view.state == "running":
        row = session.get(ProductCall, target)
        if row is not None:
            calls.settle(session, row, ctx.now())
            session.commit()
            view = calls.get_call(session, who, target)
    return shaped(ps.CallOut, _call_json(view))


@operation(
    bp,
    "GET",
    "/calls/{call_id}/result",
    summary="A succeeded call's merged result, for the calling bank only (CSV; format=json "
    "for a table); every read is in the ledger",
    response=ps.CallResult,
    query=(("format", "csv (default) or json"),),
    csv=True,
)
def get_call_result(call_id: str) -> Any:
    who = caller()
    target = path_id(call_id, "call")
    fmt = request.args.get("format", "csv")
    if fmt not in ("json", "csv"):
        raise InvalidInput("format must be csv or json", code="invalid_query")
    session = ctx.db()
    header, rows = results.call_result(
        session, who, target, domain_root=ctx.settings().domain_root, now=ctx.now()
    )
    session.commit()  # the read is in the ledger before anything is sent
    if fmt == "json":
        out = {
            "call": str(target),
            "columns": list(header),
            "rows": [list(r) for r in rows],
            "row_count": len(rows),
        }
        return shaped(ps.CallResult, out)
    headers = {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="call-{target}.csv"',
    }
    return results.as_csv(header, rows), 200, headers


# --- statements -------------------------------------------------------------------------------


@operation(
    bp,
    "GET",
    "/statements",
    summary="A period's usage statement with the revenue split (a bank: its own; the operator: "
    "its products'; bureau, auditor: all or filtered)",
    response=ps.StatementOut,
    query=(
        ("period", "string"),
        ("format", "json (default) or csv"),
        ("consumer", "string"),
        ("operator", "string"),
    ),
    csv=True,
)
def get_statement() -> Any:
    who = caller()
    fmt = request.args.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidInput("format must be json or csv", code="invalid_query")
    stmt = statements.statement(
        ctx.db(),
        who,
        period=request.args.get("period") or period_of(ctx.now()),
        consumer=request.args.get("consumer"),
        operator=request.args.get("operator"),
    )
    if fmt == "csv":
        headers = {
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="statement-{stmt.period}.csv"',
        }
        return statements.to_csv(stmt), 200, headers
    t = stmt.totals
    out = {
        "period": stmt.period,
        "consumer": stmt.consumer,
        "operator": stmt.operator,
        "lines": [
            {
                "product_id": line.product_id,
                "product_slug": line.product_slug,
                "product_name": line.product_name,
                "operator": line.operator,
                "consumer": line.consumer,
                "calls": line.calls,
                "identifiers": line.identifiers,
                "amount_fen": line.amount_fen,
                "operator_fee_fen": line.operator_fee_fen,
                "public_finance_fen": line.public_finance_fen,
            }
            for line in stmt.lines
        ],
        "totals": {
            "calls": t.calls,
            "identifiers": t.identifiers,
            "amount_fen": t.amount_fen,
            "operator_fee_fen": t.operator_fee_fen,
            "public_finance_fen": t.public_finance_fen,
        },
    }
    return shaped(ps.StatementOut, out)


# --- correction tickets -----------------------------------------------------------------------


def _ticket_json(view: feedback.TicketView) -> dict[str, Any]:
    return {
        "id": view.id,
        "product_id": view.product_id,
        "product_slug": view.product_slug,
        "consumer": view.consumer,
        "provider": view.provider,
        "dataset": view.dataset,
        "field": view.field,
        "subject": view.subject,
        "description": view.description,
        "state": view.state,
        "filed_at": view.filed_at.isoformat(),
        "due_at": view.due_at.isoformat(),
        "overdue": view.overdue,
        "answer": view.answer,
        "answered_at": _time(view.answered_at),
    }


def _ticket_out(ticket_id: UUID) -> dict[str, Any]:
    view = feedback.get_ticket(ctx.db(), caller(), ticket_id, now=ctx.now())
    return shaped(ps.TicketOut, _ticket_json(view))


@operation(
    bp,
    "GET",
    "/tickets",
    summary="Correction tickets (a bank: its own; a CDO: its department's, with deadlines; "
    "the bureau: all; operator and auditor: without subject or texts)",
    response=ps.TicketList,
)
def list_tickets() -> Any:
    views = feedback.tickets_for(ctx.db(), caller(), now=ctx.now())
    return shaped(ps.TicketList, {"tickets": [_ticket_json(v) for v in views]})


@operation(
    bp,
    "POST",
    "/tickets",
    summary="Report suspected wrong data in a source of a product you subscribe to (bank)",
    request=ps.TicketCreate,
    response=ps.TicketOut,
    status=201,
)
def file_ticket() -> Any:
    who = caller()
    body = json_body(ps.TicketCreate)
    session = ctx.db()
    ticket = feedback.file_ticket(
        session,
        who,
        body.product_id,
        dataset_id=body.dataset_id,
        subject=body.subject,
        field=body.field,
        description=body.description,
        now=ctx.now(),
    )
    session.commit()
    return _ticket_out(ticket.id), 201


@operation(
    bp,
    "POST",
    "/tickets/{ticket_id}/answer",
    summary="Answer (and optionally close) a ticket about your department's data (CDO)",
    request=ps.TicketAnswer,
    response=ps.TicketOut,
)
def answer_ticket(ticket_id: str) -> Any:
    who = caller()
    target = path_id(ticket_id, "ticket")
    body = json_body(ps.TicketAnswer)
    session = ctx.db()
    feedback.answer(session, who, target, answer=body.answer, close=body.close, now=ctx.now())
    session.commit()
    return _ticket_out(target)
