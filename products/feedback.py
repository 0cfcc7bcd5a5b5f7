"""Feedback from consumers: ratings of a product, and correction tickets (反馈纠错) about
suspected wrong data, which the providing department answers by a deadline.

A ticket's ``subject`` (the enterprise's credit code, as the bank chooses to disclose it) and
its texts are seen only by the filing bank, the providing department and the bureau; the
operator sees its products' tickets without them (and without the bank), the auditor without
them. The ledger records tickets and answers by id, field and digest, never the subject.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from products.models import (
    CorrectionTicket,
    Product,
    Rating,
    Subscription,
    SubscriptionState,
    TicketState,
)
from products.records import current_schema, spec_of, version_row
from products.views import visible_product
from sandbox.datasets.models import Dataset
from sandbox.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from sandbox.identifiers import IdentifierKind, check
from sandbox.ledger.entry import digest
from sandbox.ledger.log import Actor, append
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role
from sandbox.parties.service import require_role

MAX_COMMENT = 1000
MAX_TEXT = 4000
MAX_SUBJECT = 64
LATEST = 10
ANSWER_WITHIN = dt.timedelta(days=15)


class RatingView(NamedTuple):
    stars: int
    comment: str
    at: dt.datetime


class RatingSummary(NamedTuple):
    """Anonymous: which bank rated is not shown (it would reveal who subscribes)."""

    average: float | None
    total: int
    latest: tuple[RatingView, ...]


@dataclass(frozen=True, slots=True)
class TicketView:
    id: str
    product_id: str
    product_slug: str
    consumer: str | None  # hidden from the operator
    provider: str
    dataset: str  # "domain/name"
    field: str
    subject: str | None  # only the filing bank, the provider and the bureau
    description: str | None
    state: str
    filed_at: dt.datetime
    due_at: dt.datetime
    overdue: bool
    answer: str | None
    answered_at: dt.datetime | None


def _subscription(session: Session, who: Principal, product: Product) -> Subscription:
    require_role(who, Role.BANK_ANALYST)
    sub = session.scalar(
        select(Subscription).where(
            Subscription.product_id == product.id,
            Subscription.consumer_id == who.org_id,
            Subscription.state == SubscriptionState.ACTIVE.value,
        )
    )
    if sub is None:
        raise PermissionDenied("an active subscription is required", code="subscription.required")
    return sub


def _ledger(
    session: Session,
    who: Principal,
    action: str,
    object_type: str,
    object_id: UUID,
    now: dt.datetime,
    details: dict[str, object],
) -> None:
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        params={"id": str(object_id), **details},
        details=details,
        now=now,
    )


def rate(
    session: Session,
    who: Principal,
    product_id: UUID,
    *,
    stars: int,
    comment: str = "",
    now: dt.datetime,
) -> Rating:
    """A subscriber's rating (1 to 5 stars, an optional comment); a new one replaces it."""
    product = visible_product(session, who, product_id)
    _subscription(session, who, product)
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidInput("stars: a whole number from 1 to 5", code="rating.stars")
    if not isinstance(comment, str) or len(comment.strip()) > MAX_COMMENT:
        raise InvalidInput(f"comment: at most {MAX_COMMENT} characters", code="rating.comment")
    comment = comment.strip()
    row = session.scalar(
        select(Rating).where(Rating.product_id == product.id, Rating.consumer_id == who.org_id)
    )
    if row is None:
        row = Rating(product_id=product.id, consumer_id=who.org_id)
        session.add(row)
    row.user_id, row.stars, row.comment, row.at = who.user_id, stars, comment, now
    session.flush()
    _ledger(
        session,
        who,
        "product.rated",
        "product",
        product.id,
        now,
        {"stars": stars, "comment_digest": digest(comment)},
    )
    return row


def ratings(session: Session, product_id: UUID) -> RatingSummary:
    average, count = session.execute(
        select(func.avg(Rating.stars), func.count()).where(Rating.product_id == product_id)
    ).one()
    latest = session.execute(
        select(Rating.stars, Rating.comment, Rating.at)
        .where(Rating.product_id == product_id)
        .order_by(Rating.at.desc())
        .limit(LATEST)
    ).all()
    return RatingSummary(
        round(float(average), 2) if average is not None else None,
        int(count),
        tuple(RatingView(*r) for r in latest),
    )


def _text(value: str, field: str, limit: int) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if not 1 <= len(value) <= limit:
        raise InvalidInput(f"{field}: 1 to {limit} characters", code=f"ticket.{field}")
    return value


def file_ticket(
    session: Session,
    who: Principal,
    product_id: UUID,
    *,
    dataset_id: UUID,
    subject: str,
    field: str,
    description: str,
    now: dt.datetime,
) -> CorrectionTicket:
    """A subscriber reports suspected wrong data in one source of the product, about one
    enterprise; the dataset's department must answer within 15 days."""
    product = visible_product(session, who, product_id)
    sub = _subscription(session, who, product)
    spec = spec_of(version_row(session, product.id, sub.accepted_version))
    source = next((s for s in spec.sources if s.dataset_id == dataset_id), None)
    dataset = session.get(Dataset, dataset_id)
    schema = current_schema(session, dataset_id)
    if source is None or dataset is None or schema is None:
        raise InvalidInput("the dataset is not a source of the product", code="ticket.dataset")
    checked = (
        check(IdentifierKind.CREDIT_CODE, subject)
        if isinstance(subject, str) and len(subject) <= MAX_SUBJECT
        else None
    )
    if checked is None or checked.value is None:
        raise InvalidInput("the subject must be a valid credit code", code="ticket.subject")
    fields = {label.name for label in source.labels} | (
        set(source.columns) - {schema.identifier.column}
    )
    if field not in fields:
        raise InvalidInput(f"field: one of {', '.join(sorted(fields))}", code="ticket.field")
    description = _text(description, "description", MAX_TEXT)
    ticket = CorrectionTicket(
        product_id=product.id,
        consumer_id=who.org_id,
        provider_id=dataset.domain.org_id,
        dataset_id=dataset.id,
        subject=checked.value,
        field=field,
        description=description,
        state=TicketState.OPEN.value,
        due_at=now + ANSWER_WITHIN,
        filed_by=who.user_id,
        filed_at=now,
    )
    session.add(ticket)
    session.flush()
    _ledger(
        session,
        who,
        "ticket.filed",
        "correction_ticket",
        ticket.id,
        now,
        {
            "product": str(product.id),
            "dataset": str(dataset.id),
            "field": field,
            "due_at": ticket.due_at.isoformat(),
        },
    )
    return ticket


def _sees(session: Session, who: Principal, ticket: CorrectionTicket) -> bool:
    if who.oversees_all:
        return True
    if who.role == Role.BANK_ANALYST:
        return ticket.consumer_id == who.org_id
    if who.role == Role.PROVIDER_CDO:
        return ticket.provider_id == who.org_id
    if who.role == Role.OPERATOR:
        product = session.get(Product, ticket.product_id)
        return product is not None and product.operator_id == who.org_id
    return False


def answer(
    session: Session,
    who: Principal,
    ticket_id: UUID,
    *,
    answer: str,
    close: bool = False,
    now: dt.datetime,
) -> CorrectionTicket:
    """The providing department's CDO answers (and may close) an open or answered ticket."""
    ticket = session.get(CorrectionTicket, ticket_id)
    if ticket is None or not _sees(session, who, ticket):
        raise NotFound("no such ticket", code="ticket.not_found")
    if who.role != Role.PROVIDER_CDO or ticket.provider_id != who.org_id:
        raise PermissionDenied("only the providing department answers", code="ticket.not_provider")
    if ticket.state == TicketState.CLOSED.value:
        raise Conflict("the ticket is closed", code="ticket.closed")
    text = _text(answer, "answer", MAX_TEXT)
    ticket.answer, ticket.answered_at, ticket.answered_by = text, now, who.user_id
    ticket.state = TicketState.CLOSED.value if close else TicketState.ANSWERED.value
    session.flush()
    _ledger(
        session,
        who,
        "ticket.answered",
        "correction_ticket",
        ticket.id,
        now,
        {
            "state": ticket.state,
            "answer_digest": digest(text),
            "late": now > ticket.due_at,
        },
    )
    return ticket


def _views(
    session: Session, who: Principal, tickets: list[CorrectionTicket], now: dt.datetime
) -> list[TicketView]:
    if not tickets:
        return []
    products = {p.id: p for p in session.scalars(select(Product))}
    orgs = {o.id: o.slug for o in session.scalars(select(Organization))}
    datasets = {
        d.id: f"{d.domain.name}/{d.name}"
        for d in session.scalars(
            select(Dataset).where(Dataset.id.in_({t.dataset_id for t in tickets}))
        )
    }
    full = who.role in (Role.BANK_ANALYST, Role.PROVIDER_CDO, Role.BUREAU_ADMIN)
    return [
        TicketView(
            id=str(t.id),
            product_id=str(t.product_id),
            product_slug=products[t.product_id].slug,
            consumer=orgs.get(t.consumer_id) if who.role != Role.OPERATOR else None,
            provider=orgs.get(t.provider_id, ""),
            dataset=datasets.get(t.dataset_id, ""),
            field=t.field,
            subject=t.subject if full else None,
            description=t.description if full else None,
            state=t.state,
            filed_at=t.filed_at,
            due_at=t.due_at,
            overdue=t.state == TicketState.OPEN.value and now > t.due_at,
            answer=t.answer if full else None,
            answered_at=t.answered_at,
        )
        for t in tickets
    ]


def tickets_for(session: Session, who: Principal, *, now: dt.datetime) -> list[TicketView]:
    """Newest first: a bank its own, a CDO its department's, the bureau all; the operator its
    products' and the auditor all, without subject or texts."""
    query = select(CorrectionTicket).order_by(CorrectionTicket.filed_at.desc())
    if who.role == Role.BANK_ANALYST:
        query = query.where(CorrectionTicket.consumer_id == who.org_id)
    elif who.role == Role.PROVIDER_CDO:
        query = query.where(CorrectionTicket.provider_id == who.org_id)
    elif who.role == Role.OPERATOR:
        mine = select(Product.id).where(Product.operator_id == who.org_id)
        query = query.where(CorrectionTicket.product_id.in_(mine))
    elif not who.oversees_all:
        return []
    return _views(session, who, list(session.scalars(query)), now)


def get_ticket(
    session: Session, who: Principal, ticket_id: UUID, *, now: dt.datetime
) -> TicketView:
    ticket = session.get(CorrectionTicket, ticket_id)
    if ticket is None or not _sees(session, who, ticket):
        raise NotFound("no such ticket", code="ticket.not_found")
    return _views(session, who, [ticket], now)[0]
