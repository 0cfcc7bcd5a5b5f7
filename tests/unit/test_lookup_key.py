"""The lookup table's key is made once per table folder, while build parts run at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from psi.lookup import LookupKey
from sandbox.compute import lookup_steps


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
