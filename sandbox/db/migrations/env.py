"""Alembic environment: the URL comes from the caller's Config, never from the environment.

Upgrades need no model metadata. Autogeneration does, and receives it from the caller as
``config.attributes["target_metadata"]``, so that this module (inside ``sandbox``) never
imports the upper layers whose tables the migrations also create.
"""

from __future__ import annotations

from alembic import context

from sandbox.db.engine import make_engine

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=config.attributes.get("target_metadata"),
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
