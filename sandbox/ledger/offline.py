"""Offline verification of a ledger export (see :mod:`sandbox.ledger.files`), with no database.

The checks run in a fixed order and stop at the first problem, so the report names one cause:
the public key, the checkpoint's signature and form, each line (canonical JSON, ``index``),
the ``prev`` chain, the number of entries, and finally the Merkle root against the signed
checkpoint. The ``prev`` chain names the changed entry; the root alone cannot, which is
why a change of the last entry (which no ``prev`` covers) is reported through the root.

A tampered export never raises: it yields ``VerifyReport(ok=False, problem=...)``. Only a
missing directory or file raises ``ValueError``, since then there is nothing to verify.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from sandbox.ledger.checkpoint import Checkpoint, CheckpointError, SignedCheckpoint
from sandbox.ledger.checkpoint import verify_checkpoint as _verify_signed
from sandbox.ledger.entry import canonical
from sandbox.ledger.files import CHECKPOINT, ENTRIES, PUBLIC_KEY, UnterminatedEntries, read_entries
from sandbox.ledger.merkle import ProofError, consistency_proof, leaf_hash, root, verify_consistency

REWRITTEN = "the log was rewritten since the old checkpoint"


@dataclass(frozen=True, kw_only=True)
class VerifyReport:
    """``tree_size``, ``root_hash`` and ``key_id`` come from the (new) checkpoint once its
    signature verifies, else None. ``bad_entry`` is the 0-based position of the entry named as
    changed, missing or extra, when the problem is about one. ``checked_old`` is true when the
    log was also shown consistent with an older checkpoint (so only when ``ok``)."""

    ok: bool
    tree_size: int | None = None
    root_hash: str | None = None
    key_id: str | None = None
    problem: str | None = None
    bad_entry: int | None = None
    checked_old: bool = False


class _Problem(Exception):
    def __init__(self, problem: str, bad_entry: int | None = None) -> None:
        super().__init__(problem)
        self.problem, self.bad_entry = problem, bad_entry


def verify_export(directory: Path, *, old_checkpoint: Path | None = None) -> VerifyReport:
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    paths = [directory / name for name in (PUBLIC_KEY, CHECKPOINT, ENTRIES)]
    _require_files(*paths, *([old_checkpoint] if old_checkpoint else []))
    signed: Checkpoint | None = None
    try:
        key = _public_key(paths[0])
        signed = _checkpoint(key, paths[1], CHECKPOINT)
        leaves = _check_entries(paths[2], signed)
        if old_checkpoint is not None:
            old = _checkpoint(key, old_checkpoint, "the old checkpoint")
            if old.tree_size > signed.tree_size:
                raise _Problem(f"{REWRITTEN}: it had more entries than the export")
            proof = consistency_proof(leaves, old.tree_size, signed.tree_size)
            _consistent(old, signed, proof)
    except _Problem as exc:
        return _report(signed, False, exc.problem, exc.bad_entry, False)
    return _report(signed, True, None, None, old_checkpoint is not None)


def verify_consistency_files(old: Path, new: Path, proof: Path, public_key: Path) -> VerifyReport:
    """Check a consistency proof (the API's ``{"first", "second", "path"}``) between two
    checkpoints, without the entries."""
    _require_files(old, new, proof, public_key)
    signed: Checkpoint | None = None
    try:
        key = _public_key(public_key)
        first = _checkpoint(key, old, "the old checkpoint")
        signed = _checkpoint(key, new, "the new checkpoint")
        sizes, path = _proof_file(proof)
        if sizes != (first.tree_size, signed.tree_size):
            raise _Problem("the proof's sizes are not those of the two checkpoints")
        _consistent(first, signed, path)
    except _Problem as exc:
        return _report(signed, False, exc.problem, exc.bad_entry, False)
    return _report(signed, True, None, None, True)


def _report(
    signed: Checkpoint | None, ok: bool, problem: str | None, bad: int | None, old: bool
) -> VerifyReport:
    return VerifyReport(
        ok=ok,
        tree_size=signed.tree_size if signed else None,
        root_hash=signed.root_hash if signed else None,
        key_id=signed.key_id if signed else None,
        problem=problem,
        bad_entry=bad,
        checked_old=old,
    )


def _require_files(*paths: Path) -> None:
    for path in paths:
        if not path.is_file():
            raise ValueError(f"{path} is missing")


def _public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _Problem(f"{path.name} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise _Problem(f"{path.name} is not an Ed25519 public key")
    return key


def _checkpoint(key: Ed25519PublicKey, path: Path, what: str) -> Checkpoint:
    try:
        return _verify_signed(key, SignedCheckpoint.from_json(path.read_bytes()))
    except CheckpointError as exc:
        raise _Problem(f"{what}: {exc.message}") from exc


def _check_entries(path: Path, signed: Checkpoint) -> list[bytes]:
    try:
        lines = read_entries(path)
    except UnterminatedEntries as exc:
        raise _Problem(f"{exc}: the file was cut or changed", exc.line - 1) from exc
    leaves = [leaf_hash(line) for line in lines]
    prevs = [_prev(line, k) for k, line in enumerate(lines)]
    for k, prev in enumerate(prevs):
        if prev == (leaves[k - 1].hex() if k else ""):
            continue
        if k == 0:
            raise _Problem("entry 0 was changed (the first entry's prev must be empty)", 0)
        if k + 1 < len(lines) and prevs[k + 1] != leaves[k].hex():
            # Both links around entry k are broken, so entry k changed (its prev at least);
            # had only entry k - 1 changed, entry k + 1's prev would still match entry k.
            raise _Problem(f"entry {k} was changed (its prev does not match entry {k - 1})", k)
        raise _Problem(f"entry {k - 1} was changed (entry {k}'s prev does not match it)", k - 1)
    n = len(lines)
    if n != signed.tree_size:
        count, size = abs(n - signed.tree_size), signed.tree_size
        what = "entry is" if count == 1 else "entries are"
        where = "missing at the end" if n < size else "extra after the signed checkpoint"
        raise _Problem(
            f"{count} {what} {where}: the checkpoint signs {size}, the export holds {n}",
            min(n, size),
        )
    if root(leaves).hex() != signed.root_hash:
        if not n:
            raise _Problem("the signed checkpoint's root is not the empty log's root")
        raise _Problem(
            f"the root does not match the signed checkpoint: entry {n - 1} was changed "
            "(no later entry's prev covers the last entry)",
            n - 1,
        )
    return leaves


def _prev(line: bytes, k: int) -> object:
    """Entry k's ``prev``, after the line is found to be canonical JSON with ``index`` k."""
    try:
        value = json.loads(line)
        same = canonical(value) == line
    except (ValueError, RecursionError):  # bad UTF-8, NaN, nesting deeper than json allows
        same = False
    if not same or not isinstance(value, dict):
        raise _Problem(f"entry at line {k + 1} was changed (not canonical JSON)", k)
    index = value.get("index")
    if type(index) is not int or index != k:
        raise _Problem(
            f"entries were reordered or one is missing: line {k + 1} should hold index {k} "
            f"but holds {index!r}",
            k,
        )
    return value.get("prev")


def _consistent(old: Checkpoint, new: Checkpoint, proof: list[bytes]) -> None:
    try:
        verify_consistency(
            old.tree_size,
            new.tree_size,
            bytes.fromhex(old.root_hash),
            bytes.fromhex(new.root_hash),
            proof,
        )
    except ProofError as exc:
        raise _Problem(REWRITTEN) from exc


def _proof_file(path: Path) -> tuple[tuple[int, int], list[bytes]]:
    try:
        value = json.loads(path.read_bytes())
        first, second, hexes = value["first"], value["second"], value["path"]
        if type(first) is not int or type(second) is not int or not isinstance(hexes, list):
            raise TypeError
        return (first, second), [bytes.fromhex(h) for h in hexes]
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise _Problem(
            'the proof file is not {"first": int, "second": int, "path": [hex]}'
        ) from exc
