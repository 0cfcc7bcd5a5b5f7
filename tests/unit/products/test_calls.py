"""Calling a product: the decisions before anything runs (listed? subscribed? quota? the
bank's own, non-empty, not oversized list? authorizations?), the computations a call asks the
policy for, a policy refusal recorded and never charged, and settling from the jobs' counts.
Nothing here runs a protocol: the jobs are real rows, set to their end states by hand."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from grants import computations, contributions
from grants import grants as grants_service
from grants.models import GrantUsage
from grants.terms import DatasetColumns, Kind
from products import calls, catalog, subscriptions
from products.authorizations import valid_digests
from products.calls import authorizations_digest
from products.demo import register_authorizations
from products.models import CallState, Product
from sandbox.datasets.models import DatasetVersion
from sandbox.errors import SandboxError
from sandbox.jobs.models import Job
from sandbox.parties.models import Organization
from tests.helpers import refused
from tests.unit.products.helpers import (
    Env,
    Recorder,
    applicant_rows,
    approve_all,
    counts,
    create,
    credit_spec,
    exposure,
    finish,
    jobs_of,
    listed,
    run_call,
    subscribed,
)

TABLES = ("product_calls", "jobs", "steps", "grant_usage")


def _refused(env: Env, call: Callable[[], Any], code: str) -> SandboxError:
    before = len(env.actions("product.call_refused"))
    error = refused(env.session, call, code, tables=TABLES)
    assert error.recorded
    after = env.actions("product.call_refused")
    assert len(after) == before + 1 and f'"code":"{code}"' in after[-1].body.decode()
    return error


def test_a_credit_check_asks_one_governed_lookup_per_source(
    env: Env, ready: Product, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(computations, "submit", recorder)
    call = run_call(env, ready)()
    digests = valid_digests(env.session, env.who("bank-a").org_id, env.now)
    rows = applicant_rows(env)
    assert len(digests) > 0
    assert [c.kind for c in recorder.asked] == [Kind.LOOKUP] * 3
    spec = credit_spec(env)
    for c, source in zip(recorder.asked, spec.sources, strict=True):
        assert c.grant_id == env.g.approved_grant_id and c.purpose == "sme_credit_assessment"
        assert c.datasets == (DatasetColumns(dataset_id=source.dataset_id, columns=source.columns),)
        assert c.input_dataset == env.dataset("bank-a", "applicants").id and c.rows == rows
        assert c.recipient == "bank-a"
        assert c.derived == source.derived()
        assert c.authorization is not None
        assert c.authorization.column == "authorization_ref"
        assert c.authorization.consumer == "bank-a" and c.authorization.digests == digests
    assert [d.name for c in recorder.asked for d in c.derived] == list(spec.label_names())
    assert call.state == CallState.RUNNING and len(call.job_ids) == 3
    assert call.identifiers == rows and call.charge_fen == 0  # reserved, not charged
    assert call.period == env.now.strftime("%Y-%m")
    (entry,) = env.actions("product.called")
    body = entry.body.decode()
    assert entry.object_type == "product_call" and entry.object_id == str(call.id)
    assert authorizations_digest(digests) in body and f'"count":{len(digests)}' in body


def test_an_exposure_call_asks_one_secure_sum_over_the_other_banks_books(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = listed(env, exposure(env), slug="exposure")
    subscribed(env, product)
    register_authorizations(env.session, now=env.now, enterprises=150)
    bank_a = env.who("bank-a").org_id
    consents = contributions.active(env.session, env.g.statistics_grant_id)
    others = {c.dataset_id for c in consents if c.org_id != bank_a}
    assert env.dataset("bank-a", "loan_book").id in {c.dataset_id for c in consents}
    assert len(others) >= 2, "the demo world has at least two other consenting banks"
    recorder = Recorder()
    monkeypatch.setattr(computations, "submit", recorder)
    call = run_call(env, product)()
    (c,) = recorder.asked
    assert c.kind == Kind.SECURE_SUM and c.grant_id == env.g.statistics_grant_id
    assert c.datasets == () and c.min_contributors == 2 and c.recipient == "bank-a"
    assert {d.dataset_id for d in c.contributions} == others  # never bank-a's own book
    assert {d.columns for d in c.contributions} == {("credit_code", "outstanding_balance")}
    assert c.input_dataset == env.dataset("bank-a", "applicants").id
    assert c.authorization is not None and c.authorization.consumer == "bank-a"
    assert call.state == CallState.RUNNING and len(call.job_ids) == 1
    # With all but one of the other banks' consents withdrawn, too few banks contribute:
    # refused before anything runs.
    for consent in [c for c in consents if c.org_id != bank_a][1:]:
        holder = env.session.get(Organization, consent.org_id)
        assert holder is not None
        contributions.withdraw(
            env.session,
            env.who(holder.slug),  # each demo bank's analyst has its bank's slug
            env.g.statistics_grant_id,
            consent.dataset_id,
            now=env.now,
        )
    _refused(env, run_call(env, product), "call.contributors")


def test_a_real_call_submits_governed_jobs(env: Env, ready: Product) -> None:
    call = run_call(env, ready)()
    jobs = jobs_of(env, call.job_ids)
    assert {j.kind for j in jobs} == {"lookup"}
    assert {j.authority for j in jobs} == {f"grant:{env.g.approved_grant_id}"}
    assert {j.params_json["recipient"] for j in jobs} == {"bank-a"}
    usage = env.session.get(GrantUsage, (env.g.approved_grant_id, env.now.date()))
    assert usage is not None and usage.calls == 3
    assert len(env.actions("policy.allowed")) == 3


def test_unlisted_and_delisted_products_are_refused(env: Env, ready: Product) -> None:
    draft = create(env, slug="draft")
    refused(env.session, run_call(env, draft), "product.not_found", tables=TABLES)
    catalog.delist(env.session, env.who("bureau"), ready.id, reason="recall", now=env.now)
    _refused(env, run_call(env, ready), "product.not_listed")
    with pytest.raises(SandboxError) as caught:
        run_call(env, ready, input_dataset_id=uuid.uuid4())()
    assert caught.value.code == "product.not_listed"


def test_a_subscription_must_be_active_and_current(env: Env, ready: Product) -> None:
    _refused(env, run_call(env, ready, "bank-b"), "subscription.required")
    subscriptions.subscribe(
        env.session, env.who("bank-b"), ready.id, accept_terms=True, now=env.now
    )
    _refused(env, run_call(env, ready, "bank-b"), "subscription.required")  # requested only
    for username in ("operator", "bureau", "tax-cdo", "auditor"):
        applicants = env.dataset("bank-a", "applicants").id
        refused(
            env.session,
            run_call(env, ready, username, input_dataset_id=applicants),
            "forbidden.role",
            tables=TABLES,
        )
    operator = env.who("operator")
    catalog.new_version(env.session, operator, ready.id, credit_spec(env), env.now)
    catalog.submit(env.session, operator, ready.id, 2, env.now)
    approve_all(env, ready, 2)
    catalog.list_product(env.session, env.who("bureau"), ready.id, 2, env.now)
    _refused(env, run_call(env, ready), "subscription.terms_changed")


def test_the_input_must_be_the_banks_own_list(env: Env, ready: Product) -> None:
    for dataset in (
        env.dataset("bank-b", "applicants").id,
        env.dataset("tax", "tax_ratings").id,
        uuid.uuid4(),
    ):
        _refused(env, run_call(env, ready, input_dataset_id=dataset), "call.input_not_found")
    for column in ("credit_code", "no_such_column", "x" * 100_000, ""):
        _refused(env, run_call(env, ready, reference_column=column), "call.reference_column")
    # the loan book is the bank's own, but has no authorization references
    _refused(
        env,
        run_call(env, ready, input_dataset_id=env.dataset("bank-a", "loan_book").id),
        "call.reference_column",
    )


def test_empty_and_oversized_lists_are_refused(env: Env, ready: Product) -> None:
    small = listed(env, credit_spec(env, max_identifiers_per_call=5), slug="small")
    subscribed(env, small)
    assert applicant_rows(env) > 5
    _refused(env, run_call(env, small), "call.input_too_large")
    ds = env.dataset("bank-a", "applicants")
    version = env.session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == ds.id, DatasetVersion.version == ds.current_version
        )
    )
    assert version is not None
    version.row_count = 0  # as an applicant list with no valid row would be recorded
    _refused(env, run_call(env, ready), "call.input_empty")


def test_quotas_count_calls_and_identifiers_per_month(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_authorizations(env.session, now=env.now, enterprises=150)
    monkeypatch.setattr(computations, "submit", Recorder())
    rows = applicant_rows(env)
    by_calls = listed(env, slug="by-calls")
    subscribed(env, by_calls, calls_per_month=1)
    run_call(env, by_calls)()
    _refused(env, run_call(env, by_calls), "quota.exceeded")
    next_month = env.now + dt.timedelta(days=32)
    assert run_call(env, by_calls, now=next_month)().period != env.now.strftime("%Y-%m")
    by_ids = listed(env, slug="by-ids")
    subscribed(env, by_ids, identifiers_per_month=rows + 1)
    run_call(env, by_ids)()
    _refused(env, run_call(env, by_ids), "quota.exceeded")


def test_no_authorizations_no_call(env: Env) -> None:
    product = listed(env)
    subscribed(env, product)
    _refused(env, run_call(env, product), "authorization.none")


def test_a_policy_refusal_is_recorded_and_never_charged(env: Env, ready: Product) -> None:
    grants_service.suspend(
        env.session, env.who("bureau"), env.g.approved_grant_id, reason="audit", now=env.now
    )
    call = run_call(env, ready)()
    assert call.state == CallState.REFUSED and call.refusal_code == "policy.grant_suspended"
    assert call.job_ids == [] and call.charge_fen == 0 and call.identifiers == 0
    assert call.settled_at == env.now
    assert env.session.scalar(select(func.count()).select_from(Job)) == 0
    assert len(env.actions("policy.refused")) == 1
    (entry,) = env.actions("product.call_refused")
    assert entry.object_id == str(call.id) and '"charge_fen":0' in entry.body.decode()
    sub = subscriptions.live_subscription(env.session, ready.id, env.who("bank-a").org_id)
    assert sub is not None
    assert subscriptions.quota_use(env.session, sub, env.now).calls == 0


def test_a_refusal_part_way_leaves_no_job_and_no_quota_used(env: Env, ready: Product) -> None:
    # The grant allows 200 calls a day: with 198 used, the call's third lookup is refused.
    env.session.add(GrantUsage(grant_id=env.g.approved_grant_id, day=env.now.date(), calls=198))
    env.session.flush()
    call = run_call(env, ready)()
    assert call.state == CallState.REFUSED and call.refusal_code == "policy.quota_used"
    assert env.session.scalar(select(func.count()).select_from(Job)) == 0
    usage = env.session.get(GrantUsage, (env.g.approved_grant_id, env.now.date()))
    assert usage is not None and usage.calls == 198
    assert env.actions("policy.allowed") == []


def test_settling_meters_counts_and_charges_the_version_price(env: Env, ready: Product) -> None:
    call = run_call(env, ready)()
    later = env.now + dt.timedelta(minutes=1)
    assert calls.settle(env.session, call, later).state == CallState.RUNNING  # jobs queued
    assert calls.settle_pending(env.session, later) == 0
    finish(env, call, [counts(9, 7), counts(9, 9), counts(9, 8)])
    steps = sum(len(j.steps) for j in jobs_of(env, call.job_ids))
    assert calls.settle_pending(env.session, later) == 1
    assert call.state == CallState.SUCCEEDED and call.settled_at == later
    assert (call.identifiers, call.matched, call.unauthorized, call.rejected) == (9, 9, 2, 1)
    assert call.compute_seconds == pytest.approx(1.5 * steps)
    assert call.charge_fen == 200 + 50 * 9
    (entry,) = env.actions("product.usage")
    assert '"charge_fen":650' in entry.body.decode()
    calls.settle(env.session, call, later)  # settled once
    assert len(env.actions("product.usage")) == 1


def test_unauthorized_rows_are_counted_when_a_job_does_not_report_them(
    env: Env, ready: Product
) -> None:
    call = run_call(env, ready)()
    unreported = {k: v for k, v in counts(9, 7, unauthorized=3).items() if k != "unauthorized"}
    finish(env, call, [unreported] * 3)
    calls.settle(env.session, call, env.now)
    assert (call.identifiers, call.unauthorized, call.rejected) == (9, 3, 1)


def test_a_failed_job_fails_the_call_uncharged(env: Env, ready: Product) -> None:
    call = run_call(env, ready)()
    finish(env, call, [counts(9, 7), {}, counts(9, 8)], failed=1)
    calls.settle(env.session, call, env.now)
    assert call.state == CallState.FAILED and call.charge_fen == 0
    assert call.refusal_code == "step.failed" and call.identifiers == 0
    sub = subscriptions.live_subscription(env.session, ready.id, env.who("bank-a").org_id)
    assert sub is not None
    assert subscriptions.quota_use(env.session, sub, env.now).calls == 0


def test_a_bank_sees_only_its_calls_and_the_operator_onlycounts(env: Env, ready: Product) -> None:
    subscribed(env, ready, "bank-b")
    call_a = run_call(env, ready)()
    call_b = run_call(env, ready, "bank-b")()
    mine = calls.calls_for(env.session, env.who("bank-a"))
    assert [v.id for v in mine] == [str(call_a.id)]
    assert mine[0].input_dataset_id == str(env.dataset("bank-a", "applicants").id)
    assert [v.id for v in calls.calls_for(env.session, env.who("bank-b"))] == [str(call_b.id)]
    with pytest.raises(SandboxError) as caught:
        calls.get_call(env.session, env.who("bank-b"), call_a.id)
    assert caught.value.code == "call.not_found"
    seen = calls.calls_for(env.session, env.who("operator"))
    assert {v.id for v in seen} == {str(call_a.id), str(call_b.id)}
    for view in seen:
        assert view.input_dataset_id is None and view.caller is None and view.job_ids == ()
        assert view.matched is None and view.unauthorized is None and view.rejected is None
    for username in ("bureau", "auditor"):
        full = calls.get_call(env.session, env.who(username), call_b.id)
        assert full.caller == "bank-b" and len(full.job_ids) == 3
    assert calls.calls_for(env.session, env.who("tax-cdo")) == []
    with pytest.raises(SandboxError):
        calls.get_call(env.session, env.who("tax-cdo"), call_a.id)
    assert calls.calls_for(env.session, env.who("bank-a"), period="1999-01") == []
    assert len(calls.calls_for(env.session, env.who("bureau"), product_id=ready.id)) == 2
