"""What a finished protocol job leaves in the control DB: counts and the transcript (the
names of every message exchanged), never an identifier or a label. A lookup job also records
the provider's table (metadata) so the next query skips the build."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sandbox.compute import exposure_steps, he_steps, isum_steps, lookup_steps, psi_steps
from sandbox.compute.models import LookupTable
from sandbox.jobs.models import Job, Step

COUNTS = ("inputs", "rejected", "duplicates", "items", "unauthorized", "matched", "match_rate")


def transcript(steps: Sequence[Step]) -> list[dict[str, Any]]:
    return [
        {"seq": s.seq, "domain": s.domain, "action": s.action, "message": s.result_json["message"]}
        for s in steps
        if s.result_json and isinstance(s.result_json.get("message"), str)
    ]


def _counts(steps: Sequence[Step], collect: str) -> dict[str, Any]:
    last = next(s for s in steps if s.action == collect)
    result = dict(last.result_json or {})
    return {k: result[k] for k in COUNTS if k in result}


def finalize_psi(
    session: Session, job: Job, steps: Sequence[Step], now: dt.datetime
) -> dict[str, Any]:
    out = _counts(steps, psi_steps.COLLECT)
    out["shards"] = sum(1 for s in steps if s.action == psi_steps.FINISH)
    out["transcript"] = transcript(steps)
    return out


def finalize_lookup(
    session: Session, job: Job, steps: Sequence[Step], now: dt.datetime
) -> dict[str, Any]:
    out = _counts(steps, lookup_steps.COLLECT)
    out["shards"] = sum(1 for s in steps if s.action == lookup_steps.OPEN)
    out["transcript"] = transcript(steps)
    publish = next(s for s in steps if s.action == lookup_steps.PUBLISH)
    published = publish.result_json or {}
    out["table"] = {k: published.get(k) for k in ("table", "key_id", "rows")}
    table_params = job.params_json.get("lookup_table") or {}
    dataset, version, labels = (
        table_params.get("dataset"),
        table_params.get("version"),
        table_params.get("labels"),
    )
    if isinstance(dataset, str) and isinstance(version, int) and isinstance(labels, str):
        existing = session.scalar(
            select(LookupTable).where(
                LookupTable.dataset_id == uuid.UUID(dataset),
                LookupTable.version == version,
                LookupTable.labels == labels,
            )
        )
        if existing is None:
            session.add(
                LookupTable(
                    dataset_id=uuid.UUID(dataset),
                    version=version,
                    labels=labels,
                    key_id=str(published.get("key_id")),
                    digest=str(published.get("table")),
                    rows=int(published.get("rows") or 0),
                    job_id=job.id,
                    built_at=now,
                )
            )
        else:
            existing.key_id = str(published.get("key_id"))
            existing.digest = str(published.get("table"))
            existing.rows = int(published.get("rows") or 0)
    return out


def finalize_aggregate(
    session: Session, job: Job, steps: Sequence[Step], now: dt.datetime
) -> dict[str, Any]:
    """Counts only: how many groups were released or suppressed, rows per party; the released
    numbers themselves are in the gate's domain, for the recipient."""
    if any(s.action == exposure_steps.COLLECT for s in steps):
        return finalize_exposure(session, job, steps, now)
    released = next(s for s in steps if s.action == he_steps.RELEASE).result_json or {}
    parties = [s.result_json or {} for s in steps if s.action == he_steps.ENCRYPT]
    keygen = next(s for s in steps if s.action == he_steps.KEYGEN).result_json or {}
    return {
        "groups": int(released.get("groups", 0)),
        "released": int(released.get("released", 0)),
        "suppressed": int(released.get("suppressed", 0)),
        "parties": len(parties),
        "rows": sum(int(p.get("used", 0)) for p in parties),
        "rejected": sum(int(p.get("rejected", 0)) for p in parties),
        "epsilon": released.get("epsilon"),
        "key_bits": keygen.get("key_bits"),
        "result_digest": released.get("result_digest"),
        "transcript": transcript(steps),
    }


def finalize_isum(
    session: Session, job: Job, steps: Sequence[Step], now: dt.datetime
) -> dict[str, Any]:
    """Counts of the requester's input and whether the gate released; the size and the sum
    themselves are in the gate's domain, for the recipient."""
    collect = next(s for s in steps if s.action == isum_steps.COLLECT).result_json or {}
    released = next(s for s in steps if s.action == isum_steps.RELEASE).result_json or {}
    keygen = next(s for s in steps if s.action == he_steps.KEYGEN).result_json or {}
    return {
        **{k: int(collect.get(k) or 0) for k in ("inputs", "rejected", "duplicates", "items")},
        "released": bool(released.get("released")),
        "epsilon": released.get("epsilon"),
        "key_bits": keygen.get("key_bits"),
        "shards": sum(1 for s in steps if s.action == isum_steps.FINISH),
        "result_digest": released.get("result_digest"),
        "transcript": transcript(steps),
    }


def finalize_exposure(
    session: Session, job: Job, steps: Sequence[Step], now: dt.datetime
) -> dict[str, Any]:
    """A per-identifier secure sum: the requester's input counts and how many of its ids were
    released, suppressed, unauthorized or malformed; nothing per contributor beyond its book's
    size (the totals are in the requester's domain, for it alone)."""
    collect = next(s for s in steps if s.action == exposure_steps.COLLECT).result_json or {}
    keygen = next(s for s in steps if s.action == he_steps.KEYGEN).result_json or {}
    offers = [s.result_json or {} for s in steps if s.action == exposure_steps.OFFER]
    out: dict[str, Any] = {k: collect[k] for k in COUNTS if k in collect}
    for k in ("released", "suppressed", "unauthorized", "malformed"):
        out[k] = int(collect.get(k) or 0)
    out.update(
        {
            "parties": len(offers),
            "rows": sum(int(o.get("rows", 0)) for o in offers),
            "rejected_rows": sum(int(o.get("rejected", 0)) for o in offers),
            "key_bits": keygen.get("key_bits"),
            "result_digest": collect.get("result_digest"),
            "transcript": transcript(steps),
        }
    )
    return out
