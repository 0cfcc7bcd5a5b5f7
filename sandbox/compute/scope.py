"""Typed reads of a ticket's signed scope. A scope that lacks a field or has the wrong type
is a planning bug or a forged ticket; either way the step refuses to run."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.errors import SandboxError
from sandbox.tickets import Ticket


def _bad(name: str) -> SandboxError:
    return SandboxError(f"the ticket's scope has no valid {name}", code="step.scope")


def integer(ticket: Ticket, name: str, *, minimum: int = 0) -> int:
    value: Any = ticket.scope.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _bad(name)
    return value


def number(ticket: Ticket, name: str) -> float:
    value: Any = ticket.scope.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(name)
    return float(value)


def text(ticket: Ticket, name: str) -> str:
    value: Any = ticket.scope.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(name)
    return value


def texts(ticket: Ticket, name: str) -> tuple[str, ...]:
    value: Any = ticket.scope.get(name)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(name)
    return tuple(value)


def flag(ticket: Ticket, name: str) -> bool:
    value: Any = ticket.scope.get(name, False)
    if not isinstance(value, bool):
        raise _bad(name)
    return value


def bounds(ticket: Ticket) -> tuple[Decimal, Decimal] | None:
    """The clamping bounds of an aggregate's values, if the scope states them."""
    value: Any = ticket.scope.get("bounds")
    if value is None:
        return None
    try:
        low, high = (Decimal(str(b)) for b in value)
    except (InvalidOperation, TypeError, ValueError):
        raise _bad("bounds") from None
    if not (low.is_finite() and high.is_finite() and low <= high):
        raise _bad("bounds")
    return low, high
