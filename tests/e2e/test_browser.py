"""A real browser (Playwright driving Debian's Chromium) against a live `sandbox demo`: every
role signs in and sees its home (screenshots saved to test-artifacts/), signs out for good, and
a provider profiles a dataset from the browser and the job page shows it to completion."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, need, wait_for
from tests.e2e.live import Browser, LiveDemo, live_demo

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    with live_demo(tmp_path_factory.mktemp("browser")) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("Playwright", "pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():
        need("Chromium", "apt-get install chromium")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


def _sign_in(browser: Any, demo: LiveDemo, username: str) -> Any:
    account = next(a for a in demo.accounts if a["username"] == username)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(demo.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", account["password"])
    page.click("button[type=submit]")
    page.wait_for_url("**/home")
    return page


def test_every_role_signs_in_and_sees_its_home(browser: Any, demo: LiveDemo) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for account in demo.accounts:
        page = _sign_in(browser, demo, account["username"])
        heading = page.text_content("h1") or ""
        assert heading.split(" · ")[0] in {
            "Data bureau administrator",
            "Chief data officer",
            "Licensed operator",
            "Bank analyst",
            "Auditor",
        }
        page.screenshot(path=str(ARTIFACTS / f"home-{account['username']}.png"), full_page=True)
        page.click("text=Sign out")
        page.wait_for_url("**/login")
        page.goto(demo.url + "/home")
        assert page.url.endswith("/login?next=/home")  # the session is gone server-side
        page.close()


def test_provider_profiles_a_dataset_from_the_browser(browser: Any, demo: LiveDemo) -> None:
    page = _sign_in(browser, demo, "market-cdo")
    page.click("text=Re-profile quality in my domain")
    page.wait_for_url("**/jobs/*")
    page.wait_for_selector("[data-field=status].succeeded", timeout=30_000)
    assert page.text_content("[data-field=percent]") == "100.0%"
    rows = page.text_content("[data-field=result]") or ""
    assert '"rows"' in rows and '"completeness"' in rows
    page.screenshot(path=str(ARTIFACTS / "job-market-profile.png"), full_page=True)
    page.close()


def test_auditor_verifies_the_demo_ledger_in_the_browser_and_offline(
    browser: Any, demo: LiveDemo, tmp_path: Path
) -> None:
    import subprocess
    import sys
    import zipfile

    # A finished job to inspect, whatever ran before this test.
    social = next(a for a in demo.accounts if a["username"] == "social-cdo")
    api = Browser(demo.url)
    listing = api.api("/api/v1/datasets", social["token"])[1]
    dataset = next(d for d in listing["datasets"] if d["domain"] == "social")
    status, job = api.api(
        "/api/v1/jobs",
        social["token"],
        {"kind": "dataset.profile", "params": {"dataset_id": dataset["id"]}},
    )
    assert status == 202
    wait_for(
        lambda: api.api(f"/api/v1/jobs/{job['id']}", social["token"])[1]["status"] == "succeeded",
        timeout=60,
        what="a job to inspect",
    )

    page = _sign_in(browser, demo, "auditor")
    page.goto(demo.url + "/audit")
    page.click("#verify-log")
    page.wait_for_selector("#verify-result.ok, #verify-result.bad", timeout=60_000)
    verdict = page.text_content("#verify-result") or ""
    assert verdict.startswith("Verified in this browser"), verdict
    page.screenshot(path=str(ARTIFACTS / "audit-console.png"), full_page=True)

    page.goto(demo.url + "/audit/entries/0")  # the first entry: every checkpoint covers it
    page.click("#verify-inclusion")
    page.wait_for_selector("#inclusion-result.ok, #inclusion-result.bad", timeout=30_000)
    assert (page.text_content("#inclusion-result") or "").startswith("Included")

    page.goto(demo.url + "/audit")
    page.fill("input[name=n]", "3")
    page.click("text=Start inspection")
    page.wait_for_url("**/audit/inspections")
    verdicts = page.locator("[data-testid=inspection-verdict]").all_text_contents()
    assert verdicts and all(v.strip() == "pass" for v in verdicts), verdicts

    page.goto(demo.url + "/audit")
    with page.expect_download() as download:
        page.click("text=Export the ledger")
    archive = tmp_path / "evidence.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "web.cli", "audit", "verify", str(tmp_path / "ledger")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.startswith("OK:"), result.stderr
    page.close()


def _run_from_the_browser(page: Any, kind: str, recipient: str) -> None:
    page.click("nav >> text=Computations")
    form = (
        page.locator("section.card[data-grant]")
        .filter(has=page.locator("option[value=lookup]"))
        .first
    )
    form.locator("select[name=kind]").select_option(kind)
    form.locator("select[name=recipient]").select_option(recipient)
    inputs = form.locator("select[name=input_dataset] option")
    label = next(
        text for text in inputs.all_text_contents() if text.startswith(f"{recipient}/applicants")
    )
    form.locator("select[name=input_dataset]").select_option(label=label)
    form.locator("form.run button[type=submit]").click()
    page.wait_for_url("**/jobs/*")
    page.wait_for_selector("text=Outcome", timeout=90_000)  # the page reloads when done


def test_operator_and_bank_run_an_intersection_and_a_lookup(
    browser: Any, demo: LiveDemo, tmp_path: Path
) -> None:
    """The operator runs an intersection for bank-a: it sees counts only. bank-a runs a
    lookup for itself and downloads the labels of its applicants from its own domain."""
    operator = _sign_in(browser, demo, "operator")
    _run_from_the_browser(operator, "psi.intersection", "bank-a")
    assert "succeeded" in (operator.text_content("[data-field=status]") or "")
    assert "only its users can read it" in (operator.text_content("#job") or "")
    assert operator.locator("text=Download the result (CSV)").count() == 0
    operator.screenshot(path=str(ARTIFACTS / "job-operator-intersection.png"), full_page=True)
    operator.close()

    bank = _sign_in(browser, demo, "bank-a")
    _run_from_the_browser(bank, "lookup", "bank-a")
    with bank.expect_download() as info:
        bank.click("text=Download the result (CSV)")
    path = tmp_path / "lookup.csv"
    info.value.save_as(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("identifier,found,")
    assert len(lines) > 1 and any(",true," in line for line in lines[1:])
    bank.screenshot(path=str(ARTIFACTS / "job-bank-lookup.png"), full_page=True)
    # The intersection the operator ran for bank-a is bank-a's to download too.
    bank.goto(demo.url + "/compute")
    assert bank.locator("text=download CSV").count() >= 2
    bank.close()


def test_bank_runs_an_aggregate_through_the_output_gate(
    browser: Any, demo: LiveDemo, tmp_path: Path
) -> None:
    """bank-a asks for registered capital per industry under the statistics grant: every
    group's count, sum, mean and variance come from the gate, small groups suppressed."""
    bank = _sign_in(browser, demo, "bank-a")
    bank.click("nav >> text=Computations")
    form = (
        bank.locator("section.card[data-grant]")
        .filter(has=bank.locator("option[value=aggregate]"))
        .first
    )
    form.locator("select[name=kind]").select_option("aggregate")
    form.locator("input[type=checkbox][value=legal_form]").uncheck()
    form.locator("select[name=recipient]").select_option("bank-a")
    form.locator("form.run button[type=submit]").click()
    bank.wait_for_url("**/jobs/*")
    bank.wait_for_selector("text=Outcome", timeout=90_000)
    assert "succeeded" in (bank.text_content("[data-field=status]") or "")
    assert "destroyed after the release" in (bank.text_content("#job") or "")
    with bank.expect_download() as info:
        bank.click("text=Download the released table (CSV)")
    path = tmp_path / "aggregate.csv"
    info.value.save_as(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "industry,status,count,sum,mean,variance"
    released = [line for line in lines[1:] if ",released," in line]
    assert released and all(int(line.split(",")[2]) >= 10 for line in released)
    bank.screenshot(path=str(ARTIFACTS / "job-bank-aggregate.png"), full_page=True)
    bank.close()


def test_bank_runs_the_multi_lender_exposure_total(
    browser: Any, demo: LiveDemo, tmp_path: Path
) -> None:
    """Both banks consented to add their loan books to secure sums: bank-a asks for the total
    outstanding across both, which only the output gate opens."""
    bank = _sign_in(browser, demo, "bank-a")
    bank.click("nav >> text=Computations")
    form = (
        bank.locator("section.card[data-grant]")
        .filter(has=bank.locator("input[name=contribution]"))
        .first
    )
    form.locator("select[name=kind]").select_option("secure_sum")
    form.locator("input[name=dataset_id][value='']").check()
    for box in form.locator("input[name=contribution]").all():
        box.check()
    form.locator("select[name=recipient]").select_option("bank-a")
    form.locator("form.run button[type=submit]").click()
    bank.wait_for_url("**/jobs/*")
    bank.wait_for_selector("text=Outcome", timeout=90_000)
    assert "succeeded" in (bank.text_content("[data-field=status]") or "")
    with bank.expect_download() as info:
        bank.click("text=Download the released table (CSV)")
    path = tmp_path / "exposure.csv"
    info.value.save_as(path)
    header, row = path.read_text(encoding="utf-8").splitlines()
    assert header == "status,count,sum"
    status, count, total = row.split(",")
    assert status == "released" and int(count) >= 10 and float(total) > 0
    bank.screenshot(path=str(ARTIFACTS / "job-bank-exposure.png"), full_page=True)
    bank.close()
