"""Operating licenses: application, every decision and every refused transition (with its code
and no state changed), roles, expiry by time alone, and suspend / revoke stopping the jobs that
depend on the license, queued or running. Every ``now`` is explicit; nothing sleeps."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import licenses, zones
from grants.models import Grant, GrantState, License, LicenseState, ZoneOperator
from grants.terms import DatasetColumns, Kind, Terms
from sandbox.errors import SandboxError
from sandbox.jobs.models import Job, JobState, Step, StepState
from sandbox.ledger.models import LedgerEntry
from tests import helpers
from tests.conftest import World
from tests.helpers import as_user

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
FROM, UNTIL = T0, T0 + dt.timedelta(days=365)
LATER = T0 + dt.timedelta(hours=1)
TABLES = ("licenses", "zone_operators", "zones", "grants", "jobs", "steps", "ledger_entries")


def actions(session: Session, object_id: str) -> list[str]:
    query = select(LedgerEntry.action).where(LedgerEntry.object_id == object_id)
    return list(session.scalars(query.order_by(LedgerEntry.index)))


@pytest.fixture
def s(world: World) -> Iterator[Session]:
    with world.factory() as session:
        yield session


@pytest.fixture
def zone_id(s: Session) -> uuid.UUID:
    zone = zones.create_zone(
        s, as_user(s, "bureau"), slug="test-zone", name="Test zone", description="", now=T0
    )
    return zone.id


def apply(s: Session, zone_id: uuid.UUID, **overrides: Any) -> License:
    args: dict[str, Any] = {
        "zone_id": zone_id,
        "scope": "SME credit products for banks",
        "qualifications": "MLPS level 3; ISO 27001",
        "valid_from": FROM,
        "valid_until": UNTIL,
        "now": T0,
    }
    return licenses.apply(s, as_user(s, "operator"), **(args | overrides))


def in_state(s: Session, zone_id: uuid.UUID, state: str) -> License:
    """A license brought to ``state`` by the bureau's decisions (``expired``: active, then
    looked at after its term)."""
    lic = apply(s, zone_id)
    bureau = as_user(s, "bureau")
    if state == "refused":
        licenses.refuse(s, bureau, lic.id, reason="not qualified", now=T0)
    elif state != "submitted":
        licenses.issue(s, bureau, lic.id, now=T0)
    if state in ("suspended", "revoked"):
        licenses.suspend(s, bureau, lic.id, reason="inspection", now=T0)
    if state == "revoked":
        licenses.revoke(s, bureau, lic.id, reason="breach", now=T0)
    return lic


# --- applying ---------------------------------------------------------------------------


def test_an_operator_applies(s: Session, zone_id: uuid.UUID) -> None:
    lic = apply(s, zone_id)
    operator = as_user(s, "operator")
    assert lic.state == LicenseState.SUBMITTED.value
    assert (lic.operator_id, lic.applied_by, lic.zone_id) == (
        operator.org_id,
        operator.user_id,
        zone_id,
    )
    assert lic.decided_by is None and lic.decided_at is None
    assert licenses.effective_state(lic, T0) == "submitted"
    assert not licenses.is_in_force(lic, T0)
    assert actions(s, str(lic.id)) == ["license.applied"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"valid_until": FROM}, "license.term"),
        ({"valid_until": FROM - dt.timedelta(days=1)}, "license.term"),
        (
            {"valid_from": T0 - dt.timedelta(days=30), "valid_until": T0 - dt.timedelta(days=1)},
            "license.term",
        ),
        ({"valid_from": T0 - dt.timedelta(days=1), "valid_until": T0}, "license.term"),
        ({"valid_from": FROM.replace(tzinfo=None)}, "license.term"),
        ({"scope": ""}, "license.scope"),
        ({"scope": "   "}, "license.scope"),
        ({"scope": "x" * 2001}, "license.scope"),
        ({"qualifications": ""}, "license.qualifications"),
        ({"qualifications": "q" * 2001}, "license.qualifications"),
        ({"zone_id": uuid.uuid4()}, "zone.not_found"),
    ],
)
def test_bad_applications_change_nothing(
    s: Session, zone_id: uuid.UUID, overrides: dict[str, Any], code: str
) -> None:
    refused(s, lambda: apply(s, **({"zone_id": zone_id} | overrides)), code)


@pytest.mark.parametrize("username", ["bank-a", "bureau", "auditor", "tax-cdo"])
def test_only_an_operator_applies(s: Session, zone_id: uuid.UUID, username: str) -> None:
    who = as_user(s, username)
    call = lambda: licenses.apply(  # noqa: E731
        s,
        who,
        zone_id=zone_id,
        scope="scope",
        qualifications="q",
        valid_from=FROM,
        valid_until=UNTIL,
        now=T0,
    )
    refused(s, call, "forbidden.role")


def test_one_pending_application_per_zone(s: Session, zone_id: uuid.UUID) -> None:
    first = apply(s, zone_id)
    refused(s, lambda: apply(s, zone_id), "license.pending")
    licenses.refuse(s, as_user(s, "bureau"), first.id, reason="incomplete", now=T0)
    assert apply(s, zone_id).state == "submitted"


# --- the bureau's decisions -------------------------------------------------------------


def test_issue_admits_the_operator_into_the_zone(s: Session, zone_id: uuid.UUID) -> None:
    lic = apply(s, zone_id)
    bureau = as_user(s, "bureau")
    assert s.get(ZoneOperator, (zone_id, lic.operator_id)) is None
    licenses.issue(s, bureau, lic.id, reason="meets the criteria", now=LATER)
    assert lic.state == "active"
    assert (lic.decided_by, lic.decided_at, lic.reason) == (
        bureau.user_id,
        LATER,
        "meets the criteria",
    )
    assert s.get(ZoneOperator, (zone_id, lic.operator_id)) is not None
    assert licenses.is_in_force(lic, LATER)
    assert actions(s, str(lic.id)) == ["license.applied", "license.issued"]
    assert actions(s, "test-zone")[-1] == "zone.operator_added"


def test_refuse_needs_a_reason(s: Session, zone_id: uuid.UUID) -> None:
    lic = apply(s, zone_id)
    bureau = as_user(s, "bureau")
    for reason in ("", "  \n"):
        refused(
            s,
            partial(licenses.refuse, s, bureau, lic.id, reason=reason, now=T0),
            "license.reason",
        )
    licenses.refuse(s, bureau, lic.id, reason="qualifications not shown", now=LATER)
    assert (lic.state, lic.reason) == ("refused", "qualifications not shown")
    assert s.get(ZoneOperator, (zone_id, lic.operator_id)) is None
    assert actions(s, str(lic.id)) == ["license.applied", "license.refused"]


def test_suspend_reinstate_revoke(s: Session, zone_id: uuid.UUID) -> None:
    lic = in_state(s, zone_id, "active")
    bureau = as_user(s, "bureau")
    for op in (licenses.suspend, licenses.revoke):
        refused(s, partial(op, s, bureau, lic.id, reason=" ", now=T0), "license.reason")
    licenses.suspend(s, bureau, lic.id, reason="spot check found gaps", now=LATER)
    assert licenses.effective_state(lic, LATER) == "suspended"
    assert not licenses.is_in_force(lic, LATER)
    licenses.reinstate(s, bureau, lic.id, now=LATER)
    assert licenses.is_in_force(lic, LATER)
    licenses.suspend(s, bureau, lic.id, reason="again", now=LATER)
    licenses.revoke(s, bureau, lic.id, reason="repeated breach", now=LATER)
    assert (lic.state, lic.reason) == ("revoked", "repeated breach")
    assert actions(s, str(lic.id)) == [
        "license.applied",
        "license.issued",
        "license.suspended",
        "license.reinstated",
        "license.suspended",
        "license.revoked",
    ]


def test_revoke_straight_from_active(s: Session, zone_id: uuid.UUID) -> None:
    lic = in_state(s, zone_id, "active")
    licenses.revoke(s, as_user(s, "bureau"), lic.id, reason="breach", now=LATER)
    assert lic.state == "revoked"


ALLOWED = {
    "issue": {"submitted"},
    "refuse": {"submitted"},
    "suspend": {"active"},
    "reinstate": {"suspended"},
    "revoke": {"active", "suspended"},
}
STATES = ("submitted", "active", "suspended", "revoked", "refused", "expired")


@pytest.mark.parametrize(
    ("state", "op"),
    [(st, op) for st in STATES for op in ALLOWED if st not in ALLOWED[op]],
)
def test_invalid_transitions_name_the_state(
    s: Session, zone_id: uuid.UUID, state: str, op: str
) -> None:
    lic = in_state(s, zone_id, "active" if state == "expired" else state)
    when = UNTIL + dt.timedelta(seconds=1) if state == "expired" else LATER
    fn = getattr(licenses, op)
    exc = refused(
        s, lambda: fn(s, as_user(s, "bureau"), lic.id, reason="why", now=when), "license.bad_state"
    )
    assert exc.details["state"] == state
    assert f"is {state}" in exc.message


@pytest.mark.parametrize("username", ["operator", "auditor", "tax-cdo", "bank-a"])
@pytest.mark.parametrize("op", sorted(ALLOWED))
def test_only_the_bureau_decides(s: Session, zone_id: uuid.UUID, username: str, op: str) -> None:
    lic = in_state(s, zone_id, min(ALLOWED[op]))
    fn = getattr(licenses, op)
    who = as_user(s, username)
    refused(s, lambda: fn(s, who, lic.id, reason="why", now=LATER), "forbidden.role")


def test_unknown_license(s: Session) -> None:
    bureau = as_user(s, "bureau")
    refused(s, lambda: licenses.issue(s, bureau, uuid.uuid4(), now=T0), "license.not_found")


# --- expiry by time alone ---------------------------------------------------------------


def test_licenses_expire_by_themselves(s: Session, zone_id: uuid.UUID) -> None:
    lic = in_state(s, zone_id, "active")
    assert licenses.effective_state(lic, UNTIL - dt.timedelta(seconds=1)) == "active"
    assert licenses.is_in_force(lic, UNTIL - dt.timedelta(seconds=1))
    assert licenses.effective_state(lic, UNTIL) == "expired"
    assert not licenses.is_in_force(lic, UNTIL)
    assert not licenses.is_in_force(lic, FROM - dt.timedelta(seconds=1))
    licenses.suspend(s, as_user(s, "bureau"), lic.id, reason="r", now=LATER)
    assert licenses.effective_state(lic, UNTIL + dt.timedelta(days=1)) == "expired"
    assert lic.state == "suspended"  # nothing was written: expiry is read from the clock


def test_a_submitted_license_does_not_expire_and_cannot_be_issued_late(
    s: Session, zone_id: uuid.UUID
) -> None:
    lic = apply(s, zone_id)
    late = UNTIL + dt.timedelta(days=1)
    assert licenses.effective_state(lic, late) == "submitted"
    bureau = as_user(s, "bureau")
    refused(s, lambda: licenses.issue(s, bureau, lic.id, now=late), "license.term_ended")


# --- stopping jobs ----------------------------------------------------------------------


def grant_under(s: Session, lic: License) -> Grant:
    terms = Terms(
        datasets=(DatasetColumns(dataset_id=uuid.uuid4(), columns=("arrears",)),),
        kinds=(Kind.LOOKUP,),
        purpose="sme.credit",
        recipients=("bank-a",),
        valid_from=FROM,
        valid_until=UNTIL,
        calls_per_day=100,
        rows_per_call=1000,
    ).model_dump(mode="json")
    grant = Grant(
        operator_id=lic.operator_id,
        license_id=lic.id,
        requested_by=lic.applied_by,
        state=GrantState.APPROVED.value,
        terms=terms,
        approved=terms,
        justification="credit checks",
        created_at=T0,
    )
    s.add(grant)
    s.flush()
    return grant


def job_under(s: Session, authority: str, state: JobState, step_state: StepState) -> Job:
    operator = as_user(s, "operator")
    job = Job(
        kind="lookup",
        state=state.value,
        org_id=operator.org_id,
        submitted_by=operator.user_id,
        params_json={},
        authority=authority,
        created_at=T0,
    )
    s.add(job)
    s.flush()
    s.add(
        Step(
            job_id=job.id,
            seq=0,
            domain="tax",
            action="lookup.provider",
            state=step_state.value,
            ticket="t",
            lease_owner="worker-1" if step_state is StepState.RUNNING else None,
        )
    )
    s.flush()
    return job


@pytest.mark.parametrize(
    ("op", "from_state", "code"),
    [
        ("suspend", "active", "license.suspended"),
        ("revoke", "active", "license.revoked"),
        ("revoke", "suspended", "license.revoked"),
    ],
)
def test_suspend_and_revoke_stop_dependent_jobs(
    s: Session, zone_id: uuid.UUID, op: str, from_state: str, code: str
) -> None:
    lic = in_state(s, zone_id, "active")
    grant = grant_under(s, lic)
    queued = job_under(s, f"grant:{grant.id}", JobState.QUEUED, StepState.QUEUED)
    running = job_under(s, f"grant:{grant.id}", JobState.RUNNING, StepState.RUNNING)
    done = job_under(s, f"grant:{grant.id}", JobState.SUCCEEDED, StepState.SUCCEEDED)
    other = job_under(s, f"grant:{uuid.uuid4()}", JobState.QUEUED, StepState.QUEUED)
    bureau = as_user(s, "bureau")
    if from_state == "suspended":
        licenses.suspend(s, bureau, lic.id, reason="first", now=T0)
        assert queued.state == running.state == "failed"
        queued.state = running.state = JobState.QUEUED.value  # only to see revoke stop them too
        for job in (queued, running):
            job.steps[0].state = StepState.QUEUED.value
        s.flush()
    getattr(licenses, op)(s, bureau, lic.id, reason="breach", now=LATER)
    for job in (queued, running):
        assert (job.state, job.error_code, job.finished_at) == ("failed", code, LATER)
        assert [(st.state, st.error_code, st.lease_owner) for st in job.steps] == [
            ("failed", code, None)
        ]
        assert actions(s, str(job.id))[-1] == "job.stopped"
    assert (done.state, done.steps[0].state) == ("succeeded", "succeeded")
    assert (other.state, other.steps[0].state) == ("queued", "queued")
    last = s.scalar(
        select(LedgerEntry)
        .where(LedgerEntry.object_id == str(lic.id))
        .order_by(LedgerEntry.index.desc())
        .limit(1)
    )
    assert last is not None and last.action == f"license.{op}{'d' if op == 'revoke' else 'ed'}"
    assert b'"jobs_stopped":2' in last.body and b'"reason":"breach"' in last.body


def test_expired_licenses_stop_their_jobs_when_swept(s: Session, zone_id: uuid.UUID) -> None:
    lic = in_state(s, zone_id, "active")
    grant = grant_under(s, lic)
    job = job_under(s, f"grant:{grant.id}", JobState.QUEUED, StepState.QUEUED)
    assert licenses.stop_expired(s, now=LATER) == 0
    assert job.state == "queued"
    assert licenses.stop_expired(s, now=UNTIL) == 1
    assert (job.state, job.error_code) == ("failed", "license.expired")
    assert licenses.stop_expired(s, now=UNTIL) == 0


# --- who sees which licenses ------------------------------------------------------------


def test_visibility(s: Session, zone_id: uuid.UUID) -> None:
    lic = apply(s, zone_id)
    for username in ("bureau", "auditor", "operator"):
        who = as_user(s, username)
        assert lic in licenses.visible_licenses(s, who)
        assert licenses.get_visible_license(s, who, lic.id) is lic
    operator = as_user(s, "operator")
    assert all(x.operator_id == operator.org_id for x in licenses.visible_licenses(s, operator))
    for username in ("bank-a", "tax-cdo"):
        who = as_user(s, username)
        assert licenses.visible_licenses(s, who) == []
        refused(s, partial(licenses.get_visible_license, s, who, lic.id), "license.not_found")


def snapshot(session: Session) -> dict[str, list[str]]:
    return helpers.snapshot(session, TABLES)


def refused(session: Session, call: Callable[[], Any], code: str) -> SandboxError:
    return helpers.refused(session, call, code, tables=TABLES)
