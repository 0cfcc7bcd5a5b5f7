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
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox.errors import SandboxError
from sandbox.jobs.models import Job
from sandbox.tickets import Ticket

DST = b"sandbox/authorization/v1"
REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}\Z")
MAX_DIGESTS = 1_000_000
PARAM = "authorization_set"  # the job param that holds the digests
_HEX = re.compile(r"^[0-9a-f]{64}\Z")


def normalize_reference(value: str) -> str | None:
    """A reference as registered and as read from a row: full-width characters made half-width
    (NFKC), trimmed, upper-cased; None if it is not a plausible reference (empty, too long, or
    with characters outside [A-Za-z0-9._/-])."""
    text = unicodedata.normalize("NFKC", value).strip()
    # ASCII before upper-casing: str.upper maps a few other letters onto ASCII ones ("ı" -> "I").
    if not text.isascii():
        return None
    text = text.upper()
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
        """What the signed ticket carries: the set's digest and size, not the set (a call may
        name many thousands of authorizations; the job's params hold them, see :meth:`load`)."""
        return {
            "column": self.column,
            "consumer": self.consumer,
            "set": set_digest(self.digests),
            "count": len(self.digests),
        }

    def to_params(self) -> dict[str, Any]:
        """What the job's params carry: the digests themselves (digests only, never an
        identifier), checked by every worker against the signed :meth:`to_scope`."""
        return {PARAM: sorted(self.digests)}

    def allows(self, identifier: str, reference: str) -> bool:
        try:
            return digest(self.consumer, identifier, reference) in self.digests
        except ValueError:
            return False

    @classmethod
    def load(cls, ticket: Ticket, factory: sessionmaker[Session]) -> Authorizations | None:
        """The ticket's authorizations, or None when the call needs none. The digests come
        from the job's params and must hash to the set the ticket signs."""
        value: Any = ticket.scope.get("authorization")
        if value is None:
            return None
        bad = SandboxError("the ticket's scope has no valid authorization", code="step.scope")
        if not isinstance(value, dict) or set(value) != {"column", "consumer", "set", "count"}:
            raise bad
        column, consumer = value["column"], value["consumer"]
        signed, count = value["set"], value["count"]
        if not isinstance(column, str) or not isinstance(consumer, str) or not consumer:
            raise bad
        if column not in ticket.columns or not isinstance(signed, str) or not _HEX.match(signed):
            raise bad
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_DIGESTS:
            raise bad
        try:
            job_id = uuid.UUID(ticket.job)
        except ValueError:
            raise bad from None
        with factory() as session:
            params = session.scalar(select(Job.params_json).where(Job.id == job_id))
        digests: Any = (params or {}).get(PARAM)
        if not isinstance(digests, list) or len(digests) != count:
            raise bad
        if not all(isinstance(d, str) and _HEX.match(d) for d in digests):
            raise bad
        found = frozenset(digests)
        if len(found) != count or set_digest(found) != signed:
            raise bad
        return cls(column, consumer, found)


def set_digest(digests: Iterable[str]) -> str:
    """One hash naming a set of authorization digests (sorted, newline-separated)."""
    return hashlib.sha256(DST + b"/set\x00" + "\n".join(sorted(digests)).encode()).hexdigest()
