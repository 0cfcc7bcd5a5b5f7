"""Shared fixtures: a seeded world on SQLite (copied per test from one seeded template), the
app with a recording enqueuer, PostgreSQL and Redis when present, and real worker processes.

Tests that need a service skip with a reason when it is absent, except under
SANDBOX_REQUIRE_SERVICES=1 (set by .ci/run), where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from sandbox.clock import utcnow
from sandbox.db.engine import make_engine, make_session_factory
from sandbox.demo import seed as demo_seed
from sandbox.demo.world import ACCOUNTS
from sandbox.ids import JobId, StepId
from sandbox.platform import init
from sandbox.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get(
    "SANDBOX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
DEMO_USERNAMES = tuple(spec.username for spec in ACCOUNTS)
REDIS_URL = os.environ.get("SANDBOX_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def services_required() -> bool:
    return os.environ.get("SANDBOX_REQUIRE_SERVICES") == "1"


def need(service: str, reason: str) -> None:
    if services_required():
        pytest.fail(f"{service} is required (SANDBOX_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(f"{service} not available: {reason}")


@dataclass
class RecordingEnqueuer:
    jobs: list[JobId] = field(default_factory=list)
    steps: list[tuple[StepId, str]] = field(default_factory=list)

    def advance_job(self, job_id: JobId) -> None:
        self.jobs.append(job_id)

    def run_step(self, step_id: StepId, domain: str) -> None:
        self.steps.append((step_id, domain))


@dataclass
class World:
    settings: Settings
    factory: sessionmaker[Session]
    accounts: dict[str, dict[str, Any]]

    def token(self, username: str) -> str:
        return str(self.accounts[username]["token"])

    def password(self, username: str) -> str:
        return str(self.accounts[username]["password"])


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("template") / "var"
    settings = Settings(data_dir=data_dir)
    init(settings)
    engine = make_engine(settings)
    demo_seed.seed(
        make_session_factory(engine),
        settings,
        now=utcnow(),
        enterprises=150,
        say=lambda _line: None,
    )
    engine.dispose()
    return data_dir


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, **overrides)


@pytest.fixture
def world(seeded_template: Path, tmp_path: Path) -> Iterator[World]:
    data_dir = tmp_path / "var"
    shutil.copytree(seeded_template, data_dir)
    settings = settings_for(data_dir)
    engine = make_engine(settings)
    accounts = json.loads((data_dir / "demo-accounts.json").read_text(encoding="utf-8"))
    yield World(settings, make_session_factory(engine), {a["username"]: a for a in accounts})
    engine.dispose()


@pytest.fixture
def enqueuer() -> RecordingEnqueuer:
    return RecordingEnqueuer()


@pytest.fixture
def app(world: World, enqueuer: RecordingEnqueuer) -> Any:
    from web.app import create_app

    flask_app = create_app(world.settings, enqueuer=enqueuer)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- services -------------------------------------------------------------------------------


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        need("PostgreSQL", f"{PG_ADMIN_URL}: {type(exc).__name__}")
    name = f"sbx_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL)
        client.ping()
    except Exception as exc:
        need("Redis", f"{REDIS_URL}: {type(exc).__name__}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


# --- real worker processes --------------------------------------------------------------------


@dataclass
class Workers:
    env: dict[str, str]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "worker", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[name] = proc
        return proc

    def logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(
        {
            "SANDBOX_DATA_DIR": str(settings.data_dir),
            "SANDBOX_LEASE_SECONDS": str(settings.lease_seconds),
            "SANDBOX_REAPER_INTERVAL_SECONDS": str(settings.reaper_interval_seconds),
            "SANDBOX_REQUEUE_AFTER_SECONDS": str(settings.requeue_after_seconds),
            "PYTHONPATH": str(ROOT),
        }
    )
    if settings.database_url:
        env["SANDBOX_DATABASE_URL"] = settings.database_url
    if settings.broker_url:
        env["SANDBOX_BROKER_URL"] = settings.broker_url
    if settings.exchange_url:
        env["SANDBOX_EXCHANGE_URL"] = settings.exchange_url
    return env


@pytest.fixture
def workers_for(tmp_path: Path) -> Iterator[Any]:
    started: list[Workers] = []

    def make(settings: Settings) -> Workers:
        log_dir = tmp_path / "worker-logs"
        log_dir.mkdir(exist_ok=True)
        workers = Workers(worker_env(settings), log_dir)
        started.append(workers)
        return workers

    yield make
    for workers in started:
        workers.stop()


def wait_for(predicate: Any, *, timeout: float, interval: float = 0.1, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
