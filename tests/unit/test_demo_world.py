"""The demo world: parties are consistent, files load, data is deterministic and realistic."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from sandbox.datasets.schema import ColumnType, Schema, load_schema_text
from sandbox.demo.world import (
    ACCOUNTS,
    DATA_DOMAINS,
    ORGANIZATIONS,
    REFERENCE_DATE,
    DatasetFile,
    write_world,
)
from sandbox.identifiers import IdentifierKind, check

ENTERPRISES = 600


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> list[DatasetFile]:
    return write_world(tmp_path_factory.mktemp("world"), enterprises=ENTERPRISES)


def _rows(ds: DatasetFile) -> tuple[list[str], list[dict[str, str]]]:
    with ds.csv_path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def _schema(ds: DatasetFile) -> Schema:
    return load_schema_text(ds.schema_path.read_text(encoding="utf-8"))


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _codes(ds: DatasetFile) -> set[str]:
    out = set()
    for row in _rows(ds)[1]:
        checked = check(IdentifierKind.CREDIT_CODE, row["credit_code"])
        if checked.value is not None:
            out.add(checked.value)
    return out


def _find(world: list[DatasetFile], domain: str, name: str) -> DatasetFile:
    return next(ds for ds in world if ds.domain == domain and ds.name == name)


def test_every_expected_dataset_is_written(world: list[DatasetFile]) -> None:
    assert {(ds.domain, ds.name) for ds in world} == {
        ("tax", "tax_ratings"),
        ("market", "enterprise_registry"),
        ("social", "social_insurance"),
        ("court", "judgments"),
        ("bank-a", "applicants"),
        ("bank-a", "loan_book"),
        ("bank-b", "applicants"),
        ("bank-b", "loan_book"),
        ("bank-c", "loan_book"),
    }
    for ds in world:
        assert ds.csv_path.name == f"{ds.name}.csv"
        assert ds.schema_path.name == f"{ds.name}.schema.yaml"
        assert ds.csv_path.parent.name == ds.domain
        assert (ds.domain, ds.org_slug) in DATA_DOMAINS


def test_schemas_parse_and_match_the_csv_header(world: list[DatasetFile]) -> None:
    for ds in world:
        schema = _schema(ds)
        header, rows = _rows(ds)
        assert schema.name == ds.name
        assert schema.title
        assert schema.description
        assert list(schema.column_names) == header
        assert rows, ds.name
        if any(c.type is ColumnType.DATE for c in schema.columns):
            assert schema.freshness_column is not None


def test_csv_is_utf8_with_unix_line_endings(world: list[DatasetFile]) -> None:
    for ds in world:
        data = ds.csv_path.read_bytes()
        data.decode("utf-8")
        assert b"\r\n" not in data
        assert data.endswith(b"\n")


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    write_world(tmp_path / "a", seed=7, enterprises=ENTERPRISES)
    write_world(tmp_path / "b", seed=7, enterprises=ENTERPRISES)
    write_world(tmp_path / "c", seed=8, enterprises=ENTERPRISES)
    a, b, c = _tree(tmp_path / "a"), _tree(tmp_path / "b"), _tree(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys()
    for name, data in a.items():
        if name.endswith(".csv"):
            assert data != c[name], name


def test_identifiers_are_nearly_all_valid_with_a_few_rejections(
    world: list[DatasetFile],
) -> None:
    total = invalid = messy = 0
    for ds in world:
        schema = _schema(ds)
        assert schema.identifier.kind is IdentifierKind.CREDIT_CODE
        rows = _rows(ds)[1]
        bad = 0
        for row in rows:
            raw = row[schema.identifier.column]
            checked = check(schema.identifier.kind, raw)
            if checked.value is None:
                bad += 1
            elif checked.value != raw:
                messy += 1
        assert 0 < bad < 0.05 * len(rows), ds.name
        total += len(rows)
        invalid += bad
    assert 0 < invalid / total < 0.05
    assert 0 < messy / total < 0.05


def test_legal_representatives_have_valid_resident_ids(world: list[DatasetFile]) -> None:
    rows = _rows(_find(world, "market", "enterprise_registry"))[1]
    for row in rows:
        assert check(IdentifierKind.RESIDENT_ID, row["legal_rep_id"]).value == row["legal_rep_id"]


def test_values_fit_their_declared_types(world: list[DatasetFile]) -> None:
    for ds in world:
        schema = _schema(ds)
        for row in _rows(ds)[1]:
            for col in schema.columns:
                value = row[col.name]
                if col.required:
                    assert value != "", (ds.name, col.name)
                if value == "":
                    continue
                if col.type is ColumnType.CATEGORY:
                    assert col.values is not None
                    assert value in col.values, (ds.name, col.name, value)
                elif col.type is ColumnType.BOOLEAN:
                    assert value in ("true", "false")
                elif col.type is ColumnType.INTEGER:
                    assert int(value) >= 0
                elif col.type is ColumnType.DECIMAL:
                    assert float(value) >= 0
                elif col.type is ColumnType.DATE:
                    assert dt.date.fromisoformat(value) <= REFERENCE_DATE


def test_dataset_coverage_of_the_population(world: list[DatasetFile]) -> None:
    population = _codes(_find(world, "market", "enterprise_registry"))
    assert len(population) > 0.97 * ENTERPRISES
    share = {
        name: len(_codes(_find(world, domain, name))) / ENTERPRISES
        for domain, name in (
            ("tax", "tax_ratings"),
            ("social", "social_insurance"),
            ("court", "judgments"),
        )
    }
    assert 0.8 < share["tax_ratings"] < 0.97
    assert 0.75 < share["social_insurance"] < 0.95
    assert 0.05 < share["judgments"] < 0.3
    for bank in ("bank-a", "bank-b"):
        applicants = _codes(_find(world, bank, "applicants"))
        inside = applicants & population
        assert len(inside) > 0.9 * len(applicants)
        assert applicants - population, "a few applicants come from outside the population"


def test_authorization_refs_name_the_bank(world: list[DatasetFile]) -> None:
    for bank, letter in (("bank-a", "A"), ("bank-b", "B")):
        refs = [r["authorization_ref"] for r in _rows(_find(world, bank, "applicants"))[1]]
        assert len(set(refs)) == len(refs)
        assert all(ref.startswith(f"AUTH-{letter}-") and len(ref) == 13 for ref in refs)


def test_the_banks_loan_books_overlap(world: list[DatasetFile]) -> None:
    a = _codes(_find(world, "bank-a", "loan_book"))
    b = _codes(_find(world, "bank-b", "loan_book"))
    assert a & b
    assert a - b
    assert b - a


def test_many_of_a_banks_applicants_borrow_from_both_other_banks(
    world: list[DatasetFile],
) -> None:
    """The multi-lender exposure (k = 2, a bank never counting its own book) has applicants to
    release and applicants to suppress; bank-c has a few borrowers with two loans."""
    books = {
        bank: _codes(_find(world, bank, "loan_book")) for bank in ("bank-a", "bank-b", "bank-c")
    }
    for asking, others in (("bank-a", ("bank-b", "bank-c")), ("bank-b", ("bank-a", "bank-c"))):
        applicants = _codes(_find(world, asking, "applicants"))
        both = applicants & books[others[0]] & books[others[1]]
        one = applicants & (books[others[0]] ^ books[others[1]])
        assert len(both) >= 0.1 * len(applicants), asking
        assert one, asking
    rows = _rows(_find(world, "bank-c", "loan_book"))[1]
    codes = [check(IdentifierKind.CREDIT_CODE, r["credit_code"]).value for r in rows]
    valid = [c for c in codes if c is not None]
    assert len(set(valid)) < len(valid)
    assert not any(ds.domain == "bank-c" and ds.name == "applicants" for ds in world)


def test_at_least_one_hard_blocked_column(world: list[DatasetFile]) -> None:
    blocked = [
        (ds.name, c.name) for ds in world for c in _schema(ds).columns if c.sensitivity.hard_blocked
    ]
    assert blocked
    # the identifier itself is never blocked, or nothing could be matched
    for ds in world:
        schema = _schema(ds)
        assert not schema.column(schema.identifier.column).sensitivity.hard_blocked


def test_data_domains_belong_to_providers_and_banks() -> None:
    orgs = {o.slug: o for o in ORGANIZATIONS}
    assert len(orgs) == len(ORGANIZATIONS)
    for domain, slug in DATA_DOMAINS:
        assert slug in orgs
        assert orgs[slug].kind in ("provider", "bank")
        assert domain == slug
    data_holders = {o.slug for o in ORGANIZATIONS if o.kind in ("provider", "bank")}
    assert {slug for _, slug in DATA_DOMAINS} == data_holders


def test_organizations_and_accounts_are_consistent() -> None:
    orgs = {o.slug: o for o in ORGANIZATIONS}
    kinds = {o.kind for o in ORGANIZATIONS}
    assert kinds == {"bureau", "provider", "operator", "bank", "auditor"}
    assert {
        "bureau",
        "tax",
        "market",
        "social",
        "court",
        "operator",
        "bank-a",
        "bank-b",
        "bank-c",
        "auditor",
    } <= orgs.keys()
    usernames = [a.username for a in ACCOUNTS]
    assert len(set(usernames)) == len(usernames)
    assert all(u == u.lower() for u in usernames)
    for account in ACCOUNTS:
        assert account.org_slug in orgs
        assert account.display_name
    assert {a.role for a in ACCOUNTS} == {
        "bureau_admin",
        "provider_cdo",
        "operator",
        "bank_analyst",
        "auditor",
    }
    assert {a.org_slug for a in ACCOUNTS} == orgs.keys()
    role_kind = {
        "bureau_admin": "bureau",
        "provider_cdo": "provider",
        "operator": "operator",
        "bank_analyst": "bank",
        "auditor": "auditor",
    }
    for account in ACCOUNTS:
        assert orgs[account.org_slug].kind == role_kind[account.role]


def test_too_small_a_world_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_world(tmp_path, enterprises=10)
