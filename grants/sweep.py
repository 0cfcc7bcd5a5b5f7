"""Expiry is not an event: a periodic sweep stops the unfinished jobs under licenses and
grants whose term has ended. The coordinator runs it on its timer (wired by the CLI, since the
runtime does not know about governance)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import licenses
from grants.applications import EXPIRED, effective_state
from grants.grants import authority
from grants.models import Grant, GrantState
from sandbox.jobs.service import stop_jobs


def sweep(session: Session, now: dt.datetime) -> int:
    """Stop jobs under expired licenses and expired grants; returns how many were stopped."""
    stopped = licenses.stop_expired(session, now=now)
    live = session.scalars(
        select(Grant).where(
            Grant.state.in_([GrantState.APPROVED.value, GrantState.SUSPENDED.value])
        )
    )
    ended = [authority(g.id) for g in live if effective_state(g, now) == EXPIRED]
    stopped += len(
        stop_jobs(
            session,
            authorities=ended,
            code="grant.expired",
            message="the grant has expired",
            now=now,
        )
    )
    return stopped
