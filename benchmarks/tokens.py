"""Input tokens per page on the corpus, at each input mode and detail level, against the alternatives.

Run: python benchmarks/tokens.py [--corpus DIR] [--model MODEL]

No API call is made: these are ESTIMATES, counted on the exact requests ``ClaudeBackend`` would
send (the backend's dry run, :meth:`ClaudeBackend.estimate`, which drives the live path's
``ExtractionJob``), the way the API bills them, approximately:

* an image costs width * height / 750 tokens (the API's documented approximation);
* text costs about one token per 4 characters;
* the static prefix (system prompt and schema) is reported apart: live, it is read from the
  prompt cache at 0.1x after the first request, so it is not a per-page cost;
* so is the request's own text after the pages' content (the note naming the pages of a
  multi-page request, the chunk note of a split document, the closing instruction): a few
  dozen tokens per request, whatever its number of pages.

Per page is the page's image plus its text layer (``images+text`` and ``text`` modes), averaged
over the pages of every document of a kind:

* born-digital: corpus PDFs with a text layer (``einvoice/pdf``, ``invoice2data``, ``misc``; the
  e-invoices are counted as if their XML were ignored);
* scanned: PDFs without a text layer, and the scans (``scanned/``, ``invoice2data/*.png``).

Beside them:

* naive: a 300 dpi PNG of each PDF page (the scan file itself for image files), which the API
  downsizes to its standard limit (1568 px / 1.15 MP) before counting;
* PDF block: the PDF sent as a document block, billed per page as an image (at that same
  standard limit) plus its extracted text.

Targets at the default (``detail="standard"``): <= 1.0x naive per page, and <= 1.3x naive for
born-digital pages in ``images+text`` mode.

Output tokens: a request of several pages also asks for the page of each value (the
``_value_pages`` list). Its cost is estimated on the corpus multi-page documents that have a true
invoice (the e-invoice PDFs' XML, the invoice2data labels): the answer the schema asks for (every
key, ``null`` for the unknown), with and without the list the schema's description asks for (one
entry per line item, per header value, and per part whose values share a page), at 3.5
characters per token as the fake API counts; the pages are where grounding finds each value.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = Path(os.environ.get("INVOICEAI_CORPUS", ROOT.parent / "shared" / "corpus"))
PDF_DIRS = ("einvoice/pdf", "invoice2data", "misc")
SCAN_GLOBS = ("scanned/*/*.jpg", "scanned/*/*.jpeg", "invoice2data/*.png")
MODES = ("images", "images+text", "text")
DETAILS = ("standard", "high")
NAIVE_DPI = 300


@dataclass
class Tally:
    """Tokens summed over the pages of one kind, per approach."""

    pages: int = 0
    documents: int = 0
    tokens: dict[str, int] = field(default_factory=dict)

    def add(self, approach: str, tokens: int) -> None:
        self.tokens[approach] = self.tokens.get(approach, 0) + tokens

    def per_page(self, approach: str) -> float:
        return self.tokens.get(approach, 0) / max(1, self.pages)


class Splitter:
    """A dry-run token counter that also splits each request into static prefix and pages."""

    def __init__(self) -> None:
        self.prefix = 0
        self.framing = 0
        self.pages = 0
        self.images = 0
        self.requests = 0

    def __call__(self, params: Mapping[str, Any]) -> int:
        from invoiceai.backends.claude.request import SYSTEM_PROMPT, estimate_text_tokens
        from invoiceai.testing import image_info

        output_format = params.get("output_config", {}).get("format")
        schema = output_format["schema"] if output_format else params["tools"][0]["input_schema"]
        prefix = estimate_text_tokens(SYSTEM_PROMPT) + math.ceil(len(_json(schema)) / 3.5)
        pages = framing = 0
        for block in params["messages"][0]["content"]:
            if block["type"] == "image":
                _, width, height = image_info(base64.b64decode(block["source"]["data"]))
                pages += math.ceil(width * height / 750)
                self.images += math.ceil(width * height / 750)
            elif block["type"] == "text" and block["text"].startswith("<page_text"):
                pages += estimate_text_tokens(block["text"]) + 3  # + the block's own overhead
            elif block["type"] == "text":  # a note or the closing: once per request
                framing += estimate_text_tokens(block["text"]) + 3
        self.prefix += prefix
        self.framing += framing
        self.pages += pages
        self.requests += 1
        return prefix + framing + pages


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def corpus_files(corpus: Path) -> tuple[list[Path], list[Path]]:
    """The corpus PDFs and scan images, sorted."""
    pdfs = [path for sub in PDF_DIRS for path in sorted((corpus / sub).glob("*.pdf"))]
    scans = [path for pattern in SCAN_GLOBS for path in sorted(corpus.glob(pattern))]
    return pdfs, scans


def measure(path: Path, model: str, tallies: dict[str, Tally], prefixes: list[int], framing: list[int]) -> None:
    """Adds one document's pages to the tally of its kind, for every approach."""
    from invoiceai.backends import ClaudeBackend
    from invoiceai.backends.claude.models import STANDARD_IMAGE_BUDGET
    from invoiceai.backends.claude.request import estimate_text_tokens, image_tokens
    from invoiceai.config import Settings
    from invoiceai.documents import Document
    from invoiceai.render import open_document
    from invoiceai.schema import Invoice

    source = open_document(Document.from_bytes(path.read_bytes()))
    try:
        is_pdf = path.suffix.lower() == ".pdf"
        texts = [(text or "").strip() for text in source.text_layers()]
        kind = "born-digital" if is_pdf and any(texts) else "scanned"
        tally = tallies[kind]
        tally.documents += 1
        tally.pages += source.page_count
        for page, text in zip(source.render(STANDARD_IMAGE_BUDGET), texts, strict=True):
            width, height = page.width / page.scale, page.height / page.scale  # points, or the file's pixels
            if is_pdf:
                width, height = width * NAIVE_DPI / 72, height * NAIVE_DPI / 72
            naive = image_tokens(*STANDARD_IMAGE_BUDGET.fit(width, height))
            tally.add("naive", naive)
            tally.add("naive images", naive)
            if kind == "born-digital":
                tally.add("PDF block", naive + (estimate_text_tokens(text) if text else 0))
                tally.add("PDF block images", naive)
        settings = Settings(model=model)
        for mode in MODES if kind == "born-digital" else ("images",):
            for detail in DETAILS:
                backend = ClaudeBackend(settings=settings, mode=mode, detail=detail, detect_capabilities=False)
                splitter = Splitter()
                backend.estimate(source, Invoice, count_tokens=splitter)
                tally.add(f"{mode} {detail}", splitter.pages)
                tally.add(f"{mode} {detail} images", splitter.images)
                prefixes.append(splitter.prefix // max(1, splitter.requests))
                if mode == "images" and detail == "standard":
                    framing.append(splitter.framing // max(1, splitter.requests))
                    tally.add("framing", splitter.framing)
    finally:
        close = getattr(source, "close", None)
        if callable(close):
            close()


def report(tallies: dict[str, Tally], prefixes: list[int], framing: list[int], model: str) -> None:
    print("invoiceai input-token ESTIMATES per page (from the requests the backend builds; no API call)")
    print(f"model {model}; Invoice schema; images w*h/750, text chars/4\n")
    for kind, tally in tallies.items():
        if not tally.pages:
            continue
        naive = tally.per_page("naive")
        block = tally.per_page("PDF block") if "PDF block" in tally.tokens else None
        naive_is = "a 300 dpi PNG of each PDF page, the file itself for an image, downsized by the API"
        print(f"{kind}: {tally.documents} documents, {tally.pages} pages (naive: {naive_is})")
        print(f"  {'approach':<24} {'tokens/page':>11}  {'of which image':>14}  {'vs naive':>8}  {'vs PDF block':>12}")
        for name in [name for name in tally.tokens if not name.endswith(" images") and name != "framing"]:
            per_page, image = tally.per_page(name), tally.per_page(f"{name} images")
            versus_block = f"{per_page / block:>11.2f}x" if block else ""
            print(f"  {name:<24} {per_page:>11,.0f}  {image:>14,.0f}  {per_page / naive:>7.3f}x  {versus_block}")
        all_in = tally.per_page("images standard") + tally.per_page("framing")
        print(f"  images standard with its per-request text spread over the pages: {all_in / naive:.3f}x naive")
        print()
    if prefixes:
        print(f"static prefix per request (system prompt, Invoice schema): ~{max(prefixes):,} tokens,")
        print("paid at 1.25x once per 5 minutes and read from the prompt cache at 0.1x after that")
    if framing:
        print(
            f"per request after the pages (notes, closing; images mode): {min(framing)}-{max(framing)} tokens, "
            f"{sum(framing) / len(framing):.1f} on average\n"
        )
    _targets(tallies)


def _targets(tallies: dict[str, Tally]) -> None:
    digital = tallies["born-digital"]
    checks = []
    for kind, tally in tallies.items():
        if tally.pages:
            images = tally.per_page("images standard images") / tally.per_page("naive")
            ratio = tally.per_page("images standard") / tally.per_page("naive")
            checks.append((f"{kind} images at the default <= 1.0x naive", ratio, images, 1.0))
    if digital.pages:
        ratio = digital.per_page("images+text standard") / digital.per_page("naive")
        images = digital.per_page("images+text standard images") / digital.per_page("naive")
        checks.append(("born-digital images+text at the default <= 1.3x naive", ratio, images, 1.3))
    for label, ratio, images, limit in checks:
        verdict = "ok" if images <= 1.0 and ratio <= limit else "MISSED"
        print(f"target: {label}: {ratio:.3f}x (the images alone {images:.3f}x) {verdict}")


def output_tokens(corpus: Path) -> str:
    """Output tokens per multi-page answer without and with value pages (see the module docstring)."""
    sys.path.insert(0, str(ROOT / "tests"))
    import pypdfium2

    from invoiceai.backends.claude.request import api_schema
    from invoiceai.schema import Invoice
    from provenance_truth import einvoice_cases, extract, invoice2data_cases

    schema = api_schema(Invoice)
    totals = {"without": 0, "with": 0, "per value": 0}
    documents = 0
    for case in einvoice_cases(corpus) + invoice2data_cases(corpus):
        pdf = pypdfium2.PdfDocument(case.pdf.read_bytes())
        pages = len(pdf)
        pdf.close()
        if pages < 2:
            continue
        found = extract(case.pdf, case.truth).provenance.fields
        named = {path: item.page for path, item in found.items() if item.page is not None}
        answer = _json(_asked(schema, case.truth.model_dump(mode="json"), schema["$defs"]))
        documents += 1
        totals["without"] += math.ceil(len(answer) / 3.5)
        for name, entries in (("with", _compact(named)), ("per value", named)):
            listed = _json([{"path": path, "page": page} for path, page in entries.items()])
            totals[name] += math.ceil(len(answer[:-1] + ',"_value_pages":' + listed + "}") / 3.5)
    if not documents:
        return "no multi-page document with a true invoice in the corpus"
    without, with_pages, per_value = (totals[name] / documents for name in ("without", "with", "per value"))
    return (
        f"{documents} multi-page documents: {without:,.0f} output tokens per answer without value pages, "
        f"{with_pages:,.0f} with them ({with_pages / without - 1:+.1%}); one entry per value would be "
        f"{per_value:,.0f} ({per_value / without - 1:+.1%})"
    )


def _asked(node: Any, data: Any, definitions: Mapping[str, Any]) -> Any:
    # The answer as the schema asks for it: every key it lists, null for what is unknown.
    while "$ref" in node or "anyOf" in node:
        if "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        elif data is None:
            return None
        else:
            node = next(variant for variant in node["anyOf"] if variant.get("type") != "null")
    if node.get("type") == "object":
        return {key: _asked(child, (data or {}).get(key), definitions) for key, child in node["properties"].items()}
    if node.get("type") == "array":
        return [_asked(node["items"], item, definitions) for item in data or []]
    return data


def _compact(named: Mapping[str, int]) -> dict[str, int]:
    # One entry per line item, per header value, and per part whose values share a page.
    def group(path: str) -> str:
        return path.split(".", 1)[0] if "." in path else path

    pages: dict[str, set[int]] = {}
    for path, page in named.items():
        pages.setdefault(group(path), set()).add(page)
    return {group(path) if len(pages[group(path)]) == 1 else path: page for path, page in named.items()}


def requests_per_document(model: str) -> str:
    from invoiceai.backends import ClaudeBackend
    from invoiceai.config import Settings
    from invoiceai.schema import Invoice
    from invoiceai.testing import StaticPages, make_page_image

    backend = ClaudeBackend(settings=Settings(model=model), detect_capabilities=False)
    counts = []
    for pages in (1, 2, 5, 20, 21, 45, 100):
        estimate = backend.estimate(StaticPages([make_page_image(60, 85)] * pages), Invoice)
        counts.append(f"{pages} -> {len(estimate.requests)}")
    return ", ".join(counts)


def main() -> int:
    from invoiceai.config import DEFAULT_MODEL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}; set INVOICEAI_CORPUS or pass --corpus", file=sys.stderr)
        return 2
    from invoiceai.errors import InvoiceAIError

    tallies = {"born-digital": Tally(), "scanned": Tally()}
    prefixes: list[int] = []
    framing: list[int] = []
    pdfs, scans = corpus_files(args.corpus)
    for path in [*pdfs, *scans]:
        try:
            measure(path, args.model, tallies, prefixes, framing)
        except InvoiceAIError as exc:
            print(f"skipped {path.relative_to(args.corpus)}: {type(exc).__name__}", file=sys.stderr)
    report(tallies, prefixes, framing, args.model)
    print("\nrequests per document without faults (pages -> requests):", requests_per_document(args.model))
    print("plus one request per transient retry, re-ask (max 2 per chunk) or truncation retry (max 1 per chunk)")
    print("\noutput tokens (estimated):", output_tokens(args.corpus))
    return 0


if __name__ == "__main__":
    sys.exit(main())
