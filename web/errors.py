"""The one table from domain exceptions to HTTP statuses, and the JSON error shape
``{"error": {"code": ..., "message": ...}}`` used by every API failure."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from sandbox.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    SandboxError,
    TicketRejected,
    TooLarge,
)
from web import context

STATUS: dict[type[SandboxError], int] = {
    InvalidInput: 400,
    NotAuthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    TicketRejected: 403,
}


def status_of(exc: SandboxError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def json_error(status: int, code: str, message: str, **extra: Any) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update(extra)
    response = jsonify({"error": body})
    response.status_code = status
    return response


def _wants_json() -> bool:
    path = request.path
    return path.startswith(("/api/", "/audit/data/")) or path == "/healthz"


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    # Locations and messages only: pydantic would also echo the offending input back.
    return [
        {"loc": [str(p) for p in err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors()
    ]


def register(app: Flask) -> None:
    @app.errorhandler(SandboxError)
    def _domain(exc: SandboxError) -> Any:
        if exc.recorded:
            context.db().commit()
        status = status_of(exc)
        if _wants_json():
            return json_error(status, exc.code, exc.message)
        return render_template("error.html", status=status, message=exc.message), status

    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError) -> Any:
        if _wants_json():
            return json_error(
                400,
                "invalid_request",
                "the request body is not valid",
                details=validation_details(exc),
            )
        return render_template("error.html", status=400, message="invalid form"), 400

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        codes = {
            400: "bad_request",
            401: "unauthenticated",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            415: "unsupported_media_type",
        }
        code = codes.get(status, "http_error")
        message = exc.description or exc.name
        # Keep the exception's own headers (a 405's Allow, which RFC 9110 requires).
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        if _wants_json():
            response = json_error(status, code, message)
            response.headers.extend(headers)
            return response
        return render_template("error.html", status=status, message=message), status, headers

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.path)
        if _wants_json():
            return json_error(500, "internal", "internal error")
        return render_template("error.html", status=500, message="internal error"), 500
