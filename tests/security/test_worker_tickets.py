"""A domain worker refuses forged, expired, altered and replayed tickets without opening its
store, fails the step with ticket.rejected, and records the refusal in the ledger."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from sandbox.clock import utcnow
from sandbox.db.engine import session_scope
from sandbox.domains.store import DomainStore
from sandbox.exchange.store import exchange_for
from sandbox.ids import StepId
from sandbox.jobs import actions, engine, runner
from sandbox.jobs import service as jobs
from sandbox.jobs.models import Step
from sandbox.jobs.requests import JobRequest, ProfileParams
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.models import LedgerEntry
from sandbox.parties.models import User
from sandbox.parties.principal import Principal
from sandbox.tickets import DatasetRef, TicketSigner, issue
from tests.conftest import World


def _tax_dataset(world: World) -> tuple[Principal, uuid.UUID]:
    from sandbox.datasets.catalog import visible_datasets

    with world.factory() as session:
        user = session.scalar(select(User).where(User.username == "tax-cdo"))
        assert user is not None
        who = Principal.of(user)
        entry = next(e for e in visible_datasets(session, who) if e.dataset.domain.name == "tax")
        return who, entry.dataset.id


def _submit(world: World, who: Principal, dataset_id: uuid.UUID) -> tuple[uuid.UUID, Step]:
    signer = TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 3600)
    with session_scope(world.factory) as session:
        job = jobs.submit(
            session,
            who,
            JobRequest(kind="dataset.profile", params=ProfileParams(dataset_id=dataset_id)),
            signer=signer,
            now=utcnow(),
        )
        engine.advance(session, job.id, now=utcnow())  # type: ignore[arg-type]
        step = job.steps[0]
        return job.id, step


def _claims(token: str) -> dict[str, Any]:
    body = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))  # type: ignore[no-any-return]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(world: World, step: Step, other: str) -> str:
    key = load_or_create_private_key(world.settings.data_dir / "keys" / "intruder.pem")
    c = _claims(step.ticket)
    return issue(
        key,
        job=c["job"],
        step=c["step"],
        domain=c["domain"],
        action=c["action"],
        datasets=tuple(DatasetRef(**d) for d in c["datasets"]),
        columns=tuple(c["columns"]),
        now=utcnow(),
        ttl_seconds=3600,
    )


def expired(world: World, step: Step, other: str) -> str:
    key = load_or_create_private_key(world.settings.ticket_key_path)
    c = _claims(step.ticket)
    return issue(
        key,
        job=c["job"],
        step=c["step"],
        domain=c["domain"],
        action=c["action"],
        datasets=tuple(DatasetRef(**d) for d in c["datasets"]),
        columns=tuple(c["columns"]),
        now=utcnow() - dt.timedelta(hours=3),
        ttl_seconds=3600,
    )


def altered(world: World, step: Step, other: str) -> str:
    signature = step.ticket.split(".")[1]
    c = _claims(step.ticket)
    c["columns"] = [*c["columns"], "legal_rep_id"]  # widen the scope, keep the signature
    new_body = json.dumps(c, sort_keys=True, separators=(",", ":")).encode()
    return f"{_b64(new_body)}.{signature}"


def replayed(world: World, step: Step, other: str) -> str:
    return other  # a genuine ticket, but for another job's step


@pytest.mark.parametrize("make", [forged, expired, altered, replayed])
def test_bad_ticket_is_refused_before_the_store_opens(
    world: World, monkeypatch: pytest.MonkeyPatch, make: Callable[[World, Step, str], str]
) -> None:
    opened: list[str] = []

    def spy(ctx: actions.StepContext) -> dict[str, Any]:
        opened.append(ctx.domain)
        return {}

    monkeypatch.setitem(actions.ACTIONS, "dataset.profile", spy)
    who, dataset_id = _tax_dataset(world)
    _, other_step = _submit(world, who, dataset_id)
    _, step = _submit(world, who, dataset_id)
    with session_scope(world.factory) as session:
        row = session.get(Step, step.id)
        assert row is not None
        row.ticket = make(world, step, other_step.ticket)
    rt = runner.DomainRuntime(
        factory=world.factory,
        domain="tax",
        store=DomainStore.at(world.settings.domain_root, "tax"),
        ticket_key=load_or_create_private_key(world.settings.ticket_key_path).public_key(),
        worker_id="test-worker",
        lease_seconds=30,
        clock=utcnow,
        exchange=exchange_for(world.settings),
    )
    runner.run_step(rt, StepId(step.id))
    assert opened == []
    with session_scope(world.factory) as session:
        row = session.get(Step, step.id)
        assert row is not None and row.state == "failed" and row.error_code == "ticket.rejected"
        refused = session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.action == "ticket.refused", LedgerEntry.object_id == str(step.id)
            )
        ).all()
        assert len(refused) == 1
    # The untouched job's own ticket still works: the spy runs for it.
    runner.run_step(rt, StepId(other_step.id))
    assert opened == ["tax"]
