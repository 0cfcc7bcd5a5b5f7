"""Data zones, catalog review and the purpose list: each decision and its ledger entry, each
refusal with its code and no state changed, wrong roles, and the classification rules (exact
column set, valid sensitivities, one review per version, not-open and hard-blocked data never
grantable, only the current version counts)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import catalog_review, licenses, purposes, zones
from grants.models import CatalogReview, Zone
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Grade, Openness, Schema, Sensitivity
from sandbox.errors import SandboxError
from sandbox.ledger.models import LedgerEntry
from sandbox.parties.models import Organization
from tests import helpers
from tests.conftest import World
from tests.helpers import as_user

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
TABLES = (
    "zones",
    "zone_datasets",
    "zone_operators",
    "licenses",
    "catalog_reviews",
    "purposes",
    "datasets",
    "dataset_versions",
    "ledger_entries",
)
PROVIDER_DATASETS = {
    ("tax", "tax_ratings"),
    ("market", "enterprise_registry"),
    ("social", "social_insurance"),
    ("court", "judgments"),
}
NOBODY_BUT_THE_BUREAU = ["operator", "auditor", "tax-cdo", "bank-a"]


def last_entry(session: Session, object_id: str) -> LedgerEntry:
    entry = session.scalar(
        select(LedgerEntry)
        .where(LedgerEntry.object_id == object_id)
        .order_by(LedgerEntry.index.desc())
        .limit(1)
    )
    assert entry is not None, f"no ledger entry for {object_id}"
    return entry


def dataset(session: Session, domain: str, name: str) -> Dataset:
    found = session.scalar(
        select(Dataset).where(Dataset.name == name).where(Dataset.domain.has(name=domain))
    )
    assert found is not None, (domain, name)
    return found


def org(session: Session, slug: str) -> Organization:
    found = session.scalar(select(Organization).where(Organization.slug == slug))
    assert found is not None, slug
    return found


@pytest.fixture
def s(world: World) -> Iterator[Session]:
    with world.factory() as session:
        yield session


@pytest.fixture
def zone(s: Session) -> Zone:
    return zones.create_zone(
        s, as_user(s, "bureau"), slug="test-zone", name="Test zone", description="d", now=T0
    )


# --- zones ------------------------------------------------------------------------------


def test_create_zone(s: Session, zone: Zone) -> None:
    assert (zone.slug, zone.name, zone.created_at) == ("test-zone", "Test zone", T0)
    assert last_entry(s, "test-zone").action == "zone.created"
    for username in ("bank-a", "auditor", "operator", "tax-cdo", "bureau"):
        assert zone in zones.list_zones(s, as_user(s, username))


@pytest.mark.parametrize(
    ("slug", "name", "description", "code"),
    [
        ("Finance", "n", "", "zone.slug"),
        ("1finance", "n", "", "zone.slug"),
        ("fin_zone", "n", "", "zone.slug"),
        ("finance\n", "n", "", "zone.slug"),
        ("f" * 64, "n", "", "zone.slug"),
        ("", "n", "", "zone.slug"),
        ("finance-2", " ", "", "zone.name"),
        ("finance-2", "n" * 201, "", "zone.name"),
        ("finance-2", "n", "d" * 2001, "zone.description"),
        ("test-zone", "again", "", "zone.exists"),
    ],
)
def test_bad_zones(
    s: Session, zone: Zone, slug: str, name: str, description: str, code: str
) -> None:
    bureau = as_user(s, "bureau")
    refused(
        s,
        lambda: zones.create_zone(s, bureau, slug=slug, name=name, description=description, now=T0),
        code,
    )


@pytest.mark.parametrize("username", NOBODY_BUT_THE_BUREAU)
def test_only_the_bureau_manages_zones(s: Session, zone: Zone, username: str) -> None:
    who = as_user(s, username)
    tax = dataset(s, "tax", "tax_ratings").id
    operator = org(s, "operator").id
    zones.add_dataset(s, as_user(s, "bureau"), zone.id, tax, now=T0)
    calls: list[Callable[[], Any]] = [
        lambda: zones.create_zone(s, who, slug="z2", name="n", description="", now=T0),
        lambda: zones.add_dataset(s, who, zone.id, dataset(s, "court", "judgments").id, now=T0),
        lambda: zones.remove_dataset(s, who, zone.id, tax, now=T0),
        lambda: zones.add_operator(s, who, zone.id, operator, now=T0),
        lambda: zones.remove_operator(s, who, zone.id, operator, now=T0),
    ]
    for call in calls:
        refused(s, call, "forbidden.role")


def test_zone_datasets(s: Session, zone: Zone) -> None:
    bureau = as_user(s, "bureau")
    tax = dataset(s, "tax", "tax_ratings")
    assert zone.id not in zones.zone_of_dataset(s, tax.id)
    zones.add_dataset(s, bureau, zone.id, tax.id, now=T0)
    assert zone.id in zones.zone_of_dataset(s, tax.id)
    assert zones.zone_datasets(s, zone.id) == {tax.id}
    assert last_entry(s, "test-zone").action == "zone.dataset_added"
    refused(s, lambda: zones.add_dataset(s, bureau, zone.id, tax.id, now=T0), "zone.dataset_exists")
    applicants = dataset(s, "bank-a", "applicants").id
    refused(
        s,
        lambda: zones.add_dataset(s, bureau, zone.id, applicants, now=T0),
        "zone.dataset_not_public",
    )
    refused(
        s, lambda: zones.add_dataset(s, bureau, zone.id, uuid.uuid4(), now=T0), "dataset.not_found"
    )
    refused(s, lambda: zones.add_dataset(s, bureau, uuid.uuid4(), tax.id, now=T0), "zone.not_found")
    zones.remove_dataset(s, bureau, zone.id, tax.id, now=T0)
    assert zone.id not in zones.zone_of_dataset(s, tax.id)
    assert last_entry(s, "test-zone").action == "zone.dataset_removed"
    refused(
        s,
        lambda: zones.remove_dataset(s, bureau, zone.id, tax.id, now=T0),
        "zone.dataset_not_member",
    )


def test_zone_operators(s: Session, zone: Zone) -> None:
    bureau = as_user(s, "bureau")
    operator = org(s, "operator").id
    zones.add_operator(s, bureau, zone.id, operator, now=T0)
    assert zones.zone_operators(s, zone.id) == {operator}
    assert last_entry(s, "test-zone").action == "zone.operator_added"
    refused(
        s, lambda: zones.add_operator(s, bureau, zone.id, operator, now=T0), "zone.operator_exists"
    )
    bank = org(s, "bank-a").id
    refused(s, lambda: zones.add_operator(s, bureau, zone.id, bank, now=T0), "zone.not_operator")
    refused(
        s,
        lambda: zones.add_operator(s, bureau, zone.id, uuid.uuid4(), now=T0),
        "organization.not_found",
    )
    zones.remove_operator(s, bureau, zone.id, operator, now=T0)
    assert zones.zone_operators(s, zone.id) == set()
    assert last_entry(s, "test-zone").action == "zone.operator_removed"
    refused(
        s, lambda: zones.remove_operator(s, bureau, zone.id, operator, now=T0), "zone.not_member"
    )


def test_a_licensed_operator_is_removed_only_after_revocation(s: Session, zone: Zone) -> None:
    bureau = as_user(s, "bureau")
    until = T0 + dt.timedelta(days=30)
    lic = licenses.apply(
        s,
        as_user(s, "operator"),
        zone_id=zone.id,
        scope="s",
        qualifications="q",
        valid_from=T0,
        valid_until=until,
        now=T0,
    )
    licenses.issue(s, bureau, lic.id, now=T0)

    def remove(now: dt.datetime = T0) -> None:
        zones.remove_operator(s, bureau, zone.id, lic.operator_id, now=now)

    refused(s, remove, "zone.operator_licensed")
    licenses.suspend(s, bureau, lic.id, reason="r", now=T0)
    refused(s, remove, "zone.operator_licensed")
    remove(until)  # expired: no longer live
    zones.add_operator(s, bureau, zone.id, lic.operator_id, now=T0)
    licenses.revoke(s, bureau, lic.id, reason="r", now=T0)
    remove()
    assert zones.zone_operators(s, zone.id) == set()


# --- catalog review ---------------------------------------------------------------------


def fresh_version(s: Session, ds: Dataset) -> DatasetVersion:
    """Load a new version of ``ds`` (a copy of the current one's metadata): it is unreviewed,
    whatever the demo seed reviewed."""
    current = s.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == ds.id, DatasetVersion.version == ds.current_version
        )
    )
    assert current is not None
    version = DatasetVersion(
        dataset_id=ds.id,
        version=ds.current_version + 1,
        schema_json=current.schema_json,
        row_count=current.row_count,
        rejected_count=current.rejected_count,
        fingerprint=f"test-{uuid.uuid4().hex}",
        source_encoding=current.source_encoding,
        quality_json=current.quality_json,
        loaded_at=T0,
    )
    s.add(version)
    ds.current_version = version.version
    s.flush()
    return version


def declared(version: DatasetVersion) -> dict[str, str]:
    schema = Schema.model_validate(version.schema_json)
    return {c.name: c.sensitivity.value for c in schema.columns}


def review(s: Session, ds: Dataset, **overrides: Any) -> CatalogReview:
    version = s.scalar(
        select(DatasetVersion).where(
            DatasetVersion.dataset_id == ds.id, DatasetVersion.version == ds.current_version
        )
    )
    assert version is not None
    args: dict[str, Any] = {
        "openness": Openness.CONDITIONAL,
        "grade": Grade.IMPORTANT,
        "sensitivities": declared(version),
        "note": "confirmed",
        "now": T0,
    }
    return catalog_review.review(s, as_user(s, "bureau"), ds.id, **(args | overrides))


def test_pending_reviews(s: Session) -> None:
    tax = dataset(s, "tax", "tax_ratings")
    fresh_version(s, tax)
    for username in ("bureau", "auditor"):
        pending = catalog_review.pending_reviews(s, as_user(s, username))
        names = {(e.dataset.domain.name, e.dataset.name) for e in pending}
        assert ("tax", "tax_ratings") in names
        assert names <= PROVIDER_DATASETS  # a bank's own lists are not public data
    for cdo, domain in (("tax-cdo", "tax"), ("market-cdo", "market")):
        mine = catalog_review.pending_reviews(s, as_user(s, cdo))
        assert {e.dataset.domain.name for e in mine} <= {domain}
    mine = catalog_review.pending_reviews(s, as_user(s, "tax-cdo"))
    assert ("tax_ratings", tax.current_version) in {
        (e.dataset.name, e.version.version) for e in mine
    }
    for username in ("operator", "bank-a"):
        assert catalog_review.pending_reviews(s, as_user(s, username)) == []
    review(s, tax)
    bureau_pending = catalog_review.pending_reviews(s, as_user(s, "bureau"))
    assert tax.id not in {e.dataset.id for e in bureau_pending}


def test_review_confirms_the_declaration(s: Session) -> None:
    tax = dataset(s, "tax", "tax_ratings")
    version = fresh_version(s, tax)
    assert catalog_review.classification(s, tax.id) is None
    row = review(s, tax)
    assert (row.version, row.reviewed_by) == (version.version, as_user(s, "bureau").user_id)
    cls = catalog_review.classification(s, tax.id)
    assert cls is not None and cls.reviewed
    assert (cls.dataset_id, cls.version, cls.openness, cls.grade) == (
        tax.id,
        version.version,
        Openness.CONDITIONAL,
        Grade.IMPORTANT,
    )
    assert cls.sensitivities["tax_paid_last_year"] is Sensitivity.TRADE_SECRET
    grantable = catalog_review.grantable_columns(cls)
    assert "tax_paid_last_year" not in grantable  # trade secret: hard-blocked
    assert grantable == set(declared(version)) - {"tax_paid_last_year"}
    entry = last_entry(s, str(tax.id))
    assert entry.action == "catalog.reviewed"
    assert b'"changed_columns":[]' in entry.body


def test_the_bureau_may_change_anything(s: Session) -> None:
    market = dataset(s, "market", "enterprise_registry")
    version = fresh_version(s, market)
    sensitivities = declared(version) | {"legal_rep_name": "personal_sensitive"}
    review(s, market, openness=Openness.OPEN, grade=Grade.CORE, sensitivities=sensitivities)
    cls = catalog_review.classification(s, market.id)
    assert cls is not None and (cls.openness, cls.grade) == (Openness.OPEN, Grade.CORE)
    grantable = catalog_review.grantable_columns(cls)
    assert {"legal_rep_name", "legal_rep_id"}.isdisjoint(grantable)
    assert {"credit_code", "status"} <= grantable
    assert (market.openness, market.grade) == ("open", "core")  # the catalog follows the bureau
    body = last_entry(s, str(market.id)).body
    assert b'"column":"legal_rep_name","declared":"personal","reviewed":"personal_sensitive"' in (
        body
    )
    assert b'"declared":{"grade":"important","openness":"conditional"}' in body


def test_a_closed_dataset_has_no_grantable_columns(s: Session) -> None:
    social = dataset(s, "social", "social_insurance")
    version = fresh_version(s, social)
    public = {c: "public" for c in declared(version)}
    review(s, social, openness=Openness.CLOSED, sensitivities=public)
    cls = catalog_review.classification(s, social.id)
    assert cls is not None and cls.openness is Openness.CLOSED
    assert catalog_review.grantable_columns(cls) == frozenset()


def test_only_the_current_version_counts(s: Session) -> None:
    court = dataset(s, "court", "judgments")
    fresh_version(s, court)
    review(s, court)
    reviewed = catalog_review.classification(s, court.id)
    assert reviewed is not None
    fresh_version(s, court)
    assert catalog_review.classification(s, court.id) is None
    assert court.id in {
        e.dataset.id for e in catalog_review.pending_reviews(s, as_user(s, "bureau"))
    }


def test_bad_reviews_change_nothing(s: Session) -> None:
    tax = dataset(s, "tax", "tax_ratings")
    version = fresh_version(s, tax)
    ok = declared(version)
    missing = {c: v for c, v in ok.items() if c != "arrears"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"sensitivities": missing}, "catalog.columns"),
        ({"sensitivities": ok | {"ghost": "public"}}, "catalog.columns"),
        ({"sensitivities": {}}, "catalog.columns"),
        ({"sensitivities": ok | {"arrears": "secret-ish"}}, "catalog.sensitivity"),
        ({"sensitivities": ok | {"arrears": "PUBLIC"}}, "catalog.sensitivity"),
        ({"openness": "public"}, "catalog.openness"),
        ({"grade": "top"}, "catalog.grade"),
        ({"note": "n" * 2001}, "catalog.note"),
    ]
    for overrides, code in cases:
        refused(s, partial(review, s, tax, **overrides), code)
    review(s, tax)
    refused(s, lambda: review(s, tax), "catalog.already_reviewed")


def test_review_refusals(s: Session) -> None:
    applicants = dataset(s, "bank-a", "applicants")
    refused(
        s,
        lambda: catalog_review.review(
            s,
            as_user(s, "bureau"),
            applicants.id,
            openness=Openness.CLOSED,
            grade=Grade.GENERAL,
            sensitivities={},
            note="",
            now=T0,
        ),
        "catalog.not_public_data",
    )
    refused(
        s,
        lambda: catalog_review.review(
            s,
            as_user(s, "bureau"),
            uuid.uuid4(),
            openness=Openness.OPEN,
            grade=Grade.GENERAL,
            sensitivities={},
            note="",
            now=T0,
        ),
        "dataset.not_found",
    )
    tax = dataset(s, "tax", "tax_ratings")
    version = fresh_version(s, tax)
    for username in NOBODY_BUT_THE_BUREAU:
        who = as_user(s, username)
        refused(
            s,
            partial(
                catalog_review.review,
                s,
                who,
                tax.id,
                openness=Openness.CONDITIONAL,
                grade=Grade.IMPORTANT,
                sensitivities=declared(version),
                note="",
                now=T0,
            ),
            "forbidden.role",
        )


# --- purposes ---------------------------------------------------------------------------


def test_purposes(s: Session) -> None:
    bureau = as_user(s, "bureau")
    before = {p.code for p in purposes.active_purposes(s)}
    purpose = purposes.add_purpose(
        s, bureau, code="test.sme-credit_v1", label=" SME credit assessment ", now=T0
    )
    assert (purpose.label, purpose.active) == ("SME credit assessment", True)
    assert {p.code for p in purposes.active_purposes(s)} == before | {"test.sme-credit_v1"}
    assert last_entry(s, "test.sme-credit_v1").action == "purpose.added"
    purposes.deactivate(s, bureau, "test.sme-credit_v1", now=T0)
    assert {p.code for p in purposes.active_purposes(s)} == before
    assert last_entry(s, "test.sme-credit_v1").action == "purpose.deactivated"
    refused(
        s, lambda: purposes.deactivate(s, bureau, "test.sme-credit_v1", now=T0), "purpose.inactive"
    )
    refused(s, lambda: purposes.deactivate(s, bureau, "test.nope", now=T0), "purpose.not_found")


@pytest.mark.parametrize(
    ("code", "label", "error"),
    [
        ("SME", "l", "purpose.code"),
        ("1sme", "l", "purpose.code"),
        ("sme credit", "l", "purpose.code"),
        ("s" * 65, "l", "purpose.code"),
        ("sme\n", "l", "purpose.code"),
        ("test.ok", "", "purpose.label"),
        ("test.ok", "l" * 201, "purpose.label"),
        ("test.dup", "l", "purpose.exists"),
    ],
)
def test_bad_purposes(s: Session, code: str, label: str, error: str) -> None:
    bureau = as_user(s, "bureau")
    purposes.add_purpose(s, bureau, code="test.dup", label="l", now=T0)
    refused(s, lambda: purposes.add_purpose(s, bureau, code=code, label=label, now=T0), error)


@pytest.mark.parametrize("username", NOBODY_BUT_THE_BUREAU)
def test_only_the_bureau_keeps_the_purpose_list(s: Session, username: str) -> None:
    purposes.add_purpose(s, as_user(s, "bureau"), code="test.p", label="l", now=T0)
    who = as_user(s, username)
    refused(
        s, lambda: purposes.add_purpose(s, who, code="test.q", label="l", now=T0), "forbidden.role"
    )
    refused(s, lambda: purposes.deactivate(s, who, "test.p", now=T0), "forbidden.role")


def snapshot(session: Session) -> dict[str, list[str]]:
    return helpers.snapshot(session, TABLES)


def refused(session: Session, call: Callable[[], Any], code: str) -> SandboxError:
    return helpers.refused(session, call, code, tables=TABLES)
