"""Running a computation under a grant: the policy decides, the grant authority signs a ticket
per step, and the job carries ``grant:<id>`` as its authority, so that suspending or revoking
the grant or its license stops it (queued or running) and expiry sweeps it.

Which steps a kind needs (which domain, which action, which dataset) is a *plan*. The runtime's
protocol kinds register their planners in :data:`PLANS` as they land; a kind without a planner,
or whose actions this runtime does not have, is refused before anything is charged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from sqlalchemy.orm import Session

from grants.grants import authority
from grants.policy import Allowed, Computation, PlannedStep, Refused, authorize, decide
from grants.terms import Kind
from sandbox.errors import InvalidInput
from sandbox.jobs.models import Job
from sandbox.jobs.service import StepSpec, create_job
from sandbox.parties.principal import Principal
from sandbox.tickets import TicketSigner

Planner = Callable[[Computation, Allowed, str], list[PlannedStep]]
PLANS: dict[Kind, Planner] = {}


def submit(
    session: Session,
    who: Principal,
    c: Computation,
    *,
    requester_domain: str,
    signer: TicketSigner,
    now: dt.datetime,
) -> Job:
    """The job for an allowed computation (caller commits, then enqueues); a refusal is
    recorded in the ledger and raised as :class:`grants.policy.PolicyRefusal`."""
    planner = PLANS.get(c.kind)
    if planner is None:
        raise InvalidInput(
            f"the computation kind {c.kind.value} is not available yet", code="job.kind_unavailable"
        )
    decision = decide(session, who, c, now=now)
    job_id = uuid.uuid4()
    steps = [] if isinstance(decision, Refused) else planner(c, decision, requester_domain)
    tickets = authorize(session, who, c, job_id=job_id, steps=steps, signer=signer, now=now)
    return create_job(
        session,
        job_id=job_id,
        kind=c.kind.value,
        who=who,
        params={
            "grant": str(c.grant_id),
            "recipient": c.recipient,
            "rows": c.rows,
            "datasets": [d.model_dump(mode="json") for d in c.datasets],
        },
        request={"grant": str(c.grant_id), "kind": c.kind.value, "purpose": c.purpose},
        steps=[StepSpec(s.step_id, s.domain, s.action, tickets[s.step_id]) for s in steps],
        authority=authority(c.grant_id),
        now=now,
    )
