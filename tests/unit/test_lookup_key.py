"""Keys made once in a domain store (the lookup table's, the overlap guard's) while several
workers may ask for them at the same moment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from psi.lookup import LookupKey
from sandbox.compute import guards, lookup_steps
from sandbox.compute.inputs import read_or_create
from sandbox.domains.store import DomainStore


def test_a_part_arriving_mid_write_reads_a_whole_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another build part asks for the key while the first is writing it: both end with the
    same, whole key (it used to read the first part's empty file and fail the build)."""
    folder = tmp_path / "table"
    real = LookupKey.generate
    arriving = [True]
    other: list[LookupKey] = []

    def generate_while_another_part_arrives(*args: Any, **kwargs: Any) -> LookupKey:
        if arriving:
            arriving.clear()
            other.append(lookup_steps._key(folder))
        return real(*args, **kwargs)

    monkeypatch.setattr(LookupKey, "generate", staticmethod(generate_while_another_part_arrives))
    first = lookup_steps._key(folder)
    assert other and first.to_bytes() == other[0].to_bytes()
    assert lookup_steps._key(folder).to_bytes() == first.to_bytes()
    assert [p.name for p in folder.iterdir()] == ["key"]  # no private copies left behind


def test_the_key_is_made_once_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "table"
    made = lookup_steps._key(folder)
    assert lookup_steps._key(folder).to_bytes() == made.to_bytes()
    assert (folder / "key").stat().st_mode & 0o777 == 0o600


def test_the_overlap_guard_key_is_whole_when_another_job_asks_mid_write(tmp_path: Path) -> None:
    """The overlap guard's per-domain key goes through the same once-only write: a second
    job's step asking while the first writes gets the same 32 bytes, never an empty key."""
    path = tmp_path / "guards" / "key"
    other: list[bytes] = []

    def make() -> bytes:
        if not other:
            other.append(read_or_create(path, lambda: b"\x01" * 32))  # the other job
        return b"\x02" * 32

    assert read_or_create(path, make) == other[0] == b"\x01" * 32
    assert [p.name for p in path.parent.iterdir()] == ["key"]


def test_guard_key_is_32_bytes_and_stable(tmp_path: Path) -> None:
    store = DomainStore.at(tmp_path, "bank-a")
    first = guards._key(store)
    assert len(first) == 32 and guards._key(store) == first
