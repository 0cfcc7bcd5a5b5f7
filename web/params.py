"""Strict parsing of request input shared by the API and the pages: integers in the query
(ASCII digits only — str.isdigit accepts '٣' and '²' — and bounded length, so int() never meets
a huge number), ids in the path, and JSON bodies validated by a pydantic model."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from flask import request
from pydantic import BaseModel

from sandbox.errors import InvalidInput, NotFound
from sandbox.ids import parse_uuid

M = TypeVar("M", bound=BaseModel)

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


def path_id(text: str, what: str) -> UUID:
    """A UUID from the path; anything else is simply not found (``<what>.not_found``)."""
    parsed = parse_uuid(text)
    if parsed is None:
        raise NotFound(f"no such {what}", code=f"{what}.not_found")
    return parsed


def json_body(model: type[M]) -> M:
    try:
        data: Any = request.get_json(silent=True)
    except RecursionError:  # deeply nested JSON: silent=True catches only ValueError
        data = None
    if data is None:
        raise InvalidInput(
            "send a JSON object with Content-Type: application/json", code="invalid_json"
        )
    return model.model_validate(data)
