"""A registry of API operations, so that one declaration gives the route, its request and
response models, and its entry in the OpenAPI 3.1 document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint
from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # OpenAPI form, e.g. /datasets/{dataset_id}
    summary: str
    response: type[BaseModel] | None
    request: type[BaseModel] | None
    status: int
    public: bool
    query: tuple[tuple[str, str], ...]
    csv: bool = False  # the success response may also (or only) be a text/csv file


OPERATIONS: list[Operation] = []


def operation(
    bp: Blueprint,
    method: str,
    path: str,
    *,
    summary: str,
    response: type[BaseModel] | None,
    request: type[BaseModel] | None = None,
    status: int = 200,
    public: bool = False,
    query: tuple[tuple[str, str], ...] = (),
    csv: bool = False,
) -> Callable[[F], F]:
    flask_path = path.replace("{", "<").replace("}", ">")

    def register(view: F) -> F:
        OPERATIONS.append(
            Operation(method, path, summary, response, request, status, public, query, csv)
        )
        bp.add_url_rule(flask_path, view.__name__, view, methods=[method])
        return view

    return register


def openapi_document(prefix: str, version: str) -> dict[str, Any]:
    from web.api.schemas import Error

    schemas: dict[str, Any] = {}

    def ref(model: type[BaseModel]) -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error_ref = ref(Error)
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "operationId": f"{op.method.lower()}_{op.path.strip('/').replace('/', '_')}".replace(
                "{", ""
            ).replace("}", ""),
            "responses": {
                "default": {
                    "description": "Error",
                    "content": {"application/json": {"schema": error_ref}},
                }
            },
        }
        content: dict[str, Any] = {}
        if op.response is not None:
            content["application/json"] = {"schema": ref(op.response)}
        if op.csv:
            content["text/csv"] = {"schema": {"type": "string"}}
        if content:
            entry["responses"][str(op.status)] = {"description": "OK", "content": content}
        else:
            entry["responses"][str(op.status)] = {"description": "Done"}
        if op.request is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(op.request)}},
            }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _path_params(op.path)
        ] + [
            {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
            for name, kind in op.query
        ]
        if params:
            entry["parameters"] = params
        if op.public:
            entry["security"] = []
        paths.setdefault(prefix + op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Public data sandbox API", "version": version},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[-1] for part in path.split("/") if part.startswith("{")]
