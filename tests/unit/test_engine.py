"""The job engine's state transitions on the control DB (SQLite here): advance, claim under a
lease, renew, complete, fail and reap. Every call gets an explicit ``now``; nothing sleeps.

Each engine call runs in its own committed transaction, as the coordinator and the domain
workers do, so a test reads what another process would see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sandbox.datasets.models import Dataset, DatasetVersion, QualitySnapshot
from sandbox.db.engine import session_scope
from sandbox.domains.models import Domain
from sandbox.ids import JobId, StepId
from sandbox.jobs import engine
from sandbox.jobs import service as jobs
from sandbox.jobs.models import Job, JobState, Step, StepState
from sandbox.jobs.requests import JobRequest, ProfileParams
from sandbox.keys import load_or_create_private_key
from sandbox.parties.models import User
from sandbox.parties.principal import Principal
from sandbox.tickets import TicketSigner, verify
from tests.conftest import World

T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
LEASE = 30.0
REQUEUE_AFTER = 60.0
MAX_ATTEMPTS = 3
RESULT = {"completeness": {"credit_code": 0.99}, "rows": 150, "marker": "from-the-step"}
R = TypeVar("R")


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


class Harness:
    def __init__(self, world: World, job_id: JobId, step_id: StepId) -> None:
        self.world, self.job_id, self.step_id = world, job_id, step_id

    def run(self, fn: Callable[[Session], R]) -> R:
        with session_scope(self.world.factory) as session:
            return fn(session)

    def advance(self, now: dt.datetime) -> engine.Followups:
        return self.run(lambda s: engine.advance(s, self.job_id, now=now))

    def claim(self, worker: str, now: dt.datetime) -> bool:
        return self.run(
            lambda s: (
                engine.claim(s, self.step_id, worker=worker, now=now, lease_seconds=LEASE)
                is not None
            )
        )

    def renew(self, worker: str, now: dt.datetime) -> bool:
        return self.run(
            lambda s: engine.renew(s, self.step_id, worker=worker, now=now, lease_seconds=LEASE)
        )

    def complete(
        self, worker: str, now: dt.datetime, result: dict[str, Any] | None = None
    ) -> engine.Followups:
        return self.run(
            lambda s: engine.complete(
                s, self.step_id, worker=worker, result=result or RESULT, now=now
            )
        )

    def reap(self, now: dt.datetime, max_attempts: int = MAX_ATTEMPTS) -> engine.Followups:
        return self.run(
            lambda s: engine.reap(
                s, now=now, requeue_after_seconds=REQUEUE_AFTER, max_attempts=max_attempts
            )
        )

    def step(self) -> dict[str, Any]:
        def read(s: Session) -> dict[str, Any]:
            step = s.get(Step, self.step_id)
            assert step is not None
            return {
                c: getattr(step, c)
                for c in (
                    "state",
                    "attempts",
                    "lease_owner",
                    "lease_expires_at",
                    "enqueued_at",
                    "error_code",
                    "result_json",
                    "progress",
                    "finished_at",
                )
            }

        return self.run(read)

    def job(self) -> dict[str, Any]:
        def read(s: Session) -> dict[str, Any]:
            job = s.get(Job, self.job_id)
            assert job is not None
            return {
                c: getattr(job, c)
                for c in (
                    "state",
                    "started_at",
                    "finished_at",
                    "error_code",
                    "result_json",
                    "progress",
                )
            }

        return self.run(read)

    def snapshots(self) -> int:
        return self.run(
            lambda s: (
                s.scalar(
                    select(func.count())
                    .select_from(QualitySnapshot)
                    .where(QualitySnapshot.job_id == self.job_id)
                )
                or 0
            )
        )


@pytest.fixture
def signer(world: World) -> TicketSigner:
    return TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 3600)


@pytest.fixture
def h(world: World, signer: TicketSigner) -> Harness:
    with session_scope(world.factory) as session:
        user = session.scalar(select(User).where(User.username == "tax-cdo"))
        assert user is not None
        dataset_id = session.scalar(
            select(Dataset.id)
            .join(Domain, Domain.id == Dataset.domain_id)
            .where(Domain.name == "tax")
        )
        assert dataset_id is not None
        request = JobRequest(kind="dataset.profile", params=ProfileParams(dataset_id=dataset_id))
        job = jobs.submit(session, Principal.of(user), request, signer=signer, now=T0)
        job_id, (step,) = JobId(job.id), job.steps
        step_id = StepId(step.id)
    return Harness(world, job_id, step_id)


def test_submit_creates_a_queued_job_with_one_pending_signed_step(
    h: Harness, signer: TicketSigner
) -> None:
    assert h.job()["state"] == JobState.QUEUED
    step = h.step()
    assert step["state"] == StepState.PENDING and step["attempts"] == 0
    ticket = h.run(lambda s: s.get(Step, h.step_id).ticket)  # type: ignore[union-attr]
    verify(
        signer.key.public_key(),
        ticket,
        now=T0,
        job=str(h.job_id),
        step=str(h.step_id),
        domain="tax",
        action="dataset.profile",
    )


def test_advance_queues_the_step_once(h: Harness) -> None:
    first = h.advance(at(0))
    assert first.steps == [(h.step_id, "tax")]
    assert first.jobs == []
    job, step = h.job(), h.step()
    assert job["state"] == JobState.RUNNING and job["started_at"] == at(0)
    assert step["state"] == StepState.QUEUED and step["enqueued_at"] == at(0)
    second = h.advance(at(1))
    assert second.steps == [] and second.jobs == []
    assert h.step()["enqueued_at"] == at(0)
    assert h.job()["started_at"] == at(0)


def test_a_pending_step_cannot_be_claimed(h: Harness) -> None:
    assert not h.claim("w1", at(0))
    assert h.step()["state"] == StepState.PENDING


def test_claim_succeeds_once(h: Harness) -> None:
    h.advance(at(0))
    assert h.claim("w1", at(1))
    assert not h.claim("w2", at(2))
    assert not h.claim("w1", at(3))  # not even the holder claims twice
    step = h.step()
    assert step["state"] == StepState.RUNNING
    assert step["lease_owner"] == "w1"
    assert step["attempts"] == 1
    assert step["lease_expires_at"] == at(1 + LEASE)


def test_renew_extends_the_holders_lease(h: Harness) -> None:
    h.advance(at(0))
    h.claim("w1", at(0))
    assert h.renew("w1", at(20))
    assert h.step()["lease_expires_at"] == at(20 + LEASE)
    # Within the renewed lease nobody can take it, although the first lease would have expired.
    assert not h.claim("w2", at(LEASE + 5))
    assert not h.renew("w2", at(21))


def test_a_worker_that_lost_its_lease_changes_nothing(h: Harness) -> None:
    h.advance(at(0))
    assert h.claim("w1", at(0))
    # w1 stalls past its lease; w2 takes the step over directly.
    assert h.claim("w2", at(LEASE + 1))
    assert h.step()["lease_owner"] == "w2" and h.step()["attempts"] == 2
    assert not h.renew("w1", at(LEASE + 2))
    assert not h.run(lambda s: engine.report_progress(s, h.step_id, worker="w1", fraction=0.9))
    late = h.complete("w1", at(LEASE + 3), result={"stale": True})
    assert late.jobs == [] and late.steps == []
    failed = h.run(
        lambda s: engine.fail(s, h.step_id, worker="w1", code="x", message="y", now=at(LEASE + 4))
    )
    assert failed.jobs == []
    step = h.step()
    assert step["state"] == StepState.RUNNING and step["lease_owner"] == "w2"
    assert step["result_json"] is None and step["progress"] == 0.0 and step["error_code"] is None
    # The current holder still can finish it.
    assert h.complete("w2", at(LEASE + 5)).jobs == [h.job_id]
    assert h.step()["result_json"] == RESULT


def test_expired_lease_is_requeued_by_reap_and_claimed_by_another(h: Harness) -> None:
    h.advance(at(0))
    h.claim("w1", at(0))
    assert h.reap(at(LEASE - 1)).steps == []  # lease still valid
    assert h.step()["state"] == StepState.RUNNING
    reaped = h.reap(at(LEASE + 1))
    assert reaped.steps == [(h.step_id, "tax")]
    step = h.step()
    assert step["state"] == StepState.QUEUED
    assert step["lease_owner"] is None and step["lease_expires_at"] is None
    assert step["enqueued_at"] == at(LEASE + 1)
    assert h.claim("w2", at(LEASE + 2))
    assert not h.claim("w1", at(LEASE + 2))
    step = h.step()
    assert step["lease_owner"] == "w2" and step["attempts"] == 2
    assert not h.renew("w1", at(LEASE + 3))
    assert h.complete("w1", at(LEASE + 3)).jobs == []


def test_attempts_exhausted_fails_the_step_and_then_the_job(h: Harness) -> None:
    h.advance(at(0))
    now = 0.0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert h.claim(f"w{attempt}", at(now))
        assert h.step()["attempts"] == attempt
        now += LEASE + 1
        reaped = h.reap(at(now))
        if attempt < MAX_ATTEMPTS:
            assert reaped.steps == [(h.step_id, "tax")]
            assert h.step()["state"] == StepState.QUEUED
    assert reaped.steps == []
    assert h.job_id in reaped.jobs
    step = h.step()
    assert step["state"] == StepState.FAILED
    assert step["error_code"] == "step.attempts_exhausted"
    assert step["lease_owner"] is None and step["finished_at"] == at(now)
    assert h.job()["state"] == JobState.RUNNING  # until the coordinator advances it
    assert h.advance(at(now + 1)).steps == []
    job = h.job()
    assert job["state"] == JobState.FAILED
    assert job["error_code"] == "step.attempts_exhausted"
    assert job["finished_at"] == at(now + 1)
    assert h.snapshots() == 0
    # A failed step stays failed: no claim, no requeue, no completion.
    assert not h.claim("w9", at(now + 2))
    assert h.reap(at(now + 1000)).steps == []
    assert h.complete("w9", at(now + 3)).jobs == []
    assert h.advance(at(now + 4)).steps == []
    assert h.job()["finished_at"] == at(now + 1)


def test_stale_queued_step_is_resent_by_reap(h: Harness) -> None:
    h.advance(at(0))
    assert h.reap(at(REQUEUE_AFTER - 1)).steps == []
    assert h.reap(at(REQUEUE_AFTER)).steps == []  # strictly older than the threshold
    resent = h.reap(at(REQUEUE_AFTER + 1))
    assert resent.steps == [(h.step_id, "tax")]
    step = h.step()
    assert step["state"] == StepState.QUEUED and step["attempts"] == 0
    assert step["enqueued_at"] == at(REQUEUE_AFTER + 1)
    # The clock restarts from the re-send: not sent again right away.
    assert h.reap(at(REQUEUE_AFTER + 2)).steps == []
    assert h.reap(at(2 * REQUEUE_AFTER + 2)).steps == [(h.step_id, "tax")]
    # A re-sent message is harmless: only one delivery claims the step.
    assert h.claim("w1", at(2 * REQUEUE_AFTER + 3))
    assert not h.claim("w2", at(2 * REQUEUE_AFTER + 3))


def test_complete_then_advance_finalizes_once(h: Harness, world: World) -> None:
    h.advance(at(0))
    h.claim("w1", at(1))
    done = h.complete("w1", at(5))
    assert done.jobs == [h.job_id] and done.steps == []
    step = h.step()
    assert step["state"] == StepState.SUCCEEDED and step["result_json"] == RESULT
    assert step["lease_owner"] is None and step["progress"] == 1.0
    assert h.complete("w1", at(6)).jobs == []  # a second completion does nothing
    assert h.snapshots() == 0

    assert h.advance(at(7)).steps == []
    job = h.job()
    assert job["state"] == JobState.SUCCEEDED
    assert job["result_json"] == {"quality": RESULT}
    assert job["finished_at"] == at(7) and job["progress"] == 1.0
    assert h.snapshots() == 1

    for later in (8, 9):
        assert h.advance(at(later)).steps == []
    assert h.reap(at(1000)).jobs == []  # a finished job is not picked up again
    assert h.snapshots() == 1
    assert h.job()["finished_at"] == at(7)

    def snapshot_and_version(s: Session) -> tuple[Any, Any]:
        snap = s.scalar(select(QualitySnapshot).where(QualitySnapshot.job_id == h.job_id))
        assert snap is not None
        version = s.get(DatasetVersion, snap.version_id)
        assert version is not None
        return snap.quality_json, version.quality_json

    snap_quality, version_quality = h.run(snapshot_and_version)
    assert snap_quality == RESULT and version_quality == RESULT


def test_reap_advances_a_job_whose_steps_all_finished(h: Harness) -> None:
    # A coordinator message lost after completion: the reaper notices and advances the job.
    h.advance(at(0))
    h.claim("w1", at(0))
    h.complete("w1", at(1))
    assert h.reap(at(2)).jobs == [h.job_id]
    h.advance(at(3))
    assert h.job()["state"] == JobState.SUCCEEDED
    assert h.snapshots() == 1


def test_progress_rolls_up_to_the_job(h: Harness) -> None:
    h.advance(at(0))
    h.claim("w1", at(0))
    assert h.run(lambda s: engine.report_progress(s, h.step_id, worker="w1", fraction=0.25))
    assert h.job()["progress"] == pytest.approx(0.25)
    assert h.run(lambda s: engine.report_progress(s, h.step_id, worker="w1", fraction=7.0))
    assert h.step()["progress"] == 1.0  # clamped
