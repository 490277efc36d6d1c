"""Renders invoiceai's notebook HTML under the table CSS of JupyterLab and classic Notebook in Chromium.

Notebook front ends style every table in an output with their own, more specific rules: JupyterLab
right-aligns every cell and stripes rows, classic Notebook (and VS Code's Jupyter renderer, which
copies its rules) does the same under ``.rendered_html``. This script embeds an extraction's
``_repr_html_`` (an invoice with a finding of each severity, and a failure) in a page that carries
those rules verbatim, inside the same wrapper elements the front ends use, and reads the computed
styles back from headless Chromium; it also writes a screenshot.

    python scripts/notebook_render_check.py [--screenshot notebook.png]

``tests/test_display_notebook.py`` runs the same check (skipped without Chromium and playwright).
Chromium: ``/usr/bin/chromium`` or ``INVOICEAI_CHROMIUM``.
"""

from __future__ import annotations

import html
import os
import shutil
import sys
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]

# JupyterLab 4: the table rules of packages/rendermime/style/base.css (Copyright (c) Jupyter
# Development Team, BSD-3-Clause), verbatim, with the light theme's values of the variables they use
# (packages/theme-light-extension/style/variables.css).
JUPYTERLAB_CSS = """
:root {
  --jp-layout-color0: white;
  --jp-rendermime-table-row-background: #f5f5f5;
  --jp-rendermime-table-row-hover-background: #e1f5fe;
  --jp-ui-font-color1: rgba(0, 0, 0, 0.87);
  --jp-ui-font-size1: 13px;
  --jp-border-width: 1px;
  --jp-border-color1: #bdbdbd;
}
.jp-RenderedHTMLCommon table {
  border-collapse: collapse;
  border-spacing: 0;
  border: none;
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size1);
  table-layout: fixed;
  margin-left: auto;
  margin-bottom: 1em;
  margin-right: auto;
}
.jp-RenderedHTMLCommon thead {
  border-bottom: var(--jp-border-width) solid var(--jp-border-color1);
  vertical-align: bottom;
}
.jp-RenderedHTMLCommon td,
.jp-RenderedHTMLCommon th,
.jp-RenderedHTMLCommon tr {
  vertical-align: middle;
  padding: 0.5em;
  line-height: normal;
  white-space: normal;
  max-width: none;
  border: none;
}
:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon td,
:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon th,
:not(.jp-RenderedMarkdown).jp-RenderedHTMLCommon tr {
  text-align: right;
}
.jp-RenderedHTMLCommon th {
  font-weight: bold;
}
.jp-RenderedHTMLCommon tbody tr:nth-child(odd) {
  background: var(--jp-layout-color0);
}
.jp-RenderedHTMLCommon tbody tr:nth-child(even) {
  background: var(--jp-rendermime-table-row-background);
}
.jp-RenderedHTMLCommon tbody tr:hover {
  background: var(--jp-rendermime-table-row-hover-background);
}
.jp-RenderedHTMLCommon p {
  text-align: left;
  margin: 0;
  margin-bottom: 1em;
}
"""

# Classic Notebook 6: the table rules of notebook/static/notebook/less/renderedhtml.less as
# compiled into style.min.css (Copyright (c) Jupyter Development Team, BSD-3-Clause).
CLASSIC_CSS = """
.rendered_html table {
  margin-left: auto;
  margin-right: auto;
  border: none;
  border-collapse: collapse;
  border-spacing: 0;
  color: black;
  font-size: 12px;
  table-layout: fixed;
}
.rendered_html thead {
  border-bottom: 1px solid black;
  vertical-align: bottom;
}
.rendered_html tr,
.rendered_html th,
.rendered_html td {
  text-align: right;
  vertical-align: middle;
  padding: 0.5em 0.5em;
  line-height: normal;
  white-space: normal;
  max-width: none;
  border: none;
}
.rendered_html th {
  font-weight: bold;
}
.rendered_html tbody tr:nth-child(odd) {
  background: #f5f5f5;
}
.rendered_html tbody tr:hover {
  background: rgba(66, 165, 245, 0.2);
}
"""

# The wrappers each front end puts around an HTML output.
FRONT_ENDS = {
    "jupyterlab": '<div class="jp-OutputArea-output jp-RenderedHTMLCommon jp-RenderedHTML" id="jupyterlab">{}</div>',
    "classic": (
        '<div class="output_area"><div class="output_html rendered_html output_subarea" id="classic">{}</div></div>'
    ),
}


def sample_outputs() -> tuple[str, str]:
    """The HTML of an extraction with one finding per severity, and of a failure naming its file."""
    from decimal import Decimal

    from invoiceai import Extraction, ExtractionFailure, Finding, Invoice, Usage
    from invoiceai.errors import InputError

    invoice = Invoice.model_validate(
        {
            "invoice_number": "INV-2026-0042",
            "currency": "EUR",
            "seller": {"name": "Musterwerk Design & Druck GmbH", "address": {"city": "Berlin"}},
            "buyer": {"name": "Beispiel Handel AG"},
            "line_items": [
                {"description": "Logo design", "quantity": "1", "unit_price": "1200.00", "amount": "1200.00"},
                {"description": "Printed brochures A5", "quantity": "200", "unit_price": "1.45", "amount": "290.00"},
            ],
            "subtotal": "1490.00",
            "total": Decimal("1490.00"),
        }
    )
    findings = (
        Finding(rule="BR-CO-15", severity="error", message="total does not add up", fields=("total",)),
        Finding(rule="IAI-DUE", severity="warning", message="no due date", fields=("due_date",)),
        Finding(rule="IAI-NOTE", severity="info", message="read from a scan", fields=()),
    )
    extraction = Extraction(
        data=invoice, usage=Usage(), findings=findings, origin="model", document_id="ab" * 32, source="scan.jpg"
    )
    failure = ExtractionFailure(error=InputError("No such file: missing.pdf. Check the path."), source="missing.pdf")
    return extraction._repr_html_(), failure._repr_html_()


def page_html(outputs: tuple[str, ...]) -> str:
    """A page with both front ends' CSS, each output inside each front end's wrapper."""
    body = "".join(
        f"<h3>{html.escape(name)}</h3>" + wrapper.format("".join(outputs)) for name, wrapper in FRONT_ENDS.items()
    )
    style = f"<style>{JUPYTERLAB_CSS}{CLASSIC_CSS}</style>"
    return f"<!doctype html><html><head><meta charset='utf-8'>{style}</head><body>{body}</body></html>"


def chromium_path() -> str | None:
    """The Chromium to drive, or None when there is none."""
    candidate = os.environ.get("INVOICEAI_CHROMIUM") or "/usr/bin/chromium"
    return candidate if Path(candidate).exists() else shutil.which("chromium")


# Reads, inside the element a selector names, what a reader sees of the cells that matter.
PROBE = """
(root) => {
  const box = document.querySelector(root);
  const style = (el) => el ? getComputedStyle(el) : null;
  const cellOf = (text) => [...box.querySelectorAll('td')].find((td) => td.textContent.trim() === text);
  // The colour a reader sees: the first non-transparent background from the cell outwards.
  const seen = (el) => {
    for (let node = el; node && node !== box; node = node.parentElement) {
      const colour = style(node).backgroundColor;
      if (colour !== 'rgba(0, 0, 0, 0)') return colour;
    }
    return 'transparent';
  };
  const pick = (el) => el ? {textAlign: style(el).textAlign, background: seen(el)} : null;
  return {
    description: pick(cellOf('Logo design')),
    amount: pick(cellOf('1200.00')),
    seller: pick(box.querySelector('.iai td')),
    header: pick(box.querySelector('.iai th')),
    error: pick(box.querySelector('tr.error td')),
    warning: pick(box.querySelector('tr.warning td')),
    info: pick(box.querySelector('tr.info td')),
    failure: (box.querySelector('.iai-failure') || [...box.querySelectorAll('div')].find(
      (d) => d.textContent.trim().startsWith('InputError')) || {textContent: null}).textContent,
  };
}
"""


def computed_styles(screenshot: Path | None = None) -> dict[str, dict[str, Any]]:
    """Per front end, the computed alignment and background of the cells that matter."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium: install Debian's chromium or set INVOICEAI_CHROMIUM")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_content(page_html(sample_outputs()))
            styles = {name: page.evaluate(PROBE, f"#{name}") for name in FRONT_ENDS}
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return styles


def main(argv: list[str] | None = None) -> int:
    """Prints the computed styles; exits 1 when a front end's CSS wins over invoiceai's."""
    args = sys.argv[1:] if argv is None else argv
    screenshot = Path(args[args.index("--screenshot") + 1]) if "--screenshot" in args else None
    styles = computed_styles(screenshot)
    ok = True
    for name, probe in styles.items():
        print(name)
        for key, value in probe.items():
            print(f"  {key}: {value}")
        ok &= probe["description"]["textAlign"] == "left" and probe["amount"]["textAlign"] == "right"
        ok &= probe["error"]["background"] == "rgb(253, 226, 225)"
    if screenshot is not None:
        print(f"screenshot: {screenshot}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
