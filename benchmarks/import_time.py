"""How long `import invoiceai` takes, next to the heavy imports it avoids.

Run: python benchmarks/import_time.py [repetitions]

Each figure is the median over fresh interpreters of the cumulative `-X importtime` time of
the top-level module, so the shared machine's noise is damped and nothing is cached in-process.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

MODULES = ("invoiceai", "pydantic", "PIL.Image", "pypdfium2", "httpx2", "anthropic")


def import_us(module: str) -> int:
    """Cumulative import time of ``module`` in microseconds, in a fresh interpreter."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, check=True
    )
    parts = module.split(".")
    names = {".".join(parts[: i + 1]) for i in range(len(parts))}
    total = 0
    for line in result.stderr.splitlines():
        fields = line.split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue
        name = fields[2][1:]  # one space follows the bar; more means a nested import
        if name in names:
            total += int(fields[1])
    return total


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    baseline = None
    print(f"{'module':<12} {'median ms':>10} {'vs invoiceai':>13}   ({repetitions} fresh interpreters each)")
    for module in MODULES:
        median_ms = statistics.median(import_us(module) for _ in range(repetitions)) / 1000
        baseline = baseline or median_ms
        print(f"{module:<12} {median_ms:>10.1f} {median_ms / baseline:>12.1f}x")


if __name__ == "__main__":
    main()
