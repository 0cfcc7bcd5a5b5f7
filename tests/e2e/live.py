"""A live `sandbox demo` process tree on a free port, and a small cookie-keeping HTTP client."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, free_port, wait_for


@dataclass
class LiveDemo:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    accounts: list[dict[str, Any]]


class Browser:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(
        self,
        path: str,
        *,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        method: str | None = None,
    ) -> tuple[int, str, str]:
        payload = urllib.parse.urlencode(data).encode() if data is not None else body
        req = urllib.request.Request(
            self.base + path, data=payload, headers=headers or {}, method=method
        )
        try:
            with self.opener.open(req, timeout=30) as resp:
                return resp.status, resp.geturl(), resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.geturl(), err.read().decode()

    def login(self, username: str, password: str) -> tuple[int, str, str]:
        _, _, page = self.request("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert match, "login form has no CSRF token"
        return self.request(
            "/login",
            data={"username": username, "password": password, "csrf_token": match.group(1)},
        )

    def api(self, path: str, token: str, payload: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        status, _, text = self.request(path, headers=headers, body=body)
        return status, json.loads(text) if text else None


@contextmanager
def live_demo(tmp: Path, *, enterprises: int = 300) -> Iterator[LiveDemo]:
    port = free_port()
    data_dir = tmp / "demo-var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(SANDBOX_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    log = (tmp / "demo.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "web.cli",
            "demo",
            "--port",
            str(port),
            "--enterprises",
            str(enterprises),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert proc.poll() is None, (tmp / "demo.log").read_text()
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                    return json.loads(resp.read()) == {"status": "ok"}
            except OSError:
                return False

        wait_for(healthy, timeout=180, interval=0.5, what="the demo to serve")
        accounts = json.loads((data_dir / "demo-accounts.json").read_text(encoding="utf-8"))
        yield LiveDemo(url, data_dir, proc, accounts)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
