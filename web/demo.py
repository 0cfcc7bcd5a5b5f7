"""``sandbox demo``: seed once, start one worker process per domain and the coordinator, and
serve the app until Ctrl-C. Everything on embedded defaults: SQLite, directory stores and a
filesystem broker, so nothing but ``pip install`` is needed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Any

import click
from werkzeug.serving import make_server

from grants.demo import seed_governance
from products.demo import seed_products
from sandbox.clock import utcnow
from sandbox.db.engine import make_engine, make_session_factory, session_scope
from sandbox.demo import seed as demo_seed
from sandbox.demo.world import DATA_DOMAINS, GATE_DOMAINS
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.log import checkpoint
from sandbox.platform import init
from sandbox.settings import Settings
from web.app import create_app


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class _Workers:
    """One worker process per role; a worker that dies is started again (its step's lease
    expires and the coordinator's reaper hands the step to the new process)."""

    def __init__(self, settings: Settings) -> None:
        self.logs = settings.data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, SANDBOX_DATA_DIR=str(settings.data_dir.resolve()))
        self.roles = [("coordinator", ["--coordinator"])] + [
            (name, ["--domain", name]) for name, _org in DATA_DOMAINS + GATE_DOMAINS
        ]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()

    def _start(self, name: str, args: list[str]) -> None:
        log = (self.logs / f"worker-{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [sys.executable, "-m", "web.cli", "worker", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self) -> None:
        for name, args in self.roles:
            self._start(name, args)
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()

    def _supervise(self) -> None:
        while not self.stopping.wait(2.0):
            for name, args in self.roles:
                code = self.procs[name].poll()
                if code is not None and not self.stopping.is_set():
                    click.echo(
                        f"worker {name} exited ({code}); starting it again "
                        f"(log: {self.logs / f'worker-{name}.log'})"
                    )
                    self._start(name, args)

    def stop(self) -> None:
        self.stopping.set()
        procs = list(self.procs.values())
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def run_demo(settings: Settings, *, host: str, port: int, reset: bool, enterprises: int) -> None:
    if not _port_free(host, port):
        raise click.ClickException(f"port {port} on {host} is in use; pass --port")
    if reset and settings.data_dir.exists():
        shutil.rmtree(settings.data_dir)
    init(settings)
    factory = make_session_factory(make_engine(settings))
    if demo_seed.is_seeded(factory):
        path = demo_seed.accounts_path(settings)
        if not path.exists():
            raise click.ClickException(
                f"{settings.data_dir} holds data but no {path.name}; start afresh with --reset"
            )
        accounts: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        click.echo(f"Reusing the demo in {settings.data_dir} (--reset starts afresh).")
    else:
        click.echo(f"Generating the demo world in {settings.data_dir} …")
        accounts = demo_seed.seed(
            factory, settings, now=utcnow(), enterprises=enterprises, say=click.echo
        )
        with session_scope(factory) as session:
            governance = seed_governance(session, now=utcnow())
            seed_products(session, now=utcnow(), governance=governance, enterprises=enterprises)
            checkpoint(session, load_or_create_private_key(settings.ledger_key_path), now=utcnow())
        click.echo(
            "  governance: finance zone, a licensed operator, one approved grant, one pending"
        )
        click.echo(
            "  products: the SME credit check (awaiting the bureau's approval) and the listed "
            "multi-lender exposure; bank-a subscribed"
        )
    workers = _Workers(settings)
    workers.start()
    app = create_app(settings)
    server = make_server(host, port, app, threaded=True)
    url = f"http://{host}:{port}/"

    def _terminate(_sig: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    click.echo(f"\nSandbox demo serving at {url}  (Ctrl-C stops it)")
    click.echo(
        f"Workers: coordinator + {len(DATA_DOMAINS + GATE_DOMAINS)} domains "
        f"(the bureau's runs the output gate); logs in {settings.data_dir / 'logs'}"
    )
    click.echo(f"Accounts (also in {demo_seed.accounts_path(settings)}):")
    for acc in accounts:
        click.echo(
            f"  {acc['username']:<11} {acc['password']:<18} {acc['role']:<13} {acc['organization']}"
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("\nStopping …")
    finally:
        server.server_close()
        workers.stop()
