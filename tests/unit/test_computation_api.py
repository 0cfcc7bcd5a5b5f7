"""Running a computation over HTTP and reading its result: who may, and every malformed,
oversized, hostile and out-of-order request refused with a clear error and nothing charged."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from grants.demo import DemoGovernance, seed_governance
from grants.models import GrantUsage
from sandbox.clock import utcnow
from sandbox.datasets.models import Dataset
from tests.conftest import World, auth
from tests.unit.test_protocol_jobs import drive

API = "/api/v1"


@pytest.fixture
def gov(world: World) -> Iterator[DemoGovernance]:
    with world.factory() as session:
        g = seed_governance(session, now=utcnow())
        session.commit()
    yield g


def _ids(world: World) -> dict[str, str]:
    with world.factory() as s:
        out = {"tax": str(s.scalars(select(Dataset.id).where(Dataset.name == "tax_ratings")).one())}
        for d in s.scalars(select(Dataset).where(Dataset.name == "applicants")):
            out[d.domain.name] = str(d.id)
        return out


def _body(ids: dict[str, str], **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "lookup",
        "datasets": [
            {"dataset_id": ids["tax"], "columns": ["credit_code", "tax_credit_grade", "arrears"]}
        ],
        "purpose": "sme_credit_assessment",
        "recipient": "bank-a",
        "input_dataset": ids["bank-a"],
    }
    body.update(over)
    return body


def _post(client: FlaskClient, world: World, g: DemoGovernance, user: str, body: Any) -> Any:
    return client.post(
        f"{API}/grants/{g.approved_grant_id}/computations",
        json=body,
        headers=auth(world.token(user)),
    )


def _calls(world: World, g: DemoGovernance) -> int:
    with world.factory() as s:
        usage = s.get(GrantUsage, (g.approved_grant_id, utcnow().date()))
        return usage.calls if usage else 0


def _code(response: Any) -> str:
    return str(response.get_json()["error"]["code"])


def test_run_then_read_the_result_as_the_recipient_only(
    client: FlaskClient, world: World, gov: DemoGovernance
) -> None:
    ids = _ids(world)
    response = _post(client, world, gov, "operator", _body(ids))
    assert response.status_code == 202, response.get_json()
    job_id = response.get_json()["id"]
    early = client.get(f"{API}/jobs/{job_id}/result", headers=auth(world.token("bank-a")))
    assert (early.status_code, _code(early)) == (409, "result.not_ready")
    assert drive(world, uuid.UUID(job_id)).state == "succeeded"
    got = client.get(f"{API}/jobs/{job_id}/result", headers=auth(world.token("bank-a")))
    assert got.status_code == 200
    table = got.get_json()
    assert table["columns"] == ["identifier", "found", "tax_credit_grade", "arrears"]
    assert table["row_count"] == len(table["rows"]) > 0
    as_csv = client.get(
        f"{API}/jobs/{job_id}/result?format=csv", headers=auth(world.token("bank-a"))
    )
    assert as_csv.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(as_csv.get_data(as_text=True))))
    assert rows[0] == table["columns"] and rows[1:] == table["rows"]
    for user, status, code in (
        ("operator", 403, "result.not_recipient"),
        ("bureau", 403, "result.not_recipient"),
        ("bank-b", 404, "job.not_found"),
        ("market-cdo", 404, "job.not_found"),
    ):
        r = client.get(f"{API}/jobs/{job_id}/result", headers=auth(world.token(user)))
        assert (r.status_code, _code(r)) == (status, code), user
    bad = client.get(f"{API}/jobs/{job_id}/result?format=xml", headers=auth(world.token("bank-a")))
    assert (bad.status_code, _code(bad)) == (400, "invalid_query")
    # The job as anyone sees it carries counts only, never an identifier or a label.
    job = client.get(f"{API}/jobs/{job_id}", headers=auth(world.token("operator"))).get_json()
    for row in table["rows"]:
        assert row[0] not in str(job)


REFUSED: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("hostile purpose", "operator", {"purpose": "x'; DROP TABLE grants;--"}, 403, "policy.purpose"),
    ("another bank's input", "operator", {"input_dataset": "bank-b"}, 403, "policy.input"),
    ("a recipient not named", "operator", {"recipient": "bank-z"}, 403, "policy.recipient"),
    ("a bank for another bank", "bank-a", {"recipient": "bank-b"}, 403, "policy.no_grant"),
    ("a kind the grant lacks", "operator", {"kind": "secure_sum"}, 403, "policy.kind_not_granted"),
]


@pytest.mark.parametrize(
    ("label", "user", "change", "status", "code"), REFUSED, ids=[r[0] for r in REFUSED]
)
def test_policy_refusals_charge_nothing(
    client: FlaskClient,
    world: World,
    gov: DemoGovernance,
    label: str,
    user: str,
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    ids = _ids(world)
    change = {k: ids.get(v, v) if k == "input_dataset" else v for k, v in change.items()}
    response = _post(client, world, gov, user, _body(ids, **change))
    assert (response.status_code, _code(response)) == (status, code), response.get_json()
    assert _calls(world, gov) == 0


def test_malformed_requests(client: FlaskClient, world: World, gov: DemoGovernance) -> None:
    ids = _ids(world)
    cases: list[tuple[Any, int, str]] = [
        (_body(ids, kind="teleport"), 400, "invalid_request"),
        (_body(ids, datasets=[]), 400, "invalid_request"),
        (_body(ids, input_dataset="bank-a"), 400, "invalid_request"),
        (_body(ids, input_dataset=7), 400, "invalid_request"),
        (_body(ids, rows=10), 400, "invalid_request"),  # the size is never the caller's word
        (
            _body(ids, datasets=[{"dataset_id": ids["tax"], "columns": ["credit_code"]}]),
            400,
            "job.no_labels",
        ),
        (
            _body(ids, datasets=[{"dataset_id": ids["tax"], "columns": ["tax_credit_grade"]}]),
            400,
            "job.identifier_column",
        ),
        (
            _body(ids, datasets=[{"dataset_id": ids["tax"], "columns": ["x" * 5000]}]),
            400,
            "invalid_request",
        ),
        (
            _body(ids, datasets=[{"dataset_id": ids["tax"], "columns": ["credit_code"]}] * 21),
            400,
            "invalid_request",
        ),
        (_body(ids, input_dataset=str(uuid.uuid4())), 403, "policy.input"),
    ]
    for body, status, code in cases:
        response = _post(client, world, gov, "operator", body)
        assert (response.status_code, _code(response)) == (status, code), (body, response.data)
    huge = client.post(
        f"{API}/grants/{gov.approved_grant_id}/computations",
        data=b"{" + b" " * (world.settings.max_request_bytes + 10) + b"}",
        headers={**auth(world.token("operator")), "Content-Type": "application/json"},
    )
    assert huge.status_code == 413
    assert _calls(world, gov) == 0


def test_a_session_is_not_enough_for_the_api(
    client: FlaskClient, world: World, gov: DemoGovernance
) -> None:
    response = client.post(f"{API}/grants/{gov.approved_grant_id}/computations", json={})
    assert response.status_code == 401
