"""Engines and sessions. Opened at the edge (app factory, worker after fork, CLI), never at
import. SQLite is tuned for several processes (WAL, busy timeout, BEGIN IMMEDIATE)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from sandbox.settings import Settings


def make_engine(settings: Settings | str, *, read_only: bool = False, **kwargs: Any) -> Engine:
    """The control DB. ``read_only`` (for pollers that only ever read): on SQLite its
    transactions do not take the write lock, so they never hold up the workers' writes."""
    url = settings if isinstance(settings, str) else settings.control_db_url
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)
        _tune_sqlite(engine, immediate=not read_only)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _tune_sqlite(engine: Engine, *, immediate: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver, so that SQLAlchemy's "begin" below decides the mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL keeps the database consistent after a crash; a power cut may lose
        # the last commits, which is the PostgreSQL trade-off the demo does not need to beat.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        if not immediate:
            conn.exec_driver_sql("BEGIN")
            return
        # IMMEDIATE takes the write lock up front: no SQLITE_BUSY on a read-to-write upgrade
        # when the web, the coordinator and the domain workers write at once.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
