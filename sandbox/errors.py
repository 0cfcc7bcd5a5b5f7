"""The root exception of the runtime and its leaves, each with a stable ``code``.

HTTP statuses are mapped to these classes in one table in ``web/errors.py``; nothing here
knows about HTTP. Messages name what and where, never a dataset's raw values.
"""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    code = "sandbox.error"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        # A refusal that was written to the ledger in the caller's session: the edge commits
        # that session before it reports the error, so the refusal is kept.
        self.recorded = False


class InvalidInput(SandboxError):
    code = "invalid_input"


class NotFound(SandboxError):
    code = "not_found"


class PermissionDenied(SandboxError):
    code = "forbidden"


class NotAuthenticated(SandboxError):
    code = "unauthenticated"


class Conflict(SandboxError):
    code = "conflict"


class TooLarge(SandboxError):
    code = "too_large"


class TicketRejected(SandboxError):
    """A job ticket failed verification. Deliberately says nothing about which check failed."""

    code = "ticket.rejected"

    def __init__(self) -> None:
        super().__init__("job ticket rejected")
