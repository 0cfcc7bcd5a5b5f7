"""Statements per month: succeeded calls only, per product and consumer, the operator's fee
rounded half up with each version's own share and the rest for public finance; each account
sees only its own lines; CSV export; usage per day for the charts."""

from __future__ import annotations

import datetime as dt

import pytest

from grants import grants as grants_service
from products import calls, catalog, statements, subscriptions
from products.models import Product, ProductCall
from products.statements import operator_fee, statement, to_csv, usage_series
from sandbox.errors import InvalidInput, NotFound, PermissionDenied
from tests.unit.products.helpers import (
    Env,
    approve_all,
    counts,
    credit_spec,
    finish,
    listed,
    run_call,
    subscribed,
)


def _settled(
    env: Env, product: Product, bank: str, items: int, *, now: dt.datetime | None = None
) -> ProductCall:
    call = run_call(env, product, bank, now=now or env.now)()
    finish(env, call, [counts(items, 1)] * len(call.job_ids))
    calls.settle(env.session, call, now or env.now)
    assert call.state == "succeeded"
    return call


@pytest.fixture
def month(env: Env, ready: Product) -> str:
    """bank-a: one refused call, 2 charged (9 and 4 identifiers), one failed; bank-b: one of
    3; and a call next month."""
    grants_service.suspend(
        env.session, env.who("bureau"), env.g.approved_grant_id, reason="audit", now=env.now
    )
    assert run_call(env, ready)().state == "refused"
    grants_service.reinstate(
        env.session, env.who("bureau"), env.g.approved_grant_id, reason="done", now=env.now
    )
    subscribed(env, ready, "bank-b")
    _settled(env, ready, "bank-a", 9)
    _settled(env, ready, "bank-a", 4)
    _settled(env, ready, "bank-b", 3)
    failed = run_call(env, ready)()
    finish(env, failed, [counts(5, 1)] * 3, failed=0)
    calls.settle(env.session, failed, env.now)
    _settled(env, ready, "bank-a", 7, now=env.now + dt.timedelta(days=32))
    return env.now.strftime("%Y-%m")


def _lines(stmt: statements.Statement) -> list[tuple[str, str, int, int, int, int, int]]:
    return [
        (
            line.product_slug,
            line.consumer,
            line.calls,
            line.identifiers,
            line.amount_fen,
            line.operator_fee_fen,
            line.public_finance_fen,
        )
        for line in stmt.lines
    ]


def test_the_bureau_sees_every_line_and_the_split(env: Env, month: str) -> None:
    stmt = statement(env.session, env.who("bureau"), period=month)
    assert _lines(stmt) == [
        ("credit", "bank-a", 2, 13, 650 + 400, 315, 735),
        ("credit", "bank-b", 1, 3, 350, 105, 245),
    ]
    assert (stmt.totals.calls, stmt.totals.amount_fen, stmt.totals.operator_fee_fen) == (
        3,
        1400,
        420,
    )
    assert stmt.totals.public_finance_fen == 980
    later = (env.now + dt.timedelta(days=32)).strftime("%Y-%m")
    assert _lines(statement(env.session, env.who("auditor"), period=later)) == [
        ("credit", "bank-a", 1, 7, 550, 165, 385)
    ]
    assert statement(env.session, env.who("bureau"), period="1999-01").lines == ()


def test_each_account_sees_only_its_own_lines(env: Env, month: str) -> None:
    mine = statement(env.session, env.who("bank-b"), period=month)
    assert _lines(mine) == [("credit", "bank-b", 1, 3, 350, 105, 245)]
    assert statement(env.session, env.who("bank-b"), period=month, consumer="bank-b") == mine
    for kw in ({"consumer": "bank-a"}, {"operator": "operator"}):
        with pytest.raises(PermissionDenied):
            statement(env.session, env.who("bank-b"), period=month, **kw)
    theirs = statement(env.session, env.who("operator"), period=month, consumer="bank-a")
    assert _lines(theirs) == [("credit", "bank-a", 2, 13, 1050, 315, 735)]
    with pytest.raises(PermissionDenied):
        statement(env.session, env.who("operator"), period=month, operator="bank-a")
    with pytest.raises(PermissionDenied):
        statement(env.session, env.who("tax-cdo"), period=month)
    with pytest.raises(NotFound):
        statement(env.session, env.who("bureau"), period=month, consumer="bank-z")


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-1", "26-01", "", "2026-01" * 1000])
def test_bad_periods_are_refused(env: Env, period: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        statement(env.session, env.who("bureau"), period=period)
    assert caught.value.code == "statement.period"


def test_the_fee_is_rounded_half_up_with_each_versions_share(env: Env, ready: Product) -> None:
    assert [operator_fee(5, 0.5), operator_fee(3, 0.5), operator_fee(1050, 0.3)] == [3, 2, 315]
    assert operator_fee(0, 1.0) == 0 and operator_fee(7, 0.0) == 0
    _settled(env, ready, "bank-a", 1)  # 250 fen at 0.3: fee 75
    operator = env.who("operator")
    halves = credit_spec(
        env, price_per_call_fen=5, price_per_identifier_fen=0, operator_fee_share=0.5
    )
    catalog.new_version(env.session, operator, ready.id, halves, env.now)
    catalog.submit(env.session, operator, ready.id, 2, env.now)
    approve_all(env, ready, 2)
    catalog.list_product(env.session, env.who("bureau"), ready.id, 2, env.now)
    subscriptions.subscribe(
        env.session, env.who("bank-a"), ready.id, accept_terms=True, now=env.now
    )
    _settled(env, ready, "bank-a", 1)  # 5 fen at 0.5: fee 2.5, rounded up to 3
    stmt = statement(env.session, env.who("bank-a"), period=env.now.strftime("%Y-%m"))
    assert _lines(stmt) == [("credit", "bank-a", 2, 2, 255, 78, 177)]


def test_csv_export_has_the_lines_and_totals_and_no_formulas(env: Env, month: str) -> None:
    sneaky = listed(env, slug="sneaky")
    sneaky.name = '=HYPERLINK("http://evil","x")'
    subscribed(env, sneaky, "bank-b")
    _settled(env, sneaky, "bank-b", 2)
    text = to_csv(statement(env.session, env.who("bureau"), period=month))
    lines = text.splitlines()
    assert lines[0] == (
        "period,product,product_name,operator,consumer,calls,identifiers,amount_fen,"
        "operator_fee_fen,public_finance_fen"
    )
    assert lines[1] == f"{month},credit,Product credit,operator,bank-a,2,13,1050,315,735"
    assert lines[3].startswith(f"{month},sneaky,\"'=HYPERLINK(")
    assert lines[-1] == f"{month},TOTAL,,,,4,18,1700,510,1190"


def test_usage_per_day_for_the_charts(env: Env, month: str) -> None:
    today = env.now.date()
    series = usage_series(env.session, env.who("bank-a"), days=3, now=env.now)
    assert [p.day for p in series] == [today - dt.timedelta(days=n) for n in (2, 1, 0)]
    assert [(p.calls, p.revenue_fen) for p in series] == [(0, 0), (0, 0), (2, 1050)]
    assert usage_series(env.session, env.who("bank-b"), days=1, now=env.now)[0][1:] == (1, 350)
    for username in ("operator", "bureau", "auditor", "tax-cdo"):
        assert usage_series(env.session, env.who(username), days=1, now=env.now)[0][1:] == (
            3,
            1400,
        )
    assert usage_series(env.session, env.who("court-cdo"), days=1, now=env.now)[0][1:] == (0, 0)
    for days in (0, -1, 367, True):
        with pytest.raises(InvalidInput):
            usage_series(env.session, env.who("bureau"), days=days, now=env.now)
