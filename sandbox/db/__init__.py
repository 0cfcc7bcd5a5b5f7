"""The control DB: metadata only, never a raw row or a raw identifier (DESIGN §2)."""

from sandbox.db.base import Base
from sandbox.db.engine import make_engine, make_session_factory, session_scope

__all__ = ["Base", "make_engine", "make_session_factory", "session_scope"]
