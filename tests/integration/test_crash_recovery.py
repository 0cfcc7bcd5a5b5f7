"""Killing a domain worker (SIGKILL) in the middle of a job, then starting it again, ends with
the job finished once: nothing lost, nothing duplicated. Real PostgreSQL, Redis, workers."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sandbox.clock import utcnow
from sandbox.datasets.models import QualitySnapshot
from sandbox.datasets.schema import load_schema_text
from sandbox.datasets.service import load_dataset
from sandbox.db.engine import session_scope
from sandbox.ids import JobId
from sandbox.jobs import service as jobs
from sandbox.jobs.celery_app import CeleryEnqueuer, make_celery
from sandbox.jobs.models import Job, Step
from sandbox.jobs.requests import JobRequest, ProfileParams
from sandbox.keys import load_or_create_private_key
from sandbox.parties.models import User
from sandbox.parties.principal import Principal
from sandbox.tickets import TicketSigner
from tests.conftest import wait_for
from tests.integration.stacks import CANARY_SCHEMA, big_dataset, build_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 150_000


def test_sigkill_mid_step_then_restart_finishes_once(
    tmp_path: Path, postgres_url: str, redis_url: str, workers_for: object
) -> None:
    stack = build_stack(
        tmp_path / "var",
        database_url=postgres_url,
        broker_url=redis_url,
        lease_seconds=3.0,
        reaper_interval_seconds=0.5,
    )
    loaded = load_dataset(
        stack.factory,
        stack.settings,
        domain_name="tax",
        source=big_dataset(tmp_path, ROWS),
        schema=load_schema_text(CANARY_SCHEMA),
        now=utcnow(),
    )
    workers = workers_for(stack.settings)  # type: ignore[operator]
    workers.start("coordinator", "--coordinator")
    victim = workers.start("tax-1", "--domain", "tax")

    signer = TicketSigner(load_or_create_private_key(stack.settings.ticket_key_path), 3600)
    with session_scope(stack.factory) as session:
        user = session.scalar(select(User).where(User.username == "tax-cdo"))
        assert user is not None
        job = jobs.submit(
            session,
            Principal.of(user),
            JobRequest(kind="dataset.profile", params=ProfileParams(dataset_id=loaded.dataset_id)),
            signer=signer,
            now=utcnow(),
        )
        job_id = JobId(job.id)
    CeleryEnqueuer(make_celery(stack.settings)).advance_job(job_id)

    def step_midway() -> bool:
        with session_scope(stack.factory) as session:
            step = session.scalar(select(Step).where(Step.job_id == job_id))
            return step is not None and step.state == "running" and 0 < step.progress < 0.9

    wait_for(step_midway, timeout=60, interval=0.05, what="the step to be running mid-way")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    with session_scope(stack.factory) as session:
        stuck = session.get(Job, job_id)
        assert stuck is not None and stuck.state == "running"

    workers.start("tax-2", "--domain", "tax")

    def finished() -> Job | None:
        with session_scope(stack.factory) as session:
            found = session.get(Job, job_id)
            return found if found is not None and found.state in ("succeeded", "failed") else None

    done = wait_for(finished, timeout=90, interval=0.2, what="the job to finish")
    assert done.state == "succeeded", (done.error_code, workers.logs()[-3000:])
    with session_scope(stack.factory) as session:
        step = session.scalar(select(Step).where(Step.job_id == job_id))
        assert step is not None
        assert step.state == "succeeded"
        assert step.attempts == 2  # the killed attempt and the one that finished
        snapshots = session.scalar(
            select(func.count())
            .select_from(QualitySnapshot)
            .where(QualitySnapshot.job_id == job_id)
        )
        assert snapshots == 1
        assert done.result_json is not None
        assert done.result_json["quality"]["rows"] == ROWS
    stack.engine.dispose()
