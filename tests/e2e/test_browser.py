"""A real browser (Playwright driving Debian's Chromium) against a live `sandbox demo`: every
role signs in and sees its home (screenshots saved to test-artifacts/), signs out for good, and
a provider profiles a dataset from the browser and the job page shows it to completion."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, need
from tests.e2e.live import LiveDemo, live_demo

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
