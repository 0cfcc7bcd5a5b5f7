"""Offline verification of a ledger export (DESIGN §5): a real export is built from chained
entries and a signed checkpoint, tampered with in one way at a time, and the verifier must
report the problem (naming the changed entry where it can) instead of raising."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.keys import key_id, public_pem
from sandbox.ledger.checkpoint import (
    CheckpointError,
    SignedCheckpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from sandbox.ledger.entry import ORIGIN, canonical, make_entry
from sandbox.ledger.files import CHECKPOINT, ENTRIES, PUBLIC_KEY, read_entries, write_export
from sandbox.ledger.merkle import consistency_proof, leaf_hash, root
from sandbox.ledger.offline import REWRITTEN, VerifyReport, verify_consistency_files, verify_export

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
N = 7
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))


def make_entries(n: int, *, history: str = "a") -> list[bytes]:
    entries: list[bytes] = []
    for i in range(n):
        entries.append(
            make_entry(
                index=i,
                time=NOW + dt.timedelta(minutes=i),
                prev=leaf_hash(entries[-1]).hex() if entries else "",
                user="alice",
                org="tax-bureau",
                action="dataset.registered",
                object_type="dataset",
                object_id=f"{history}-{i}",
                params={"i": i},
                details={"rows": 100 + i},
            )
        )
    return entries


def checkpoint_for(entries: list[bytes], key: Ed25519PrivateKey = KEY) -> SignedCheckpoint:
    leaves = [leaf_hash(e) for e in entries]
    return sign_checkpoint(key, tree_size=len(entries), root_hash=root(leaves), now=NOW)


def export(directory: Path, entries: list[bytes], key: Ed25519PrivateKey = KEY) -> Path:
    write_export(directory, entries, checkpoint_for(entries, key), public_pem(key.public_key()))
    return directory


@pytest.fixture
def entries() -> list[bytes]:
    return make_entries(N)


@pytest.fixture
def out(tmp_path: Path, entries: list[bytes]) -> Path:
    return export(tmp_path / "export", entries)


def edit_lines(out: Path, change: Callable[[list[bytes]], list[bytes]]) -> None:
    path = out / ENTRIES
    path.write_bytes(b"".join(line + b"\n" for line in change(read_entries(path))))


def edit_line(out: Path, k: int, old: bytes, new: bytes) -> None:
    def change(lines: list[bytes]) -> list[bytes]:
        assert lines[k].count(old) == 1
        lines[k] = lines[k].replace(old, new)
        return lines

    edit_lines(out, change)


def failed(report: VerifyReport, bad_entry: int | None, *words: str) -> None:
    assert not report.ok
    assert report.problem is not None
    assert report.bad_entry == bad_entry, report.problem
    for word in words:
        assert word in report.problem, report.problem


def test_untampered_export_passes(out: Path, entries: list[bytes]) -> None:
    report = verify_export(out)
    assert report == VerifyReport(
        ok=True,
        tree_size=N,
        root_hash=root([leaf_hash(e) for e in entries]).hex(),
        key_id=key_id(KEY.public_key()),
    )
    assert (out / ENTRIES).read_bytes() == b"".join(e + b"\n" for e in entries)


def test_empty_log_passes(tmp_path: Path) -> None:
    report = verify_export(export(tmp_path / "empty", []))
    assert report.ok and report.tree_size == 0


@pytest.mark.parametrize("k", [0, 3, N - 1])
def test_changed_string_names_the_entry(out: Path, k: int) -> None:
    edit_line(out, k, f'"a-{k}"'.encode(), f'"b-{k}"'.encode())
    words = ("root does not match",) if k == N - 1 else (f"entry {k} was changed",)
    failed(verify_export(out), k, *words)


def test_changed_number_names_the_entry(out: Path) -> None:
    edit_line(out, 3, b'"rows":103', b'"rows":104')
    failed(verify_export(out), 3, "entry 3 was changed")


def test_changed_index_names_the_entry(out: Path) -> None:
    edit_line(out, 3, b'"index":3', b'"index":4')
    failed(verify_export(out), 3, "index 3", "holds 4")


def test_changed_prev_names_that_entry_not_the_one_before(out: Path) -> None:
    lines = read_entries(out / ENTRIES)
    edit_line(out, 4, leaf_hash(lines[3]).hex().encode(), b"0" * 64)
    failed(verify_export(out), 4, "entry 4 was changed")


def test_non_canonical_line_is_reported(out: Path) -> None:
    edit_line(out, 2, b'"index":2,', b'"index": 2,')
    failed(verify_export(out), 2, "line 3", "not canonical JSON")


@pytest.mark.parametrize(
    "line", [b"", b"[" * 100_000, b"\xff", b'{"index":2,"x":NaN}', b"2", b'"entry"']
)
def test_garbage_line_is_reported(out: Path, line: bytes) -> None:
    def replace(lines: list[bytes]) -> list[bytes]:
        lines[2] = line
        return lines

    edit_lines(out, replace)
    failed(verify_export(out), 2, "line 3", "not canonical JSON")


def test_reordered_lines(out: Path) -> None:
    def swap(lines: list[bytes]) -> list[bytes]:
        lines[2], lines[4] = lines[4], lines[2]
        return lines

    edit_lines(out, swap)
    failed(verify_export(out), 2, "reordered", "index 2", "holds 4")


@pytest.mark.parametrize("k", [0, 3])
def test_removed_line_before_the_end(out: Path, k: int) -> None:
    edit_lines(out, lambda lines: lines[:k] + lines[k + 1 :])
    failed(verify_export(out), k, "missing", f"index {k}")


def test_removed_last_line(out: Path) -> None:
    edit_lines(out, lambda lines: lines[:-1])
    failed(verify_export(out), N - 1, "1 entry is missing")


def test_added_chained_line_at_the_end(out: Path) -> None:
    edit_lines(out, lambda lines: make_entries(N + 1))
    failed(verify_export(out), N, "1 entry is extra")


def test_added_duplicate_line_in_the_middle(out: Path) -> None:
    edit_lines(out, lambda lines: [*lines[:4], lines[3], *lines[4:]])
    failed(verify_export(out), 4, "index 4", "holds 3")


def test_added_blank_line(out: Path) -> None:
    with (out / ENTRIES).open("ab") as f:
        f.write(b"\n")
    failed(verify_export(out), N, f"line {N + 1}", "not canonical JSON")


def test_truncated_final_newline(out: Path) -> None:
    path = out / ENTRIES
    path.write_bytes(path.read_bytes()[:-1])
    failed(verify_export(out), N - 1, "newline")


def _edit_body(out: Path, **claims: Any) -> None:
    signed = SignedCheckpoint.from_json((out / CHECKPOINT).read_text())
    body = json.loads(signed.body) | claims
    forged = SignedCheckpoint(body=canonical(body).decode(), signature=signed.signature)
    (out / CHECKPOINT).write_text(forged.to_json())


@pytest.mark.parametrize(
    "claims", [{"tree_size": N - 1}, {"tree_size": N + 1}, {"root_hash": "ab" * 32}]
)
def test_changed_checkpoint_body_fails_the_signature(out: Path, claims: dict[str, Any]) -> None:
    _edit_body(out, **claims)
    report = verify_export(out)
    failed(report, None, "signature")
    assert report.tree_size is None


@pytest.mark.parametrize(
    "signature",
    [
        base64.b64encode(OTHER_KEY.sign(b"something else")).decode(),
        base64.b64encode(bytes(64)).decode(),
        "not base64!",
        "",
        "é",
    ],
)
def test_replaced_signature(out: Path, signature: str) -> None:
    signed = SignedCheckpoint.from_json((out / CHECKPOINT).read_text())
    (out / CHECKPOINT).write_text(SignedCheckpoint(signed.body, signature).to_json())
    failed(verify_export(out), None, "signature")


def test_replaced_public_key_fails_the_signature(out: Path) -> None:
    (out / PUBLIC_KEY).write_bytes(public_pem(OTHER_KEY.public_key()))
    failed(verify_export(out), None, "signature")


def test_re_signed_with_another_key_but_old_key_id(out: Path, entries: list[bytes]) -> None:
    """Checkpoint and public key swapped together, but the body still names the first key."""
    body = json.loads(checkpoint_for(entries).body)
    forged = canonical(body)
    signature = base64.b64encode(OTHER_KEY.sign(forged)).decode()
    (out / CHECKPOINT).write_text(SignedCheckpoint(forged.decode(), signature).to_json())
    (out / PUBLIC_KEY).write_bytes(public_pem(OTHER_KEY.public_key()))
    failed(verify_export(out), None, "key id")


@pytest.mark.parametrize("content", [b"", b"not a key", b"-----BEGIN PUBLIC KEY-----\n"])
def test_garbage_public_key_is_reported(out: Path, content: bytes) -> None:
    (out / PUBLIC_KEY).write_bytes(content)
    failed(verify_export(out), None, PUBLIC_KEY)


@pytest.mark.parametrize(
    "content",
    [
        "",
        "[]",
        "[" * 100_000,
        '{"body": "x"}',
        '{"body": 1, "signature": ""}',
        '{"body": "\\ud800", "signature": ""}',
    ],
)
def test_garbage_checkpoint_file_is_reported(out: Path, content: str) -> None:
    (out / CHECKPOINT).write_text(content)
    failed(verify_export(out), None, CHECKPOINT)


def _signed_body(body: bytes, key: Ed25519PrivateKey = KEY) -> SignedCheckpoint:
    return SignedCheckpoint(body.decode(), base64.b64encode(key.sign(body)).decode())


GOOD_CLAIMS: dict[str, Any] = {
    "origin": ORIGIN,
    "tree_size": 3,
    "root_hash": "ab" * 32,
    "time": "2026-11-02T10:00:00Z",
    "key_id": key_id(KEY.public_key()),
}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (json.dumps(GOOD_CLAIMS).encode(), "canonical"),
        (canonical([GOOD_CLAIMS]), "canonical"),
        (b"not json", "not JSON"),
        (canonical(GOOD_CLAIMS | {"extra": 1}), "expected claims"),
        (canonical({k: v for k, v in GOOD_CLAIMS.items() if k != "time"}), "expected claims"),
        (canonical(GOOD_CLAIMS | {"tree_size": True}), "expected claims"),
        (canonical(GOOD_CLAIMS | {"tree_size": "3"}), "expected claims"),
        (canonical(GOOD_CLAIMS | {"tree_size": -1}), "negative"),
        (canonical(GOOD_CLAIMS | {"origin": "another/ledger"}), "origin"),
        (canonical(GOOD_CLAIMS | {"root_hash": "AB" * 32}), "hex"),
        (canonical(GOOD_CLAIMS | {"root_hash": "ab" * 31}), "hex"),
        (canonical(GOOD_CLAIMS | {"time": "2026-11-02T10:00:00+00:00"}), "time"),
        (canonical(GOOD_CLAIMS | {"time": "yesterday Z"}), "time"),
        (canonical(GOOD_CLAIMS | {"key_id": key_id(OTHER_KEY.public_key())}), "key id"),
    ],
)
def test_signed_but_malformed_checkpoint_bodies(body: bytes, words: str) -> None:
    with pytest.raises(CheckpointError, match=words):
        verify_checkpoint(KEY.public_key(), _signed_body(body))


def test_checkpoint_round_trip() -> None:
    signed = _signed_body(canonical(GOOD_CLAIMS))
    assert SignedCheckpoint.from_json(signed.to_json()) == signed
    assert verify_checkpoint(KEY.public_key(), signed).tree_size == 3


def _old_checkpoint(tmp_path: Path, entries: list[bytes], key: Ed25519PrivateKey = KEY) -> Path:
    path = tmp_path / "kept-checkpoint.json"
    path.write_text(checkpoint_for(entries, key).to_json())
    return path


@pytest.mark.parametrize("size", [0, 1, 3, 4, N])
def test_old_checkpoint_of_a_prefix_is_consistent(
    tmp_path: Path, out: Path, entries: list[bytes], size: int
) -> None:
    report = verify_export(out, old_checkpoint=_old_checkpoint(tmp_path, entries[:size]))
    assert report.ok and report.checked_old, report.problem


@pytest.mark.parametrize("size", [1, 3, N])
def test_old_checkpoint_of_another_history_is_caught(tmp_path: Path, out: Path, size: int) -> None:
    rewritten = make_entries(size, history="rewritten")
    report = verify_export(out, old_checkpoint=_old_checkpoint(tmp_path, rewritten))
    failed(report, None, REWRITTEN)
    assert not report.checked_old


def test_old_checkpoint_larger_than_the_export(tmp_path: Path, out: Path) -> None:
    old = _old_checkpoint(tmp_path, make_entries(N + 2))
    failed(verify_export(out, old_checkpoint=old), None, REWRITTEN)


def test_old_checkpoint_signed_by_another_key(
    tmp_path: Path, out: Path, entries: list[bytes]
) -> None:
    old = _old_checkpoint(tmp_path, entries[:3], OTHER_KEY)
    failed(verify_export(out, old_checkpoint=old), None, "old checkpoint", "signature")


def _consistency_files(tmp_path: Path, entries: list[bytes], first: int) -> list[Path]:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(checkpoint_for(entries[:first]).to_json())
    new.write_text(checkpoint_for(entries).to_json())
    path = [
        p.hex() for p in consistency_proof([leaf_hash(e) for e in entries], first, len(entries))
    ]
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps({"first": first, "second": len(entries), "path": path}))
    pem = tmp_path / "key.pem"
    pem.write_bytes(public_pem(KEY.public_key()))
    return [old, new, proof, pem]


@pytest.mark.parametrize("first", [0, 1, 3, 4, N])
def test_consistency_files_pass(tmp_path: Path, entries: list[bytes], first: int) -> None:
    report = verify_consistency_files(*_consistency_files(tmp_path, entries, first))
    assert report.ok and report.checked_old and report.tree_size == N, report.problem


def _flip_hex(h: str) -> str:
    return ("1" if h[0] == "0" else "0") + h[1:]


def _edit_proof(proof: Path, change: Callable[[dict[str, Any]], object]) -> None:
    value = json.loads(proof.read_text())
    change(value)
    proof.write_text(json.dumps(value))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda v: v["path"].__setitem__(0, _flip_hex(v["path"][0])), REWRITTEN),
        (lambda v: v["path"].__setitem__(-1, _flip_hex(v["path"][-1])), REWRITTEN),
        (lambda v: v["path"].pop(), REWRITTEN),
        (lambda v: v["path"].append("ab" * 32), REWRITTEN),
        (lambda v: v["path"].__setitem__(0, "zz"), "proof file"),
        (lambda v: v.__setitem__("first", 2), "sizes"),
        (lambda v: v.__setitem__("second", N + 1), "sizes"),
        (lambda v: v.pop("path"), "proof file"),
    ],
)
def test_consistency_files_with_a_mutated_proof_fail(
    tmp_path: Path, entries: list[bytes], change: Callable[[dict[str, Any]], object], words: str
) -> None:
    files = _consistency_files(tmp_path, entries, 3)
    _edit_proof(files[2], change)
    failed(verify_consistency_files(*files), None, words)


def test_consistency_files_of_another_history_fail(tmp_path: Path, entries: list[bytes]) -> None:
    files = _consistency_files(tmp_path, entries, 3)
    files[0].write_text(checkpoint_for(make_entries(3, history="rewritten")).to_json())
    failed(verify_consistency_files(*files), None, REWRITTEN)


def test_missing_directory_or_file_raises(tmp_path: Path, out: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        verify_export(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="missing"):
        verify_export(out, old_checkpoint=tmp_path / "nowhere.json")
    (out / ENTRIES).unlink()
    with pytest.raises(ValueError, match="missing"):
        verify_export(out)


def test_export_refuses_a_non_empty_directory(out: Path, entries: list[bytes]) -> None:
    with pytest.raises(ValueError, match="not empty"):
        export(out, entries)
    with pytest.raises(ValueError, match="not a directory"):
        export(out / ENTRIES, entries)
