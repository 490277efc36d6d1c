"""The README's commands are the contract: CI runs exactly them, and its example code runs."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_readme_python_example_runs() -> None:
    example = re.search(r"## In Python\n\n```python\n(.*?)```", README, re.S)
    assert example
    exec(compile(example.group(1), "README.md", "exec"), {})
