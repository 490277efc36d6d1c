"""How invoiceai fares against the official EN 16931 rules over the shared conformance material.

Run: python benchmarks/conformance.py [--top 15] [--files] [--json]

Over every whole invoice in ../shared/conformance (INVOICEAI_CONFORMANCE overrides; the CEN
examples, the CEN test files and the KoSIT XRechnung cases, as ``tests/conformance.py`` lists
them) it counts:

1. the files found, per syntax;
2. the files that pass the official CEN rules (no fatal assertion; ``validate_xml``);
3. of those, how many invoiceai reads, and after read -> write CII and read -> write UBL: how
   many written files still pass the official rules, and how many read back equal to what was
   read from the source;
4. the rule ids the written files break most often, with the number of files.

Files that break rules on purpose (negative tests) are counted in 1 only: what matters is that
writing keeps a clean file clean. Needs saxonche (``pip install ".[en16931]"``). Not a test: it
prints figures for the issue notes and the changelog.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import conformance  # noqa: E402
from invoiceai.einvoice import read_einvoice, to_xml, validate_xml  # noqa: E402
from invoiceai.errors import InvoiceAIError  # noqa: E402

OUTPUTS = ("cii", "ubl")


def fatal(xml: bytes) -> set[str]:
    return {finding.rule for finding in validate_xml(xml) if finding.severity == "error"}


def measure() -> dict[str, Any]:
    found = conformance.instances()
    stats: dict[str, Any] = {
        "files": len(found),
        "by_syntax": dict(collections.Counter(instance.syntax for instance in found)),
        "clean": 0,
        "read": 0,
        "refused": {},
    }
    for out in OUTPUTS:
        stats[out] = {"written": 0, "clean": 0, "equal": 0, "not_written": {}, "rules": collections.defaultdict(list)}
    for instance in found:
        source = instance.read()
        if fatal(source):
            continue
        stats["clean"] += 1
        try:
            invoice = read_einvoice(source)
        except InvoiceAIError as exc:
            stats["refused"][instance.name] = f"{type(exc).__name__}: {exc}"
            continue
        stats["read"] += 1
        for out in OUTPUTS:
            _write_and_check(instance.name, invoice, out, stats[out])
    return stats


def _write_and_check(name: str, invoice: Any, out: str, counts: dict[str, Any]) -> None:
    try:
        written = to_xml(invoice, out)  # type: ignore[arg-type]
    except InvoiceAIError as exc:
        counts["not_written"][name] = f"{type(exc).__name__}: {exc}"
        return
    counts["written"] += 1
    broken = fatal(written)
    if not broken:
        counts["clean"] += 1
    for rule in broken:
        counts["rules"][rule].append(name)
    try:
        if read_einvoice(written) == invoice:
            counts["equal"] += 1
    except InvoiceAIError as exc:
        counts["not_written"][f"{name} (read back)"] = f"{type(exc).__name__}: {exc}"


def report(stats: dict[str, Any], top: int, files: bool) -> None:
    syntaxes = ", ".join(f"{count} {syntax}" for syntax, count in sorted(stats["by_syntax"].items()))
    print(f"files found:                 {stats['files']} ({syntaxes})")
    print(f"pass the official rules:     {stats['clean']}")
    print(f"  read by invoiceai:         {stats['read']}")
    for name, reason in stats["refused"].items():
        print(f"    refused: {name}: {reason[:160]}")
    for out in OUTPUTS:
        counts = stats[out]
        print(f"written as {out.upper()}:              {counts['written']}")
        print(f"  still pass the rules:      {counts['clean']}")
        print(f"  read back equal:           {counts['equal']}/{counts['written']}")
        for name, reason in counts["not_written"].items():
            print(f"    not written: {name}: {reason[:160]}")
        ranked = sorted(counts["rules"].items(), key=lambda item: (-len(item[1]), item[0]))[:top]
        if ranked:
            print("  rules broken (files): " + ", ".join(f"{rule} {len(names)}" for rule, names in ranked))
        if files:
            for rule, names in ranked:
                print(f"    {rule}: {', '.join(sorted(names))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=15, help="how many failing rule ids to list (default 15)")
    parser.add_argument("--files", action="store_true", help="list the files behind each failing rule")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    if not conformance.available():
        print(conformance.CONFORMANCE_SKIP_REASON, file=sys.stderr)
        return 2
    started = time.perf_counter()
    stats = measure()
    if args.json:
        for out in OUTPUTS:
            stats[out]["rules"] = {rule: sorted(names) for rule, names in stats[out]["rules"].items()}
        print(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        report(stats, args.top, args.files)
        print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
