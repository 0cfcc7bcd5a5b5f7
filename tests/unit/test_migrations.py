"""`sandbox init` creates the schema, is idempotent, and the migrations match the models, on
SQLite here and on PostgreSQL when it is available."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from sandbox.clock import utcnow
from sandbox.db.engine import make_engine, make_session_factory
from sandbox.db.migrate import alembic_config, current_revision
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.log import SYSTEM, append, checkpoint
from sandbox.platform import init
from sandbox.settings import Settings
from tests.all_models import METADATA


def _check(settings: Settings) -> None:
    init(settings)
    init(settings)  # upgrading an up-to-date schema is a no-op
    engine = make_engine(settings)
    try:
        head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
        assert current_revision(engine) == head
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), METADATA)
        assert diff == [], f"migrations and models differ: {diff}"
        _ledger_is_append_only(engine, settings)
    finally:
        engine.dispose()
    assert settings.ticket_key_path.exists()


def test_sqlite(tmp_path: Path) -> None:
    _check(Settings(data_dir=tmp_path / "var"))


def test_postgresql(tmp_path: Path, postgres_url: str) -> None:
    _check(Settings(data_dir=tmp_path / "var", database_url=postgres_url))


def _ledger_is_append_only(engine: Engine, settings: Settings) -> None:
    with make_session_factory(engine)() as session:
        append(
            session,
            actor=SYSTEM,
            action="test.entry",
            object_type="test",
            object_id="1",
            params={},
            now=utcnow(),
        )
        checkpoint(session, load_or_create_private_key(settings.ledger_key_path), now=utcnow())
        session.commit()
    for statement in (
        "UPDATE ledger_entries SET action = 'forged'",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_checkpoints SET tree_size = 99",
        "DELETE FROM ledger_checkpoints",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    if engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE ledger_entries"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM ledger_entries")).scalars().all() == [
            "test.entry"
        ]
