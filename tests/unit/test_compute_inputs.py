"""What enters a protocol: the domain's own identifiers, normalized and checked with the
loader's rules (full-width characters, spaces, lower case fixed; wrong check characters and
junk rejected and counted, never quoted), and the guards a requester's domain applies."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sandbox.compute.guards import check_overlap, check_size
from sandbox.compute.inputs import read_identifiers, read_labeled
from sandbox.datasets.schema import Schema
from sandbox.datasets.stored import StoredDataset
from sandbox.domains.store import DomainStore
from sandbox.errors import SandboxError
from sandbox.identifiers import credit_code_check_char

BODY = "91110108MA01ABCDE"
CODE = BODY + credit_code_check_char(BODY)
OTHER_BODY = "91310115MA1K3XY10"
OTHER = OTHER_BODY + credit_code_check_char(OTHER_BODY)
WRONG_CHECK = BODY + ("0" if CODE[-1] != "0" else "1")


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _dataset(tmp_path: Path, values: list[str]) -> StoredDataset:
    schema = Schema.model_validate(
        {
            "name": "ids",
            "title": "ids",
            "openness": "conditional",
            "grade": "general",
            "identifier": {"column": "credit_code", "kind": "credit_code"},
            "columns": [
                {"name": "credit_code", "type": "string"},
                {"name": "grade", "type": "category", "values": ["A", "B"]},
            ],
        }
    )
    path = tmp_path / "v1.csv"
    path.write_text("credit_code,grade\n" + "".join(f'"{v}",A\n' for v in values), encoding="utf-8")
    return StoredDataset(uuid.uuid4(), "ids", 1, schema, len(values), 0, path)


def test_identifiers_are_normalized_before_a_protocol_sees_them(tmp_path: Path) -> None:
    data = _dataset(
        tmp_path,
        [
            CODE,
            _full_width(CODE),  # full-width: the same enterprise
            f" {CODE[:6]} {CODE[6:]} ",  # spaces
            CODE.lower(),  # lower case
            WRONG_CHECK,  # wrong check character: rejected
            "",  # empty: rejected
            OTHER,
        ],
    )
    ids = read_identifiers(data)
    assert ids.items == [CODE, OTHER]
    assert (ids.rows, ids.rejected, ids.duplicates) == (7, 2, 3)
    labeled = list(read_labeled(data, ("grade",)))
    assert [i for i, _ in labeled] == [CODE.encode()] * 4 + [OTHER.encode()]
    assert labeled[0][1] == b'{"grade":"A"}'


def test_a_label_column_outside_the_dataset_is_refused(tmp_path: Path) -> None:
    data = _dataset(tmp_path, [CODE])
    with pytest.raises(SandboxError) as info:
        list(read_labeled(data, ("income",)))
    assert info.value.code == "step.scope"


@pytest.mark.parametrize(
    ("count", "code"),
    [(0, "guard.empty"), (11, "guard.too_many"), (2, "guard.too_few")],
)
def test_set_sizes_outside_the_grant(count: int, code: str) -> None:
    with pytest.raises(SandboxError) as info:
        check_size(count, min_items=3, max_items=10)
    assert info.value.code == code
    assert str(count) in info.value.message or count == 0


def test_successive_cardinality_queries_may_not_differ_by_a_few_ids(tmp_path: Path) -> None:
    store = DomainStore(tmp_path / "bank")
    grant = str(uuid.uuid4())
    base = [f"id{i}" for i in range(100)]
    check_overlap(store, grant, base, max_overlap=0.9)
    check_overlap(store, grant, base, max_overlap=0.9)  # the same query again: nothing new
    for probe in ([*base, "target"], base[:-1]):
        with pytest.raises(SandboxError) as info:
            check_overlap(store, grant, probe, max_overlap=0.9)
        assert info.value.code == "guard.overlap"
        assert "target" not in info.value.message
    fresh = [f"new{i}" for i in range(100)]
    check_overlap(store, grant, fresh, max_overlap=0.9)  # a different list is fine
    # Another grant keeps its own memory.
    check_overlap(store, str(uuid.uuid4()), [*base, "target"], max_overlap=0.9)
    # The remembered query is keyed digests, not identifiers.
    blob = (tmp_path / "bank" / "guards" / grant / "cardinality.bin").read_bytes()
    assert b"new1" not in blob and len(blob) == 8 * 100
