"""Usage statements per period (a calendar month, UTC) and the revenue split.

Only succeeded calls are charged. A line is one product and one consumer: calls,
identifiers, the amount, the operator's fee (``round(amount × operator_fee_share)``, half up,
with each version's own share) and the rest, which belongs to public finance. A bank sees
only its own lines, an operator its products' lines, the bureau and the auditor all.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from products.models import CallState, Product, ProductCall, ProductVersion
from products.records import spec_of
from products.views import products_for
from sandbox.errors import InvalidInput, NotFound, PermissionDenied
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role

PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class StatementLine:
    product_id: str
    product_slug: str
    product_name: str
    operator: str
    consumer: str
    calls: int
    identifiers: int
    amount_fen: int
    operator_fee_fen: int
    public_finance_fen: int


@dataclass(frozen=True, slots=True)
class Totals:
    calls: int
    identifiers: int
    amount_fen: int
    operator_fee_fen: int
    public_finance_fen: int


@dataclass(frozen=True, slots=True)
class Statement:
    period: str
    consumer: str | None
    operator: str | None
    lines: tuple[StatementLine, ...]
    totals: Totals


class UsagePoint(NamedTuple):
    day: dt.date
    calls: int
    revenue_fen: int


def operator_fee(amount_fen: int, share: float) -> int:
    return int((Decimal(amount_fen) * Decimal(str(share))).to_integral_value(ROUND_HALF_UP))


def _org_id(session: Session, slug: str) -> UUID:
    org_id = session.scalar(select(Organization.id).where(Organization.slug == slug))
    if org_id is None:
        raise NotFound("no such organization", code="statement.org_not_found")
    return org_id


def _scope(
    session: Session, who: Principal, consumer: str | None, operator: str | None
) -> tuple[str | None, str | None]:
    """The consumer and operator a statement may cover for ``who``."""
    if who.role == Role.BANK_ANALYST:
        if consumer not in (None, who.org_slug) or operator is not None:
            raise PermissionDenied("a bank sees only its own statement", code="statement.forbidden")
        return who.org_slug, None
    if who.role == Role.OPERATOR:
        if operator not in (None, who.org_slug):
            raise PermissionDenied(
                "an operator sees only its own products' statement", code="statement.forbidden"
            )
        return consumer, who.org_slug
    if who.oversees_all:
        return consumer, operator
    raise PermissionDenied("your role has no statements", code="statement.forbidden")


def statement(
    session: Session,
    who: Principal,
    *,
    period: str,
    consumer: str | None = None,
    operator: str | None = None,
) -> Statement:
    if not isinstance(period, str) or not PERIOD.match(period):
        raise InvalidInput("a period is YYYY-MM", code="statement.period")
    consumer, operator = _scope(session, who, consumer, operator)
    query = (
        select(ProductCall, Product)
        .join(Product, Product.id == ProductCall.product_id)
        .where(ProductCall.period == period, ProductCall.state == CallState.SUCCEEDED.value)
    )
    if consumer is not None:
        query = query.where(ProductCall.consumer_id == _org_id(session, consumer))
    if operator is not None:
        query = query.where(Product.operator_id == _org_id(session, operator))
    found = session.execute(query).all()
    slugs = {o.id: o.slug for o in session.scalars(select(Organization))} if found else {}
    shares: dict[tuple[UUID, int], float] = {}
    # (product, consumer) -> [calls, identifiers, amount, fee]
    sums: dict[tuple[UUID, UUID], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_version: dict[tuple[UUID, UUID, int], int] = defaultdict(int)
    products: dict[UUID, Product] = {}
    for call, product in found:
        products[product.id] = product
        line = sums[(product.id, call.consumer_id)]
        line[0] += 1
        line[1] += call.identifiers
        line[2] += call.charge_fen
        by_version[(product.id, call.consumer_id, call.version)] += call.charge_fen
    for (product_id, consumer_id, version), amount in by_version.items():
        if (product_id, version) not in shares:
            row = session.scalar(
                select(ProductVersion).where(
                    ProductVersion.product_id == product_id, ProductVersion.version == version
                )
            )
            shares[(product_id, version)] = spec_of(row).operator_fee_share if row else 0.0
        sums[(product_id, consumer_id)][3] += operator_fee(amount, shares[(product_id, version)])
    lines = tuple(
        sorted(
            (
                StatementLine(
                    product_id=str(product_id),
                    product_slug=products[product_id].slug,
                    product_name=products[product_id].name,
                    operator=slugs.get(products[product_id].operator_id, ""),
                    consumer=slugs.get(consumer_id, ""),
                    calls=calls,
                    identifiers=identifiers,
                    amount_fen=amount,
                    operator_fee_fen=fee,
                    public_finance_fen=amount - fee,
                )
                for (product_id, consumer_id), (calls, identifiers, amount, fee) in sums.items()
            ),
            key=lambda line: (line.product_slug, line.consumer),
        )
    )
    totals = Totals(
        calls=sum(line.calls for line in lines),
        identifiers=sum(line.identifiers for line in lines),
        amount_fen=sum(line.amount_fen for line in lines),
        operator_fee_fen=sum(line.operator_fee_fen for line in lines),
        public_finance_fen=sum(line.public_finance_fen for line in lines),
    )
    return Statement(period, consumer, operator, lines, totals)


def _cell(text: str) -> str:
    # A spreadsheet would run a cell that starts like a formula: names come from operators.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


HEADER = (
    "period",
    "product",
    "product_name",
    "operator",
    "consumer",
    "calls",
    "identifiers",
    "amount_fen",
    "operator_fee_fen",
    "public_finance_fen",
)


def to_csv(stmt: Statement) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for line in stmt.lines:
        writer.writerow(
            (
                stmt.period,
                _cell(line.product_slug),
                _cell(line.product_name),
                _cell(line.operator),
                _cell(line.consumer),
                line.calls,
                line.identifiers,
                line.amount_fen,
                line.operator_fee_fen,
                line.public_finance_fen,
            )
        )
    t = stmt.totals
    writer.writerow(
        (
            stmt.period,
            "TOTAL",
            "",
            "",
            "",
            t.calls,
            t.identifiers,
            t.amount_fen,
            t.operator_fee_fen,
            t.public_finance_fen,
        )
    )
    return buffer.getvalue()


def usage_series(
    session: Session, who: Principal, *, days: int, now: dt.datetime
) -> list[UsagePoint]:
    """Succeeded calls and revenue per day (UTC) over the last ``days`` days, oldest first,
    zeros included: the bank its own, the operator its products', the bureau and the auditor
    all, a CDO the products that read its datasets."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"days: 1 to {MAX_DAYS}", code="statement.days")
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    query = (
        select(ProductCall.created_at, ProductCall.charge_fen)
        .join(Product, Product.id == ProductCall.product_id)
        .where(ProductCall.state == CallState.SUCCEEDED.value, ProductCall.created_at >= start)
    )
    if who.role == Role.BANK_ANALYST:
        query = query.where(ProductCall.consumer_id == who.org_id)
    elif who.role == Role.OPERATOR:
        query = query.where(Product.operator_id == who.org_id)
    elif who.role == Role.PROVIDER_CDO:
        mine = [UUID(v.id) for v in products_for(session, who, now)]
        query = query.where(Product.id.in_(mine))
    elif not who.oversees_all:
        raise PermissionDenied("your role has no usage figures", code="statement.forbidden")
    calls: dict[dt.date, int] = defaultdict(int)
    revenue: dict[dt.date, int] = defaultdict(int)
    for created_at, charge in session.execute(query):
        day = created_at.astimezone(dt.UTC).date()
        calls[day] += 1
        revenue[day] += charge
    span = [first + dt.timedelta(days=i) for i in range(days)]
    return [UsagePoint(day, calls[day], revenue[day]) for day in span]
