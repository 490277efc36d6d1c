"""The review page in headless Chromium: load a job, see the boxes, correct a value, see it everywhere.

Driven by Playwright with Debian's Chromium (``/usr/bin/chromium`` or ``INVOICEAI_CHROMIUM``);
skipped with the reason when either is missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from invoiceai.einvoice import read_einvoice
from invoiceai.server.audit import read_audit
from review_helpers import HOSTILE, TRUTH, served_job
from server_helpers import client

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip

# Where each box and each page image is on screen, in CSS pixels.
BOXES = """
() => {
  const rect = (node) => { const r = node.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  return {
    images: [...document.querySelectorAll('.page img')].map(
      (img) => ({...rect(img), loaded: img.complete && img.naturalWidth > 0})),
    boxes: [...document.querySelectorAll('.box')].map(
      (box) => ({field: box.dataset.field, flagged: box.classList.contains('flagged'), ...rect(box)})),
    scripts: document.querySelectorAll('script').length,
    injected: document.querySelectorAll('img[src="x"]').length,
  };
}
"""


def _chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="the review page test needs playwright (pip install playwright)")
    candidate = os.environ.get("INVOICEAI_CHROMIUM") or "/usr/bin/chromium"
    found = candidate if Path(candidate).exists() else shutil.which("chromium")
    if found is None:
        pytest.skip("no Chromium at /usr/bin/chromium (or INVOICEAI_CHROMIUM): apt-get install chromium")
    return found


def _inside(box: dict[str, Any], image: dict[str, Any]) -> bool:
    return (
        image["x"] - 1 <= box["x"] and box["x"] + box["w"] <= image["x"] + image["w"] + 1
        and image["y"] - 1 <= box["y"] and box["y"] + box["h"] <= image["y"] + image["h"] + 1
    )  # fmt: skip


def test_review_page_shows_boxes_and_a_correction_reaches_the_result_and_cii(tmp_path: Path) -> None:
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    reply = {**TRUTH, "total": "32.80", "seller": {**TRUTH["seller"], "name": HOSTILE}}
    with served_job(tmp_path, reply) as (server, context, key, job_id), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(f"{server.base_url}/v1/jobs/{job_id}/review")
            page.wait_for_selector("#status.error")  # no key yet: the page asks for one
            page.fill("#api-key", key)
            page.click("#key-form button")
            page.wait_for_selector("body[data-loaded=true]")
            page.wait_for_function(
                "[...document.querySelectorAll('.page img')].every((i) => i.complete && i.naturalWidth > 0)"
            )
            seen = page.evaluate(BOXES)
            seller = page.input_value('tr[data-field="seller.name"] input')
            verdict = page.text_content("#verdict")
            page.fill('tr[data-field="total"] input', "23.80")
            page.click('tr[data-field="total"] button.save')
            page.wait_for_selector("#status.ok")
            status = page.text_content("#status")
            trail = page.text_content("#trail")
            flagged_total = page.get_attribute('tr[data-field="total"]', "class")
            rechecked = page.text_content("#verdict")
        finally:
            browser.close()
        api = client(server, key)
        result = api.get(f"/v1/jobs/{job_id}/result").json()
        cii = api.get(f"/v1/jobs/{job_id}/result", params={"format": "cii"})
        corrections = api.get(f"/v1/jobs/{job_id}/corrections").json()["corrections"]
        audit = [(row.action, row.detail) for row in read_audit(context.engine, job_id=job_id)]
    assert len(seen["images"]) == 1 and seen["images"][0]["loaded"] and seen["images"][0]["w"] > 300
    boxes = {box["field"]: box for box in seen["boxes"]}
    assert {"invoice_number", "issue_date", "line_items[0].amount", "total_without_tax"} <= set(boxes)
    assert all(box["w"] > 2 and box["h"] > 2 and _inside(box, seen["images"][0]) for box in seen["boxes"])
    assert boxes["invoice_number"]["y"] < boxes["line_items[0].amount"]["y"]  # the page's order, top to bottom
    assert boxes["total_without_tax"]["flagged"] and not boxes["invoice_number"]["flagged"]
    assert "Needs review" in verdict and "total" in verdict
    # Invoice text stays text: shown as typed, never run, never turned into elements.
    assert seller == HOSTILE and dialogs == [] and seen["injected"] == 0 and seen["scripts"] == 1
    assert "Corrected total" in status and "32.80" in trail and "23.80" in trail
    assert "flagged" not in (flagged_total or "")
    # The correction was checked again: 23.80 adds up, so BR-CO-15 is gone from the verdict; the
    # seller's name (not printed as the model gave it) still needs a person.
    assert "BR-CO-15" in verdict and "BR-CO-15" not in rechecked and "seller.name" in rechecked
    assert result["data"]["total"] == "23.80"
    assert str(read_einvoice(cii.content).total) == "23.80"
    assert [(entry["field"], entry["old_value"], entry["new_value"], entry["action"]) for entry in corrections] == [
        ("total", "32.80", "23.80", "correct")
    ]
    assert corrections[0]["key_id"].startswith("key_")
    assert ("correct", "total") in audit
