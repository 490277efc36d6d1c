"""Opens invoiceai's notebook HTML in a real JupyterLab, in headless Chromium, and reads what it shows.

``notebook_render_check.py`` (and the test suite) check the HTML under JupyterLab's table rules
copied into a page. This script checks the real thing: it writes a notebook whose cells hold an
extraction's and a failure's ``_repr_html_`` as saved outputs, signs it as trusted, starts
JupyterLab on 127.0.0.1 with a throw-away configuration, opens the notebook in Chromium, reads the
computed alignment and colours of the cells that matter, and takes a screenshot.

JupyterLab is not a dependency of invoiceai. Install it in a venv of its own and point at it:

    python -m venv /tmp/jlab && /tmp/jlab/bin/pip install jupyterlab
    python scripts/jupyterlab_render_check.py --jupyter /tmp/jlab/bin/jupyter --screenshot jlab.png

Exit status 0 when text cells are left-aligned, amounts right-aligned and finding rows keep their
colours, 1 otherwise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
NOTEBOOK = "invoiceai-display.ipynb"


def _page_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("notebook_render_check", HERE / "notebook_render_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_notebook(path: Path, outputs: tuple[str, ...]) -> None:
    """A notebook with one code cell per output, each output saved as ``text/html``."""
    cells = [
        {
            "cell_type": "code",
            "execution_count": number,
            "id": f"cell-{number}",
            "metadata": {},
            "source": [source],
            "outputs": [
                {
                    "output_type": "execute_result",
                    "execution_count": number,
                    "metadata": {},
                    "data": {"text/html": [html]},
                }
            ],
        }
        for number, (source, html) in enumerate(zip(("result", "failure"), outputs, strict=True), start=1)
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_serving(url: str, server: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)  # polling a server that is starting; nothing to wait on instead
    raise RuntimeError(f"JupyterLab did not answer {url} within {timeout:.0f} s")


def read_jupyterlab(jupyter: str, screenshot: Path | None) -> dict[str, Any]:
    """Renders the sample outputs in JupyterLab and returns what the probe reads there."""
    from playwright.sync_api import sync_playwright

    check = _page_check()
    executable = check.chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium: install Debian's chromium or set INVOICEAI_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="invoiceai-jlab-") as scratch:
        root = Path(scratch)
        env = os.environ | {
            "HOME": str(root),
            "JUPYTER_CONFIG_DIR": str(root / "config"),
            "JUPYTER_DATA_DIR": str(root / "data"),
            "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        }
        write_notebook(root / NOTEBOOK, check.sample_outputs())
        subprocess.run([jupyter, "trust", str(root / NOTEBOOK)], env=env, check=True, capture_output=True)
        port = _free_port()
        command = [
            jupyter,
            "lab",
            "--no-browser",
            "--allow-root",
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
        ]
        command += ["--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}"]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_serving(f"{base}/api/status", server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=check.CHROMIUM_FLAGS)
                try:
                    page = browser.new_page(viewport={"width": 1200, "height": 1400})
                    page.goto(f"{base}/lab/tree/{NOTEBOOK}")
                    page.wait_for_selector(".jp-OutputArea-output .iai td", timeout=120_000)
                    probe = page.evaluate(check.PROBE, ".jp-Notebook")
                    if screenshot is not None:
                        page.screenshot(path=str(screenshot))
                finally:
                    browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    result: dict[str, Any] = probe
    return result


def main(argv: list[str] | None = None) -> int:
    """Prints what JupyterLab shows; exits 1 when its CSS wins over invoiceai's."""
    args = sys.argv[1:] if argv is None else argv
    jupyter = (
        args[args.index("--jupyter") + 1] if "--jupyter" in args else os.environ.get("INVOICEAI_JUPYTER", "jupyter")
    )
    screenshot = Path(args[args.index("--screenshot") + 1]) if "--screenshot" in args else None
    probe = read_jupyterlab(jupyter, screenshot)
    for key, value in probe.items():
        print(f"{key}: {value}")
    ok = probe["description"]["textAlign"] == "left" and probe["amount"]["textAlign"] == "right"
    ok &= probe["error"]["background"] == "rgb(253, 226, 225)"
    if screenshot is not None:
        print(f"screenshot: {screenshot}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
