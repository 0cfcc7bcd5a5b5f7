"""The credit check's lookup as a data product, end to end in one process (the production
planner, policy, tickets, step runner, exchange and domain stores): labels derived inside the
provider's domain (never a raw value, not even sealed), tables named by their derivations, and
queries limited to the applicants who authorized them. Hostile scopes fail the step."""

from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import computations
from grants.demo import DemoGovernance
from grants.policy import Computation
from grants.terms import DatasetColumns, Kind
from psi.group import POINT_BYTES
from psi.lookup import LookupKey, LookupQuery, TableView, answer
from psi.wire import HEADER_BYTES, Binding
from sandbox.clock import utcnow
from sandbox.compute import authorized, lookup_steps
from sandbox.compute.authorized import Authorizations, digest
from sandbox.compute.derive import Derivation
from sandbox.compute.inputs import read_derived
from sandbox.compute.models import LookupTable
from sandbox.datasets.models import DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.datasets.stored import StoredDataset
from sandbox.domains.store import DomainStore
from sandbox.errors import SandboxError
from sandbox.identifiers import check, credit_code_check_char
from sandbox.ids import JobId, StepId
from sandbox.jobs import engine, runner
from sandbox.jobs.models import Job, Step
from sandbox.keys import load_or_create_private_key
from sandbox.tickets import DatasetRef, TicketSigner, issue, unverified_claims
from tests.conftest import World
from tests.helpers import as_user, domain_worker, refused, run_until
from tests.unit.test_protocol_jobs import SMALL, _dataset, _result, _rows, drive
from tests.unit.test_protocol_jobs import gov as gov

TAX = ("credit_code", "tax_credit_grade", "arrears")
GRADE = Derivation(
    name="tax_grade_band",
    column="tax_credit_grade",
    rule="map",
    mapping=(("A", "good"), ("B", "good"), ("C", "watch"), ("D", "poor")),
    default="new",
)
STRICT = Derivation(
    name="tax_grade_band",
    column="tax_credit_grade",
    rule="map",
    mapping=(("A", "good"), ("B", "watch"), ("C", "poor"), ("D", "poor")),
    default="new",
)
ARREARS = Derivation(name="arrears_flag", column="arrears", rule="flag")
HEADCOUNT = Derivation(
    name="headcount_band",
    column="insured_headcount",
    rule="bands",
    edges=(10.0, 50.0),
    labels=("micro", "small", "medium"),
)
NOT_CHARGED = ("jobs", "steps", "grant_usage", "ledger_entries")


def _computation(
    session: Session,
    g: DemoGovernance,
    *,
    dataset: str = "tax_ratings",
    columns: tuple[str, ...] = TAX,
    derived: tuple[Derivation, ...] = (),
    authorization: Authorizations | None = None,
) -> Computation:
    inputs = _dataset(session, "bank_a_applicants")
    return Computation(
        grant_id=g.approved_grant_id,
        kind=Kind.LOOKUP,
        datasets=(DatasetColumns(dataset_id=_dataset(session, dataset).id, columns=columns),),
        purpose="sme_credit_assessment",
        recipient="bank-a",
        rows=computations.input_rows(session, inputs.id),
        input_dataset=inputs.id,
        derived=derived,
        authorization=authorization,
    )


def _signer(world: World) -> TicketSigner:
    return TicketSigner(load_or_create_private_key(world.settings.ticket_key_path), 600)


def _call(world: World, session: Session, g: DemoGovernance, **how: Any) -> uuid.UUID:
    job = computations.submit(
        session,
        as_user(session, "bank-a"),
        _computation(session, g, **how),
        signer=_signer(world),
        now=utcnow(),
        sizing=SMALL,
    )
    engine.advance(session, JobId(job.id), now=utcnow())
    session.commit()
    return job.id


def _succeeded(world: World, job_id: uuid.UUID) -> Job:
    job = drive(world, job_id)
    assert job.state == "succeeded", (job.error_code, job.error_message)
    return job


def _fails(world: World, job_id: uuid.UUID, code: str) -> None:
    job = drive(world, job_id)
    assert job.state == "failed"
    assert job.error_code == code, (job.error_code, job.error_message)


def _derived_truth(
    world: World, session: Session, dataset: str, derived: tuple[Derivation, ...]
) -> dict[str, list[str]]:
    """The labels computed directly from the provider's own file (first row per id wins, as in
    the table)."""
    out: dict[str, list[str]] = {}
    for row in _rows(world, session, dataset):
        if row["credit_code"]:
            out.setdefault(row["credit_code"], [d.apply(row[d.column]) for d in derived])
    session.commit()  # SQLite: end the read, so that the workers' sessions may write
    return out


def _steps(world: World, job_id: uuid.UUID) -> list[Step]:
    with world.factory() as s:
        steps = list(s.scalars(select(Step).where(Step.job_id == job_id).order_by(Step.seq)))
        s.expunge_all()
    return steps


def _version(session: Session, dataset_id: uuid.UUID) -> int:
    return int(
        session.scalars(
            select(DatasetVersion.version).where(DatasetVersion.dataset_id == dataset_id)
        ).one()
    )


def _open_whole_table(
    world: World, session: Session, dataset: str, derived: tuple[Derivation, ...]
) -> dict[str, bytes]:
    """Every sealed record of the provider's table, opened with the provider's own key (what
    only the provider's domain could do): the plaintexts as the table holds them."""
    ds = _dataset(session, dataset)
    ref = DatasetRef(id=str(ds.id), version=_version(session, ds.id))
    names = tuple(d.name for d in derived)
    store = DomainStore.at(world.settings.domain_root, ds.domain.name)
    folder = store.lookup_dir(ref.id, ref.version, lookup_steps.labels_digest(names, derived))
    key = LookupKey.from_bytes((folder / "key").read_bytes())
    context = lookup_steps.table_context(ref, names, derived)
    view = TableView((folder / "table.bin").read_bytes(), context=context, key_id=key.key_id)
    ids = sorted(_derived_truth(world, session, dataset, derived))
    binding = Binding(job="canary", shard=0, protocol="lookup")
    state, query = LookupQuery.start(binding, [i.encode() for i in ids])
    reply = answer(key, binding, query, max_items=len(ids))
    opened = state.finish(reply, view, context=context)
    session.commit()
    assert all(p is not None for p in opened), "every provider id has a record"
    return {i: p for i, p in zip(ids, opened, strict=True) if p is not None}


def test_a_lookup_releases_labels_derived_inside_the_providers_domain(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    derived = (GRADE, ARREARS)
    job_id = _call(world, session, g, derived=derived)
    _succeeded(world, job_id)
    truth = _derived_truth(world, session, "tax_ratings", derived)
    mine = {r["credit_code"] for r in _rows(world, session, "bank_a_applicants")}
    table = _result(world, session, job_id, "bank-a")
    assert table[0] == ["identifier", "found", "tax_grade_band", "arrears_flag"]
    got = {r[0]: r[1:] for r in table[1:]}
    assert set(got) == {m for m in mine if m}
    found = 0
    for ident, (state, *labels) in got.items():
        if ident in truth:
            found += 1
            assert (state, labels) == ("true", truth[ident])
        else:
            assert (state, labels) == ("false", ["", ""])
    assert found >= 3
    # The raw values never reach the requester ...
    raw = {r[c] for r in _rows(world, session, "tax_ratings") for c in TAX[1:] if r[c] is not None}
    session.commit()
    assert {"A", "B", "true", "false"} <= raw
    assert not raw & {cell for row in table[1:] for cell in row[2:]}
    # ... nor the sealed table: every record holds the derived labels, and only them.
    for ident, plaintext in _open_whole_table(world, session, "tax_ratings", derived).items():
        record = json.loads(plaintext)
        assert list(record) == ["arrears_flag", "tax_grade_band"]  # canonical: sorted keys
        assert [record["tax_grade_band"] or "", record["arrears_flag"] or ""] == truth[ident]
        for value in raw:
            assert json.dumps(value).encode() not in plaintext
    # The provider's tickets name only the columns the derivations read.
    build = next(s for s in _steps(world, job_id) if s.action == lookup_steps.BUILD)
    claims = unverified_claims(build.ticket)
    assert claims["columns"] == list(TAX)
    assert claims["scope"]["labels"] == ["tax_grade_band", "arrears_flag"]
    assert [Derivation.from_json(d) for d in claims["scope"]["derived"]] == list(derived)


def test_bands_of_a_number_column(world: World, gov: tuple[Session, DemoGovernance]) -> None:
    session, g = gov
    columns = ("credit_code", "insured_headcount", "contribution_arrears_months")
    job_id = _call(
        world, session, g, dataset="social_insurance", columns=columns, derived=(HEADCOUNT,)
    )
    _succeeded(world, job_id)
    truth = _derived_truth(world, session, "social_insurance", (HEADCOUNT,))
    table = _result(world, session, job_id, "bank-a")
    assert table[0] == ["identifier", "found", "headcount_band"]
    rows = [r for r in table[1:] if r[1] == "true"]
    assert rows and all([r[2]] == truth[r[0]] for r in rows)
    assert {r[2] for r in rows} <= {"micro", "small", "medium"}
    # Only the column a derivation reads reaches the provider's ticket.
    build = next(s for s in _steps(world, job_id) if s.action == lookup_steps.BUILD)
    assert unverified_claims(build.ticket)["columns"] == ["credit_code", "insured_headcount"]


def _table_rows(session: Session) -> list[LookupTable]:
    session.expire_all()
    rows = list(session.scalars(select(LookupTable)))
    session.commit()
    return rows


def test_a_table_built_with_other_derivations_is_not_reused(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    first = _call(world, session, g, derived=(GRADE,))
    _succeeded(world, first)
    assert len(_table_rows(session)) == 1

    # Other derivations of the same column: a table of their own, with their labels.
    other = _call(world, session, g, derived=(STRICT,))
    assert lookup_steps.BUILD in {s.action for s in _steps(world, other)}
    _succeeded(world, other)
    strict = _derived_truth(world, session, "tax_ratings", (STRICT,))
    loose = _derived_truth(world, session, "tax_ratings", (GRADE,))
    result = _result(world, session, other, "bank-a")
    found = [r for r in result[1:] if r[1] == "true"]
    assert found and all([r[2]] == strict[r[0]] for r in found)
    assert any(strict[r[0]] != loose[r[0]] for r in found), "the two tables must differ here"

    # The raw columns: again a table of their own.
    raw = _call(world, session, g, columns=TAX)
    assert lookup_steps.BUILD in {s.action for s in _steps(world, raw)}
    _succeeded(world, raw)
    rows = _table_rows(session)
    assert (
        len(rows) == 3 and len({r.labels for r in rows}) == 3 and len({r.digest for r in rows}) == 3
    )

    # The first derivations again: their table is known, nothing is built or fetched.
    again = _call(world, session, g, derived=(GRADE,))
    steps = _steps(world, again)
    assert lookup_steps.BUILD not in {s.action for s in steps}
    _succeeded(world, again)
    install = next(s for s in _steps(world, again) if s.action == lookup_steps.INSTALL)
    assert install.result_json is not None and install.result_json["fetched"] is False
    assert _result(world, session, again, "bank-a") == _result(world, session, first, "bank-a")


def _resign(
    world: World,
    step_id: uuid.UUID,
    scope: Callable[[dict[str, Any]], dict[str, Any]],
    columns: tuple[str, ...] | None = None,
) -> None:
    """Replace a queued step's ticket by a genuinely signed one with another scope (a planner
    bug, or a compromised web tier that got the authority to sign)."""
    with world.factory() as s:
        step = s.get(Step, step_id)
        assert step is not None
        c = unverified_claims(step.ticket)
        step.ticket = issue(
            load_or_create_private_key(world.settings.ticket_key_path),
            job=c["job"],
            step=c["step"],
            domain=c["domain"],
            action=c["action"],
            datasets=tuple(DatasetRef(**d) for d in c["datasets"]),
            columns=tuple(c["columns"]) if columns is None else columns,
            scope=scope(dict(c["scope"])),
            now=utcnow(),
            ttl_seconds=600,
        )
        s.commit()


def _run_one(world: World, job_id: uuid.UUID, action: str) -> Job:
    """Run the first queued ``action`` step of the job; return the job after it."""
    step = next(s for s in _steps(world, job_id) if s.action == action and s.state == "queued")
    runner.run_step(domain_worker(world.settings, world.factory, step.domain), StepId(step.id))
    with world.factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        s.expunge(job)
    return job


BAD_BANDS = {**GRADE.to_json(), "rule": "bands", "mapping": [], "edges": [1], "labels": ["a", "b"]}


@pytest.mark.parametrize(
    ("scope", "columns"),
    [
        pytest.param(
            lambda sc: {
                **sc,
                "labels": ["paid_band"],
                "derived": [
                    {
                        "name": "paid_band",
                        "column": "tax_paid_last_year",  # a real column, not in the ticket
                        "rule": "bands",
                        "edges": [1000],
                        "labels": ["low", "high"],
                    }
                ],
            },
            None,
            id="column-not-in-the-ticket",
        ),
        pytest.param(
            lambda sc: {
                **sc,
                "labels": ["code_echo"],
                "derived": [
                    {
                        "name": "code_echo",
                        "column": "credit_code",
                        "rule": "map",
                        "mapping": [["x", "y"]],
                        "default": "z",
                    }
                ],
            },
            None,
            id="derived-from-the-identifier",
        ),
        pytest.param(
            lambda sc: {**sc, "labels": ["tax_grade_band"], "derived": [BAD_BANDS]},
            None,
            id="rule-does-not-fit-the-column",
        ),
        pytest.param(
            lambda sc: {**sc, "derived": [{"name": "tax_grade_band"}]}, None, id="spec-incomplete"
        ),
        pytest.param(lambda sc: {**sc, "derived": "tax_grade_band"}, None, id="not-a-list"),
        pytest.param(lambda sc: {**sc, "derived": [[1, 2]]}, None, id="not-objects"),
        pytest.param(
            lambda sc: {**sc, "derived": [GRADE.to_json(), GRADE.to_json()]},
            None,
            id="a-name-twice",
        ),
        pytest.param(
            lambda sc: {**sc, "labels": ["tax_credit_grade", "arrears_flag"]},
            None,
            id="labels-not-the-derivations",
        ),
        pytest.param(
            lambda sc: sc, ("credit_code", "arrears"), id="ticket-without-the-source-column"
        ),
    ],
)
def test_hostile_derived_scopes_are_refused_by_the_provider(
    world: World,
    gov: tuple[Session, DemoGovernance],
    scope: Callable[[dict[str, Any]], dict[str, Any]],
    columns: tuple[str, ...] | None,
) -> None:
    session, g = gov
    job_id = _call(world, session, g, derived=(GRADE, ARREARS))
    run_until(world.settings, world.factory, job_id, lookup_steps.BUILD)
    build = next(s for s in _steps(world, job_id) if s.action == lookup_steps.BUILD)
    _resign(world, build.id, scope, columns)
    job = _run_one(world, job_id, lookup_steps.BUILD)
    assert job.state == "failed"
    assert job.error_code == "step.scope", job.error_message
    tax = DomainStore.at(world.settings.domain_root, "tax")
    assert not list((tax.root / "lookup").rglob("part-*")), "nothing was built"


# --- authorization (授权查询) ------------------------------------------------------------------


def _applicant_file(world: World, session: Session) -> list[dict[str, str]]:
    """bank-a's applicants as stored, every value as read (a malformed identifier included)."""
    ds = _dataset(session, "bank_a_applicants")
    path = DomainStore.at(world.settings.domain_root, "bank-a").dataset_file(
        ds.name, _version(session, ds.id)
    )
    session.commit()
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _add_malformed(world: World, session: Session, values: list[str]) -> None:
    """Rows whose identifier is not valid, added to bank-a's stored list (a list loaded
    leniently, or typed by hand): each is reported as read, never queried."""
    ds = _dataset(session, "bank_a_applicants")
    path = DomainStore.at(world.settings.domain_root, "bank-a").dataset_file(
        ds.name, _version(session, ds.id)
    )
    session.commit()
    with path.open("a", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        for n, value in enumerate(values):
            writer.writerow([value, "某公司", f"AUTH-A-9{n:05d}", "100000.00", "2024-01-02"])


def _authorizations(
    world: World, session: Session, *, skip: int, wrong: int
) -> tuple[Authorizations, list[str], list[str], list[str]]:
    """Authorizations for bank-a's applicants but the first ``skip`` (never authorized) and
    the next ``wrong`` (authorized under another reference); with the ids expected queried,
    expected unauthorized, and the malformed values as read."""
    rows = _applicant_file(world, session)
    seen: set[str] = set()
    queried: list[str] = []
    unauthorized: list[str] = []
    malformed: list[str] = []
    digests: set[str] = set()
    kind = _kind(session)
    for row in rows:
        code = check(kind, row["credit_code"]).value
        if code is None:
            malformed.append(row["credit_code"].strip()[:64])
            continue
        if code in seen:
            continue
        seen.add(code)
        n = len(seen)
        if n <= skip:
            unauthorized.append(code)
        elif n <= skip + wrong:
            digests.add(digest("bank-a", code, row["authorization_ref"] + "-X"))
            unauthorized.append(code)
        else:
            digests.add(digest("bank-a", code, row["authorization_ref"]))
            queried.append(code)
    auth = Authorizations("authorization_ref", "bank-a", frozenset(digests))
    return auth, queried, unauthorized, malformed


def _kind(session: Session) -> Any:
    ds = _dataset(session, "bank_a_applicants")
    version = session.scalars(
        select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
    ).one()
    kind = Schema.model_validate(version.schema_json).identifier.kind
    session.commit()
    return kind


def test_only_authorized_applicants_are_queried_and_the_others_reported(
    world: World, gov: tuple[Session, DemoGovernance], monkeypatch: pytest.MonkeyPatch
) -> None:
    session, g = gov
    body = "91110108MA01ABCDE"
    wrong_check = body + ("0" if credit_code_check_char(body) != "0" else "1")
    _add_malformed(world, session, [wrong_check, " not a code ", "", "9" * 80])
    auth, queried, unauthorized, malformed = _authorizations(world, session, skip=3, wrong=1)
    assert len(queried) >= 5 and len(unauthorized) == 4
    assert malformed == [wrong_check, "not a code", "", "9" * 64]
    evaluated: list[int] = []
    real_answer = answer  # what lookup_steps calls

    def counting(key: Any, binding: Any, query: bytes, *, max_items: int) -> bytes:
        evaluated.append((len(query) - HEADER_BYTES - 20) // POINT_BYTES)
        return real_answer(key, binding, query, max_items=max_items)

    monkeypatch.setattr(lookup_steps, "answer", counting)
    derived = (GRADE, ARREARS)
    job_id = _call(world, session, g, derived=derived, authorization=auth)
    _succeeded(world, job_id)

    # The provider evaluated the authorized identifiers only.
    assert sum(evaluated) == len(queried)
    table = _result(world, session, job_id, "bank-a")
    assert table[0] == ["identifier", "found", "tax_grade_band", "arrears_flag"]
    truth = _derived_truth(world, session, "tax_ratings", derived)
    n = len(queried)
    assert sorted(r[0] for r in table[1 : n + 1]) == sorted(queried)
    assert any(r[1] == "true" for r in table[1 : n + 1])
    for ident, state, *labels in table[1 : n + 1]:
        assert (state, labels) == (
            ("true", truth[ident]) if ident in truth else ("false", ["", ""])
        )
    assert table[n + 1 :] == [
        *([u, "unauthorized", "", ""] for u in unauthorized),
        *([m, "malformed", "", ""] for m in malformed),
    ]
    collect = next(s for s in _steps(world, job_id) if s.action == lookup_steps.COLLECT)
    assert collect.result_json is not None
    assert collect.result_json["unauthorized"] == 4
    assert collect.result_json["items"] == len(queried)
    assert collect.result_json["rejected"] == len(malformed)
    # Only the requester's reading steps see the reference column and the authorizations.
    for step in _steps(world, job_id):
        claims = unverified_claims(step.ticket)
        reads = step.action in (lookup_steps.BLIND, lookup_steps.COLLECT)
        assert ("authorization" in claims["scope"]) is reads
        assert ("authorization_ref" in claims["columns"]) is reads


def test_no_authorized_applicant_is_refused_by_the_size_guard(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    session, g = gov
    nobody = Authorizations("authorization_ref", "bank-a", frozenset())
    _fails(world, _call(world, session, g, derived=(GRADE,), authorization=nobody), "guard.empty")
    # Authorizations registered by another consumer do not count for bank-a.
    auth, _, _, _ = _authorizations(world, session, skip=0, wrong=0)
    theirs = Authorizations("authorization_ref", "bank-b", auth.digests)
    _fails(world, _call(world, session, g, derived=(GRADE,), authorization=theirs), "guard.empty")


@pytest.mark.parametrize(
    ("action", "scope", "columns"),
    [
        pytest.param(
            lookup_steps.BLIND,
            lambda sc: {**sc, "authorization": {**sc["authorization"], "digests": ["Z" * 64]}},
            None,
            id="blind-digest-not-hex",
        ),
        pytest.param(
            lookup_steps.BLIND,
            lambda sc: {**sc, "authorization": {**sc["authorization"], "column": "credit_code"}},
            None,
            id="blind-reference-is-the-identifier",
        ),
        pytest.param(
            lookup_steps.BLIND,
            lambda sc: sc,
            ("credit_code",),
            id="blind-reference-column-not-granted",
        ),
        pytest.param(
            lookup_steps.BLIND,
            lambda sc: {**sc, "authorization": "everyone"},
            None,
            id="blind-not-an-object",
        ),
        pytest.param(
            lookup_steps.COLLECT,
            lambda sc: {**sc, "authorization": {**sc["authorization"], "extra": True}},
            None,
            id="collect-unknown-field",
        ),
    ],
)
def test_a_tampered_authorization_scope_is_refused(
    world: World,
    gov: tuple[Session, DemoGovernance],
    action: str,
    scope: Callable[[dict[str, Any]], dict[str, Any]],
    columns: tuple[str, ...] | None,
) -> None:
    session, g = gov
    auth, _, _, _ = _authorizations(world, session, skip=2, wrong=0)
    job_id = _call(world, session, g, derived=(GRADE,), authorization=auth)
    run_until(world.settings, world.factory, job_id, action)
    for step in _steps(world, job_id):
        if step.action == action:
            _resign(world, step.id, scope, columns)
    job = _run_one(world, job_id, action)
    assert job.state == "failed"
    assert job.error_code == "step.scope", job.error_message


def test_widening_the_authorizations_without_the_authority_is_refused(
    world: World, gov: tuple[Session, DemoGovernance]
) -> None:
    """The job's params hold the digests; the signed ticket holds their hash. Adding a digest
    to the params (an intruder in the web tier or the control DB) breaks the match: the worker
    refuses the step before it reads a row."""
    session, g = gov
    auth, _, _, _ = _authorizations(world, session, skip=3, wrong=0)
    job_id = _call(world, session, g, derived=(GRADE,), authorization=auth)
    with world.factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        params = dict(job.params_json)
        params[authorized.PARAM] = sorted([*params[authorized.PARAM], "0" * 64])
        job.params_json = params
        s.commit()
    job = _run_one(world, job_id, lookup_steps.BLIND)
    assert job.state == "failed" and job.error_code == "step.scope", job.error_message


# --- the planner ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "code"),
    [
        pytest.param(
            {"columns": ("credit_code", "arrears"), "derived": (GRADE,)},
            "job.derived_invalid",
            id="column-not-asked",
        ),
        pytest.param(
            {
                "derived": (
                    Derivation(
                        name="code_band",
                        column="credit_code",
                        rule="map",
                        mapping=(("x", "y"),),
                    ),
                )
            },
            "job.derived_invalid",
            id="derived-from-the-identifier",
        ),
        pytest.param(
            {
                "derived": (
                    Derivation(
                        name="grade_band",
                        column="tax_credit_grade",
                        rule="bands",
                        edges=(1.0,),
                        labels=("low", "high"),
                    ),
                )
            },
            "job.derived_invalid",
            id="bands-of-a-category",
        ),
        pytest.param(
            {"derived": (Derivation(name="grade_flag", column="tax_credit_grade", rule="flag"),)},
            "job.derived_invalid",
            id="flag-of-a-category",
        ),
        pytest.param(
            {
                "derived": (
                    GRADE,
                    Derivation(name="tax_grade_band", column="arrears", rule="flag"),
                )
            },
            "job.derived_invalid",
            id="a-name-twice",
        ),
        pytest.param(
            {"derived": (Derivation(name="found", column="arrears", rule="flag"),)},
            "job.derived_invalid",
            id="a-result-column-name",
        ),
        pytest.param(
            {
                "derived": (
                    Derivation(
                        name="grade_text",
                        column="tax_credit_grade",
                        rule="map",
                        mapping=tuple((f"{n:03d}" * 21, "标签" * 32) for n in range(200)),
                    ),
                )
            },
            "job.derived_invalid",
            id="more-than-a-ticket-carries",
        ),
        pytest.param(
            {
                "derived": tuple(
                    Derivation(
                        name=f"wide_{n}",
                        column="tax_credit_grade",
                        rule="map",
                        mapping=(("A", "\x01" * 64),),  # JSON writes each as \u0001
                    )
                    for n in range(12)
                )
            },
            "job.labels_too_long",
            id="labels-wider-than-a-record",
        ),
        pytest.param(
            {"authorization": Authorizations("consent_no", "bank-a", frozenset())},
            "job.authorization_column",
            id="reference-column-missing",
        ),
        pytest.param(
            {"authorization": Authorizations("credit_code", "bank-a", frozenset())},
            "job.authorization_column",
            id="reference-is-the-identifier",
        ),
    ],
)
def test_the_planner_refuses_what_cannot_run_and_charges_nothing(
    world: World, gov: tuple[Session, DemoGovernance], how: dict[str, Any], code: str
) -> None:
    session, g = gov
    c = _computation(session, g, **how)
    refused(
        session,
        lambda: computations.submit(
            session, as_user(session, "bank-a"), c, signer=_signer(world), now=utcnow()
        ),
        code,
        tables=NOT_CHARGED,
    )


# --- reading derived labels ------------------------------------------------------------------


def _stored(tmp_path: Path, rows: list[tuple[str, str, str]]) -> StoredDataset:
    schema = Schema.model_validate(
        {
            "name": "rated",
            "title": "rated",
            "openness": "conditional",
            "grade": "general",
            "identifier": {"column": "credit_code", "kind": "credit_code"},
            "columns": [
                {"name": "credit_code", "type": "string"},
                {"name": "grade", "type": "category", "values": ["A", "B", "C"]},
                {"name": "staff", "type": "integer"},
            ],
        }
    )
    path = tmp_path / "v1.csv"
    path.write_text(
        "credit_code,grade,staff\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows),
        encoding="utf-8",
    )
    return StoredDataset(uuid.uuid4(), "rated", 1, schema, len(rows), 0, path)


def _code(body: str) -> str:
    return body + credit_code_check_char(body)


WIDE = Derivation(
    name="grade_cn",
    column="grade",
    rule="map",
    mapping=(("A", "良好"), ("B", 'say "ok"\\')),
    default="未知",
)
STAFF = Derivation(
    name="staff_band", column="staff", rule="bands", edges=(10.0,), labels=("小", "大型企业")
)


def test_read_derived_emits_only_the_derived_labels(tmp_path: Path) -> None:
    one, two = _code("91110108MA01ABCDE"), _code("91310115MA1K3XY10")
    data = _stored(tmp_path, [(one, "A", "3"), ("junk", "B", "99"), (two, "", "12")])
    records = list(read_derived(data, (WIDE, STAFF)))
    assert [i for i, _ in records] == [one.encode(), two.encode()]  # junk ids are skipped
    assert records[0][1] == '{"grade_cn":"良好","staff_band":"小"}'.encode()
    assert json.loads(records[1][1]) == {"grade_cn": None, "staff_band": "大型企业"}
    # Every record fits the table's fixed width, at the longest outputs too.
    width = lookup_steps.label_width(data.schema, ("grade_cn", "staff_band"), (WIDE, STAFF))
    longest = json.dumps(
        {"grade_cn": 'say "ok"\\', "staff_band": "大型企业"},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert all(len(r) <= width for _, r in records) and len(longest) <= width
    # Parts split the rows as read_labeled does.
    assert [i for i, _ in read_derived(data, (STAFF,), part=1, parts=2)] == []
    assert [i for i, _ in read_derived(data, (STAFF,), part=0, parts=2)] == [
        one.encode(),
        two.encode(),
    ]


def test_read_derived_refuses_a_column_outside_the_dataset(tmp_path: Path) -> None:
    data = _stored(tmp_path, [(_code("91110108MA01ABCDE"), "A", "3")])
    outside = Derivation(name="income_band", column="income", rule="flag")
    with pytest.raises(SandboxError) as info:
        list(read_derived(data, (outside,)))
    assert info.value.code == "step.scope"
