"""Strict parsing of query parameters: ASCII digits only (no signs, no Unicode digits such as
'٣' or '²', which str.isdigit accepts), bounded length so int() never meets a huge number."""

from __future__ import annotations

from flask import request

from sandbox.errors import InvalidInput

MAX_DIGITS = 12


def query_int(name: str, *, default: int | None = None, max_digits: int = MAX_DIGITS) -> int:
    text = request.args.get(name)
    if text is None:
        if default is None:
            raise InvalidInput(f"query parameter {name} is required", code="invalid_query")
        return default
    if not (text.isascii() and text.isdigit() and len(text) <= max_digits):
        raise InvalidInput(f"{name} must be a whole number", code="invalid_query")
    return int(text)
