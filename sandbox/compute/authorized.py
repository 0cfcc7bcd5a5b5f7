"""Enterprise authorizations (授权查询) as they reach a requester's domain.

A credit check may query an enterprise only with that enterprise's authorization. The consumer
registers each authorization with the platform as a *digest* of (consumer, normalized
identifier, reference): the control DB never holds the identifier. A call's ticket carries the
digests of the consumer's valid authorizations, signed like the rest of its scope; the
requester's worker computes the same digest for each row of its input (the identifier and the
row's reference column) and keeps only the rows whose digest the ticket names. The others are
not queried and are reported, per row, in the requester's own result.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sandbox.errors import SandboxError
from sandbox.tickets import Ticket

DST = b"sandbox/authorization/v1"
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
MAX_DIGESTS = 1_000_000
_HEX = re.compile(r"^[0-9a-f]{64}$")


def normalize_reference(value: str) -> str | None:
    """A reference as registered and as read from a row: trimmed, upper-cased; None if it is
    not a plausible reference (empty, too long, or with characters outside [A-Za-z0-9._/-])."""
    text = value.strip().upper()
    return text if REFERENCE.match(text) else None


def digest(consumer: str, identifier: str, reference: str) -> str:
    """The digest both sides compute. ``identifier`` must already be normalized and valid;
    ``reference`` is normalized here. Length-prefixed fields, so no two inputs collide."""
    ref = normalize_reference(reference)
    if ref is None:
        raise ValueError("not a valid authorization reference")
    h = hashlib.sha256(DST)
    for part in (consumer, identifier, ref):
        data = part.encode()
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class Authorizations:
    """The scope a requester step reads its authorizations from."""

    column: str  # the input's reference column
    consumer: str  # the requesting organization's slug
    digests: frozenset[str]

    def to_scope(self) -> dict[str, Any]:
        return {"column": self.column, "consumer": self.consumer, "digests": sorted(self.digests)}

    def allows(self, identifier: str, reference: str) -> bool:
        try:
            return digest(self.consumer, identifier, reference) in self.digests
        except ValueError:
            return False

    @classmethod
    def of(cls, ticket: Ticket) -> Authorizations | None:
        """The ticket's authorization scope, or None when the call needs none."""
        value: Any = ticket.scope.get("authorization")
        if value is None:
            return None
        bad = SandboxError("the ticket's scope has no valid authorization", code="step.scope")
        if not isinstance(value, dict) or set(value) != {"column", "consumer", "digests"}:
            raise bad
        column, consumer, digests = value["column"], value["consumer"], value["digests"]
        if not isinstance(column, str) or not isinstance(consumer, str) or not consumer:
            raise bad
        if column not in ticket.columns:
            raise bad
        if not isinstance(digests, list) or len(digests) > MAX_DIGESTS:
            raise bad
        if not all(isinstance(d, str) and _HEX.match(d) for d in digests):
            raise bad
        return cls(column, consumer, frozenset(digests))
