"""Estimated input tokens per page and requests per document, from the requests ClaudeBackend builds.

Run: python benchmarks/tokens.py

No API call is made: these are ESTIMATES. The script drives the backend's own request builder
(``ExtractionJob``, the code ``ClaudeBackend.extract`` runs) on two generated A4 pages and counts
tokens the way the API bills them, approximately:

* an image costs width * height / 750 tokens (the API's documented approximation);
* text costs about one token per 4 characters (prose) or per 3 characters (the JSON schema);
* the static prefix (system prompt and schema) is paid once per cache lifetime at 1.25x and then
  read from the prompt cache at 0.1x, so it is reported separately from the per-page cost.

Pages:

* born-digital: a PDF page rendered at the model's budget, with a text layer of a typical
  one-page invoice (about 1,900 characters);
* scanned: a 300-dpi A4 scan (2480 x 3508 px) shrunk to the budget, with no text layer.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from invoiceai.backends.claude.chunking import RequestLimits
from invoiceai.backends.claude.job import ExtractionJob, JobConfig, NeedPages, NeedTextLayers, SendRequest
from invoiceai.backends.claude.models import STANDARD_IMAGE_BUDGET, ModelState, lookup_model
from invoiceai.backends.claude.prices import PriceTable
from invoiceai.backends.claude.request import SYSTEM_PROMPT, api_schema
from invoiceai.config import DEFAULT_MODEL
from invoiceai.pages import ImageBudget
from invoiceai.schema import Invoice
from invoiceai.testing import StaticPages, image_info, make_page_image

A4_POINTS = (595, 842)
SCAN_PIXELS = (2480, 3508)
INVOICE_TEXT = "\n".join(
    [
        "ACME Industrial Supplies GmbH - Hauptstrasse 12 - 10115 Berlin - DE123456789",
        "Invoice INV-2026-00042    Date 15.01.2026    Due 14.02.2026    Customer no. 88231",
        "Bill to: Beispiel AG, Musterweg 5, 80331 Muenchen, Germany, VAT DE987654321",
        "Pos  Description                              Qty   Unit   Unit price    Amount",
        *[
            f"{n:>3}  Hex bolt M{6 + n % 6}x{20 + n} DIN 933 zinc plated   {n * 10:>4}  pcs   "
            f"{0.12 * n:>8.2f}   {1.2 * n * n:>8.2f}"
            for n in range(1, 13)
        ],
        "Net total 1,123.20 EUR    VAT 19% 213.41 EUR    Total due 1,336.61 EUR",
        "Payment within 30 days net. IBAN DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX",
        "Thank you for your order. Terms and conditions apply: www.example.com/terms",
    ]
)


def build_first_request(source: StaticPages, *, model: str, mode: str, budget: ImageBudget) -> dict[str, Any]:
    """Returns the first request ClaudeBackend would send for ``source``."""
    schema = api_schema(Invoice)
    job: ExtractionJob[Invoice] = ExtractionJob(
        config=JobConfig(
            model=model,
            spec=lookup_model(model),
            mode=mode,  # type: ignore[arg-type]
            max_reasks=2,
            token_budget=10**9,
            limits=RequestLimits(),
            prices=PriceTable(),
            image_budget=budget,
        ),
        schema=Invoice,
        schema_json=schema,
        document_id=source.document_id,
        page_count=source.page_count,
        state=ModelState(),
    )
    while True:
        step = job.next_step()
        if isinstance(step, NeedTextLayers):
            job.provide_text_layers(source.text_layers())
        elif isinstance(step, NeedPages):
            job.provide_pages(list(source.render(step.budget)))
        elif isinstance(step, SendRequest):
            return step.params
        else:
            raise RuntimeError(f"unexpected step {step!r}")


def requests_per_document(pages: int, *, model: str, budget: ImageBudget) -> int:
    """Returns how many requests a fault-free extraction of ``pages`` pages makes."""
    source = StaticPages([make_page_image(120, 170)] * pages)
    job: ExtractionJob[Invoice] = ExtractionJob(
        config=JobConfig(
            model=model,
            spec=lookup_model(model),
            mode="images",
            max_reasks=2,
            token_budget=10**9,
            limits=RequestLimits(),
            prices=PriceTable(),
            image_budget=budget,
        ),
        schema=Invoice,
        schema_json=api_schema(Invoice),
        document_id="x",
        page_count=pages,
        state=ModelState(),
    )
    requests = 0
    while (step := job.next_step()) is not None:
        if isinstance(step, NeedPages):
            job.provide_pages(list(source.render(step.budget)))
        elif isinstance(step, SendRequest):
            requests += 1
            job.handle_reply(
                {"stop_reason": "end_turn", "content": [{"type": "text", "text": "{}"}], "usage": {"input_tokens": 1}}
            )
    return requests


def estimate(params: dict[str, Any]) -> dict[str, int]:
    """Splits a request's estimated input tokens into prefix, images and page text."""
    prefix = math.ceil(len(SYSTEM_PROMPT) / 4)
    output_format = params.get("output_config", {}).get("format")
    schema = output_format["schema"] if output_format else params["tools"][0]["input_schema"]
    prefix += math.ceil(len(json.dumps(schema, separators=(",", ":"))) / 3)
    images = text = 0
    for block in params["messages"][0]["content"]:
        if block["type"] == "image":
            _, width, height = image_info(base64.b64decode(block["source"]["data"]))
            images += math.ceil(width * height / 750)
        elif block["type"] == "text":
            text += math.ceil(len(block["text"]) / 4) + 3  # + block overhead
    return {"prefix": prefix, "images": images, "text": text, "max_tokens": params["max_tokens"]}


def main() -> None:
    model = DEFAULT_MODEL
    budgets = {"model budget": lookup_model(model).image_budget, "standard budget": STANDARD_IMAGE_BUDGET}
    print("invoiceai token ESTIMATES (from the requests the backend builds; no API call was made)")
    print(f"model {model}; Invoice schema; images: w*h/750, text: chars/4, schema JSON: chars/3\n")
    for label, budget in budgets.items():
        digital_size = budget.fit(*A4_POINTS, allow_upscale=True)
        scan_size = budget.fit(*SCAN_PIXELS)
        born_digital = StaticPages([make_page_image(*digital_size, format="PNG")], texts=[INVOICE_TEXT])
        scanned = StaticPages([make_page_image(*SCAN_PIXELS, format="JPEG")])
        print(f"{label}: {budget.max_long_edge} px long edge, {budget.max_pixels / 1e6:.2f} MP")
        rows = [
            ("born-digital", "images", born_digital, digital_size),
            ("born-digital", "images+text", born_digital, digital_size),
            ("born-digital", "text", born_digital, digital_size),
            ("scanned", "images", scanned, scan_size),
        ]
        for page, mode, source, size in rows:
            parts = estimate(build_first_request(source, model=model, mode=mode, budget=budget))
            per_page = parts["images"] + parts["text"]
            print(
                f"  {page:<12} {mode:<11} page {size[0]}x{size[1]}: ~{per_page:>5} input tokens/page "
                f"(image {parts['images']}, text {parts['text']}); static prefix ~{parts['prefix']} "
                f"(cached: ~{math.ceil(parts['prefix'] * 0.1)} billed-equivalent); max_tokens {parts['max_tokens']}"
            )
        print()
    counts = {
        pages: requests_per_document(pages, model=model, budget=budgets["model budget"])
        for pages in (1, 2, 5, 20, 21, 45, 100)
    }
    print(
        "requests per document without faults (pages -> requests):", ", ".join(f"{p} -> {r}" for p, r in counts.items())
    )
    print("plus one request per transient retry, re-ask (max 2 per chunk) or truncation retry (max 1 per chunk)")


if __name__ == "__main__":
    main()
