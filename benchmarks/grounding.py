"""Grounding accuracy: false alarms on true values, and flags on changed ones, for PDFs and OCR scans.

Run: OMP_THREAD_LIMIT=1 python benchmarks/grounding.py [--corpus DIR] [--scans N] [--variants scan,photo]
[--no-scans] [--no-pdfs] [-v]

A fake backend answers each corpus document with its true invoice (the e-invoice PDFs' embedded
XML, the invoice2data labels), with ``Settings(provenance=True)``:

* **false alarms**: the share of true values printed on the page that get ``IAI-UNGROUNDED``.
  A value the page does not print at all (an XML-only value such as a payment means text) is
  not a false alarm: it is counted apart, as "not printed". Whether a value is printed is decided
  by a plain substring search of pdfium's text layer, looser than the matcher.
* **flagged**: the same documents answered with up to 8 values changed to something not printed
  on the page; the share of changed values flagged, and of results that need review.
* **grounded on other text**: grounded values whose matched words, parsed independently of the
  matcher (``provenance_truth.printed``), do not hold the value.
* **review rate on true answers**: the share of true answers that need review under the
  default and the lenient :class:`~invoiceai.provenance.ReviewPolicy`.
* **realistic errors** (PDFs): one value at a time changed the way a model errs (a flipped sign,
  day and month swapped, the cents dropped, a quantity one higher, a value from the next row),
  each kind reported apart: flagged among the changes whose new value is not printed where it
  belongs (its page; for a line item, its row), and among those where it still is (ambiguous).

The same on *scans* and *photos* of every corpus PDF (``--scans N``: only N of them), read by
OCR (the ``ocr`` extra and Tesseract; skipped without them), each reported apart:

* scan: each PDF's pages rendered at 200 dpi, turned 1.5 degrees, JPEG quality 60, into an
  image-only PDF (``provenance_truth.scan``);
* photo: 150 dpi, turned 2.5 degrees (alternately either way), a slight perspective, light
  falling off across the page, a little blur, JPEG quality 45 (``ocr_samples.photo``).

Targets: false alarms < 2 %, flagged 100 %. Each page is OCRed once: the changed answers are
grounded on the words the true answer's extraction read (a page's OCR is memoised by its image),
and the OCR seconds per page are reported. Run with ``OMP_THREAD_LIMIT=1`` on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
DEFAULT_CORPUS = Path(os.environ.get("INVOICEAI_CORPUS", ROOT.parent / "shared" / "corpus"))


def run(cases: list, *, variant: str, verbose: bool) -> dict[str, float]:
    from invoiceai.provenance import ReviewPolicy, field_kind
    from ocr_samples import photo
    from provenance_truth import checked, extract, mutate, page_texts, printed, scan

    counts = {"values": 0, "false_alarms": 0, "not_printed": 0, "approximate": 0, "changed": 0, "flagged": 0}
    counts.update(docs=0, review=0, wrong_text=0, true_docs=0, true_review=0, true_review_lenient=0)
    started = time.perf_counter()
    for case in cases:
        texts = page_texts(case.pdf)
        source = scan(case.pdf) if variant == "scan" else photo(case.pdf) if variant == "photo" else case.pdf
        result = extract(source, case.truth)
        if verbose:
            for warning in result.warnings:
                print(f"  warning {case.name}: {warning}")
        counts["true_docs"] += 1
        counts["true_review"] += result.needs_review
        counts["true_review_lenient"] += result.reviewed(ReviewPolicy.lenient()).needs_review
        if verbose and result.review is not None and result.needs_review:
            print(f"  true answer needs review {case.name}: {'; '.join(result.review.reasons)}")
        values = checked(result)
        for path, item in values.items():
            value = _value(case.truth, path)
            kind = field_kind(path.rsplit(".", 1)[-1], value)
            if item.grounding in ("grounded", "approximate"):
                counts["values"] += 1
                counts["approximate"] += item.grounding == "approximate"
                # The matched words, parsed independently of the matcher's forms, must hold the value.
                if item.grounding == "grounded" and not printed(value, kind, item.text or ""):
                    counts["wrong_text"] += 1
                    if verbose:
                        print(f"  wrong text {case.name}: {path} = {item.value!r} on {item.text!r}")
            elif printed(value, kind, "\n".join(texts)):
                counts["values"] += 1
                counts["false_alarms"] += 1
                if verbose:
                    print(f"  false alarm {case.name}: {path} = {item.value!r} ({item.evidence[-1]})")
            else:
                counts["not_printed"] += 1
        grounded = {path: item for path, item in values.items() if item.grounding == "grounded"}
        mutated, changed = mutate(case.truth, grounded, "\n".join(texts))
        if not changed:
            continue
        second = extract(source, mutated)
        if verbose:
            for warning in set(second.warnings) - set(result.warnings):
                print(f"  warning {case.name} (changed values): {warning}")
        flagged = {path for finding in second.findings if finding.rule == "IAI-UNGROUNDED" for path in finding.fields}
        counts["changed"] += len(changed)
        counts["flagged"] += len(set(changed) & flagged)
        counts["docs"] += 1
        counts["review"] += second.needs_review
        if verbose:
            for path in set(changed) - flagged:
                print(f"  missed change {case.name}: {path} = {second.provenance[path].value!r}")
    counts["seconds"] = time.perf_counter() - started
    return counts


def run_realistic(cases: list, *, verbose: bool) -> dict[str, list[int]]:
    """Per mutation kind: [changed and hidden, flagged of those, changed but printed (ambiguous), flagged of those]."""
    from invoiceai.documents import Document
    from invoiceai.provenance import PageWords, ground_invoice
    from invoiceai.render.limits import RenderLimits
    from invoiceai.render.pdf import PdfRenderer
    from provenance_truth import MUTATIONS, realistic_mutations

    stats = {kind: [0, 0, 0, 0] for kind in MUTATIONS}
    for case in cases:
        document = Document.from_bytes(case.pdf.read_bytes(), name=case.pdf.name)
        with PdfRenderer(limits=RenderLimits(render_memory_limit=0)).open(document) as source:
            raw = source.word_layers()
        layers = [PageWords.from_raw(number, words, "text") for number, words in enumerate(raw, start=1)]
        base = ground_invoice(case.truth, layers).provenance
        grounded = {path: item for path, item in base.fields.items() if item.grounding == "grounded"}
        text = "\n".join(" ".join(word.text for word in layer.words) for layer in layers)
        rows = {path: _row_text(layers, item) for path, item in grounded.items() if path.startswith("line_items[")}
        for mutation in realistic_mutations(case.truth, grounded, rows, text):
            got = ground_invoice(mutation.invoice, layers).provenance[mutation.path]
            slot = stats[mutation.kind]
            offset = 0 if mutation.hidden else 2
            slot[offset] += 1
            slot[offset + 1] += got.grounding == "ungrounded"
            if verbose and mutation.hidden and got.grounding != "ungrounded":
                print(f"  missed {mutation.kind} {case.name}: {mutation.path} -> {got.value!r} on {got.text!r}")
    return stats


def _row_text(layers: list, item: object) -> str:
    """The words on the line of ``item``'s match: where a line item's value should be printed."""
    box = item.box  # type: ignore[attr-defined]
    words = next(layer.words for layer in layers if layer.page == item.page)  # type: ignore[attr-defined]
    return " ".join(word.text for word in words if box.y0 <= (word.box.y0 + word.box.y1) / 2 <= box.y1)


def _value(invoice: object, path: str) -> object:
    from provenance_truth import _get

    return _get(invoice.model_dump(mode="python"), path)  # type: ignore[attr-defined]


class OcrMemo:
    """Memoises ``invoiceai.render.ocr.ocr_words`` by image, and times the real runs."""

    def __init__(self, keep: Path | None = None) -> None:
        import invoiceai.render.ocr as ocr

        self.module, self.real = ocr, ocr.ocr_words
        self.known: dict[tuple[str, str], list] = {}
        self.keep = keep  # a folder keeping the words between runs (matcher work needs no new OCR)
        self.pages = 0
        self.seconds = 0.0

    def __enter__(self) -> OcrMemo:
        self.module.ocr_words = self  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        self.module.ocr_words = self.real

    def __call__(self, image: bytes, *, languages: str = "eng", timeout: float = 0, dpi: int | None = None) -> list:
        import hashlib

        key = (hashlib.sha256(image).hexdigest(), f"{languages}-{dpi}")
        kept = self.keep / f"{key[0][:32]}-{key[1]}.json" if self.keep is not None else None
        if key not in self.known and kept is not None and kept.exists():
            self.known[key] = [tuple(word) for word in json.loads(kept.read_text(encoding="utf-8"))]
        if key not in self.known:
            started = time.perf_counter()
            self.known[key] = self.real(image, languages=languages, timeout=timeout, dpi=dpi)
            self.seconds += time.perf_counter() - started
            self.pages += 1
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                kept.write_text(json.dumps(self.known[key]), encoding="utf-8")
        return list(self.known[key])


def report(label: str, counts: dict[str, float], documents: int) -> None:
    rate = counts["false_alarms"] / counts["values"] if counts["values"] else 0.0
    flagged = counts["flagged"] / counts["changed"] if counts["changed"] else 1.0
    review = counts["review"] / counts["docs"] if counts["docs"] else 1.0
    print(
        f"{label:<6} {documents:>3} docs  false alarms {counts['false_alarms']:>3}/{counts['values']:<5} = {rate:6.2%}"
        f"  (not printed: {counts['not_printed']}, approximate: {counts['approximate']},"
        f" grounded on other text: {counts['wrong_text']})"
        f"  changed values flagged {counts['flagged']}/{counts['changed']}"
        f" = {flagged:.1%}  results needing review {counts['review']}/{counts['docs']} = {review:.1%}"
        f"  [{counts['seconds']:.1f} s]"
    )
    true_docs = counts["true_docs"] or 1
    print(
        f"{'':<6} true answers needing review: default policy {counts['true_review']}/{counts['true_docs']}"
        f" = {counts['true_review'] / true_docs:.1%}, lenient policy {counts['true_review_lenient']}/"
        f"{counts['true_docs']} = {counts['true_review_lenient'] / true_docs:.1%}"
    )


def report_realistic(stats: dict[str, list[int]]) -> None:
    for kind, (hidden, flagged, shown, flagged_shown) in stats.items():
        rate = f"{flagged / hidden:.1%}" if hidden else "-"
        print(
            f"  {kind:<24} not on its page/row: flagged {flagged:>4}/{hidden:<4} = {rate:>6}"
            f"   still printed there (ambiguous): flagged {flagged_shown}/{shown}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--scans", type=int, default=0, help="documents to scan and OCR (0: all)")
    parser.add_argument("--variants", default="scan,photo", help="which OCR variants: scan, photo or both")
    parser.add_argument("--no-scans", action="store_true")
    parser.add_argument("--no-pdfs", action="store_true", help="only the OCR variants")
    parser.add_argument("--ocr-cache", type=Path, help="a folder keeping each page's OCR words between runs")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}; set INVOICEAI_CORPUS or pass --corpus")
    from invoiceai.render.ocr import ocr_available
    from provenance_truth import einvoice_cases, invoice2data_cases

    cases = einvoice_cases(args.corpus) + invoice2data_cases(args.corpus)
    if not args.no_pdfs:
        report("PDF", run(cases, variant="pdf", verbose=args.verbose), len(cases))
        print("realistic errors, one value changed at a time (PDF):")
        report_realistic(run_realistic(cases, verbose=args.verbose))
    if args.no_scans:
        return
    if not ocr_available():
        print("scans: skipped, OCR is not installed (pip install 'invoiceai-claude[ocr]'; apt install tesseract-ocr)")
        return
    chosen = cases if args.scans == 0 else cases[:: max(1, len(cases) // args.scans)][: args.scans]
    for variant in args.variants.split(","):
        with OcrMemo(args.ocr_cache) as memo:
            counts = run(chosen, variant=variant, verbose=args.verbose)
        report(variant, counts, len(chosen))
        per_page = memo.seconds / memo.pages if memo.pages else 0.0
        print(f"{'':<6} OCR: {memo.pages} pages read, {per_page:.1f} s a page")
    print(f"load average: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
