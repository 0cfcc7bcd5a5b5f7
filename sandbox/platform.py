"""Creating or upgrading an installation: directories, the control DB schema, the keys."""

from __future__ import annotations

from sqlalchemy import Engine

from sandbox.db.engine import make_engine
from sandbox.db.migrate import upgrade
from sandbox.keys import load_or_create_private_key
from sandbox.settings import Settings


def init(settings: Settings, engine: Engine | None = None) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.domain_root.mkdir(parents=True, exist_ok=True)
    owned = engine is None
    engine = engine or make_engine(settings)
    try:
        upgrade(engine)
    finally:
        if owned:
            engine.dispose()
    load_or_create_private_key(settings.ticket_key_path)
    load_or_create_private_key(settings.ledger_key_path)
