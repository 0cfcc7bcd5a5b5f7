"""Everything an API caller can send, malformed, oversized, hostile or out of order, gets a 4xx
JSON error with a stable code, never a 500; and the OpenAPI document is well formed."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from sandbox.datasets.models import Dataset
from sandbox.domains.models import Domain
from sandbox.parties.service import MAX_TOKENS_PER_USER
from tests.conftest import World, auth
from web.api.spec import OPERATIONS

MARKER = "CANARY-7f3e9b21-do-not-echo"


def error_of(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Check the status and the JSON error envelope; return the inner error object."""
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.mimetype == "application/json", response.data[:300]
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    if code is not None:
        assert error["code"] == code, error
    return error  # type: ignore[no-any-return]


@pytest.fixture
def h(world: World) -> dict[str, str]:
    return auth(world.token("tax-cdo"))


@pytest.fixture
def tax_dataset(world: World) -> str:
    with world.factory() as session:
        found = session.scalar(
            select(Dataset.id)
            .join(Domain, Domain.id == Dataset.domain_id)
            .where(Domain.name == "tax")
        )
    assert found is not None
    return str(found)


def profile(dataset_id: Any) -> dict[str, Any]:
    return {"kind": "dataset.profile", "params": {"dataset_id": dataset_id}}


# --- POST /api/v1/jobs ------------------------------------------------------------------------

RAW_BODIES: list[tuple[str, bytes | None, str | None, str]] = [
    # (id, body, content type, expected code) -> always 400
    ("no-body", None, None, "invalid_json"),
    ("empty-json", b"", "application/json", "invalid_json"),
    ("not-json", b"kind=dataset.profile", "application/json", "invalid_json"),
    (
        "truncated-json",
        b'{"kind": "dataset.profile", "params": {',
        "application/json",
        "invalid_json",
    ),
    ("json-null", b"null", "application/json", "invalid_json"),
    ("form-encoded", b"kind=dataset.profile", "application/x-www-form-urlencoded", "invalid_json"),
    ("text-plain", b'{"kind": "dataset.profile"}', "text/plain", "invalid_json"),
    ("no-content-type", b'{"kind": "dataset.profile"}', None, "invalid_json"),
    ("bad-utf8", b'{"kind": "\xff\xfe\xfd"}', "application/json", "invalid_json"),
    ("huge-int", b'{"kind": ' + b"9" * 5000 + b"}", "application/json", "invalid_json"),
    ("json-array", b'[{"kind": "dataset.profile"}]', "application/json", "invalid_request"),
    ("json-string", b'"dataset.profile"', "application/json", "invalid_request"),
    ("json-number", b"42", "application/json", "invalid_request"),
    ("json-true", b"true", "application/json", "invalid_request"),
    ("nan", b'{"kind": NaN, "params": {}}', "application/json", "invalid_request"),
    ("empty-object", b"{}", "application/json", "invalid_request"),
    ("deeply-nested-unclosed", b"[" * 100_000, "application/json", "invalid_json"),
    ("deeply-nested-closed", b"[" * 50_000 + b"]" * 50_000, "application/json", "invalid_json"),
    (
        "deeply-nested-in-params",
        b'{"kind": "dataset.profile", "params": {"dataset_id": '
        + b'{"a":' * 20_000
        + b"1"
        + b"}" * 20_000
        + b"}}",
        "application/json",
        "invalid_json",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "code"), [r[1:] for r in RAW_BODIES], ids=[r[0] for r in RAW_BODIES]
)
def test_submit_rejects_unparseable_bodies(
    client: FlaskClient,
    h: dict[str, str],
    body: bytes | None,
    content_type: str | None,
    code: str,
) -> None:
    headers = dict(h)
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post("/api/v1/jobs", data=body, headers=headers)
    error_of(response, 400, code)


def test_moderately_nested_json_is_a_validation_error(
    client: FlaskClient, h: dict[str, str]
) -> None:
    nested: Any = MARKER
    for _ in range(200):
        nested = {"a": [nested]}
    response = client.post("/api/v1/jobs", json=profile(nested), headers=h)
    error = error_of(response, 400, "invalid_request")
    assert MARKER not in response.get_data(as_text=True)
    assert error["details"][0]["loc"] == ["params", "dataset_id"]


INVALID: list[tuple[str, Any, list[list[str]]]] = [
    # (id, JSON body, the error locations expected in details)
    ("unknown-kind", {"kind": MARKER, "params": {"dataset_id": str(uuid.uuid4())}}, [["kind"]]),
    (
        "kind-wrong-type",
        {"kind": [MARKER], "params": {"dataset_id": str(uuid.uuid4())}},
        [["kind"]],
    ),
    (
        "extra-top-field",
        {
            "kind": "dataset.profile",
            "params": {"dataset_id": str(uuid.uuid4())},
            "priority": MARKER,
        },
        [["priority"]],
    ),
    (
        "extra-param",
        {
            "kind": "dataset.profile",
            "params": {"dataset_id": str(uuid.uuid4()), "columns": [MARKER]},
        },
        [["params", "columns"]],
    ),
    ("missing-params", {"kind": "dataset.profile"}, [["params"]]),
    ("missing-kind", {"params": {"dataset_id": str(uuid.uuid4())}}, [["kind"]]),
    ("params-not-object", {"kind": "dataset.profile", "params": MARKER}, [["params"]]),
    ("missing-dataset-id", {"kind": "dataset.profile", "params": {}}, [["params", "dataset_id"]]),
    ("dataset-id-not-uuid", profile(MARKER), [["params", "dataset_id"]]),
    ("dataset-id-sql", profile(f"' OR 1=1 -- {MARKER}"), [["params", "dataset_id"]]),
    ("dataset-id-number", profile(12345678901234567890), [["params", "dataset_id"]]),
    ("dataset-id-null", profile(None), [["params", "dataset_id"]]),
    ("dataset-id-long", profile(MARKER * 2000), [["params", "dataset_id"]]),
]


@pytest.mark.parametrize(("body", "locs"), [r[1:] for r in INVALID], ids=[r[0] for r in INVALID])
def test_submit_rejects_invalid_requests_without_echoing_input(
    client: FlaskClient,
    h: dict[str, str],
    body: Any,
    locs: list[list[str]],
) -> None:
    response = client.post("/api/v1/jobs", json=body, headers=h)
    error = error_of(response, 400, "invalid_request")
    assert sorted(d["loc"] for d in error["details"]) == sorted(locs)
    for detail in error["details"]:
        assert set(detail) == {"loc", "msg", "type"}, detail
    assert MARKER not in response.get_data(as_text=True)
    assert "' OR 1=1" not in response.get_data(as_text=True)


def test_submit_on_a_dataset_that_does_not_exist(
    client: FlaskClient, h: dict[str, str], world: World
) -> None:
    for dataset_id in (str(uuid.uuid4()), str(uuid.UUID(int=0)), str(uuid.uuid4()).upper()):
        error_of(
            client.post("/api/v1/jobs", json=profile(dataset_id), headers=h),
            404,
            "dataset.not_found",
        )


def test_submit_accepts_params_in_any_key_order(
    client: FlaskClient, h: dict[str, str], tax_dataset: str
) -> None:
    body = json.dumps({"params": {"dataset_id": tax_dataset}, "kind": "dataset.profile"})
    response = client.post(
        "/api/v1/jobs", data=body, headers=h, content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 202, response.get_json()


def test_auth_is_checked_before_the_body(client: FlaskClient) -> None:
    # A malformed body from nobody is a 401, not a 400 that would tell parsing from auth.
    response = client.post("/api/v1/jobs", data=b"[" * 1000, content_type="application/json")
    error_of(response, 401, "auth.token_missing")
    error_of(client.post("/api/v1/tokens", json={"name": ""}), 401, "auth.token_missing")


@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/tokens"])
def test_body_over_the_limit_is_413(
    app: Flask, client: FlaskClient, h: dict[str, str], path: str
) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert isinstance(limit, int) and limit > 0
    body = b'{"name": "' + b"x" * limit + b'"}'
    error_of(
        client.post(path, data=body, headers=h, content_type="application/json"), 413, "too_large"
    )


def test_body_just_under_the_limit_is_parsed(
    app: Flask, client: FlaskClient, h: dict[str, str]
) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b'{"name": "' + b"x" * (limit - 20) + b'"}'
    assert len(body) <= limit
    response = client.post("/api/v1/tokens", data=body, headers=h, content_type="application/json")
    error_of(response, 400, "invalid_request")  # parsed, then the name is too long


# --- GET /api/v1/jobs query -------------------------------------------------------------------

BAD_QUERIES: list[dict[str, str]] = [
    {"status": "done"},
    {"status": ""},
    {"status": "QUEUED"},
    {"status": MARKER},
    {"limit": "0"},
    {"limit": "-1"},
    {"limit": "abc"},
    {"limit": "100000"},
    {"limit": "201"},
    {"limit": ""},
    {"limit": "1.5"},
    {"limit": " 5"},
    {"limit": "1e2"},
    {"limit": "²"},  # str.isdigit() says yes, int() says no
    {"limit": "٣"},  # Arabic-Indic three: not a plain ASCII number
    {"limit": "9" * 5000},  # more digits than int() converts
]


@pytest.mark.parametrize("query", BAD_QUERIES, ids=[repr(q)[:40] for q in BAD_QUERIES])
def test_job_list_rejects_bad_query(
    client: FlaskClient, h: dict[str, str], query: dict[str, str]
) -> None:
    response = client.get("/api/v1/jobs", query_string=query, headers=h)
    error_of(response, 400, "invalid_query")
    assert MARKER not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"limit": "1"},
        {"limit": "200"},
        {"status": "failed"},
        {"status": "queued", "limit": "5"},
        {"unknown": "x"},
    ],
)
def test_job_list_accepts_good_query(
    client: FlaskClient, h: dict[str, str], query: dict[str, str]
) -> None:
    response = client.get("/api/v1/jobs", query_string=query, headers=h)
    assert response.status_code == 200
    assert isinstance(response.get_json()["jobs"], list)


# --- path ids ---------------------------------------------------------------------------------

BAD_IDS = [
    "not-a-uuid",
    "1",
    MARKER,
    "0" * 31,
    "g" * 32,
    "%00",
    "..%2F..%2Fetc",
    "12345678-1234-1234-1234-1234567890123",
    "{" + str(uuid.UUID(int=5)) + "}x",
]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(
    ("method", "template", "code"),
    [
        ("GET", "/api/v1/datasets/{}", "dataset.not_found"),
        ("GET", "/api/v1/jobs/{}", "job.not_found"),
        ("DELETE", "/api/v1/tokens/{}", "token.not_found"),
    ],
)
def test_non_uuid_path_ids_are_404(
    client: FlaskClient, h: dict[str, str], bad: str, method: str, template: str, code: str
) -> None:
    response = client.open(template.format(bad), method=method, headers=h)
    # An encoded slash splits the path: the router itself answers, with its own JSON 404.
    error_of(response, 404, "not_found" if "%2F" in bad else code)
    assert MARKER not in response.get_data(as_text=True)


def test_an_id_of_the_wrong_kind_is_404(
    client: FlaskClient, h: dict[str, str], tax_dataset: str
) -> None:
    error_of(client.get(f"/api/v1/jobs/{tax_dataset}", headers=h), 404, "job.not_found")
    error_of(client.delete(f"/api/v1/tokens/{tax_dataset}", headers=h), 404, "token.not_found")


# --- tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_request"),
        ({"name": ""}, "invalid_request"),
        ({"name": "x" * 101}, "invalid_request"),
        ({"name": MARKER * 10}, "invalid_request"),
        ({"name": None}, "invalid_request"),
        ({"name": 12}, "invalid_request"),
        ({"name": [MARKER]}, "invalid_request"),
        ({"name": "ok", "scope": MARKER}, "invalid_request"),
        ({"name": "   "}, "token.name"),
        ({"name": "\t\n"}, "token.name"),
        ({"name": "nul\x00byte"}, "token.name"),
        ({"name": "bell\x07"}, "token.name"),
    ],
)
def test_token_create_rejects_bad_names(
    client: FlaskClient, h: dict[str, str], body: Any, code: str
) -> None:
    response = client.post("/api/v1/tokens", json=body, headers=h)
    error_of(response, 400, code)
    assert MARKER not in response.get_data(as_text=True)


def test_token_name_boundaries(client: FlaskClient, h: dict[str, str]) -> None:
    for name in ("x", "x" * 100, " padded "):
        response = client.post("/api/v1/tokens", json={"name": name}, headers=h)
        assert response.status_code == 201, name
        assert response.get_json()["token"]["name"] == name.strip()


def test_token_limit(client: FlaskClient, world: World) -> None:
    h = auth(world.token("bank-b"))
    active = len(client.get("/api/v1/tokens", headers=h).get_json()["tokens"])
    assert active == 1  # the demo token
    created = []
    for n in range(MAX_TOKENS_PER_USER - active):
        response = client.post("/api/v1/tokens", json={"name": f"t{n}"}, headers=h)
        assert response.status_code == 201
        created.append(response.get_json()["token"]["id"])
    error_of(
        client.post("/api/v1/tokens", json={"name": "one too many"}, headers=h), 409, "token.limit"
    )
    # Revoking one makes room for exactly one more; revoked tokens do not count.
    assert client.delete(f"/api/v1/tokens/{created[0]}", headers=h).status_code == 204
    assert client.post("/api/v1/tokens", json={"name": "again"}, headers=h).status_code == 201
    error_of(client.post("/api/v1/tokens", json={"name": "again"}, headers=h), 409, "token.limit")


def test_out_of_order_token_operations(client: FlaskClient, h: dict[str, str]) -> None:
    created = client.post("/api/v1/tokens", json={"name": "tmp"}, headers=h).get_json()
    token_id, secret = created["token"]["id"], created["secret"]
    # Revoking twice is harmless and answers the same.
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=h).status_code == 204
    # A revoked token cannot revoke anything, itself included.
    error_of(
        client.delete(f"/api/v1/tokens/{token_id}", headers=auth(secret)), 401, "auth.token_invalid"
    )
    listed = client.get("/api/v1/tokens", headers=h).get_json()["tokens"]
    assert next(t for t in listed if t["id"] == token_id)["revoked_at"] is not None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "bearer",
        "Token abc",
        "Bearer sbx_",
        "Bearer " + "sbx_" + "a" * 500,
        "Bearer not-a-token",
        f"Bearer {MARKER}",
    ],
)
def test_malformed_authorization_headers(client: FlaskClient, header: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401
    error = error_of(response, 401)
    assert error["code"] in {"auth.token_missing", "auth.token_invalid"}
    assert MARKER not in response.get_data(as_text=True)


# --- methods and unknown paths ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/jobs"),
        ("DELETE", "/api/v1/jobs"),
        ("PATCH", "/api/v1/jobs/{job}"),
        ("POST", "/api/v1/me"),
        ("DELETE", "/api/v1/datasets"),
        ("POST", "/api/v1/datasets/{dataset}"),
        ("GET", "/api/v1/tokens/{dataset}"),
        ("PUT", "/api/v1/tokens"),
        ("POST", "/api/v1/openapi.json"),
        ("POST", "/healthz"),
    ],
)
def test_wrong_method_is_json_405(
    client: FlaskClient, h: dict[str, str], tax_dataset: str, method: str, path: str
) -> None:
    url = path.format(job=uuid.uuid4(), dataset=tax_dataset)
    response = client.open(url, method=method, headers=h)
    error_of(response, 405, "method_not_allowed")
    assert response.headers.get("Allow"), "a 405 must say which methods are allowed"
    assert method not in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/", "/api/v2/me", "/api/v1/datasets/x/y"])
def test_unknown_api_path_is_json_404(client: FlaskClient, h: dict[str, str], path: str) -> None:
    error_of(client.get(path, headers=h), 404, "not_found")


# --- the OpenAPI document ---------------------------------------------------------------------


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()  # type: ignore[no-any-return]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_openapi_top_level(document: dict[str, Any]) -> None:
    # openapi_spec_validator is not installed in the venv; the structure is checked by hand.
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert isinstance(document["paths"], dict) and document["paths"]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert document["security"] == [{"bearer": []}]


def test_every_operation_is_documented(document: dict[str, Any]) -> None:
    assert OPERATIONS
    seen = set()
    for op in OPERATIONS:
        key = (op.method, op.path)
        assert key not in seen, f"{key} registered twice"
        seen.add(key)
        entry = document["paths"]["/api/v1" + op.path][op.method.lower()]
        assert entry["summary"] == op.summary
        assert str(op.status) in entry["responses"]
        assert "default" in entry["responses"]
        for code in entry["responses"]:
            assert code == "default" or (code.isdigit() and len(code) == 3)
            assert entry["responses"][code]["description"]
        if op.request is not None:
            assert entry["requestBody"]["required"] is True
            assert "application/json" in entry["requestBody"]["content"]
        if op.public:
            assert entry["security"] == []
        else:
            assert "security" not in entry  # inherits the global bearer requirement
        declared = {p["name"] for p in entry.get("parameters", []) if p["in"] == "path"}
        in_path = {part[1:-1] for part in op.path.split("/") if part.startswith("{")}
        assert declared == in_path, op.path
        for param in entry.get("parameters", []):
            assert param["in"] in {"path", "query"}
            assert param["required"] is (param["in"] == "path")
            assert "schema" in param
    documented = {(m.upper(), p) for p, item in document["paths"].items() for m in item}
    assert documented == {(op.method, "/api/v1" + op.path) for op in OPERATIONS}


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [e["operationId"] for item in document["paths"].values() for e in item.values()]
    assert len(ids) == len(set(ids))
    assert all(i.replace("_", "").replace(".", "").isalnum() for i in ids), ids


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = _refs(document)
    assert refs
    schemas = document["components"]["schemas"]
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    for name, schema in schemas.items():
        assert isinstance(schema, dict) and schema, name
        assert "$defs" not in schema, f"{name}: nested $defs were not hoisted"


def test_documented_routes_match_the_router(app: Flask, document: dict[str, Any]) -> None:
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            path = rule.rule.replace("<", "{").replace(">", "}")
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                routed.add((method.lower(), path))
    documented = {(m, p) for p, item in document["paths"].items() for m in item}
    assert routed == documented


def test_request_schema_is_the_validating_model(document: dict[str, Any]) -> None:
    entry = document["paths"]["/api/v1/jobs"]["post"]
    ref = entry["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"kind", "params"}
    token = document["paths"]["/api/v1/tokens"]["post"]
    ref = token["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]["name"]
    assert (name["minLength"], name["maxLength"]) == (1, 100)
