"""What a step's action gets from the domain worker that runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from sandbox.domains.store import DomainStore
from sandbox.exchange.store import Exchange
from sandbox.tickets import Ticket


@dataclass(frozen=True, slots=True)
class Upstream:
    """A finished step this one waited for: its action, shard and (digest-only) result."""

    seq: int
    domain: str
    action: str
    result: dict[str, Any]

    @property
    def shard(self) -> int | None:
        value = self.result.get("shard")
        return value if isinstance(value, int) else None


@dataclass(frozen=True, slots=True)
class StepContext:
    factory: sessionmaker[Session]
    store: DomainStore
    domain: str
    ticket: Ticket
    progress: Callable[[float], None]
    exchange: Exchange
    upstream: tuple[Upstream, ...] = ()

    def one(self, action: str, shard: int | None = None) -> Upstream:
        """The upstream step with this action (and shard), which the plan guarantees."""
        for up in self.upstream:
            if up.action == action and (shard is None or up.shard == shard):
                return up
        from sandbox.errors import SandboxError

        raise SandboxError(f"the step has no upstream {action}", code="step.plan")


Action = Callable[[StepContext], dict[str, Any]]
