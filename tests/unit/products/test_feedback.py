"""Feedback: subscribers rate products (anonymously) and file correction tickets about one
enterprise in one source; the providing department's CDO answers by the deadline; the
subject is seen by the filing bank, the department and the bureau only, never the ledger."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from products import feedback
from products.models import CorrectionTicket, Product, TicketState
from sandbox.errors import NotFound, PermissionDenied
from sandbox.identifiers import credit_code_check_char
from tests.helpers import refused
from tests.unit.products.helpers import Env, listed, subscribed

TABLES = ("correction_tickets", "ratings", "ledger_entries")
FIRST17 = "91110108000004567"
SUBJECT = FIRST17 + credit_code_check_char(FIRST17)


def _file(
    env: Env, product: Product, bank: str = "bank-a", **kw: Any
) -> Callable[[], CorrectionTicket]:
    return lambda: feedback.file_ticket(
        env.session,
        env.who(bank),
        product.id,
        dataset_id=kw.get("dataset_id") or env.dataset("tax", "tax_ratings").id,
        subject=kw.get("subject", SUBJECT),
        field=kw.get("field", "tax_grade_band"),
        description=kw.get("description", "Rated D but paid all taxes on time."),
        now=env.now,
    )


def test_subscribers_rate_and_a_new_rating_replaces_the_old(env: Env, ready: Product) -> None:
    subscribed(env, ready, "bank-b")
    feedback.rate(env.session, env.who("bank-a"), ready.id, stars=2, comment="slow", now=env.now)
    feedback.rate(env.session, env.who("bank-a"), ready.id, stars=4, now=env.now)
    feedback.rate(env.session, env.who("bank-b"), ready.id, stars=5, comment=" good ", now=env.now)
    summary = feedback.ratings(env.session, ready.id)
    assert summary.average == 4.5 and summary.total == 2
    assert sorted(r.stars for r in summary.latest) == [4, 5]
    assert {r.comment for r in summary.latest} == {"", "good"}
    assert not hasattr(summary.latest[0], "consumer")  # anonymous
    assert feedback.ratings(env.session, uuid.uuid4()) == (None, 0, ())


@pytest.mark.parametrize(
    ("username", "stars", "comment", "code"),
    [
        ("bank-b", 5, "", "subscription.required"),  # not subscribed
        ("operator", 5, "", "forbidden.role"),
        ("bank-a", 0, "", "rating.stars"),
        ("bank-a", 6, "", "rating.stars"),
        ("bank-a", True, "", "rating.stars"),
        ("bank-a", "5", "", "rating.stars"),
        ("bank-a", 4.5, "", "rating.stars"),
        ("bank-a", 5, "x" * 1001, "rating.comment"),
        ("bank-a", 5, None, "rating.comment"),
    ],
)
def test_bad_ratings_are_refused(
    env: Env, ready: Product, username: str, stars: Any, comment: Any, code: str
) -> None:
    refused(
        env.session,
        lambda: feedback.rate(
            env.session, env.who(username), ready.id, stars=stars, comment=comment, now=env.now
        ),
        code,
        tables=TABLES,
    )


def test_a_bank_files_a_ticket_the_department_answers(env: Env, ready: Product) -> None:
    messy = " " + SUBJECT.lower() + " "
    ticket = _file(env, ready, subject=messy)()
    assert ticket.subject == SUBJECT and ticket.state == TicketState.OPEN
    assert ticket.due_at == env.now + dt.timedelta(days=15)
    assert ticket.provider_id == env.who("tax-cdo").org_id
    env.session.flush()
    ledger = repr(env.session.execute(text("SELECT body FROM ledger_entries")).all())
    assert SUBJECT not in ledger and "paid all taxes" not in ledger
    (mine,) = feedback.tickets_for(env.session, env.who("tax-cdo"), now=env.now)
    assert mine.subject == SUBJECT and mine.consumer == "bank-a" and not mine.overdue
    (late,) = feedback.tickets_for(
        env.session, env.who("tax-cdo"), now=env.now + dt.timedelta(days=16)
    )
    assert late.overdue
    answered = feedback.answer(
        env.session, env.who("tax-cdo"), ticket.id, answer="Checked: grade B.", now=env.now
    )
    assert answered.state == TicketState.ANSWERED and answered.answer == "Checked: grade B."
    closed = feedback.answer(
        env.session, env.who("tax-cdo"), ticket.id, answer="Corrected.", close=True, now=env.now
    )
    assert closed.state == TicketState.CLOSED
    refused(
        env.session,
        lambda: feedback.answer(
            env.session, env.who("tax-cdo"), ticket.id, answer="again", now=env.now
        ),
        "ticket.closed",
        tables=TABLES,
    )
    assert "Corrected" not in repr(
        env.session.execute(text("SELECT body FROM ledger_entries")).all()
    )


def test_bad_tickets_are_refused(env: Env, ready: Product) -> None:
    court = env.dataset("court", "judgments").id
    loan_book = env.dataset("bank-a", "loan_book").id
    for kw, code in (
        ({"subject": SUBJECT[:-1] + ("0" if SUBJECT[-1] != "0" else "1")}, "ticket.subject"),
        ({"subject": "x" * 1_000_000}, "ticket.subject"),
        ({"subject": ""}, "ticket.subject"),
        ({"dataset_id": court}, "ticket.dataset"),  # not a source of the product
        ({"dataset_id": loan_book}, "ticket.dataset"),
        ({"dataset_id": uuid.uuid4()}, "ticket.dataset"),
        ({"field": "tax_paid_last_year"}, "ticket.field"),  # not in the product
        ({"field": "credit_code"}, "ticket.field"),
        ({"field": "x" * 10_000}, "ticket.field"),
        ({"description": "  "}, "ticket.description"),
        ({"description": "d" * 4001}, "ticket.description"),
    ):
        refused(env.session, _file(env, ready, **kw), code, tables=TABLES)
    refused(env.session, _file(env, ready, "bank-b"), "subscription.required", tables=TABLES)
    refused(env.session, _file(env, ready, "operator"), "forbidden.role", tables=TABLES)
    # a raw column the source reads is a field too
    assert _file(env, ready, field="arrears")().field == "arrears"


def test_tickets_are_seen_by_whom_they_concern(env: Env, ready: Product) -> None:
    subscribed(env, ready, "bank-b")
    ticket_a = _file(env, ready)()
    ticket_b = _file(env, ready, "bank-b", field="arrears_flag")()
    (only_a,) = feedback.tickets_for(env.session, env.who("bank-a"), now=env.now)
    assert only_a.id == str(ticket_a.id) and only_a.subject == SUBJECT
    (only_b,) = feedback.tickets_for(env.session, env.who("bank-b"), now=env.now)
    assert only_b.id == str(ticket_b.id)
    with pytest.raises(NotFound):
        feedback.get_ticket(env.session, env.who("bank-b"), ticket_a.id, now=env.now)
    bureau = feedback.tickets_for(env.session, env.who("bureau"), now=env.now)
    assert {t.subject for t in bureau} == {SUBJECT}
    operator = feedback.tickets_for(env.session, env.who("operator"), now=env.now)
    assert len(operator) == 2
    assert {(t.subject, t.consumer, t.description, t.answer) for t in operator} == {
        (None, None, None, None)
    }
    auditor = feedback.tickets_for(env.session, env.who("auditor"), now=env.now)
    assert {t.subject for t in auditor} == {None}
    assert feedback.tickets_for(env.session, env.who("social-cdo"), now=env.now) == []
    assert len(feedback.tickets_for(env.session, env.who("tax-cdo"), now=env.now)) == 2


def test_only_the_providing_department_answers(env: Env, ready: Product) -> None:
    ticket = _file(env, ready)()

    def answer(username: str, text_: str = "ok") -> Callable[[], CorrectionTicket]:
        return lambda: feedback.answer(
            env.session, env.who(username), ticket.id, answer=text_, now=env.now
        )

    refused(env.session, answer("social-cdo"), "ticket.not_found", tables=TABLES)
    refused(env.session, answer("bank-b"), "ticket.not_found", tables=TABLES)
    for username in ("bank-a", "bureau", "operator", "auditor"):
        refused(env.session, answer(username), "ticket.not_provider", tables=TABLES)
    refused(env.session, answer("tax-cdo", " "), "ticket.answer", tables=TABLES)
    refused(env.session, answer("tax-cdo", "a" * 4001), "ticket.answer", tables=TABLES)
    with pytest.raises(NotFound):
        feedback.answer(env.session, env.who("tax-cdo"), uuid.uuid4(), answer="x", now=env.now)
    with pytest.raises(NotFound):
        feedback.get_ticket(env.session, env.who("court-cdo"), ticket.id, now=env.now)


def test_no_feedback_without_a_subscription(env: Env) -> None:
    product = listed(env)
    with pytest.raises(PermissionDenied):
        feedback.rate(env.session, env.who("bank-a"), product.id, stars=5, now=env.now)
    with pytest.raises(NotFound):
        feedback.rate(env.session, env.who("bank-a"), uuid.uuid4(), stars=5, now=env.now)
