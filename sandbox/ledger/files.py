"""The ledger export: a directory an auditor can check offline with ``sandbox audit verify``.

- ``entries.jsonl``: every entry's exact bytes (the bytes that were hashed), each followed by
  one ``\\n``; canonical JSON never contains a raw newline, so lines are entries;
- ``checkpoint.json``: the signed checkpoint over all of them (:class:`SignedCheckpoint`);
- ``ledger-public-key.pem``: the ledger's Ed25519 public key.

Reading is exact: nothing is stripped or skipped. A blank line reaches the verifier as an entry
that is not JSON, and a missing final newline as :class:`UnterminatedEntries`, instead of being
quietly repaired.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sandbox.ledger.checkpoint import SignedCheckpoint

ENTRIES = "entries.jsonl"
CHECKPOINT = "checkpoint.json"
PUBLIC_KEY = "ledger-public-key.pem"


class UnterminatedEntries(ValueError):
    """``entries.jsonl`` does not end with a newline: its last line (1-based) was cut or added."""

    def __init__(self, line: int) -> None:
        super().__init__(f"{ENTRIES} does not end with a newline (line {line} is unterminated)")
        self.line = line


def write_export(
    out_dir: Path,
    entries: Iterable[bytes],
    checkpoint: SignedCheckpoint,
    public_key_pem: bytes,
) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty; export into a new or empty directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / ENTRIES).open("wb") as out:
        for entry in entries:
            if b"\n" in entry:
                raise ValueError("a ledger entry contains a newline; entries are canonical JSON")
            out.write(entry + b"\n")
    (out_dir / CHECKPOINT).write_text(checkpoint.to_json() + "\n", encoding="utf-8")
    (out_dir / PUBLIC_KEY).write_bytes(public_key_pem)


def read_entries(path: Path) -> list[bytes]:
    """The lines of ``entries.jsonl``, split on ``\\n`` exactly; blank lines come back as ``b""``.

    An empty file is an empty log. A non-empty file that does not end with ``\\n`` raises
    :class:`UnterminatedEntries` naming the last line, for the verifier to report.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines.pop() != b"":
        raise UnterminatedEntries(len(lines) + 1)
    return lines
