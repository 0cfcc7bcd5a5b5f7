"""The whole story of DOMAIN.md's flagship scenario, in a real browser (Playwright driving
Debian's Chromium) against a live `sandbox demo`:

the bureau approves and lists the SME credit check; bank-a subscribes and the operator approves
the subscription; bank-a runs the credit check and the multi-lender exposure total on its own
applicant list and downloads both results; bank-b sees none of it; the auditor finds the call
in the ledger, verifies its inclusion under a signed checkpoint, and traces its jobs to the
grant and the license. A screenshot of each role's home is saved to test-artifacts/.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.e2e.live import LiveDemo, live_demo
from tests.e2e.test_browser import _sign_in
from tests.e2e.test_browser import browser as browser  # the module's Chromium fixture

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    with live_demo(tmp_path_factory.mktemp("story")) as live:
        yield live


def _open_product(page: Any, demo: LiveDemo, name: str) -> None:
    page.goto(demo.url + "/products")
    page.click(f"a:has-text('{name}')")
    page.wait_for_url("**/products/*")


def _run(page: Any, demo: LiveDemo, name: str) -> str:
    """Runs the product on bank-a's applicants from its page; returns the call page's url
    once the call has finished."""
    _open_product(page, demo, name)
    form = page.locator("form.run-product")
    assert "applicants" in (
        form.locator("select[name=input_dataset] option:checked").text_content() or ""
    )
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/calls/*")
    page.wait_for_selector(
        ".call-state.succeeded, .call-state.failed, .call-state.refused", timeout=180_000
    )
    page.reload()
    state = page.text_content(".call-state") or ""
    assert state.strip() == "succeeded", page.text_content("#call")
    return str(page.url).split("?", 1)[0]


def _download(page: Any, tmp_path: Path, name: str) -> list[dict[str, str]]:
    with page.expect_download() as info:
        page.click("a.download-result")
    path = tmp_path / name
    info.value.save_as(path)
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_flagship_story_from_approval_to_audit(
    browser: Any, demo: LiveDemo, tmp_path: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    credit, exposure = "SME credit check", "Multi-lender exposure"

    # The bureau approves the credit check (the CDOs already have) and lists it (上架).
    bureau = _sign_in(browser, demo, "bureau")
    _open_product(bureau, demo, credit)
    bureau.locator("form.review.approve button[type=submit]").click()
    bureau.wait_for_selector("form.list-product")
    bureau.locator("form.list-product button[type=submit]").click()
    bureau.wait_for_selector(".product-state[data-state=listed]")
    bureau.close()

    # bank-a subscribes, accepting the terms; the operator approves the subscription.
    bank = _sign_in(browser, demo, "bank-a")
    _open_product(bank, demo, credit)
    bank.check("form.subscribe input[name=accept_terms]")
    bank.locator("form.subscribe button[type=submit]").click()
    bank.wait_for_selector(".subscription-state")
    assert "requested" in (bank.text_content(".subscription-state") or "")

    operator = _sign_in(browser, demo, "operator")
    operator.goto(demo.url + "/subscriptions")
    row = (
        operator.locator("table.subscriptions tr").filter(has_text="bank-a").filter(has_text=credit)
    )
    row.locator("form.decide-subscription.approve button[type=submit]").click()
    operator.wait_for_load_state()
    assert "active" in (
        operator.locator("table.subscriptions tr")
        .filter(has_text="bank-a")
        .filter(has_text=credit)
        .text_content()
        or ""
    )

    # bank-a runs the credit check on its own applicant list and downloads the labels.
    credit_url = _run(bank, demo, credit)
    assert bank.locator("table.call-result tbody tr").count() > 0
    rows = _download(bank, tmp_path, "credit-check.csv")
    statuses = {r["status"] for r in rows}
    assert {"found", "unauthorized"} <= statuses, statuses
    found = [r for r in rows if r["status"] == "found"]
    assert all(r["tax_grade_band"] in {"good", "fair", "poor", "new", ""} for r in found)
    assert all(r["headcount_band"] in {"<10", "10-49", "50-99", "100+", ""} for r in found)
    assert "tax_credit_grade" not in rows[0] and "insured_headcount" not in rows[0]
    bank.screenshot(path=str(ARTIFACTS / "story-call-credit-check.png"), full_page=True)
    call_id = credit_url.rstrip("/").rsplit("/", 1)[-1]

    # ... and the multi-lender exposure total, which only the output gate opens.
    _run(bank, demo, exposure)
    totals = _download(bank, tmp_path, "exposure.csv")
    released = [r for r in totals if r["status"] == "released"]
    assert released and all(float(r["total"]) > 0 for r in released)
    assert all(r["lenders"].startswith("≥") for r in released)
    assert {r["status"] for r in totals} <= {"released", "suppressed", "unauthorized", "malformed"}
    bank.screenshot(path=str(ARTIFACTS / "story-call-exposure.png"), full_page=True)

    # The call is on bank-a's calls page and statement; bank-b sees neither.
    bank.goto(demo.url + "/calls")
    assert call_id[:8] in (bank.text_content("main") or "")
    bank.close()
    other = _sign_in(browser, demo, "bank-b")
    other.goto(demo.url + "/calls")
    assert call_id[:8] not in (other.text_content("main") or "")
    response = other.goto(credit_url)
    assert response is not None and response.status == 404
    response = other.goto(credit_url + "/result.csv")
    assert response is not None and response.status == 404
    other.close()

    # The operator sees the call's counts on its products, never the result.
    operator.goto(credit_url)
    assert operator.locator("table.call-result").count() == 0
    assert operator.locator("a.download-result").count() == 0
    response = operator.goto(credit_url + "/result.csv")
    assert response is not None and response.status in (403, 404)
    operator.close()

    # The auditor finds the call in the ledger, verifies its inclusion under a signed
    # checkpoint, and traces the call's jobs to the grant and the license.
    auditor = _sign_in(browser, demo, "auditor")
    auditor.goto(demo.url + f"/audit?action=product.called&object={call_id}")
    entry = auditor.locator("table tbody tr td.num a").first
    entry.click()
    auditor.wait_for_url("**/audit/entries/*")
    for _ in range(90):  # the coordinator signs a checkpoint within 30 s of new entries
        if auditor.locator("#verify-inclusion").count():
            break
        auditor.wait_for_timeout(1000)
        auditor.reload()
    auditor.click("#verify-inclusion")
    auditor.wait_for_selector("#inclusion-result.ok, #inclusion-result.bad", timeout=30_000)
    assert (auditor.text_content("#inclusion-result") or "").startswith("Included")
    text = auditor.text_content("main") or ""
    job_ids = re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)
    jobs = [j for j in dict.fromkeys(job_ids) if j != call_id]
    assert jobs, text
    auditor.screenshot(path=str(ARTIFACTS / "story-audit-call.png"), full_page=True)
    traced = False
    for job in jobs:
        response = auditor.goto(demo.url + f"/audit/jobs/{job}")
        if response is not None and response.status == 200:
            page_text = auditor.text_content("main") or ""
            if "grant" in page_text.lower() and "license" in page_text.lower():
                traced = True
                auditor.screenshot(path=str(ARTIFACTS / "story-audit-trace.png"), full_page=True)
                break
    assert traced, "no job of the call traces to its grant and license"
    auditor.close()

    # The CDO of a providing department sees the product that uses its data.
    cdo = _sign_in(browser, demo, "tax-cdo")
    cdo.goto(demo.url + "/products")
    assert credit in (cdo.text_content("main") or "")
    cdo.close()

    # Each role's home after the story: the bureau's and the operator's charts show the calls.
    for username in ("bureau", "operator", "tax-cdo", "bank-a", "auditor"):
        page = _sign_in(browser, demo, username)
        page.screenshot(path=str(ARTIFACTS / f"story-home-{username}.png"), full_page=True)
        page.close()
