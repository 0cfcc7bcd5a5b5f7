"""Alembic environment: the URL comes from the caller's Config, never from the environment."""

from __future__ import annotations

from alembic import context

import sandbox.db.models  # noqa: F401  (registers every table on Base.metadata)
from sandbox.db.base import Base
from sandbox.db.engine import make_engine

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()
