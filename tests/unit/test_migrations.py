"""`sandbox init` creates the schema, is idempotent, and the migrations match the models, on
SQLite here and on PostgreSQL when it is available."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import sandbox.db.models  # noqa: F401
from sandbox.db.base import Base
from sandbox.db.engine import make_engine
from sandbox.db.migrate import current_revision
from sandbox.platform import init
from sandbox.settings import Settings


def _check(settings: Settings) -> None:
    init(settings)
    init(settings)  # upgrading an up-to-date schema is a no-op
    engine = make_engine(settings)
    try:
        assert current_revision(engine) == "0001"
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == [], f"migrations and models differ: {diff}"
    finally:
        engine.dispose()
    assert settings.ticket_key_path.exists()


def test_sqlite(tmp_path: Path) -> None:
    _check(Settings(data_dir=tmp_path / "var"))


def test_postgresql(tmp_path: Path, postgres_url: str) -> None:
    _check(Settings(data_dir=tmp_path / "var", database_url=postgres_url))
