"""The one policy function: an allowed computation gets tickets signed by the grant authority
and is charged to the grant's quotas and budget; every refusal the issue lists is refused with
its reason (all reasons at once), recorded in the ledger, and charges nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import licenses
from grants.demo import DemoGovernance, seed_governance
from grants.models import Grant, GrantUsage
from grants.policy import (
    Allowed,
    Computation,
    PlannedStep,
    PolicyRefusal,
    Refused,
    authorize,
    decide,
)
from grants.terms import DatasetColumns, Kind
from sandbox.clock import utcnow
from sandbox.datasets.models import Dataset
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.models import LedgerEntry
from sandbox.tickets import TicketSigner, verify
from tests.conftest import World
from tests.helpers import as_user

NOW = utcnow()


@pytest.fixture
def gov(world: World) -> Iterator[tuple[Session, DemoGovernance]]:
    with world.factory() as session:
        governance = seed_governance(session, now=NOW)
        session.commit()
        yield session, governance


def _tax(session: Session) -> uuid.UUID:
    return session.scalars(select(Dataset.id).where(Dataset.name == "tax_ratings")).one()


def _computation(session: Session, gov: DemoGovernance, **changes: object) -> Computation:
    base = Computation(
        grant_id=gov.approved_grant_id,
        kind=Kind.LOOKUP,
        datasets=(
            DatasetColumns(dataset_id=_tax(session), columns=("credit_code", "tax_credit_grade")),
        ),
        purpose="sme_credit_assessment",
        recipient="bank-a",
        rows=500,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _codes(decision: object) -> list[str]:
    assert isinstance(decision, Refused), decision
    return [r.code for r in decision.reasons]


def test_an_allowed_computation_gets_signed_tickets_and_is_charged(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    key = load_or_create_private_key(world.settings.ticket_key_path)
    job_id, step_id = uuid.uuid4(), uuid.uuid4()
    c = _computation(session, g, epsilon=1.5, kind=Kind.PSI_CARDINALITY)
    tickets = authorize(
        session,
        as_user(session, "operator"),
        c,
        job_id=job_id,
        steps=[PlannedStep(step_id, "tax", "psi.cardinality.provider", _tax(session))],
        signer=TicketSigner(key, 600),
        now=NOW,
    )
    ticket = verify(
        key.public_key(),
        tickets[step_id],
        now=NOW,
        job=str(job_id),
        step=str(step_id),
        domain="tax",
        action="psi.cardinality.provider",
    )
    assert ticket.columns == ("credit_code", "tax_credit_grade")
    assert ticket.datasets[0].id == str(_tax(session))
    usage = session.get(GrantUsage, (g.approved_grant_id, NOW.date()))
    grant = session.get(Grant, g.approved_grant_id)
    assert usage is not None and (usage.calls, usage.rows) == (1, 500)
    assert grant is not None and grant.epsilon_spent == 1.5
    last = session.scalars(select(LedgerEntry).order_by(LedgerEntry.index.desc())).first()
    assert last is not None and last.action == "policy.allowed"


def test_refusals_each_name_their_reason(gov: tuple[Session, DemoGovernance]) -> None:
    session, g = gov
    op = as_user(session, "operator")
    tax = _tax(session)
    cases = {
        "policy.column_not_granted": _computation(
            session,
            g,
            datasets=(
                DatasetColumns(dataset_id=tax, columns=("credit_code", "tax_paid_last_year")),
            ),
        ),
        "policy.kind_not_granted": _computation(session, g, kind=Kind.AGGREGATE),
        "policy.recipient": _computation(session, g, recipient="operator"),
        "policy.purpose": _computation(session, g, purpose="insurance_underwriting"),
        "policy.rows_per_call": _computation(session, g, rows=10_001),
        "policy.budget_used": _computation(session, g, kind=Kind.PSI_CARDINALITY, epsilon=5.5),
        "policy.no_grant": _computation(session, g, grant_id=uuid.uuid4()),
        "policy.grant_pending": _computation(session, g, grant_id=g.pending_grant_id),
    }
    for code, c in cases.items():
        assert code in _codes(decide(session, op, c, now=NOW)), code
    # A bank the grant names may ask for its own outputs, never for another's; a provider's
    # CDO, who may see the grant, may not run it at all.
    bank = as_user(session, "bank-b")
    assert _codes(decide(session, bank, _computation(session, g), now=NOW)) == ["policy.no_grant"]
    assert isinstance(
        decide(session, bank, _computation(session, g, recipient="bank-b"), now=NOW), Allowed
    )
    cdo = as_user(session, "tax-cdo")
    assert _codes(decide(session, cdo, _computation(session, g), now=NOW)) == ["policy.no_grant"]
    several = _computation(session, g, kind=Kind.AGGREGATE, recipient="operator", rows=10_001)
    assert set(_codes(decide(session, op, several, now=NOW))) == {
        "policy.kind_not_granted",
        "policy.recipient",
        "policy.rows_per_call",
    }


def test_quota_used_up(gov: tuple[Session, DemoGovernance]) -> None:
    session, g = gov
    session.add(GrantUsage(grant_id=g.approved_grant_id, day=NOW.date(), calls=200, rows=0))
    assert _codes(
        decide(session, as_user(session, "operator"), _computation(session, g), now=NOW)
    ) == ["policy.quota_used"]
    tomorrow = NOW + dt.timedelta(days=1)
    assert not isinstance(
        decide(session, as_user(session, "operator"), _computation(session, g), now=tomorrow),
        Refused,
    )


def test_license_suspended_revoked_or_expired_and_grant_expired(
    gov: tuple[Session, DemoGovernance],
) -> None:
    session, g = gov
    op, bureau = as_user(session, "operator"), as_user(session, "bureau")
    c = _computation(session, g)
    assert "policy.grant_expired" in _codes(
        decide(session, op, c, now=NOW + dt.timedelta(days=181))
    )
    assert "policy.license_expired" in _codes(
        decide(session, op, c, now=NOW + dt.timedelta(days=366))
    )
    licenses.suspend(session, bureau, g.license_id, reason="inspection", now=NOW)
    assert _codes(decide(session, op, c, now=NOW)) == ["policy.license_suspended"]
    licenses.revoke(session, bureau, g.license_id, reason="breach", now=NOW)
    assert _codes(decide(session, op, c, now=NOW)) == ["policy.license_revoked"]


def test_a_refusal_is_recorded_and_charges_nothing(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    key = load_or_create_private_key(world.settings.ticket_key_path)
    c = _computation(session, g, kind=Kind.AGGREGATE, epsilon=1.0)
    with pytest.raises(PolicyRefusal) as refused:
        authorize(
            session,
            as_user(session, "operator"),
            c,
            job_id=uuid.uuid4(),
            steps=[],
            signer=TicketSigner(key, 600),
            now=NOW,
        )
    assert refused.value.recorded and refused.value.code == "policy.kind_not_granted"
    assert session.get(GrantUsage, (g.approved_grant_id, NOW.date())) is None
    grant = session.get(Grant, g.approved_grant_id)
    assert grant is not None and grant.epsilon_spent == 0.0
    last = session.scalars(select(LedgerEntry).order_by(LedgerEntry.index.desc())).first()
    assert last is not None and last.action == "policy.refused"


def test_expiry_stops_queued_jobs_by_itself(gov: tuple[Session, DemoGovernance]) -> None:
    from grants.grants import authority
    from grants.sweep import sweep
    from sandbox.jobs.models import Job, Step

    session, g = gov
    op = as_user(session, "operator")
    job = Job(
        id=uuid.uuid4(),
        kind="lookup",
        state="queued",
        org_id=op.org_id,
        submitted_by=op.user_id,
        params_json={},
        created_at=NOW,
        authority=authority(g.approved_grant_id),
    )
    session.add(job)
    session.add(
        Step(
            id=uuid.uuid4(),
            job_id=job.id,
            seq=0,
            domain="tax",
            action="x",
            state="queued",
            ticket="t",
        )
    )
    session.flush()
    assert sweep(session, NOW) == 0 and job.state == "queued"
    assert sweep(session, NOW + dt.timedelta(days=181)) == 1  # the grant's term ended
    session.refresh(job)
    assert job.state == "failed" and job.error_code == "grant.expired"
    assert all(s.state == "failed" for s in job.steps)
