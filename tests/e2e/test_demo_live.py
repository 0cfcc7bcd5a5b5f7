"""The README's demo works as written: it serves, every demo account logs in and sees its
home, a job runs through the demo's own worker processes, and Ctrl-C stops the whole tree."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.e2e.live import Browser, live_demo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HOME_HEADINGS = {
    "bureau_admin": "Data bureau administrator",
    "provider_cdo": "Chief data officer",
    "operator": "Licensed operator",
    "bank_analyst": "Bank analyst",
    "auditor": "Auditor",
}


def _worker_pids(data_dir: Path) -> list[str]:
    out = subprocess.run(
        ["pgrep", "-f", "web.cli worker"], capture_output=True, text=True, check=False
    )
    env_pids = []
    for pid in out.stdout.split():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if f"SANDBOX_DATA_DIR={data_dir}".encode() in environ:
            env_pids.append(pid)
    return env_pids


def test_demo_serves_every_account_and_runs_jobs(tmp_path: Path) -> None:
    with live_demo(tmp_path) as demo:
        roles = {a["role"] for a in demo.accounts}
        assert roles == set(HOME_HEADINGS)
        assert all(
            {"username", "password", "role", "organization", "token"} <= set(a)
            for a in demo.accounts
        )
        for account in demo.accounts:
            browser = Browser(demo.url)
            status, landed, page = browser.login(account["username"], account["password"])
            assert status == 200 and landed.endswith("/home"), (account["username"], status)
            assert HOME_HEADINGS[account["role"]] in page
            status, me = browser.api("/api/v1/me", account["token"])
            assert status == 200 and me["username"] == account["username"]

        tax = next(a for a in demo.accounts if a["username"] == "tax-cdo")
        api = Browser(demo.url)
        _, listing = api.api("/api/v1/datasets", tax["token"])
        dataset = next(d for d in listing["datasets"] if d["domain"] == "tax")
        assert dataset["row_count"] > 0 and len(dataset["synthetic_sample"]) == 5
        status, job = api.api(
            "/api/v1/jobs",
            tax["token"],
            {"kind": "dataset.profile", "params": {"dataset_id": dataset["id"]}},
        )
        assert status == 202, job

        def finished() -> dict[str, object] | None:
            _, current = api.api(f"/api/v1/jobs/{job['id']}", tax["token"])
            return current if current["status"] in ("succeeded", "failed") else None

        final = wait_for(finished, timeout=60, interval=0.3, what="the demo job")
        assert final["status"] == "succeeded", final
        assert final["result"]["quality"]["rows"] == dataset["row_count"]
        pids = _worker_pids(demo.data_dir)
        assert len(pids) == 9  # coordinator + seven data domains + the gate's

        # A dead domain worker is started again, and jobs keep running.
        tax_pid = next(
            p for p in pids if b"--domain\x00tax" in Path(f"/proc/{p}/cmdline").read_bytes()
        )
        os.kill(int(tax_pid), signal.SIGKILL)
        wait_for(
            lambda: len(set(_worker_pids(demo.data_dir)) - set(pids)) == 1,
            timeout=30,
            what="the demo to restart the killed worker",
        )
        status, again = api.api(
            "/api/v1/jobs",
            tax["token"],
            {"kind": "dataset.profile", "params": {"dataset_id": dataset["id"]}},
        )
        assert status == 202
        job = again
        assert (
            wait_for(finished, timeout=60, interval=0.3, what="a job after the restart")["status"]
            == "succeeded"
        )
        data_dir = demo.data_dir
    wait_for(lambda: not _worker_pids(data_dir), timeout=20, what="workers to stop")
