"""Grounding accuracy: false alarms on true values, and flags on changed ones, for PDFs and OCR scans.

Run: python benchmarks/grounding.py [--corpus DIR] [--scans N] [--no-scans] [-v]

A fake backend answers each corpus document with its true invoice (the e-invoice PDFs' embedded
XML, the invoice2data labels), with ``Settings(provenance=True)``:

* **false alarms**: the share of true values printed on the page that get ``IAI-UNGROUNDED``.
  A value the page does not print at all (an XML-only value such as a payment means text) is
  not a false alarm: it is counted apart, as "not printed". Whether a value is printed is decided
  by a plain substring search of pdfium's text layer, looser than the matcher.
* **flagged**: the same documents answered with up to 8 values changed to something not printed
  on the page; the share of changed values flagged, and of results that need review.

The same on *scans*: each PDF's pages rendered at 200 dpi, rotated 1.5 degrees, JPEG-compressed
(quality 60) into an image-only PDF, read by OCR (the ``ocr`` extra and Tesseract; skipped
without them). Targets: false alarms < 2 %, flagged 100 %.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
DEFAULT_CORPUS = Path(os.environ.get("INVOICEAI_CORPUS", ROOT.parent / "shared" / "corpus"))


def run(cases: list, *, scans: bool, verbose: bool) -> dict[str, float]:
    from invoiceai.provenance import field_kind
    from provenance_truth import checked, extract, mutate, page_texts, printed, scan

    counts = {"values": 0, "false_alarms": 0, "not_printed": 0, "approximate": 0, "changed": 0, "flagged": 0}
    counts.update(docs=0, review=0)
    started = time.perf_counter()
    for case in cases:
        texts = page_texts(case.pdf)
        source = scan(case.pdf) if scans else case.pdf
        result = extract(source, case.truth)
        values = checked(result)
        for path, item in values.items():
            if item.grounding in ("grounded", "approximate"):
                counts["values"] += 1
                counts["approximate"] += item.grounding == "approximate"
            elif printed(
                _value(case.truth, path),
                field_kind(path.rsplit(".", 1)[-1], _value(case.truth, path)),
                "\n".join(texts),
            ):
                counts["values"] += 1
                counts["false_alarms"] += 1
                if verbose:
                    print(f"  false alarm {case.name}: {path} = {item.value!r}")
            else:
                counts["not_printed"] += 1
        grounded = {path: item for path, item in values.items() if item.grounding == "grounded"}
        mutated, changed = mutate(case.truth, grounded, "\n".join(texts))
        if not changed:
            continue
        second = extract(source, mutated)
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


def _value(invoice: object, path: str) -> object:
    from provenance_truth import _get

    return _get(invoice.model_dump(mode="python"), path)  # type: ignore[attr-defined]


def report(label: str, counts: dict[str, float], documents: int) -> None:
    rate = counts["false_alarms"] / counts["values"] if counts["values"] else 0.0
    flagged = counts["flagged"] / counts["changed"] if counts["changed"] else 1.0
    review = counts["review"] / counts["docs"] if counts["docs"] else 1.0
    print(
        f"{label:<6} {documents:>3} docs  false alarms {counts['false_alarms']:>3}/{counts['values']:<5} = {rate:6.2%}"
        f"  (not printed: {counts['not_printed']}, approximate: {counts['approximate']})"
        f"  changed values flagged {counts['flagged']}/{counts['changed']}"
        f" = {flagged:.1%}  results needing review {counts['review']}/{counts['docs']} = {review:.1%}"
        f"  [{counts['seconds']:.1f} s]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--scans", type=int, default=12, help="documents to scan and OCR (0: all)")
    parser.add_argument("--no-scans", action="store_true")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}; set INVOICEAI_CORPUS or pass --corpus")
    from invoiceai.render.ocr import ocr_available
    from provenance_truth import einvoice_cases, invoice2data_cases

    cases = einvoice_cases(args.corpus) + invoice2data_cases(args.corpus)
    report("PDF", run(cases, scans=False, verbose=args.verbose), len(cases))
    if args.no_scans:
        return
    if not ocr_available():
        print("scans: skipped, OCR is not installed (pip install 'invoiceai-claude[ocr]'; apt install tesseract-ocr)")
        return
    chosen = cases if args.scans == 0 else cases[:: max(1, len(cases) // args.scans)][: args.scans]
    report("scan", run(chosen, scans=True, verbose=args.verbose), len(chosen))


if __name__ == "__main__":
    main()
