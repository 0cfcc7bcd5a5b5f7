"""The demo's data products, made through the same services the screens use.

- "SME credit check 小微企业信用核查": private lookups of derived labels from the tax,
  social-insurance and enterprise-registry datasets of the approved grant (court judgments are
  on a pending grant, so they are left out). Submitted for review; the three departments' CDOs
  approve; the bureau's approval (and listing) is left for the demo's visitor.
- "Multi-lender exposure 多头借贷总额": a per-applicant secure sum of the other banks'
  consented loan books under the statistics grant, reviewed, approved and listed; bank-a is
  subscribed.

The banks register their applicants' authorizations (on the enterprises' behalf, as a bank
does in the demo), except every 25th applicant (from the 5th), so that a call shows
"unauthorized" rows. The control side never opens a bank's domain store: like
``sandbox.demo.seed``, this regenerates the same deterministic world files in a temporary
directory and reads the applicant lists there (the bank's own copy of its own list).
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants.demo import PURPOSE, DemoGovernance
from products import authorizations, catalog, subscriptions
from products.spec import ExposureSpec, LabelSpec, ProductSpec, SourceSpec
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.demo.world import DEFAULT_ENTERPRISES, DEFAULT_SEED, write_world
from sandbox.domains.models import Domain
from sandbox.identifiers import IdentifierKind, check
from sandbox.parties.models import User
from sandbox.parties.principal import Principal

BANKS = ("bank-a", "bank-b")
UNAUTHORIZED_EVERY = 25  # every 25th applicant, from the 5th, has no authorization on file
UNAUTHORIZED_FIRST = 5  # so that even the small test world (about 15 applicants) has one
REFERENCE_COLUMN = "authorization_ref"
CREDIT_CHECK_SLUG = "sme-credit-check"
EXPOSURE_SLUG = "multi-lender-exposure"

TAX_LABELS = (
    LabelSpec(
        name="tax_grade_band",
        column="tax_credit_grade",
        rule="map",
        mapping={"A": "good", "B": "good", "C": "fair", "D": "poor", "M": "new"},
    ),
    LabelSpec(name="arrears_flag", column="arrears", rule="flag"),
)
SOCIAL_LABELS = (
    LabelSpec(
        name="headcount_band",
        column="insured_headcount",
        rule="bands",
        edges=[10, 50, 100],
        labels=["<10", "10-49", "50-99", "100+"],
    ),
    LabelSpec(name="contribution_arrears_flag", column="contribution_arrears_months", rule="flag"),
)
REGISTRY_LABELS = (
    LabelSpec(
        name="registration_status",
        column="status",
        rule="map",
        mapping={"存续": "active", "在业": "active", "吊销": "closed", "注销": "closed"},
    ),
)


@dataclass(frozen=True, slots=True)
class DemoProducts:
    credit_check_id: UUID
    exposure_id: UUID
    authorizations: dict[str, int]  # bank slug -> authorizations registered


def left_unauthorized(n: int) -> bool:
    """Whether the ``n``-th applicant (from 1, in file order) has no authorization on file."""
    return n % UNAUTHORIZED_EVERY == UNAUTHORIZED_FIRST


def _principal(session: Session, username: str) -> Principal:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise LookupError(f"demo account {username} is missing")
    return Principal.of(user)


def _dataset(session: Session, domain: str, name: str) -> Dataset:
    found = session.scalar(
        select(Dataset)
        .join(Domain, Domain.id == Dataset.domain_id)
        .where(Domain.name == domain, Dataset.name == name)
    )
    if found is None:
        raise LookupError(f"demo dataset {domain}/{name} is missing")
    return found


def credit_check_spec(session: Session, governance: DemoGovernance) -> ProductSpec:
    grant = governance.approved_grant_id
    sources = (
        ("tax", "tax_ratings", ("credit_code", "tax_credit_grade", "arrears"), TAX_LABELS),
        (
            "social",
            "social_insurance",
            ("credit_code", "insured_headcount", "contribution_arrears_months"),
            SOCIAL_LABELS,
        ),
        ("market", "enterprise_registry", ("credit_code", "status"), REGISTRY_LABELS),
    )
    return ProductSpec(
        title="SME credit check 小微企业信用核查",
        description=(
            "For each loan applicant who authorized the check: the tax-grade band, tax arrears "
            "yes/no, the insured-headcount band, social-insurance arrears yes/no and the "
            "registration status, derived inside each department's domain. Raw values never "
            "leave; the departments learn only how many applicants were checked."
        ),
        purpose=PURPOSE,
        kind="credit_check",
        sources=tuple(
            SourceSpec(
                grant_id=grant,
                dataset_id=_dataset(session, domain, name).id,
                columns=columns,
                labels=labels,
            )
            for domain, name, columns, labels in sources
        ),
        consumers=BANKS,
        price_per_call_fen=200,
        price_per_identifier_fen=50,
        operator_fee_share=0.3,
        terms_text=(
            "Only for assessing SME loan applications; only applicants who authorized the "
            "check (授权查询) are queried. Results stay in the bank's domain."
        ),
    )


def exposure_spec(governance: DemoGovernance) -> ProductSpec:
    return ProductSpec(
        title="Multi-lender exposure 多头借贷总额",
        description=(
            "For each applicant, the total outstanding SME loans at the other participating "
            "banks, as a Paillier-encrypted sum: released only when at least two of them lend "
            "to the applicant. No bank's own exposure is revealed."
        ),
        purpose=PURPOSE,
        kind="exposure",
        exposure=ExposureSpec(
            grant_id=governance.statistics_grant_id,
            value_column="outstanding_balance",
            min_contributors=2,
        ),
        consumers=BANKS,
        price_per_call_fen=500,
        price_per_identifier_fen=20,
        operator_fee_share=0.3,
        terms_text=(
            "Only for assessing SME loan applications; only applicants who authorized the "
            "check are queried. A total covers at least two lenders and never the caller's "
            "own loans."
        ),
    )


def _applicant_rows(
    session: Session, bank: str, files: dict[tuple[str, str], Path]
) -> list[dict[str, str]]:
    path = files[(bank, "applicants")]
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # The regenerated list must be the one the bank loaded (same seed, same size).
    version = session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.dataset_id == _dataset(session, bank, "applicants").id)
        .order_by(DatasetVersion.version.desc())
    )
    if version is None or version.row_count + version.rejected_count != len(rows):
        raise ValueError(f"{bank}'s applicants were generated with another seed or size")
    return rows


def register_authorizations(
    session: Session,
    *,
    now: dt.datetime,
    enterprises: int = DEFAULT_ENTERPRISES,
    seed: int = DEFAULT_SEED,
) -> dict[str, int]:
    """Each bank registers its applicants' authorizations, leaving out every 25th (the 5th,
    the 30th, …)."""
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        written = write_world(Path(tmp), seed=seed, enterprises=enterprises)
        files = {(item.domain, item.name): item.csv_path for item in written}
        for bank in BANKS:
            who = _principal(session, bank)
            counts[bank] = 0
            for n, row in enumerate(_applicant_rows(session, bank, files), start=1):
                code = check(IdentifierKind.CREDIT_CODE, row["credit_code"]).value
                if left_unauthorized(n) or code is None:
                    continue
                authorizations.register(
                    session,
                    who,
                    credit_code=code,
                    reference=row[REFERENCE_COLUMN],
                    valid_until=now + dt.timedelta(days=365),
                    now=now,
                )
                counts[bank] += 1
    return counts


def seed_products(
    session: Session,
    *,
    now: dt.datetime,
    governance: DemoGovernance,
    enterprises: int = DEFAULT_ENTERPRISES,
) -> DemoProducts:
    operator, bureau = _principal(session, "operator"), _principal(session, "bureau")
    credit = catalog.create_product(
        session,
        operator,
        slug=CREDIT_CHECK_SLUG,
        name="SME credit check 小微企业信用核查",
        license_id=governance.license_id,
        spec=credit_check_spec(session, governance),
        now=now,
    )
    catalog.submit(session, operator, credit.id, 1, now)
    for cdo in ("tax-cdo", "social-cdo", "market-cdo"):
        catalog.review(session, _principal(session, cdo), credit.id, 1, decision="approve", now=now)
    exposure = catalog.create_product(
        session,
        operator,
        slug=EXPOSURE_SLUG,
        name="Multi-lender exposure 多头借贷总额",
        license_id=governance.license_id,
        spec=exposure_spec(governance),
        now=now,
    )
    catalog.submit(session, operator, exposure.id, 1, now)
    catalog.review(session, bureau, exposure.id, 1, decision="approve", now=now)
    catalog.list_product(session, bureau, exposure.id, 1, now)
    bank_a = _principal(session, "bank-a")
    sub = subscriptions.subscribe(session, bank_a, exposure.id, accept_terms=True, now=now)
    subscriptions.decide(session, operator, sub.id, approve=True, now=now)
    counts = register_authorizations(session, now=now, enterprises=enterprises)
    return DemoProducts(credit.id, exposure.id, counts)
