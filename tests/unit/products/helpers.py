"""Shared set-up for the product tests: the demo's governance on the small test world, and
products made, reviewed, listed and subscribed to through the services themselves."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import computations
from grants.demo import DemoGovernance
from grants.policy import Computation
from products import calls, catalog, subscriptions
from products.demo import credit_check_spec, exposure_spec
from products.models import Product, ProductCall, ProductVersion, Subscription
from products.records import required_reviewers
from products.spec import ProductSpec
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.domains.models import Domain
from sandbox.jobs.models import Job, JobState, StepState
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.models import LedgerEntry
from sandbox.parties.principal import Principal
from sandbox.tickets import TicketSigner
from tests.conftest import World
from tests.helpers import as_user

SIZING = computations.Sizing(lookup_shard_rows=5, lookup_build_rows=60, max_shards=4)
CDO_OF = {"tax": "tax-cdo", "social": "social-cdo", "market": "market-cdo", "court": "court-cdo"}


@dataclass
class Env:
    world: World
    session: Session
    g: DemoGovernance
    now: dt.datetime

    def who(self, username: str) -> Principal:
        return as_user(self.session, username)

    def dataset(self, domain: str, name: str) -> Dataset:
        found = self.session.scalar(
            select(Dataset)
            .join(Domain, Domain.id == Dataset.domain_id)
            .where(Domain.name == domain, Dataset.name == name)
        )
        assert found is not None, (domain, name)
        return found

    def signer(self) -> TicketSigner:
        return TicketSigner(load_or_create_private_key(self.world.settings.ticket_key_path), 600)

    def actions(self, action: str) -> list[LedgerEntry]:
        self.session.flush()
        return list(
            self.session.scalars(
                select(LedgerEntry).where(LedgerEntry.action == action).order_by(LedgerEntry.index)
            )
        )


def spec_with(base: ProductSpec, **changes: Any) -> ProductSpec:
    """``base`` with ``changes`` applied, validated again (JSON values)."""
    return ProductSpec.model_validate({**base.model_dump(mode="json"), **changes})


def credit_spec(env: Env, **changes: Any) -> ProductSpec:
    return spec_with(credit_check_spec(env.session, env.g), **changes)


def exposure(env: Env, **changes: Any) -> ProductSpec:
    return spec_with(exposure_spec(env.g), **changes)


def create(env: Env, spec: ProductSpec | None = None, *, slug: str = "credit") -> Product:
    return catalog.create_product(
        env.session,
        env.who("operator"),
        slug=slug,
        name=f"Product {slug}",
        license_id=env.g.license_id,
        spec=spec or credit_spec(env),
        now=env.now,
    )


def approve_all(env: Env, product: Product, version: int) -> ProductVersion:
    row = catalog.version_row(env.session, product.id, version)
    for org in required_reviewers(env.session, row):
        who = env.who("bureau" if org == "bureau" else CDO_OF[org])
        row = catalog.review(env.session, who, product.id, version, decision="approve", now=env.now)
    return row


def listed(env: Env, spec: ProductSpec | None = None, *, slug: str = "credit") -> Product:
    product = create(env, spec, slug=slug)
    catalog.submit(env.session, env.who("operator"), product.id, 1, env.now)
    approve_all(env, product, 1)
    return catalog.list_product(env.session, env.who("bureau"), product.id, 1, env.now)


def subscribed(env: Env, product: Product, bank: str = "bank-a", **quotas: int) -> Subscription:
    sub = subscriptions.subscribe(
        env.session, env.who(bank), product.id, accept_terms=True, now=env.now
    )
    return subscriptions.decide(
        env.session, env.who("operator"), sub.id, approve=True, now=env.now, **quotas
    )


@dataclass
class Recorder:
    """Stands in for ``grants.computations.submit``: records each computation asked for."""

    asked: list[Computation] = field(default_factory=list)
    refuse: Callable[[Computation], Exception | None] = lambda _c: None

    def __call__(self, session: Session, who: Principal, c: Computation, **_: Any) -> Any:
        problem = self.refuse(c)
        if problem is not None:
            raise problem
        self.asked.append(c)
        return type("FakeJob", (), {"id": uuid.uuid4()})()


def jobs_of(env: Env, job_ids: list[str]) -> list[Job]:
    jobs = [env.session.get(Job, uuid.UUID(j)) for j in job_ids]
    assert all(j is not None for j in jobs)
    return [j for j in jobs if j is not None]


def finish(
    env: Env,
    call: ProductCall,
    results: list[dict[str, Any]],
    *,
    seconds: float = 1.5,
    failed: int | None = None,
) -> None:
    """Set the call's jobs to their end, as the coordinator's finalize would leave them."""
    start = env.now
    for n, (job, result) in enumerate(zip(jobs_of(env, call.job_ids), results, strict=True)):
        bad = n == failed
        job.state = JobState.FAILED.value if bad else JobState.SUCCEEDED.value
        job.result_json = None if bad else result
        job.error_code = "step.failed" if bad else None
        job.started_at, job.finished_at = start, start + dt.timedelta(seconds=seconds * 4)
        for step in job.steps:
            step.state = StepState.FAILED.value if bad else StepState.SUCCEEDED.value
            step.started_at, step.finished_at = start, start + dt.timedelta(seconds=seconds)
    env.session.flush()


def counts(items: int, matched: int, unauthorized: int = 2, rejected: int = 1) -> dict[str, Any]:
    return {
        "inputs": items + unauthorized + rejected,
        "rejected": rejected,
        "duplicates": 0,
        "items": items,
        "matched": matched,
        "match_rate": matched / items,
        "unauthorized": unauthorized,
        "transcript": [],
    }


def run_call(
    env: Env, product: Product, bank: str = "bank-a", **kw: Any
) -> Callable[[], ProductCall]:
    return lambda: calls.run(
        env.session,
        env.who(bank),
        product.id,
        input_dataset_id=(
            kw["input_dataset_id"]
            if "input_dataset_id" in kw
            else env.dataset(bank, "applicants").id
        ),
        reference_column=kw.get("reference_column", "authorization_ref"),
        signer=env.signer(),
        now=kw.get("now", env.now),
        sizing=SIZING,
    )


def applicant_rows(env: Env, bank: str = "bank-a") -> int:
    ds = env.dataset(bank, "applicants")
    version = env.session.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == ds.id, DatasetVersion.version == ds.current_version
        )
    )
    assert version is not None
    return version.row_count
