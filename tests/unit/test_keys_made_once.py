"""Keys made once (the lookup table's and the overlap guard's in a domain store, the platform's
signing keys in its data directory) while several processes may ask for them at the same
moment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from psi.lookup import LookupKey
from sandbox.compute import guards, lookup_steps
from sandbox.domains.store import DomainStore
from sandbox.keys import load_or_create_private_key, load_public_key, public_path, public_pem
from sandbox.write_once import read_or_create


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


def test_two_processes_starting_at_once_share_one_signing_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker and a web process start together on a new data directory: the second asks for
    the ledger key while the first is making it. Both get the same key (it used to read the
    first one's empty file, or fail on O_EXCL), and its public half matches it."""
    path = tmp_path / "keys" / "ledger.pem"
    real = Ed25519PrivateKey.generate
    other: list[Ed25519PrivateKey] = []

    def generate_while_another_process_starts() -> Ed25519PrivateKey:
        if not other:
            other.append(real())  # a placeholder, so that the nested call does not recurse
            other[0] = load_or_create_private_key(path)
        return real()

    monkeypatch.setattr(Ed25519PrivateKey, "generate", generate_while_another_process_starts)
    first = load_or_create_private_key(path)
    assert public_pem(first.public_key()) == public_pem(other[0].public_key())
    assert public_path(path).read_bytes() == public_pem(first.public_key())
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.pem", "ledger.pub.pem"]


def test_signing_key_modes_and_a_missing_public_half(tmp_path: Path) -> None:
    path = tmp_path / "ticket.pem"
    key = load_or_create_private_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_path(path).stat().st_mode & 0o777 == 0o644
    public_path(path).unlink()  # lost, or never copied: made again from the private key
    again = load_or_create_private_key(path)
    assert public_pem(again.public_key()) == public_pem(key.public_key())
    assert public_pem(load_public_key(path)) == public_pem(key.public_key())


def test_a_file_that_is_not_an_ed25519_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ticket.pem"
    path.write_bytes(b"not a key")
    with pytest.raises(ValueError):
        load_or_create_private_key(path)
