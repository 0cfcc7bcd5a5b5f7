"""The ledger end to end: entries written by real actions, `sandbox audit export`, tampering
of the export in every way, `sandbox audit verify` naming what changed; and tampering with the
stored ledger itself (triggers dropped), which the signed checkpoints expose."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from sandbox.clock import utcnow
from sandbox.keys import load_or_create_private_key
from sandbox.ledger import log as ledger
from sandbox.ledger.models import LedgerEntry
from tests.conftest import World
from web.cli import main


def _cli(world: World, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, list(args), env={"SANDBOX_DATA_DIR": str(world.settings.data_dir)}
    )
    return result.exit_code, result.output


@pytest.fixture
def export_dir(world: World, tmp_path: Path) -> Path:
    out = tmp_path / "export"
    code, output = _cli(world, "audit", "export", "--out", str(out))
    assert code == 0, output
    return out


def test_seeded_world_is_in_the_ledger(world: World) -> None:
    with world.factory() as session:
        actions = [a for (a,) in session.execute(select(LedgerEntry.action))]
    for expected in (
        "org.created",
        "domain.created",
        "user.created",
        "token.created",
        "dataset.registered",
    ):
        assert expected in actions
    assert actions.count("dataset.registered") == 9


def test_untampered_export_verifies(world: World, export_dir: Path) -> None:
    code, output = _cli(world, "audit", "verify", str(export_dir))
    assert code == 0 and output.startswith("OK:"), output


def _lines(path: Path) -> list[bytes]:
    return (path / "entries.jsonl").read_bytes().split(b"\n")[:-1]


def _write(path: Path, lines: list[bytes]) -> None:
    (path / "entries.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))


def _edit_entry(k: int, old: bytes, new: bytes) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        lines = _lines(path)
        assert old in lines[k]
        lines[k] = lines[k].replace(old, new, 1)
        _write(path, lines)

    return edit


def _reorder(path: Path) -> None:
    lines = _lines(path)
    lines[3], lines[4] = lines[4], lines[3]
    _write(path, lines)


def _remove(k: int) -> Callable[[Path], None]:
    def remove(path: Path) -> None:
        lines = _lines(path)
        del lines[k if k >= 0 else len(lines) + k]
        _write(path, lines)

    return remove


def _checkpoint_field(field: str, value: object) -> Callable[[Path], None]:
    def change(path: Path) -> None:
        wrapper = json.loads((path / "checkpoint.json").read_text())
        body = json.loads(wrapper["body"])
        body[field] = value
        wrapper["body"] = json.dumps(body, sort_keys=True, separators=(",", ":"))
        (path / "checkpoint.json").write_text(json.dumps(wrapper))

    return change


def _other_key(path: Path) -> None:
    other = load_or_create_private_key(path.parent / "other.pem")
    from sandbox.keys import public_pem

    (path / "ledger-public-key.pem").write_bytes(public_pem(other.public_key()))


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_edit_entry(2, b'"kind":"provider"', b'"kind":"providex"'), "entry 2 was changed"),
        (_edit_entry(0, b'"kind":"bureau"', b'"kind":"bureaU"'), "entry 0 was changed"),
        (_edit_entry(-1, b'"index"', b' "index"'), "not canonical"),
        (_reorder, "reordered"),
        (_remove(5), "missing"),
        (_remove(0), "missing"),
        (_remove(-1), "missing at the end"),
        (_checkpoint_field("tree_size", 3), "signature"),
        (_checkpoint_field("root_hash", "0" * 64), "signature"),
        (_other_key, "signature"),
    ],
    ids=[
        "middle-byte",
        "first-byte",
        "last-canonical",
        "reorder",
        "remove-middle",
        "remove-first",
        "remove-last",
        "checkpoint-size",
        "checkpoint-root",
        "other-key",
    ],
)
def test_every_tampering_of_an_export_is_caught(
    world: World, export_dir: Path, tamper: Callable[[Path], None], expected: str
) -> None:
    tamper(export_dir)
    code, output = _cli(world, "audit", "verify", str(export_dir))
    assert code == 1, output
    assert "FAILED" in output and expected in output, output


def test_last_entry_changed_is_caught_by_the_root(world: World, export_dir: Path) -> None:
    lines = _lines(export_dir)
    last = json.loads(lines[-1])
    last["details"] = {"forged": True}
    lines[-1] = json.dumps(last, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    _write(export_dir, lines)
    code, output = _cli(world, "audit", "verify", str(export_dir))
    assert code == 1 and f"entry {len(lines) - 1} was changed" in output, output


def test_tampering_with_the_stored_ledger_is_exposed(
    world: World, export_dir: Path, tmp_path: Path
) -> None:
    """Someone with database rights drops the trigger and rewrites an entry in place."""
    kept = tmp_path / "kept-checkpoint.json"
    shutil.copy(export_dir / "checkpoint.json", kept)
    engine = world.factory.kw["bind"]
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER ledger_entries_no_update"))
        body = conn.execute(text("SELECT body FROM ledger_entries WHERE idx = 2")).scalar_one()
        forged = bytes(body).replace(b'"kind":"provider"', b'"kind":"operator"')
        conn.execute(text("UPDATE ledger_entries SET body = :b WHERE idx = 2"), {"b": forged})

    # The platform refuses to sign over it...
    with world.factory() as session:
        ledger.append(
            session,
            actor=ledger.SYSTEM,
            action="test.after",
            object_type="t",
            object_id="1",
            params={},
            now=utcnow(),
        )
        with pytest.raises(ledger.LedgerTampered):
            ledger.checkpoint(
                session, load_or_create_private_key(world.settings.ledger_key_path), now=utcnow()
            )
        session.rollback()

    # ...and an export made now fails offline, against its own checkpoint and the kept one.
    again = tmp_path / "again"
    with world.factory() as session:
        from sandbox.keys import public_pem
        from sandbox.ledger.files import write_export

        latest = ledger.latest_checkpoint(session)
        assert latest is not None
        bodies = [
            bytes(b)
            for b in session.scalars(
                select(LedgerEntry.body).order_by(LedgerEntry.index).limit(latest.tree_size)
            )
        ]
        key = load_or_create_private_key(world.settings.ledger_key_path)
        write_export(again, bodies, ledger.signed(latest), public_pem(key.public_key()))
    code, output = _cli(world, "audit", "verify", str(again), "--old-checkpoint", str(kept))
    assert code == 1 and "entry 2 was changed" in output, output


def test_consistency_between_kept_and_newer_checkpoint(
    world: World, export_dir: Path, tmp_path: Path
) -> None:
    kept = tmp_path / "kept.json"
    shutil.copy(export_dir / "checkpoint.json", kept)
    with world.factory() as session:
        for i in range(5):
            ledger.append(
                session,
                actor=ledger.SYSTEM,
                action="test.grow",
                object_type="t",
                object_id=str(i),
                params={},
                now=utcnow(),
            )
        session.commit()
    newer = tmp_path / "newer"
    assert _cli(world, "audit", "export", "--out", str(newer))[0] == 0
    code, output = _cli(world, "audit", "verify", str(newer), "--old-checkpoint", str(kept))
    assert code == 0 and "consistent with the old checkpoint" in output, output
