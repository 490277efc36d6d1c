"""Running the ``invoiceai`` command in-process, isolated from the developer's caches and keys."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from documents_factory import ROOT
from invoiceai.cli import main


def isolate_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Caches under ``tmp_path``, no ``ANTHROPIC_*`` variable, the project root as working directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("INVOICEAI_CACHE_DIR", str(tmp_path / "cache"))
    for name in [key for key in os.environ if key.startswith("ANTHROPIC_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(ROOT)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Runs ``invoiceai ARGV``; returns its exit code, stdout and stderr."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err
