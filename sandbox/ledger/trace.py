"""Tracing a job to everything behind it, and inspecting (飞行检查) a sample of jobs.

For each job an inspection checks, from the ledger and the signed checkpoint alone:
- authority: a ``job.submitted`` entry by the job's organization; each step's ticket carries
  the ticket authority's signature, names exactly this job, step, domain and action, and has
  the digest that the submission entry recorded; the dataset's registration is in the ledger;
- transcript: each ``step.completed`` entry's result digest matches the stored result, and the
  ``result.released`` entry's digest matches the job's result;
- inclusion: every one of those entries is in the tree of the latest signed checkpoint.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.errors import NotFound, TicketRejected
from sandbox.jobs.models import Job, JobState
from sandbox.ledger import log as ledger
from sandbox.ledger import merkle
from sandbox.ledger.checkpoint import CheckpointError, verify_checkpoint
from sandbox.ledger.entry import digest
from sandbox.ledger.models import LedgerEntry
from sandbox.parties.models import Organization
from sandbox.tickets import unverified_claims, verify

MAX_SAMPLE = 50


@dataclass(frozen=True, slots=True)
class Check:
    group: str  # authority | transcript | inclusion
    name: str
    ok: bool
    detail: str


@dataclass(slots=True)
class JobTrace:
    job: Job
    org_slug: str
    entries: list[LedgerEntry]
    tickets: list[dict[str, Any]]
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _parsed(entry: LedgerEntry) -> dict[str, Any]:
    return json.loads(entry.body)  # type: ignore[no-any-return]


def trace(
    session: Session,
    job_id: uuid.UUID,
    *,
    ticket_key: Ed25519PublicKey,
    ledger_key: Ed25519PublicKey,
    tree: SignedTree | str | None = None,
) -> JobTrace:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("no such job", code="job.not_found")
    org = session.get(Organization, job.org_id)
    entries = list(
        session.scalars(
            select(LedgerEntry).where(LedgerEntry.job_id == job.id).order_by(LedgerEntry.index)
        )
    )
    dataset_id = str(job.params_json.get("dataset_id", ""))
    entries += list(
        session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.action == "dataset.registered", LedgerEntry.object_id == dataset_id
            )
        )
    )
    entries.sort(key=lambda e: e.index)
    out = JobTrace(job, org.slug if org else "?", entries, [])
    for step in job.steps:
        out.tickets.append(
            {
                "step": str(step.id),
                "domain": step.domain,
                "claims": unverified_claims(step.ticket),
                "digest": digest(step.ticket.encode()),
            }
        )
    out.checks = (
        _authority(out, ticket_key)
        + _transcript(out)
        + _included(out, tree if tree is not None else signed_tree(session, ledger_key))
    )
    return out


def _by_action(t: JobTrace, action: str) -> list[dict[str, Any]]:
    return [_parsed(e) for e in t.entries if e.action == action]


def _authority(t: JobTrace, ticket_key: Ed25519PublicKey) -> list[Check]:
    checks: list[Check] = []
    submitted = _by_action(t, "job.submitted")
    by_org = [e for e in submitted if e["actor"]["org"] == t.org_slug]
    checks.append(
        Check(
            "authority",
            "submission recorded",
            bool(by_org),
            f"job.submitted by {t.org_slug}" if by_org else "no job.submitted entry",
        )
    )
    recorded = {s["step"]: s["ticket_digest"] for e in by_org for s in e["details"]["steps"]}
    for step in t.job.steps:
        # Verified as of its issue time: an audited ticket has usually expired since.
        issued = dt.datetime.fromtimestamp(unverified_claims(step.ticket).get("iat", 0), dt.UTC)
        try:
            verify(
                ticket_key,
                step.ticket,
                now=issued,
                job=str(t.job.id),
                step=str(step.id),
                domain=step.domain,
                action=step.action,
            )
            signed = True
        except TicketRejected:
            signed = False
        same = recorded.get(str(step.id)) == digest(step.ticket.encode())
        checks.append(
            Check(
                "authority",
                f"ticket of step {step.seq}",
                signed and same,
                "signed by the ticket authority for this job, step, domain and action; digest as "
                "recorded"
                if signed and same
                else (
                    "signature or scope does not verify"
                    if not signed
                    else "digest differs from the one recorded at submission"
                ),
            )
        )
    version = t.job.params_json.get("version")
    registered = [
        e for e in _by_action(t, "dataset.registered") if e["details"].get("version") == version
    ]
    checks.append(
        Check(
            "authority",
            "dataset registration recorded",
            bool(registered),
            f"version {version}" if registered else "no dataset.registered entry",
        )
    )
    return checks


def _transcript(t: JobTrace) -> list[Check]:
    if t.job.state != JobState.SUCCEEDED:
        return [
            Check("transcript", "transcript", True, f"job {t.job.state}: no result was released")
        ]
    completed = {
        e["object"]["id"]: e["details"].get("result_digest")
        for e in _by_action(t, "step.completed")
    }
    checks = [
        Check(
            "transcript",
            f"result of step {s.seq}",
            completed.get(str(s.id)) == digest(s.result_json),
            "matches the digest in step.completed",
        )
        for s in t.job.steps
    ]
    released = _by_action(t, "result.released")
    ok = bool(released) and released[-1]["details"].get("result_digest") == digest(
        t.job.result_json
    )
    checks.append(
        Check(
            "transcript",
            "released result",
            ok,
            "matches the digest in result.released" if ok else "no matching result.released entry",
        )
    )
    return checks


@dataclass(frozen=True, slots=True)
class SignedTree:
    """The latest checkpoint, verified, with the leaf hashes it covers: loaded once per
    inspection rather than once per sampled job."""

    tree_size: int
    root: bytes
    hashes: list[bytes]


def signed_tree(session: Session, ledger_key: Ed25519PublicKey) -> SignedTree | str:
    """The verified tree, or why there is none."""
    row = ledger.latest_checkpoint(session)
    if row is None:
        return "no signed checkpoint"
    try:
        checkpoint = verify_checkpoint(ledger_key, ledger.signed(row))
    except CheckpointError:
        return "the latest checkpoint's signature does not verify"
    return SignedTree(
        checkpoint.tree_size,
        bytes.fromhex(checkpoint.root_hash),
        ledger.leaves(session, checkpoint.tree_size),
    )


def _included(t: JobTrace, tree: SignedTree | str) -> list[Check]:
    if isinstance(tree, str):
        return [Check("inclusion", "inclusion", False, tree)]
    covered = [e for e in t.entries if e.index < tree.tree_size]
    bad = []
    for entry in covered:
        try:
            proof = merkle.inclusion_proof(tree.hashes, entry.index, tree.tree_size)
            merkle.verify_inclusion(
                merkle.leaf_hash(entry.body), entry.index, tree.tree_size, proof, tree.root
            )
        except merkle.ProofError:
            bad.append(entry.index)
    pending = len(t.entries) - len(covered)
    detail = f"{len(covered)} entries proven in the tree of size {tree.tree_size}" + (
        f"; {pending} newer than the checkpoint" if pending else ""
    )
    return [
        Check(
            "inclusion", "inclusion", not bad, detail if not bad else f"entries {bad} not included"
        )
    ]


def inspect(
    session: Session,
    n: int,
    *,
    ticket_key: Ed25519PublicKey,
    ledger_key: Ed25519PublicKey,
) -> list[JobTrace]:
    """Sample up to ``n`` of the 200 most recent finished jobs, at random, and trace each."""
    recent = list(
        session.scalars(
            select(Job.id)
            .where(Job.state.in_([JobState.SUCCEEDED.value, JobState.FAILED.value]))
            .order_by(Job.created_at.desc())
            .limit(200)
        )
    )
    picked = secrets.SystemRandom().sample(recent, min(max(n, 1), MAX_SAMPLE, len(recent)))
    tree = signed_tree(session, ledger_key)
    return [
        trace(session, job_id, ticket_key=ticket_key, ledger_key=ledger_key, tree=tree)
        for job_id in picked
    ]
