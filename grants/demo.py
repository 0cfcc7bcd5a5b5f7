"""The demo's governance: the finance zone, purposes, the bureau's review of every provider
dataset, one licensed operator, an approved grant (the credit-check signals) and a pending one
(court judgments, awaiting the court's CDO). Made through the same services the screens use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import catalog_review, contributions, licenses, purposes, reviews, zones
from grants.applications import apply
from grants.terms import DatasetColumns, Kind, Terms
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Grade, Openness, Schema
from sandbox.domains.models import Domain
from sandbox.parties.models import User
from sandbox.parties.principal import Principal

PURPOSE = "sme_credit_assessment"
SIGNALS = {
    "tax_ratings": ("credit_code", "tax_credit_grade", "arrears"),
    "social_insurance": ("credit_code", "insured_headcount", "contribution_arrears_months"),
    "enterprise_registry": ("credit_code", "status", "established_on", "industry"),
}
# Encrypted aggregates: group by industry or legal form and add up registered capital; or add
# it up over a bank's applicants (intersection_sum).
STATISTICS = {
    "enterprise_registry": ("credit_code", "industry", "legal_form", "registered_capital"),
}


@dataclass(frozen=True, slots=True)
class DemoGovernance:
    zone_id: UUID
    license_id: UUID
    approved_grant_id: UUID
    pending_grant_id: UUID
    statistics_grant_id: UUID


def _principal(session: Session, username: str) -> Principal:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise LookupError(f"demo account {username} is missing")
    return Principal.of(user)


def _datasets(session: Session) -> dict[str, tuple[UUID, Schema]]:
    rows = session.execute(
        select(Dataset.id, Dataset.name, DatasetVersion.schema_json)
        .join(
            DatasetVersion,
            (DatasetVersion.dataset_id == Dataset.id)
            & (DatasetVersion.version == Dataset.current_version),
        )
        .join(Domain, Domain.id == Dataset.domain_id)
        .where(Domain.name.in_(["tax", "market", "social", "court"]))
    ).all()
    return {name: (ds_id, Schema.model_validate(schema)) for ds_id, name, schema in rows}


def seed_governance(session: Session, *, now: dt.datetime) -> DemoGovernance:
    bureau, operator = _principal(session, "bureau"), _principal(session, "operator")
    purposes.add_purpose(
        session, bureau, code=PURPOSE, label="SME credit assessment 小微企业信用评估", now=now
    )
    purposes.add_purpose(
        session,
        bureau,
        code="insurance_underwriting",
        label="Insurance underwriting 保险核保",
        now=now,
    )
    zone = zones.create_zone(
        session,
        bureau,
        slug="finance",
        name="Finance zone 金融公共数据专区",
        description="Public data for lending to small and micro enterprises.",
        now=now,
    )
    datasets = _datasets(session)
    for ds_id, schema in datasets.values():
        catalog_review.review(
            session,
            bureau,
            ds_id,
            openness=Openness(schema.openness),
            grade=Grade(schema.grade),
            sensitivities={c.name: c.sensitivity.value for c in schema.columns},
            note="Classification confirmed as declared.",
            now=now,
        )
        zones.add_dataset(session, bureau, zone.id, ds_id, now=now)
    lic = licenses.apply(
        session,
        operator,
        zone_id=zone.id,
        scope="Credit signals for SME lending in the zone",
        qualifications="Level-3 classified protection (等保三级); ISO/IEC 27001",
        valid_from=now - dt.timedelta(days=1),
        valid_until=now + dt.timedelta(days=365),
        now=now,
    )
    licenses.issue(session, bureau, lic.id, reason="Admitted after qualification review.", now=now)
    start, end = now - dt.timedelta(hours=1), now + dt.timedelta(days=180)
    approved = apply(
        session,
        operator,
        license_id=lic.id,
        justification="Signals for the SME credit check.",
        terms=Terms(
            datasets=tuple(
                DatasetColumns(dataset_id=datasets[name][0], columns=cols)
                for name, cols in SIGNALS.items()
            ),
            kinds=(Kind.LOOKUP, Kind.PSI_INTERSECTION, Kind.PSI_CARDINALITY),
            purpose=PURPOSE,
            purpose_text="Banks check loan applicants who authorized the query.",
            recipients=("bank-a", "bank-b"),
            calls_per_day=200,
            rows_per_call=10_000,
            min_cohort=10,
            min_set_size=20,
            epsilon_budget=5.0,
            valid_from=start,
            valid_until=end,
        ),
        now=now,
    )
    reviews.review(session, bureau, approved.id, decision="approve", now=now)
    for cdo in ("tax-cdo", "social-cdo", "market-cdo"):
        reviews.review(session, _principal(session, cdo), approved.id, decision="approve", now=now)
    pending = apply(
        session,
        operator,
        license_id=lic.id,
        justification="Court-judgment flag for the credit check.",
        terms=Terms(
            datasets=(
                DatasetColumns(
                    dataset_id=datasets["judgments"][0], columns=("credit_code", "dishonest_debtor")
                ),
            ),
            kinds=(Kind.LOOKUP,),
            purpose=PURPOSE,
            recipients=("bank-a", "bank-b"),
            calls_per_day=100,
            rows_per_call=10_000,
            valid_from=start,
            valid_until=end,
        ),
        now=now,
    )
    reviews.review(session, bureau, pending.id, decision="approve", now=now)
    statistics = apply(
        session,
        operator,
        license_id=lic.id,
        justification="Sector statistics for SME lending, through the output gate.",
        terms=Terms(
            datasets=tuple(
                DatasetColumns(dataset_id=datasets[name][0], columns=cols)
                for name, cols in STATISTICS.items()
            ),
            kinds=(Kind.AGGREGATE, Kind.SECURE_SUM, Kind.INTERSECTION_SUM),
            purpose=PURPOSE,
            purpose_text=(
                "Per-industry totals and means, the registered capital of a bank's "
                "applicants as one sum, and each applicant's outstanding loans at the other "
                "banks (多头借贷) where at least two lend; groups under 10 firms are suppressed."
            ),
            recipients=("bank-a", "bank-b", "bank-c"),
            calls_per_day=50,
            rows_per_call=10_000,
            min_cohort=10,
            min_set_size=20,
            epsilon_budget=10.0,
            valid_from=start,
            valid_until=end,
        ),
        now=now,
    )
    reviews.review(session, bureau, statistics.id, decision="approve", now=now)
    reviews.review(
        session, _principal(session, "market-cdo"), statistics.id, decision="approve", now=now
    )
    # Each bank consents to add its loan book to secure sums under the statistics grant: the
    # multi-lender exposure total (多头借贷) across the banks (a bank asking about its own
    # applicants counts the other two).
    for bank in ("bank-a", "bank-b", "bank-c"):
        book = next(
            d
            for d in session.scalars(select(Dataset).where(Dataset.name == "loan_book"))
            if d.domain.name == bank
        )
        contributions.consent(
            session,
            _principal(session, bank),
            statistics.id,
            book.id,
            ("credit_code", "outstanding_balance"),
            now=now,
        )
    return DemoGovernance(zone.id, lic.id, approved.id, pending.id, statistics.id)
