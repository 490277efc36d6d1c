"""How long ``invoiceai --help`` and ``invoiceai --version`` take, beside a bare interpreter.

Run: python benchmarks/cli_startup.py [repetitions]

Each figure is the median wall time of ``repetitions`` (default 10) fresh processes, started the
way a user starts them (the ``invoiceai`` script next to this interpreter, else
``python -m invoiceai``); ``python -c pass`` is the floor no command line can beat. The load
average is printed too: on a shared machine it explains a slow run. Target: both under 0.2 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def command() -> list[str]:
    """How ``invoiceai`` is started here: the installed script beside this Python, else ``-m``."""
    script = Path(sys.executable).with_name("invoiceai")
    if script.exists():
        return [str(script)]
    found = shutil.which("invoiceai")
    return [found] if found else [sys.executable, "-m", "invoiceai"]


def median_seconds(argv: list[str], repetitions: int) -> float:
    """The median wall time of running ``argv`` to completion ``repetitions`` times."""
    times = []
    for _ in range(repetitions):
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    repetitions = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    cli = command()
    runs = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "invoiceai --help": [*cli, "--help"],
        "invoiceai --version": [*cli, "--version"],
    }
    print(f"{'command':<22} {'median s':>9}   ({repetitions} runs each; invoiceai = {' '.join(cli)})")
    for name, argv in runs.items():
        print(f"{name:<22} {median_seconds(argv, repetitions):>9.3f}")
    one, five, fifteen = os.getloadavg()
    print(f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
