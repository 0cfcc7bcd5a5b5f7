"""Serving a protocol job's result to the organization that owns it, and no one else.

The result is a file in the requester's domain store (written by that domain's worker), or for
an encrypted aggregate, in the output gate's domain. Only users of the recipient organization
may read it; every read is a ledger entry with the file's digest, so an auditor can match what
was released to whom.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.compute import he_steps, isum_steps
from sandbox.compute.results import result_path
from sandbox.domains.models import Domain
from sandbox.domains.store import DomainStore
from sandbox.errors import Conflict, PermissionDenied
from sandbox.jobs.models import Job, JobState
from sandbox.jobs.service import get_visible_job
from sandbox.ledger.log import Actor, append
from sandbox.parties.principal import Principal

GATED_KINDS = (
    "aggregate",
    "secure_sum",
    "intersection_sum",
)  # released by the output gate, from its domain
RESULT_KINDS = ("psi.intersection", "psi.cardinality", "lookup", *GATED_KINDS)
# The steps that leave a gated kind's result in the gate's domain. A per-identifier secure sum
# (the multi-lender exposure) ends instead with the requester's collect, in its own domain.
GATE_RELEASES = (he_steps.RELEASE, isum_steps.RELEASE)


@dataclass(frozen=True, slots=True)
class Delivery:
    job: Job
    path: Path
    filename: str
    digest: str


def deliver(
    session: Session, who: Principal, job_id: UUID, *, domain_root: Path, now: dt.datetime
) -> Delivery:
    job = get_visible_job(session, who, job_id)
    if job.kind not in RESULT_KINDS:
        raise Conflict("this kind of job has no result file", code="result.none")
    if job.state != JobState.SUCCEEDED.value:
        raise Conflict("the job has not finished successfully", code="result.not_ready")
    recipient = (job.params_json or {}).get("recipient")
    last = max(job.steps, key=lambda s: s.seq)
    owner = session.scalar(select(Domain.org_id).where(Domain.name == last.domain))
    # A protocol's result sits in the recipient's own domain; a gated aggregate sits in the
    # gate's domain, released there for the recipient named in the gate's ticket.
    gated = job.kind in GATED_KINDS and last.action in GATE_RELEASES
    if recipient != who.org_slug or (not gated and owner != who.org_id):
        raise PermissionDenied(
            "only the recipient organization's users may read this result",
            code="result.not_recipient",
        )
    path = result_path(DomainStore.at(domain_root, last.domain), str(job.id))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    append(
        session,
        actor=Actor.of(who),
        action="result.downloaded",
        object_type="job",
        object_id=str(job.id),
        params={"job": str(job.id)},
        details={"result_digest": digest, "domain": last.domain},
        job_id=job.id,
        now=now,
    )
    return Delivery(job, path, f"result-{job.kind}-{job.id}.csv", digest)
