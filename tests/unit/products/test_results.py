"""A call's result, for the calling bank alone: the jobs' result files in the bank's domain
store merged into one row per applicant with its status and the product's labels; every
download in the ledger with its digest; nobody else reads it, and a call without a finished
result has none."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from grants import grants as grants_service
from products.models import Product, ProductCall
from products.results import as_csv, call_result, merge
from sandbox.compute.results import write_result
from sandbox.domains.store import DomainStore
from sandbox.errors import Conflict, NotFound, PermissionDenied, SandboxError
from tests.unit.products.helpers import Env, counts, finish, jobs_of, run_call

C1, C2, C3 = "91110108000000001X", "91110108000000002Y", "91110108000000003Z"
FILES = [
    (
        ["identifier", "found", "tax_grade_band", "arrears_flag"],
        [[C1, "true", "good", "no"], [C2, "false", "", ""], [C3, "unauthorized", "", ""]],
    ),
    (
        ["identifier", "found", "headcount_band", "contribution_arrears_flag"],
        [[C1, "false", "", ""], [C2, "true", "10-49", "yes"], [C3, "unauthorized", "", ""]],
    ),
    (
        ["identifier", "found", "registration_status"],
        [
            [C1, "true", "active"],
            [C2, "false", ""],
            [C3, "unauthorized", ""],
            ["??", "malformed", ""],
        ],
    ),
]
LABELS = (
    "tax_grade_band",
    "arrears_flag",
    "headcount_band",
    "contribution_arrears_flag",
    "registration_status",
)


def _finished_call(env: Env, product: Product) -> ProductCall:
    """A real call whose jobs finished, with the result files a bank's worker would write."""
    call = run_call(env, product)()
    finish(env, call, [counts(3, 1), counts(3, 1), counts(3, 1)])
    for job, (header, rows) in zip(jobs_of(env, call.job_ids), FILES, strict=True):
        last = max(job.steps, key=lambda s: s.seq)
        assert last.domain == "bank-a"
        write_result(
            DomainStore.at(env.world.settings.domain_root, "bank-a"), str(job.id), header, rows
        )
    return call


def _read(
    env: Env, username: str, call: ProductCall
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    return call_result(
        env.session,
        env.who(username),
        call.id,
        domain_root=env.world.settings.domain_root,
        now=env.now,
    )


def test_the_calling_bank_reads_one_row_per_applicant(env: Env, ready: Product) -> None:
    call = _finished_call(env, ready)
    header, rows = _read(env, "bank-a", call)
    assert header == ("identifier", "status", *LABELS)
    assert rows == [
        (C1, "found", "good", "no", "", "", "active"),
        (C2, "found", "", "", "10-49", "yes", ""),
        (C3, "unauthorized", "", "", "", "", ""),
        ("??", "malformed", "", "", "", "", ""),
    ]
    (entry,) = env.actions("result.downloaded")
    body = entry.body.decode()
    assert entry.object_id == str(call.id)
    assert hashlib.sha256(as_csv(header, rows).encode()).hexdigest() in body
    for job in call.job_ids:
        path = DomainStore.at(env.world.settings.domain_root, "bank-a").result_file(job)
        assert hashlib.sha256(path.read_bytes()).hexdigest() in body
    # the control DB learned counts only: no applicant's code in any row it holds
    env.session.flush()
    for table in ("product_calls", "jobs", "ledger_entries"):
        assert C1 not in repr(env.session.execute(text(f"SELECT * FROM {table}")).all())


def test_nobody_else_reads_a_result(env: Env, ready: Product) -> None:
    call = _finished_call(env, ready)
    with pytest.raises(NotFound):
        _read(env, "bank-b", call)
    with pytest.raises(NotFound):
        _read(env, "tax-cdo", call)
    for username in ("operator", "bureau", "auditor"):
        with pytest.raises(PermissionDenied) as caught:
            _read(env, username, call)
        assert caught.value.code == "result.not_recipient"
    assert env.actions("result.downloaded") == []


def test_a_running_failed_or_refused_call_has_no_result(env: Env, ready: Product) -> None:
    running = run_call(env, ready)()
    with pytest.raises(Conflict) as caught:
        _read(env, "bank-a", running)
    assert caught.value.code == "result.not_ready"
    finish(env, running, [counts(3, 1), {}, counts(3, 1)], failed=1)
    with pytest.raises(Conflict) as caught:
        _read(env, "bank-a", running)
    assert caught.value.code == "result.none" and running.state == "failed"
    grants_service.suspend(
        env.session, env.who("bureau"), env.g.approved_grant_id, reason="audit", now=env.now
    )
    refused_call = run_call(env, ready)()
    with pytest.raises(Conflict):
        _read(env, "bank-a", refused_call)


def test_a_missing_result_file_is_not_found(env: Env, ready: Product) -> None:
    call = run_call(env, ready)()
    finish(env, call, [counts(3, 1)] * 3)
    with pytest.raises(NotFound) as caught:
        _read(env, "bank-a", call)
    assert caught.value.code == "result.not_found"


def test_merge_keeps_the_best_status_and_the_finders_labels() -> None:
    exposure = (
        ["identifier", "status", "total", "lenders"],
        [
            ["A", "suppressed", "", ""],
            ["B", "released", "12.50", "≥2"],
            ["C", "unauthorized", "", ""],
        ],
    )
    header, rows = merge([exposure], ())
    assert header == ("identifier", "status", "total", "lenders")
    assert rows == [
        ("A", "suppressed", "", ""),
        ("B", "released", "12.50", "≥2"),
        ("C", "unauthorized", "", ""),
    ]
    _, rows = merge(
        [
            (["identifier", "found", "x"], [["A", "true", "1"]]),
            (["identifier", "found", "x"], [["A", "false", "2"]]),
        ],
        ("x",),
    )
    assert rows == [("A", "found", "1")]


def test_corrupt_result_files_are_refused(env: Env, ready: Product) -> None:
    call = run_call(env, ready)()
    finish(env, call, [counts(3, 1)] * 3)
    store = DomainStore.at(env.world.settings.domain_root, "bank-a")
    for content in (
        "",
        "name,found\nA,true\n",  # no identifier column
        "identifier,found\nA,true,extra\n",  # ragged
        'identifier,found\n"A,true\n',  # unterminated quote
    ):
        for job in call.job_ids:
            path = store.result_file(job)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        with pytest.raises(SandboxError) as caught:
            _read(env, "bank-a", call)
        assert caught.value.code == "result.corrupt"


def test_a_value_a_spreadsheet_would_run_is_defused_in_the_csv() -> None:
    from products.results import as_csv

    text = as_csv(
        ("identifier", "status"),
        [("=HYPERLINK(1)", "malformed"), ("+1", "malformed"), ("91110108MAE827UR1X", "found")],
    )
    assert text.splitlines() == [
        "identifier,status",
        "'=HYPERLINK(1),malformed",
        "'+1,malformed",
        "91110108MAE827UR1X,found",
    ]
