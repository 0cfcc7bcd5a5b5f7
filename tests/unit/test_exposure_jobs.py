"""The multi-lender exposure total (``secure_sum`` per identifier) end to end in one process:
planner, policy, tickets, runner, exchange, domain stores and the gate. bank-a asks about its
applicants; bank-b and bank-c add their loan books. Each released total equals the plain sum
over the two books for applicants both banks lend to; the others are suppressed, unauthorized
or malformed; nothing on the requester's side shows which bank lends to whom."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Iterator, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import computations
from grants.demo import DemoGovernance, seed_governance
from grants.models import Grant
from grants.policy import Computation, PolicyRefusal
from grants.terms import DatasetColumns, Kind
from sandbox.clock import utcnow
from sandbox.compute import exposure_steps, he_steps
from sandbox.compute.authorized import Authorizations, digest
from sandbox.compute.delivery import deliver
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.domains.store import DomainStore
from sandbox.errors import InvalidInput, NotFound, PermissionDenied
from sandbox.exchange.store import exchange_for
from sandbox.identifiers import IdentifierKind, check, credit_code_check_char
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.jobs.models import Job, Step
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.models import LedgerEntry
from sandbox.tickets import TicketSigner
from tests.conftest import World
from tests.helpers import as_user, drive, run_until, swap_message
from tests.unit.test_isum_jobs import _dataset

SMALL = computations.Sizing(key_bits=2048)
CODE = IdentifierKind.CREDIT_CODE
BOOK = ("credit_code", "outstanding_balance")
OTHERS = ("bank-b", "bank-c")


@pytest.fixture
def gov(world: World) -> Iterator[tuple[Session, DemoGovernance]]:
    with world.factory() as session:
        g = seed_governance(session, now=utcnow())
        session.commit()
        yield session, g


def _raw_rows(world: World, session: Session, ds: Dataset) -> list[dict[str, str]]:
    """The stored file as the domain holds it (identifiers as written, before normalizing)."""
    version = session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    ).one()
    assert Schema.model_validate(version.schema_json).identifier.column == "credit_code"
    path = DomainStore.at(world.settings.domain_root, ds.domain.name).dataset_file(
        ds.name, version.version
    )
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _books(
    world: World,
    session: Session,
    banks: Sequence[str],
    bounds: tuple[Decimal, Decimal] | None = None,
) -> dict[str, dict[str, Decimal]]:
    """Per bank, per normalized borrower, the sum of its rows (clamped to ``bounds``)."""
    out: dict[str, dict[str, Decimal]] = {}
    for bank in banks:
        sums: dict[str, Decimal] = {}
        for row in _raw_rows(world, session, _dataset(session, "loan_book", bank)):
            code = check(CODE, row["credit_code"]).value
            if code is None:
                continue
            value = Decimal(row["outstanding_balance"])
            if bounds is not None:
                value = min(max(value, bounds[0]), bounds[1])
            sums[code] = sums.get(code, Decimal(0)) + value
        out[bank] = sums
    return out


def _applicants(world: World, session: Session, bank: str = "bank-a") -> list[dict[str, str]]:
    return _raw_rows(world, session, _dataset(session, "applicants", bank))


def _add_malformed(world: World, session: Session, values: list[str]) -> None:
    """Rows whose identifier is not valid, added to bank-a's stored list (a list loaded
    leniently, or typed by hand): each is reported as read, never asked about."""
    ds = _dataset(session, "applicants", "bank-a")
    version = session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    ).one()
    path = DomainStore.at(world.settings.domain_root, "bank-a").dataset_file(
        ds.name, version.version
    )
    with path.open("a", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        for n, value in enumerate(values):
            writer.writerow([value, "某公司", f"AUTH-A-9{n:05d}", "100000.00", "2026-01-02"])


def _authorizations(
    rows: list[dict[str, str]], *, leave_out: int = 0, consumer: str = "bank-a"
) -> Authorizations:
    """The digests of the valid applicants' authorizations but the last ``leave_out``."""
    digests = []
    for row in rows:
        code = check(CODE, row["credit_code"]).value
        if code is not None:
            digests.append(digest(consumer, code, row["authorization_ref"]))
    return Authorizations(
        "authorization_ref", consumer, frozenset(digests[: len(digests) - leave_out])
    )


def _submit(
    world: World,
    session: Session,
    g: DemoGovernance,
    *,
    requester: str = "bank-a",
    contributors: Sequence[str] = OTHERS,
    min_contributors: int = 2,
    authorization: Authorizations | None = None,
    datasets: tuple[DatasetColumns, ...] = (),
    epsilon: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> uuid.UUID:
    applicants = _dataset(session, "applicants", requester)
    books = [_dataset(session, "loan_book", b) for b in contributors]
    job = computations.submit(
        session,
        as_user(session, requester),
        Computation(
            grant_id=g.statistics_grant_id,
            kind=Kind.SECURE_SUM,
            datasets=datasets,
            purpose="sme_credit_assessment",
            recipient=requester,
            rows=computations.input_rows(session, applicants.id),
            input_dataset=applicants.id,
            contributions=tuple(DatasetColumns(dataset_id=b.id, columns=BOOK) for b in books),
            authorization=authorization,
            min_contributors=min_contributors,
            epsilon=epsilon,
            bounds=bounds,
        ),
        signer=TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 600),
        now=utcnow(),
        sizing=SMALL,
    )
    engine.advance(session, JobId(job.id), now=utcnow())
    session.commit()
    return job.id


def _result(
    world: World, session: Session, job_id: uuid.UUID, who: str = "bank-a"
) -> list[list[str]]:
    d = deliver(
        session, as_user(session, who), job_id, domain_root=world.settings.domain_root, now=utcnow()
    )
    session.commit()
    return list(csv.reader(d.path.read_text(encoding="utf-8").splitlines()))


def _keys_left(world: World) -> list[str]:
    jobs = DomainStore.at(world.settings.domain_root, "bureau").root / "jobs"
    return [p.parent.name for p in jobs.glob(f"*/{he_steps.KEY_FILE}")] if jobs.exists() else []


def _job_dirs(world: World, domain: str) -> list[Path]:
    jobs = DomainStore.at(world.settings.domain_root, domain).root / "jobs"
    return [p for p in jobs.glob("*/*")] if jobs.exists() else []


def _expected(
    world: World,
    session: Session,
    authorized: set[str] | None,
    *,
    k: int = 2,
    bounds: tuple[Decimal, Decimal] | None = None,
) -> dict[str, tuple[str, str, str]]:
    books = _books(world, session, OTHERS, bounds)
    out: dict[str, tuple[str, str, str]] = {}
    for row in _applicants(world, session):
        code = check(CODE, row["credit_code"]).value
        if code is None or code in out:
            continue
        if authorized is not None and code not in authorized:
            out[code] = ("unauthorized", "", "")
            continue
        holding = [b[code] for b in books.values() if code in b]
        if len(holding) >= k:
            out[code] = ("released", str(sum(holding, Decimal(0))), f"≥{k}")
        else:
            out[code] = ("suppressed", "", "")
    return out


def _same_total(shown: str, expected: str) -> bool:
    return Decimal(shown) == Decimal(expected)


def test_totals_equal_the_plain_sum_for_applicants_with_two_lenders(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    body = "91110108MA01ABCDE"
    wrong_check = body + ("0" if credit_code_check_char(body) != "0" else "1")
    _add_malformed(world, session, [wrong_check, " not a code ", "=1+2", "9" * 80])
    rows = _applicants(world, session)
    auth = _authorizations(rows, leave_out=3)  # the last valid applicants: unauthorized
    authorized = {
        code
        for r in rows
        if (code := check(CODE, r["credit_code"]).value) is not None
        and digest("bank-a", code, r["authorization_ref"]) in auth.digests
    }
    job_id = _submit(world, session, g, authorization=auth)
    job = drive(world.settings, world.factory, job_id)
    assert job.state == "succeeded", (job.error_code, job.error_message)
    table = _result(world, session, job_id)
    assert table[0] == ["identifier", "status", "total", "lenders"]
    got = {r[0]: (r[1], r[2], r[3]) for r in table[1:] if r[1] != "malformed"}
    want = _expected(world, session, authorized)
    assert set(got) == set(want)
    for code, (status, total, lenders) in want.items():
        shown = got[code]
        assert shown[0] == status, code
        if status == "released":
            assert _same_total(shown[1], total) and shown[2] == lenders == "≥2"
        else:
            assert shown[1:] == ("", "")  # no hint at which bank, or whether any, lends
    statuses = [s for s, _, _ in want.values()]
    assert statuses.count("released") >= 2 and statuses.count("suppressed") >= 2
    assert statuses.count("unauthorized") == 3
    # Rows whose identifier does not validate are reported as written (at most 64 characters).
    malformed = [r for r in table[1:] if r[1] == "malformed"]
    invalid = [
        r["credit_code"].strip()[:64] for r in rows if check(CODE, r["credit_code"]).value is None
    ]
    assert {wrong_check, "not a code", "=1+2", "9" * 64} <= set(invalid)
    assert [m[0] for m in malformed] == invalid
    assert all(m[2:] == ["", ""] for m in malformed)
    # The control DB keeps counts only.
    result = job.result_json
    assert result is not None
    assert result["released"] == statuses.count("released")
    assert result["suppressed"] == statuses.count("suppressed")
    assert result["unauthorized"] == 3 and result["malformed"] == len(invalid)
    assert result["parties"] == 2 and result["items"] == len(authorized)
    text = json.dumps(result)
    for code, (status, total, _) in want.items():
        assert code not in text
        if status == "released":
            assert total not in text
    # Keys and job state are gone everywhere; the key's destruction is in the ledger.
    assert _keys_left(world) == []
    for domain in ("bank-a", "bank-b", "bank-c", "bureau"):
        assert _job_dirs(world, domain) == [], domain
    destroyed = session.scalars(
        select(LedgerEntry.job_id).where(LedgerEntry.action == "key.destroyed")
    ).all()
    assert destroyed == [job_id]


def test_nothing_on_the_requesters_side_shows_who_lends(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    """What the requester sees (its result, its steps' results, what the job reports) is the
    same whichever way round the contributors are named, and no step result carries a
    contributor's match count."""
    session, g = gov
    first = drive(world.settings, world.factory, _submit(world, session, g))
    second = drive(
        world.settings, world.factory, _submit(world, session, g, contributors=OTHERS[::-1])
    )
    assert first.state == second.state == "succeeded"
    assert _result(world, session, first.id) == _result(world, session, second.id)
    with world.factory() as s:
        for job in (first, second):
            steps = s.scalars(select(Step).where(Step.job_id == job.id)).all()
            for step in steps:
                result = step.result_json or {}
                if step.action in (exposure_steps.SHUFFLE, exposure_steps.MATCH):
                    assert set(result) == {"shard", "message"}
                if step.action == exposure_steps.BLIND:
                    assert set(result) == {"message", "items"}
                if step.action == exposure_steps.OFFER:
                    assert set(result) == {"shard", "message", "rows", "rejected", "items"}
    # The books' sizes are what the offers show anyway; nothing per applicant, nothing per bank.
    assert first.result_json is not None and second.result_json is not None
    strip = ("transcript", "result_digest")
    assert {k: v for k, v in first.result_json.items() if k not in strip} == {
        k: v for k, v in second.result_json.items() if k not in strip
    }


def test_without_authorizations_every_valid_applicant_is_asked(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job = drive(world.settings, world.factory, _submit(world, session, g))
    assert job.state == "succeeded", (job.error_code, job.error_message)
    table = _result(world, session, job.id)
    want = _expected(world, session, None)
    got = {r[0]: r[1] for r in table[1:]}
    assert got == {code: status for code, (status, _, _) in want.items()}


def test_rounding_and_bounds_apply_before_release(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    grant = session.get(Grant, g.statistics_grant_id)
    assert grant is not None and grant.approved is not None
    grant.approved = {**grant.approved, "round_to": 10_000}
    session.commit()
    bounds = (Decimal(0), Decimal(400_000))
    job = drive(world.settings, world.factory, _submit(world, session, g, bounds=(0.0, 400_000.0)))
    assert job.state == "succeeded", (job.error_code, job.error_message)
    want = _expected(world, session, None, bounds=bounds)
    released = 0
    for code, status, total, _ in _result(world, session, job.id)[1:]:
        assert status == want[code][0]
        if status == "released":
            released += 1
            exact = Decimal(want[code][1])
            rounded = (exact / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * 10_000
            assert Decimal(total) == rounded and Decimal(total) % 10_000 == 0
            assert Decimal(total) <= 2 * bounds[1]
    assert released


def test_only_the_requester_reads_the_result(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job = drive(world.settings, world.factory, _submit(world, session, g))
    assert job.state == "succeeded"
    path = DomainStore.at(world.settings.domain_root, "bank-a").result_file(str(job.id))
    assert path.exists()
    assert (
        not DomainStore.at(world.settings.domain_root, "bureau").result_file(str(job.id)).exists()
    )
    for who in ("bank-b", "bank-c", "operator", "bureau"):
        with pytest.raises((PermissionDenied, NotFound)):
            deliver(
                session,
                as_user(session, who),
                job.id,
                domain_root=world.settings.domain_root,
                now=utcnow(),
            )
        session.rollback()


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"min_contributors": 1}, "policy.min_contributors"),
        ({"min_contributors": 3}, "policy.too_few_contributors"),
        ({"contributors": ("bank-b",)}, "policy.too_few_contributors"),
        ({"contributors": ("bank-a", "bank-b", "bank-c")}, "policy.own_contribution"),
    ],
)
def test_the_policy_refuses(
    world: World, gov: tuple[Session, DemoGovernance], options: dict[str, object], code: str
) -> None:
    session, g = gov
    with pytest.raises(PolicyRefusal) as refused:
        _submit(world, session, g, **options)  # type: ignore[arg-type]
    assert code in {r.code for r in refused.value.reasons}
    session.rollback()
    assert session.scalars(select(Job)).all() == []


def test_provider_datasets_and_noise_are_refused(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    registry = _dataset(session, "enterprise_registry", "market")
    with pytest.raises(PolicyRefusal) as refused:
        _submit(
            world,
            session,
            g,
            datasets=(
                DatasetColumns(
                    dataset_id=registry.id, columns=("credit_code", "registered_capital")
                ),
            ),
        )
    assert "policy.exposure_datasets" in {r.code for r in refused.value.reasons}
    session.rollback()
    with pytest.raises(InvalidInput) as err:
        _submit(world, session, g, epsilon=1.0, bounds=(0.0, 1e6))
    assert err.value.code == "job.dp_unsupported"
    session.rollback()
    grant = session.get(Grant, g.statistics_grant_id)
    assert grant is not None and grant.epsilon_spent == 0.0


def test_the_plan_keeps_each_party_to_its_own_columns(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    rows = _applicants(world, session)
    job_id = _submit(world, session, g, authorization=_authorizations(rows))
    with world.factory() as s:
        steps = s.scalars(select(Step).where(Step.job_id == job_id).order_by(Step.seq)).all()
        actions = [(st.domain, st.action) for st in steps]
    assert actions[:2] == [("bureau", he_steps.KEYGEN), ("bank-a", exposure_steps.BLIND)]
    assert actions[-2:] == [("bureau", exposure_steps.RELEASE), ("bank-a", exposure_steps.COLLECT)]
    for bank in OTHERS:
        assert (bank, exposure_steps.OFFER) in actions and (bank, exposure_steps.MATCH) in actions
    assert actions.count(("bank-a", exposure_steps.SHUFFLE)) == 2


def _run_to_release(world: World, session: Session, g: DemoGovernance) -> uuid.UUID:
    job_id = _submit(world, session, g)
    run_until(world.settings, world.factory, job_id, exposure_steps.RELEASE)
    return job_id


def _message(world: World, job_id: uuid.UUID, action: str, shard: int | None = None) -> str:
    with world.factory() as s:
        for step in s.scalars(select(Step).where(Step.job_id == job_id, Step.action == action)):
            result = step.result_json or {}
            if shard is None or result.get("shard") == shard:
                return str(result["message"])
    raise AssertionError(action)


def _swap_match(world: World, job_id: uuid.UUID, shard: int, name: str) -> None:
    with world.factory() as s:
        for step in s.scalars(
            select(Step).where(Step.job_id == job_id, Step.action == exposure_steps.MATCH)
        ):
            if (step.result_json or {}).get("shard") == shard:
                step.result_json = {**(step.result_json or {}), "message": name}
        s.commit()


def test_the_gate_refuses_a_vector_relayed_as_another_contributors(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    """A hostile relay hands the gate contributor 0's vector twice (so one bank's loans would
    count as two lenders): the binding names the contributor, the gate refuses, the key goes."""
    session, g = gov
    job_id = _run_to_release(world, session, g)
    _swap_match(world, job_id, 1, _message(world, job_id, exposure_steps.MATCH, 0))
    job = drive(world.settings, world.factory, job_id)
    assert (job.state, job.error_code) == ("failed", "protocol.rejected")
    assert _keys_left(world) == []
    assert (
        not DomainStore.at(world.settings.domain_root, "bank-a").result_file(str(job_id)).exists()
    )


def test_the_gate_refuses_a_vector_with_a_changed_ciphertext(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job_id = _run_to_release(world, session, g)
    exchange = exchange_for(world.settings)
    vector = bytearray(
        exchange.get(_message(world, job_id, exposure_steps.MATCH, 0), max_bytes=1 << 24)
    )
    vector[-200:] = bytes(200)  # the last position's ciphertext: no longer a unit mod n, or junk
    _swap_match(world, job_id, 0, exchange.put(bytes(vector)))
    job = drive(world.settings, world.factory, job_id)
    assert (job.state, job.error_code) == ("failed", "protocol.rejected")
    assert _keys_left(world) == []


def test_the_requester_refuses_a_release_not_sealed_for_it(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    job_id = _submit(world, session, g)
    run_until(world.settings, world.factory, job_id, exposure_steps.COLLECT)
    exchange = exchange_for(world.settings)
    sealed = bytearray(
        exchange.get(_message(world, job_id, exposure_steps.RELEASE), max_bytes=1 << 24)
    )
    sealed[-1] ^= 1
    swap_message(world.factory, job_id, exposure_steps.RELEASE, exchange.put(bytes(sealed)))
    job = drive(world.settings, world.factory, job_id)
    assert (job.state, job.error_code) == ("failed", "protocol.rejected")
    assert (
        not DomainStore.at(world.settings.domain_root, "bank-a").result_file(str(job_id)).exists()
    )
