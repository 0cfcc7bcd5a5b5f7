"""No raw value of any dataset appears in the control DB, the broker, the logs or any API
response. A dataset of unique markers (and unique identifiers) is loaded, jobs run through real
workers, and every one of those places is searched for every marker."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from sandbox.db.engine import session_scope
from sandbox.jobs.celery_app import CeleryEnqueuer, make_celery
from sandbox.jobs.models import Job
from tests.conftest import auth, wait_for
from tests.integration.stacks import Stack, build_stack, load_canaries

pytestmark = [pytest.mark.integration]


def dump_control_db(stack: Stack) -> str:
    meta = MetaData()
    meta.reflect(stack.engine)
    parts: list[str] = []
    with stack.engine.connect() as conn:
        for table in meta.sorted_tables:
            parts.extend(repr(tuple(row)) for row in conn.execute(select(table)))
    return "\n".join(parts)


class RedisTap:
    """Everything the broker was sent (MONITOR) and everything it still holds."""

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.seen: list[str] = []
        self._stop = threading.Event()
        self._monitor = self.client.monitor()
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for event in self._monitor.listen():
            self.seen.append(str(event.get("command", "")))
            if self._stop.is_set():
                return

    def _value(self, key: bytes) -> Any:
        kind = self.client.type(key).decode()
        if kind == "string":
            return self.client.get(key)
        if kind == "list":
            return self.client.lrange(key, 0, -1)
        if kind == "hash":
            return self.client.hgetall(key)
        if kind == "set":
            return self.client.smembers(key)
        if kind == "zset":
            return self.client.zrange(key, 0, -1)
        return b""

    def contents(self) -> str:
        self._stop.set()
        self.client.ping()  # wakes the monitor loop so that it can stop
        self._thread.join(timeout=5)
        held: list[str] = []
        for key in self.client.scan_iter():
            held.append(f"{key!r}={self._value(key)!r}")
        return "\n".join(self.seen + held)


def filesystem_broker_contents(stack: Stack) -> str:
    root = stack.settings.broker_dir
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


@pytest.fixture(params=["embedded", "services"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Stack, Any]]:
    if request.param == "embedded":
        built = build_stack(tmp_path / "var", reaper_interval_seconds=0.5)
        yield built, None
    else:
        pg = request.getfixturevalue("postgres_url")
        redis_url = request.getfixturevalue("redis_url")
        built = build_stack(
            tmp_path / "var", database_url=pg, broker_url=redis_url, reaper_interval_seconds=0.5
        )
        yield built, RedisTap(redis_url)
    built.engine.dispose()


def test_no_raw_value_leaves_the_domain(
    stack: tuple[Stack, Any], tmp_path: Path, workers_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from web.app import create_app

    built, tap = stack
    caplog.set_level(logging.DEBUG)
    canaries = load_canaries(built, tmp_path)
    workers = workers_for(built.settings)
    workers.start("coordinator", "--coordinator")
    workers.start("tax", "--domain", "tax")

    app = create_app(built.settings, enqueuer=CeleryEnqueuer(make_celery(built.settings)))
    client = app.test_client()
    texts: list[str] = []
    dataset_id = str(canaries.outcome.dataset_id)
    owner = auth(built.accounts["tax-cdo"]["token"])
    submitted = client.post(
        "/api/v1/jobs",
        headers=owner,
        json={"kind": "dataset.profile", "params": {"dataset_id": dataset_id}},
    )
    assert submitted.status_code == 202, submitted.get_data(as_text=True)
    job_id = submitted.get_json()["id"]

    def done() -> bool:
        with session_scope(built.factory) as session:
            job = session.get(Job, uuid.UUID(job_id))
            return job is not None and job.state in ("succeeded", "failed")

    wait_for(done, timeout=60, what="the profile job")
    final = client.get(f"/api/v1/jobs/{job_id}", headers=owner)
    assert final.get_json()["status"] == "succeeded", workers.logs()[-2000:]

    for username, account in built.accounts.items():
        headers = auth(account["token"])
        for path in (
            "/api/v1/me",
            "/api/v1/datasets",
            f"/api/v1/datasets/{dataset_id}",
            "/api/v1/jobs",
            f"/api/v1/jobs/{job_id}",
            "/api/v1/domains",
            "/api/v1/organizations",
            "/api/v1/tokens",
        ):
            texts.append(
                f"{username} {path} " + client.get(path, headers=headers).get_data(as_text=True)
            )
        browser = app.test_client()
        login = browser.get("/login").get_data(as_text=True)
        csrf = login.split('name="csrf_token" value="')[1].split('"')[0]
        browser.post(
            "/login",
            data={"username": username, "password": account["password"], "csrf_token": csrf},
        )
        for page in (
            "/home",
            "/catalog",
            f"/catalog/{dataset_id}",
            "/jobs",
            f"/jobs/{job_id}",
            f"/jobs/{job_id}/status",
        ):
            texts.append(f"{username} {page} " + browser.get(page).get_data(as_text=True))

    places = {
        "control DB": dump_control_db(built),
        "broker": tap.contents() if tap is not None else filesystem_broker_contents(built),
        "logs": workers.logs() + "\n".join(r.getMessage() for r in caplog.records),
        "responses": "\n".join(texts),
    }
    assert "CANARY" not in "".join(canaries.identifiers)
    if tap is not None:  # the tap saw the traffic, so a leak through the broker would show
        assert "sandbox.run_step" in places["broker"] and job_id in places["control DB"]
    assert len(places["responses"]) > 10_000 and len(places["control DB"]) > 1_000
    for place, content in places.items():
        leaked = [m for m in canaries.markers + canaries.identifiers if m in content]
        assert not leaked, f"{len(leaked)} raw values found in the {place}, e.g. {leaked[:2]}"
