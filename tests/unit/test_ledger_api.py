"""/api/v1/ledger: proofs that verify against the signed checkpoint, 4xx JSON for malformed
requests, and entries written with the change they record (refusals and failed logins kept
even though the request failed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from sandbox.ledger import merkle
from sandbox.ledger.models import LedgerEntry
from tests.conftest import World, auth
from web.cli import main


def _get(client: FlaskClient, world: World, path: str, user: str = "auditor") -> Any:
    return client.get(path, headers=auth(world.token(user)))


def _sign(client: FlaskClient, world: World) -> dict[str, Any]:
    response = client.post("/api/v1/ledger/checkpoints", headers=auth(world.token("auditor")))
    assert response.status_code == 201
    return response.get_json()  # type: ignore[no-any-return]


def test_inclusion_proofs_verify_against_the_signed_root(client: FlaskClient, world: World) -> None:
    cp = _sign(client, world)
    size = cp["tree_size"]
    listing = _get(client, world, f"/api/v1/ledger/entries?start=0&end={size}").get_json()
    assert listing["size"] >= size and len(listing["entries"]) == size
    for item in listing["entries"]:
        proof = _get(
            client, world, f"/api/v1/ledger/proofs/inclusion?index={item['index']}&tree_size={size}"
        ).get_json()
        leaf = merkle.leaf_hash(item["raw"].encode())
        assert leaf.hex() == item["leaf_hash"] == proof["leaf_hash"]
        merkle.verify_inclusion(
            leaf,
            item["index"],
            size,
            [bytes.fromhex(h) for h in proof["path"]],
            bytes.fromhex(cp["root_hash"]),
        )


def test_consistency_proof_checks_offline_with_no_entries(
    client: FlaskClient, world: World, tmp_path: Path
) -> None:
    old = _sign(client, world)
    client.post("/api/v1/tokens", json={"name": "grow"}, headers=auth(world.token("bank-a")))
    new = _sign(client, world)
    assert new["tree_size"] > old["tree_size"]
    proof = _get(
        client,
        world,
        f"/api/v1/ledger/proofs/consistency?first={old['tree_size']}&second={new['tree_size']}",
    ).get_json()
    for name, cp in (("old", old), ("new", new)):
        (tmp_path / f"{name}.json").write_text(
            json.dumps({"body": cp["body"], "signature": cp["signature"]})
        )
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    (tmp_path / "key.pem").write_text(new["public_key_pem"])
    args = [
        "audit",
        "consistency",
        "--old",
        str(tmp_path / "old.json"),
        "--new",
        str(tmp_path / "new.json"),
        "--proof",
        str(tmp_path / "proof.json"),
        "--key",
        str(tmp_path / "key.pem"),
    ]
    ok = CliRunner().invoke(main, args)
    assert ok.exit_code == 0, ok.output
    proof["path"][0] = "00" * 32
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    bad = CliRunner().invoke(main, args)
    assert bad.exit_code == 1 and "FAILED" in bad.output


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/v1/ledger/proofs/inclusion?index=999999&tree_size=3", "ledger.bad_index"),
        ("/api/v1/ledger/proofs/inclusion?index=0&tree_size=999999", "ledger.bad_size"),
        ("/api/v1/ledger/proofs/inclusion?index=0&tree_size=0", "ledger.bad_size"),
        ("/api/v1/ledger/proofs/inclusion?index=-1&tree_size=3", "invalid_query"),
        ("/api/v1/ledger/proofs/inclusion?index=abc&tree_size=3", "invalid_query"),
        ("/api/v1/ledger/proofs/inclusion?index=1", "invalid_query"),
        ("/api/v1/ledger/proofs/inclusion?index=٣&tree_size=5", "invalid_query"),
        ("/api/v1/ledger/proofs/inclusion?index=1&tree_size=" + "9" * 40, "invalid_query"),
        ("/api/v1/ledger/proofs/consistency?first=5&second=3", "ledger.bad_range"),
        ("/api/v1/ledger/proofs/consistency?first=0&second=3", "ledger.bad_range"),
        ("/api/v1/ledger/proofs/consistency?first=1&second=999999", "ledger.bad_size"),
        ("/api/v1/ledger/proofs/consistency?first=x&second=3", "invalid_query"),
        ("/api/v1/ledger/entries?start=10&end=5", "ledger.bad_range"),
        ("/api/v1/ledger/entries?start=999999", "ledger.bad_range"),
        ("/api/v1/ledger/entries?start=1.5", "invalid_query"),
    ],
)
def test_malformed_requests_get_4xx_json(
    client: FlaskClient, world: World, path: str, code: str
) -> None:
    response = _get(client, world, path)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code


def _actions(world: World) -> list[tuple[str, str | None, dict[str, Any]]]:
    with world.factory() as session:
        rows = session.execute(
            select(LedgerEntry.action, LedgerEntry.actor_user, LedgerEntry.body).order_by(
                LedgerEntry.index
            )
        ).all()
    return [(a, u, json.loads(b)) for a, u, b in rows]


def test_a_refusal_is_kept_though_the_request_failed(client: FlaskClient, world: World) -> None:
    tax = client.get("/api/v1/datasets", headers=auth(world.token("operator"))).get_json()
    dataset = next(d for d in tax["datasets"] if d["domain"] == "tax")
    response = client.post(
        "/api/v1/jobs",
        headers=auth(world.token("operator")),
        json={"kind": "dataset.profile", "params": {"dataset_id": dataset["id"]}},
    )
    assert response.status_code == 403
    action, user, entry = _actions(world)[-1]
    assert (action, user) == ("job.refused", "operator")
    assert entry["details"] == {"kind": "dataset.profile", "reason": "forbidden.owner"}


def test_logins_are_recorded_without_the_typed_secret(app: Any, world: World) -> None:
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    typed = "hunter2-typed-into-the-username-box"
    browser.post("/login", data={"username": typed, "password": "x", "csrf_token": csrf})
    browser.post(
        "/login", data={"username": "bank-a", "password": "wrong password!", "csrf_token": csrf}
    )
    browser.post(
        "/login",
        data={"username": "bank-a", "password": world.password("bank-a"), "csrf_token": csrf},
    )
    last = _actions(world)[-3:]
    assert [(a, u) for a, u, _ in last] == [
        ("auth.login_failed", None),
        ("auth.login_failed", "bank-a"),
        ("auth.login", "bank-a"),
    ]
    assert last[0][2]["details"] == {"reason": "unknown_user"}
    assert last[1][2]["details"] == {"reason": "bad_password"}
    assert all(typed not in json.dumps(e) for _, _, e in last)


def test_a_rolled_back_change_leaves_no_entry(client: FlaskClient, world: World) -> None:
    before = len(_actions(world))
    response = client.post(
        "/api/v1/tokens", json={"name": "\x00"}, headers=auth(world.token("bank-a"))
    )
    assert response.status_code == 400
    assert len(_actions(world)) == before
