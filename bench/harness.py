"""A throwaway installation for benchmarks: control DB, broker, keys, two domains with real
worker processes, datasets loaded through the normal loader, and jobs planned, ticketed and
run exactly as in production (only the grant policy is skipped: its cost is a few queries).

Peak memory: the baselines run in a fresh child process each; the workers' peak is read from
``/proc/<pid>/status`` (VmHWM) after each case.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from sandbox import platform
from sandbox.clock import utcnow
from sandbox.compute.plans import PlanStep
from sandbox.datasets.schema import Schema
from sandbox.datasets.service import load_dataset
from sandbox.db.engine import make_engine, make_session_factory, session_scope
from sandbox.domains.service import create_domain
from sandbox.identifiers import CREDIT_CODE_ALPHABET, credit_code_check_char
from sandbox.ids import JobId
from sandbox.jobs import engine
from sandbox.jobs.celery_app import CeleryEnqueuer, make_celery
from sandbox.jobs.coordinator import dispatch
from sandbox.jobs.models import Job
from sandbox.jobs.service import StepSpec, create_job
from sandbox.keys import load_or_create_private_key
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role
from sandbox.parties.service import create_organization, create_user
from sandbox.settings import Settings
from sandbox.tickets import DatasetRef, TicketSigner

ROOT = Path(__file__).resolve().parent.parent
GRADES = ("A", "B", "C", "D", "M")


def credit_codes(count: int, seed: int) -> list[str]:
    """Distinct valid unified social credit codes (GB 32100), deterministic per seed."""
    rng = random.Random(seed)
    body_alphabet = CREDIT_CODE_ALPHABET
    out: set[str] = set()
    while len(out) < count:
        body = (
            "91"
            + "".join(rng.choice("0123456789") for _ in range(6))
            + "".join(rng.choice(body_alphabet) for _ in range(9))
        )
        out.add(body + credit_code_check_char(body))
    return sorted(out, key=lambda _: rng.random())


def overlapping(count: int, seed: int) -> tuple[list[str], list[str]]:
    """Two sets of ``count`` codes each, half of them shared."""
    pool = credit_codes(count + count // 2, seed)
    shared = pool[: count // 2]
    return pool[:count], shared + pool[count : count + count - count // 2]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(fn: Callable[..., float], args: tuple[Any, ...], queue: Any) -> None:
    seconds = fn(*args)
    queue.put((seconds, peak_rss_mb()))


def in_child(fn: Callable[..., float], *args: Any) -> tuple[float, float]:
    """Run a baseline in a fresh process: (its seconds, its peak RSS in MB)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    seconds, rss = queue.get()
    proc.join()
    return float(seconds), float(rss)


def bench_schema(name: str, *columns: dict[str, Any]) -> Schema:
    """A bench dataset: a credit-code identifier and these columns."""
    return Schema.model_validate(
        {
            "name": name,
            "title": f"bench {name}",
            "openness": "conditional",
            "grade": "general",
            "identifier": {"column": "credit_code", "kind": "credit_code"},
            "columns": [{"name": "credit_code", "type": "string", "required": True}, *columns],
        }
    )


def _schema(name: str, labels: bool) -> Schema:
    if not labels:
        return bench_schema(name)
    return bench_schema(
        name,
        {"name": "tax_credit_grade", "type": "category", "values": list(GRADES)},
        {"name": "arrears", "type": "boolean"},
    )


def _fresh_postgres_url() -> tuple[str, Callable[[], None]]:
    """A new empty PostgreSQL database (and how to drop it), or "" to use SQLite."""
    admin_url = os.environ.get(
        "SANDBOX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    try:
        from sqlalchemy import create_engine, text

        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"sbx_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:  # noqa: BLE001  (no PostgreSQL here: use SQLite)
        return "", lambda: None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def _free_redis_url() -> str:
    try:
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/13", socket_connect_timeout=1)
        client.ping()
        client.flushdb()
        return "redis://127.0.0.1:6379/13"
    except Exception:  # noqa: BLE001  (no Redis here: use the filesystem broker)
        return ""


@dataclass
class Stage:
    settings: Settings
    factory: sessionmaker[Session]
    who: Principal
    signer: TicketSigner
    enqueuer: CeleryEnqueuer
    env: dict[str, str]
    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_pids: dict[str, list[int]] = field(default_factory=dict)
    _reader: Engine | None = None

    def reader(self) -> Engine:
        """An engine for polling: on SQLite it never takes the write lock."""
        if self._reader is None:
            self._reader = make_engine(self.settings, read_only=True)
        return self._reader

    def start_worker(self, *args: str) -> None:
        name = args[-1] if args[0] == "--domain" else "coordinator"
        log = (self.log_dir / f"{name}-{len(self.procs)}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "web.cli", "worker", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        self.worker_pids.setdefault(name, []).append(proc.pid)

    def workers(self, domain: str, count: int) -> None:
        """Make sure ``count`` worker processes serve the domain's queue."""
        while len(self.worker_pids.get(domain, [])) < count:
            self.start_worker("--domain", domain)
        time.sleep(0)

    def worker_peak_mb(self) -> float:
        peak = 0.0
        for pid in (p.pid for p in self.procs if p.poll() is None):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
            except OSError:
                continue
        return peak

    def load_rows(
        self, domain: str, name: str, schema: Schema, header: str, rows: Iterator[str]
    ) -> DatasetRef:
        """Load prepared CSV lines (``header`` and ``rows``) through the normal loader."""
        path = self.log_dir / f"{name}.csv"
        with path.open("w", encoding="utf-8") as fh:
            fh.write(header + "\n")
            for line in rows:
                fh.write(line + "\n")
        outcome = load_dataset(
            self.factory,
            self.settings,
            domain_name=domain,
            source=path,
            schema=schema,
            now=utcnow(),
        )
        path.unlink()
        return DatasetRef(id=str(outcome.dataset_id), version=outcome.version)

    def load(self, domain: str, name: str, codes: Sequence[str], *, labels: bool) -> DatasetRef:
        """Credit codes, with random tax labels if ``labels``, through the normal loader."""
        if not labels:
            return self.load_rows(domain, name, _schema(name, False), "credit_code", iter(codes))
        rng = random.Random(name)
        rows = (f"{c},{rng.choice(GRADES)},{rng.choice(('true', 'false'))}" for c in codes)
        header = "credit_code,tax_credit_grade,arrears"
        return self.load_rows(domain, name, _schema(name, True), header, rows)

    def run(self, kind: str, plan: list[PlanStep], *, timeout: float = 3600) -> tuple[float, Job]:
        """Submit a planned job (tickets signed as the grant authority would) and wait for it:
        seconds from submission to the job's end as its last step recorded it (the moment its
        result is committed), not to when this poller noticed."""
        job_id = uuid.uuid4()
        steps = [
            StepSpec(
                uuid.uuid4(),
                s.domain,
                s.action,
                "",
                s.after,
            )
            for s in plan
        ]
        now = utcnow()
        specs = [
            StepSpec(
                spec.step_id,
                spec.domain,
                spec.action,
                self.signer.sign(
                    job=str(job_id),
                    step=str(spec.step_id),
                    domain=s.domain,
                    action=s.action,
                    datasets=(s.dataset,) if s.dataset else (),
                    columns=s.columns,
                    scope=s.scope,
                    now=now,
                ),
                spec.after,
            )
            for spec, s in zip(steps, plan, strict=True)
        ]
        params: dict[str, Any] = {"recipient": "bench-bank"}
        if kind == "lookup":
            from sandbox.compute.lookup_steps import labels_digest

            build = next(s for s in plan if s.action == "lookup.publish")
            labels = tuple(build.scope["labels"])
            assert build.dataset is not None
            params["lookup_table"] = {
                "dataset": build.dataset.id,
                "version": build.dataset.version,
                "labels": labels_digest(labels),
            }
        start = time.perf_counter()
        submitted = utcnow()
        with session_scope(self.factory) as session:
            created = create_job(
                session,
                job_id=job_id,
                kind=kind,
                who=self.who,
                params=params,
                request={"bench": kind},
                steps=specs,
                authority=None,
                now=now,
            )
            first = engine.advance(session, JobId(created.id), now=now)
        dispatch(self.enqueuer, first)  # as the web does: first steps queued after commit
        deadline = start + timeout
        # One connection and a plain statement: the poller's CPU is taken from the workers'.
        state_of = select(Job.state).where(Job.id == job_id)
        with self.reader().connect() as conn:
            while True:
                state = conn.execute(state_of).scalar()
                conn.rollback()  # end the read, so that the next one sees new commits
                if state in ("succeeded", "failed"):
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{kind} job did not finish in {timeout}s")
                # The time is the job's own (below), so polling late costs the bench's wall
                # time only: poll less as the job ages, out of the workers' way.
                time.sleep(min(max((time.perf_counter() - start) / 50, 0.005), 0.5))
        with self.factory() as session:
            job = session.get(Job, job_id)
            assert job is not None
            session.expunge(job)
        if job.state != "succeeded" or job.finished_at is None:
            raise RuntimeError(f"{kind} job failed: {job.error_code} {job.error_message}")
        finished = job.finished_at
        if finished.tzinfo is None:  # SQLite keeps naive UTC
            finished = finished.replace(tzinfo=dt.UTC)
        return (finished - submitted).total_seconds(), job

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def stage(*, keep: bool = False) -> Iterator[Stage]:
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
    broker = _free_redis_url()
    # SQLite by default (the demo's control DB; on two cores a PostgreSQL server competes with
    # the workers for CPU); SANDBOX_BENCH_POSTGRES=1 runs on a fresh PostgreSQL database.
    database, drop_database = (
        _fresh_postgres_url() if os.environ.get("SANDBOX_BENCH_POSTGRES") else ("", lambda: None)
    )
    settings = Settings(
        data_dir=tmp / "var",
        broker_url=broker,
        database_url=database,
        lease_seconds=120,
        reaper_interval_seconds=30,
        requeue_after_seconds=600,
        log_level="WARNING",
    )
    platform.init(settings)
    factory = make_session_factory(make_engine(settings))
    with session_scope(factory) as session:
        now = utcnow()
        provider = create_organization(
            session, slug="bench-dept", name="Bench department", kind=OrgKind.PROVIDER, now=now
        )
        bank = create_organization(
            session, slug="bench-bank", name="Bench bank", kind=OrgKind.BANK, now=now
        )
        user = create_user(
            session,
            username="bench",
            display_name="Bench",
            org=bank,
            role=Role.BANK_ANALYST,
            password=uuid.uuid4().hex,
            now=now,
        )
        bureau = create_organization(
            session, slug="bench-bureau", name="Bench bureau", kind=OrgKind.BUREAU, now=now
        )
        create_domain(session, name="prov", org=provider, now=now)
        create_domain(session, name="req", org=bank, now=now)
        create_domain(session, name="gate", org=bureau, now=now)  # the output gate's domain
        for extra in ("prov2", "prov3"):  # more data domains for multi-party cases
            dept = create_organization(
                session,
                slug=f"bench-{extra}",
                name=f"Bench {extra}",
                kind=OrgKind.PROVIDER,
                now=now,
            )
            create_domain(session, name=extra, org=dept, now=now)
        session.flush()
        who = Principal.of(user)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(
        {
            "SANDBOX_DATA_DIR": str(settings.data_dir),
            "SANDBOX_LEASE_SECONDS": "120",
            "SANDBOX_REAPER_INTERVAL_SECONDS": "30",
            "SANDBOX_REQUEUE_AFTER_SECONDS": "600",
            "SANDBOX_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    if broker:
        env["SANDBOX_BROKER_URL"] = broker
    if database:
        env["SANDBOX_DATABASE_URL"] = database
    log_dir = tmp / "logs"
    log_dir.mkdir()
    st = Stage(
        settings,
        factory,
        who,
        TicketSigner(load_or_create_private_key(settings.ticket_key_path), 7200),
        CeleryEnqueuer(make_celery(settings)),
        env,
        log_dir,
    )
    st.start_worker("--coordinator")
    try:
        yield st
    finally:
        st.stop()
        factory.kw["bind"].dispose()
        if st._reader is not None:
            st._reader.dispose()
        drop_database()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def emit(case: str, baseline_s: float, ours_s: float, peak_rss_mb: float, **params: Any) -> None:
    print(
        json.dumps(
            {
                "case": case,
                "baseline_s": round(baseline_s, 4),
                "ours_s": round(ours_s, 4),
                "speedup": round(baseline_s / ours_s, 3) if ours_s > 0 else None,
                "peak_rss_mb": round(peak_rss_mb, 1),
                **params,
            }
        ),
        flush=True,
    )
