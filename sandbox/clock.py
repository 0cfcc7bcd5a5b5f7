"""Time is a parameter: services take ``now``; only the edges call :func:`utcnow`."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
