"""What the engine needs from a broker: send an id to a queue. Called only after commit."""

from __future__ import annotations

from typing import Protocol

from sandbox.ids import JobId, StepId

COORDINATOR_QUEUE = "coordinator"


def domain_queue(domain: str) -> str:
    return f"domain.{domain}"


class Enqueuer(Protocol):
    def advance_job(self, job_id: JobId) -> None: ...

    def run_step(self, step_id: StepId, domain: str) -> None: ...
