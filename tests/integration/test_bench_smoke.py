"""`sandbox bench psi --quick` runs end to end and prints DESIGN §8's JSON lines. Speed is
not asserted here (that is what the benchmark's numbers are for); the format and the work are."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUICK_PAILLIER = ("--case", "add", "--case", "secure-sum-3x100k")


def test_quick_psi_bench_prints_one_json_line_per_case() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "bench", "psi", "--quick", "--case", "psi-10k"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [line["case"] for line in lines] == ["psi-10k"]
    (case,) = lines
    assert {"baseline_s", "ours_s", "speedup", "peak_rss_mb", "n", "shards"} <= set(case)
    assert case["baseline_s"] > 0 and case["ours_s"] > 0 and case["peak_rss_mb"] > 0
    assert case["speedup"] == pytest.approx(case["baseline_s"] / case["ours_s"], rel=1e-2)
    bad = subprocess.run(
        [sys.executable, "-m", "web.cli", "bench", "psi", "--case", "psi-7"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode != 0 and "unknown case" in bad.stderr


def test_quick_paillier_bench_runs_a_micro_and_a_job_case() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "bench", "paillier", "--quick", *QUICK_PAILLIER],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert [line["case"] for line in lines] == ["add", "secure-sum-3x5k"]
    for case in lines:
        assert case["baseline_s"] > 0 and case["ours_s"] > 0 and case["peak_rss_mb"] > 0
