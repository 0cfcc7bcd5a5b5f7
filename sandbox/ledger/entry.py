"""Ledger entries: canonical JSON (sorted keys, no insignificant whitespace, UTF-8).

An entry is exactly the bytes that are hashed into the tree. Fields:

- ``index``: position in the log, from 0;
- ``time``: ISO 8601 UTC;
- ``prev``: hex leaf hash of the previous entry ("" for the first): a chain that lets an
  offline verifier name the exact entry that was changed, not just say that the root differs;
- ``actor``: ``{"user": username or null, "org": slug or null}``;
- ``action``: e.g. ``auth.login``, ``dataset.registered``, ``job.submitted``;
- ``object``: ``{"type": ..., "id": ...}``;
- ``params_digest``: ``sha256:`` + hex of the canonical JSON of the action's parameters;
- ``details``: small derived facts (counts, digests, reason codes), never raw data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

ORIGIN = "public-data-sandbox/ledger"


def canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def digest(value: Any) -> str:
    """``sha256:<hex>`` of a value's canonical JSON (or of raw bytes)."""
    data = value if isinstance(value, bytes) else canonical(value)
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_entry(
    *,
    index: int,
    time: dt.datetime,
    prev: str,
    user: str | None,
    org: str | None,
    action: str,
    object_type: str,
    object_id: str,
    params: Any,
    details: dict[str, Any] | None = None,
) -> bytes:
    return canonical(
        {
            "index": index,
            "time": time.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "prev": prev,
            "actor": {"user": user, "org": org},
            "action": action,
            "object": {"type": object_type, "id": object_id},
            "params_digest": digest(params),
            "details": details or {},
        }
    )
