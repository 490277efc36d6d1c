"""The README's commands are the contract: CI runs exactly them, and its example code runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands() -> dict[str, str]:
    block = re.search(r"## Install and run.*?```bash\n(.*?)```", README, re.S)
    assert block, "README has no 'Install and run' bash block"
    commands: dict[str, str] = {}
    label = ""
    for line in block.group(1).splitlines():
        if line.startswith("# "):
            label = line[2:].strip()
        elif line.strip():
            commands[label] = line.strip()
    return commands


def test_readme_gives_the_two_contract_commands() -> None:
    commands = readme_commands()
    assert set(commands) == {"Install and run the main job", "Run the tests"}


def test_ci_runs_exactly_the_readme_commands() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    for label, command in readme_commands().items():
        assert f"# README: {label[0].lower()}{label[1:]}\n{command}\n" in ci, label


def test_ci_builds_a_fresh_environment_and_runs_every_check() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    for step in ("python3 -m venv", "ruff check", "ruff format --check", "mypy --strict src", "mkdocs build --strict"):
        assert step in ci, step


def test_readme_python_example_runs_against_the_fake_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from documents_factory import example_invoice, png_invoice
    from invoiceai.testing import FakeClaudeAPI

    example = re.search(r"## In Python\n\n```python\n(.*?)```", README, re.S)
    assert example
    (tmp_path / "scan.png").write_bytes(png_invoice())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("INVOICEAI_CACHE_DIR", raising=False)
    api = FakeClaudeAPI(
        answer=example_invoice().model_dump(mode="json"), usage={"input_tokens": 2000, "output_tokens": 500}
    )
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-readme-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        exec(compile(example.group(1), "README.md", "exec"), {})
        first = capsys.readouterr().out
        exec(compile(example.group(1), "README.md", "exec"), {})
        second = capsys.readouterr().out
    assert first.splitlines()[0] == "INV-2026-0042 562.04 EUR"
    assert first.splitlines()[1].startswith("model 1 0.")
    assert second.splitlines()[1] == "model 0 0"  # the second extract is free (a cache hit keeps its origin)
    assert len(api.message_requests) == 1
