"""A newcomer's first steps, in a fresh venv from a clean clone (issue 15, acceptance).

The README's first command runs verbatim (install, then extract the bundled Factur-X sample);
then the quickstart's steps run with the fake Claude instead of a key: the dry run of the sample
scan, the CLI on the scan, and the quickstart's Python block, checking what each prints. The
README's second command (the test suite) is this suite itself, so it is not nested here.

The install must not reach the network (no test does): pip is pointed only at the local
package sources it is configured with (``file://`` indexes and find-links directories), or at
``INVOICEAI_WHEELHOUSE``, a directory of wheels (``pip download -d DIR .`` makes one). When those
cannot satisfy the dependencies, the test skips and says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

import doc_blocks
from invoiceai.testing import FAKE_API_KEY, FakeClaudeAPI

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
QUICKSTART = ROOT / "docs" / "quickstart.md"
SCAN = "examples/sample-scan.jpg"

pytestmark = [pytest.mark.slow, pytest.mark.allow_stderr]


def _readme_install_command() -> str:
    block = re.search(r"## Install and run.*?```bash\n(.*?)```", README.read_text(), re.S)
    assert block, "README has no 'Install and run' bash block"
    commands = [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]
    return commands[0]


def _local_pip_sources() -> dict[str, str] | None:
    """pip environment variables that use only local package sources, or None if there are none."""
    wheelhouse = os.environ.get("INVOICEAI_WHEELHOUSE")
    if wheelhouse:
        return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheelhouse}
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    settings: dict[str, list[str]] = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        settings.setdefault(name, []).extend(value.strip().strip("'\"").split())
    indexes = [
        url for key in ("index-url", "extra-index-url") for url in settings.get(key, []) if url.startswith("file:")
    ]
    links = [link for link in settings.get("find-links", []) if "://" not in link or link.startswith("file:")]
    if not indexes and not links:
        return None
    sources = {"PIP_FIND_LINKS": " ".join(links), "PIP_EXTRA_INDEX_URL": " ".join(indexes[1:])}
    sources |= {"PIP_INDEX_URL": indexes[0]} if indexes else {"PIP_NO_INDEX": "1"}
    return sources


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """A clean clone, a fresh venv with the README's first command run in it, and that command's output."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to clone from")
    sources = _local_pip_sources()
    if sources is None:
        pytest.skip("no offline package source: set INVOICEAI_WHEELHOUSE to a directory of wheels")
    base = tmp_path_factory.mktemp("newcomer")
    clone = base / "invoiceai"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    venv.EnvBuilder(with_pip=True).create(base / "venv")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV", "PIP_"))}
    env |= sources | {
        "PATH": f"{base / 'venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        "VIRTUAL_ENV": str(base / "venv"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "XDG_CACHE_HOME": str(base / "cache"),
        "HOME": str(base / "home"),
    }
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "INVOICEAI_CACHE_DIR"):
        env.pop(name, None)
    done = subprocess.run(
        ["bash", "-c", _readme_install_command()], cwd=clone, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0 and re.search(r"No matching distribution|Could not find a version", done.stderr):
        pytest.skip(f"offline pip cannot install the dependencies: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr[-3000:]
    return clone, env, done.stdout


def test_the_readme_first_command_installs_and_extracts_the_sample(newcomer: tuple[Path, dict[str, str], str]) -> None:
    clone, env, out = newcomer
    # pip's own lines come first; the extraction's JSON starts at the first line that opens it.
    start = next(i for i, line in enumerate(out.splitlines()) if line.startswith(("[", "{")))
    data = json.loads("\n".join(out.splitlines()[start:]))
    result = data[0] if isinstance(data, list) else data
    assert result["origin"] == "einvoice"
    assert result["data"]["invoice_number"] == "INV-2026-0042"
    assert result["data"]["total"] == "2952.10"
    installed = subprocess.run(
        [
            "python",
            "-c",
            "import importlib.metadata as m, invoiceai; print(m.version('invoiceai-claude'), invoiceai.__file__)",
        ],
        cwd=clone.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "site-packages" in installed  # the venv's install, not the clone's src/


def test_the_quickstart_dry_run_of_the_sample_scan_needs_no_key(newcomer: tuple[Path, dict[str, str], str]) -> None:
    clone, env, _ = newcomer
    assert f"invoiceai extract --dry-run {SCAN}" in QUICKSTART.read_text()
    done = subprocess.run(
        ["invoiceai", "extract", "--dry-run", SCAN], cwd=clone, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith(SCAN))
    assert row.split()[1:3] == ["model", "1"]  # read by the model, one page


@pytest.fixture
def fake_claude(newcomer: tuple[Path, dict[str, str], str]) -> Iterator[dict[str, str]]:
    """The newcomer's environment with a key and a base URL that reach a loopback fake Claude."""
    from test_docs import _sample_answer, _sample_invoice_json

    _, env, _ = newcomer
    api = FakeClaudeAPI(
        answer=_sample_answer(_sample_invoice_json()), usage={"input_tokens": 2000, "output_tokens": 500}
    )
    with api.serve() as server:
        yield env | {"ANTHROPIC_API_KEY": FAKE_API_KEY, "ANTHROPIC_BASE_URL": server.base_url}


def test_the_quickstart_cli_reads_the_scan_with_claude(
    newcomer: tuple[Path, dict[str, str], str], fake_claude: dict[str, str]
) -> None:
    clone, _, _ = newcomer
    assert f"invoiceai extract {SCAN}" in QUICKSTART.read_text()
    done = subprocess.run(
        ["invoiceai", "extract", SCAN, "--no-cache", "--quiet"],
        cwd=clone,
        env=fake_claude,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    result = data[0] if isinstance(data, list) else data
    assert (result["origin"], result["data"]["invoice_number"], result["data"]["total"]) == (
        "model",
        "INV-2026-0042",
        "2952.10",
    )


def test_the_quickstart_python_block_prints_the_invoice(
    newcomer: tuple[Path, dict[str, str], str], fake_claude: dict[str, str]
) -> None:
    clone, _, _ = newcomer
    (block,) = doc_blocks.blocks(QUICKSTART)
    script = clone.parent / "quickstart.py"
    script.write_text(block.code)
    done = subprocess.run(
        ["python", str(script)], cwd=clone, env=fake_claude, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:4] == ["INV-2026-0042 2952.10 EUR", "datetime.date(2026, 3, 2)", "()", "model"]
    requests, cost = lines[4].split()
    assert requests == "1" and float(cost) > 0
    assert lines[5].endswith(" s")
