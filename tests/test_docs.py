"""The documentation keeps up with the code it describes."""

from __future__ import annotations

import re
import shutil
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import doc_blocks
from invoiceai.schema import Address, Invoice
from invoiceai.schema.en16931 import FIELD_TERMS
from invoiceai.schema.validation import RULES
from invoiceai.testing import FAKE_API_KEY, FakeClaudeAPI, RecordedRequest
from invoiceai.testing.request_body import skeleton

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def field_paths() -> set[str]:
    """Every field of the model as FIELD_TERMS spells it: parties by name, addresses once as ``*``."""
    paths: set[str] = set()
    _collect(Invoice, "", paths)
    return paths


def _collect(model: type[BaseModel], prefix: str, paths: set[str]) -> None:
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = field.annotation
        item = typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else annotation
        if isinstance(item, type) and issubclass(item, Address):
            paths.add(path)
            paths.update(f"*.address.{leaf}" for leaf in Address.model_fields)
        elif isinstance(item, type) and issubclass(item, BaseModel):
            paths.add(path)
            _collect(item, f"{path}[]." if annotation is not item else f"{path}.", paths)
        else:
            paths.add(path)


def test_every_invoice_field_has_an_en16931_term() -> None:
    assert field_paths() == set(FIELD_TERMS)


def test_the_model_page_lists_every_field_with_its_term() -> None:
    page = (DOCS / "invoice-model.md").read_text()
    rows = {line.split(" | ")[0].removeprefix("| "): line.split(" | ") for line in page.splitlines()}
    for path, (term, name) in FIELD_TERMS.items():
        row = rows.get(f"`{path}`")
        assert row is not None, path
        # | field | type | EN 16931 | business term | description |: the term in the field's own row.
        assert (row[2], row[3]) == (term, name), path


def test_the_validation_page_lists_every_rule() -> None:
    page = (DOCS / "validation.md").read_text()
    for rule in RULES:
        rule_id = (rule.__doc__ or "").split(":")[0].split(" ")[0]
        assert f"`{rule_id}`" in page, rule_id


# --- Every code example runs ------------------------------------------------------------------------
# See tests/doc_blocks.py for the stage the blocks run on and the "not run" marker.

MAX_NOT_RUN = 6  # blocks that need a live service; each is marked with its reason


def _sample_invoice_json() -> dict[str, object]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_sample", ROOT / "examples" / "make_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    answer: dict[str, object] = module.sample_invoice().model_dump(mode="json")
    return answer


def make_stage(directory: Path) -> None:
    """Writes the files the examples name into ``directory`` (see tests/doc_blocks.py)."""
    from PIL import Image

    from invoiceai.einvoice import to_xml
    from invoiceai.render.pdf import read_embedded_invoice

    examples = shutil.copytree(ROOT / "examples", directory / "examples")
    scan = examples / "sample-scan.jpg"
    shutil.copy(scan, directory / "scan.jpg")
    (directory / "invoices").mkdir()
    with Image.open(scan) as image:
        image.save(directory / "scan.png")
        image.save(directory / "invoice.pdf", resolution=150.0)  # a scanned PDF: no text, no XML
        # Three pages, so the page-selection examples have pages to select.
        image.save(directory / "invoices" / "march.pdf", resolution=150.0, save_all=True, append_images=[image] * 2)
    shutil.copy(examples / "sample-facturx.pdf", directory / "invoices" / "april-facturx.pdf")
    invoice = read_embedded_invoice((examples / "sample-facturx.pdf").read_bytes())
    assert invoice is not None
    (directory / "invoice.xml").write_bytes(to_xml(invoice, "cii"))


def _sample_answer(invoice: dict[str, object]) -> Callable[[RecordedRequest], object]:
    """The sample invoice for invoice schemas; the emptiest fitting object for any other schema."""

    def answer(request: RecordedRequest) -> object:
        schema = request.schema() or {}
        if "invoice_number" in schema.get("properties", {}):
            return invoice
        return skeleton(schema, schema.get("$defs", {}))

    return answer


@pytest.fixture
def docs_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClaudeAPI]:
    """The stage directory as cwd, with a key and a base URL that reach a loopback fake Claude."""
    make_stage(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("INVOICEAI_CACHE_DIR", raising=False)
    api = FakeClaudeAPI(
        answer=_sample_answer(_sample_invoice_json()), usage={"input_tokens": 2000, "output_tokens": 500}
    )
    with api.serve() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_API_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        yield api


def _pages_with_python() -> list[Any]:
    return [
        pytest.param(page, id=str(page.relative_to(ROOT))) for page in doc_blocks.pages() if doc_blocks.blocks(page)
    ]


@pytest.mark.allow_stderr
@pytest.mark.parametrize("page", _pages_with_python())
def test_every_python_block_of_the_page_runs(page: Path, docs_stage: FakeClaudeAPI) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    ran: set[str] = set()
    for block in doc_blocks.blocks(page):
        if block.not_run:
            continue
        try:
            exec(compile(block.code, block.where, "exec", dont_inherit=True), namespace)
        except Exception as error:
            pytest.fail(f"{block.where}: {type(error).__name__}: {error}")
        _run_tests_defined_by(block, namespace, ran)


def _run_tests_defined_by(block: doc_blocks.Block, namespace: dict[str, Any], ran: set[str]) -> None:
    # A block that shows a pytest test defines it; run it, as pytest would, with a monkeypatch.
    for name, value in list(namespace.items()):
        if name.startswith("test_") and callable(value) and name not in ran:
            ran.add(name)
            with pytest.MonkeyPatch.context() as monkeypatch:
                try:
                    value(monkeypatch)
                except Exception as error:
                    pytest.fail(f"{block.where}: {name}: {type(error).__name__}: {error}")


def test_few_blocks_are_marked_not_to_run() -> None:
    every = [block for page in doc_blocks.pages() for block in doc_blocks.blocks(page)]
    not_run = [block for block in every if block.not_run]
    print(f"{len(every) - len(not_run)} python blocks run, {len(not_run)} marked not to run")
    assert len(not_run) <= MAX_NOT_RUN, [f"{block.where}: {block.not_run}" for block in not_run]
    assert len(every) - len(not_run) >= 50


# --- The name that installs this project ------------------------------------------------------------
# "invoiceai" on PyPI is an unrelated project; ours is published as invoiceai-claude.
OLD_INSTALL = re.compile(r"""pip3? install\s+(?:-[-\w]+\s+)*["']?invoiceai(?![-\w])""")


def test_no_doc_or_message_installs_the_unrelated_pypi_project() -> None:
    texts = [*doc_blocks.pages(), *sorted((ROOT / "src").rglob("*.py")), ROOT / "pyproject.toml"]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in texts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if OLD_INSTALL.search(line)
    ]
    assert offenders == []


def test_the_distribution_is_published_under_its_own_name() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()  # tomllib is Python 3.11+, this suite runs on 3.10
    project = pyproject.split("[project]\n", 1)[1].split("\n[", 1)[0]
    assert re.search(r'^name = "invoiceai-claude"$', project, re.M)
    assert 'invoiceai = "invoiceai.cli:main"' in pyproject  # the command keeps its name


# --- Generated and checked pages ----------------------------------------------------------------------


def test_the_cli_reference_is_generated_from_the_current_parser() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    page = (DOCS / "cli-reference.md").read_text()
    assert page == module.render(), "docs/cli-reference.md is out of date: run python scripts/cli_reference.py"


def test_the_cli_reference_lists_every_subcommand_and_option() -> None:
    import argparse

    from invoiceai.cli.main import build_parser

    page = (DOCS / "cli-reference.md").read_text()
    parser = build_parser()
    commands = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    for name, sub in commands[0].choices.items():
        assert f"`invoiceai {name}`" in page, name
        for action in sub._actions:
            for option in action.option_strings:
                assert f"`{option}`" in page, (name, option)


def test_the_troubleshooting_page_explains_every_error_class() -> None:
    import invoiceai.errors

    page = (DOCS / "troubleshooting.md").read_text()
    classes = [name for name in invoiceai.errors.__all__ if isinstance(getattr(invoiceai.errors, name), type)]
    assert len(classes) > 30
    missing = [name for name in classes if f"### `{name}`\n\n**Means:**" not in page]
    assert missing == [], "add each to docs/troubleshooting.md: what it means, what to do"
    for name in classes:
        section = page.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
        assert "**Do:**" in section, name


# --- The API reference ----------------------------------------------------------------------------------

REFERENCED_PACKAGES = (
    "invoiceai",
    "invoiceai.provenance",
    "invoiceai.schema",
    "invoiceai.schema.fields",
    "invoiceai.testing",
    "invoiceai.einvoice",
)


def test_the_reference_index_lists_every_top_level_name() -> None:
    import invoiceai

    page = (DOCS / "reference" / "invoiceai.md").read_text()
    names = [name for name in invoiceai.__all__ if not name.startswith("__")]
    missing = [name for name in names if f"[`{name}`][invoiceai.{name}]" not in page]
    assert missing == []


def _inventory(site: Path) -> dict[str, str]:
    """The site's objects.inv: identifier -> the anchor of the rendered entry."""
    import zlib

    raw = (site / "objects.inv").read_bytes()
    body = zlib.decompress(raw.split(b"\n", 4)[4]).decode()
    entries = {}
    for line in body.splitlines():
        name, _domain, _priority, location = line.split(" ", 4)[:4]
        entries[name] = location.split("#", 1)[-1].replace("$", name)
    return entries


def _own_members(cls: type) -> list[str]:
    """Public methods, properties and model fields a class defines itself."""
    import inspect

    fields = list(getattr(cls, "__pydantic_fields__", {}) if "__pydantic_fields__" in vars(cls) else {})
    own = [
        name
        for name, value in vars(cls).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or isinstance(value, property | classmethod | staticmethod))
    ]
    return [name for name in fields + own if name not in ("model_config", "model_post_init")]


@pytest.mark.slow
def test_the_api_reference_renders_every_public_name_with_its_members(tmp_path: Path) -> None:
    import importlib
    import inspect
    import subprocess
    import sys

    pytest.importorskip("mkdocstrings", reason='the docs build needs the docs extra: pip install ".[docs]"')
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    inventory = _inventory(site)
    anchors = set(inventory.values())
    problems = []
    for package in REFERENCED_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            if name.startswith("__"):
                continue
            anchor = inventory.get(f"{package}.{name}")
            if anchor is None:
                problems.append(f"{package}.{name}: not rendered on any reference page")
                continue
            value = getattr(module, name)
            members = _own_members(value) if inspect.isclass(value) else []
            if members and not any(f"{anchor}.{member}" in anchors for member in members):
                problems.append(f"{package}.{name}: rendered without its members {members[:3]}")
    assert problems == []


def test_read_the_docs_builds_what_ci_builds() -> None:
    import yaml

    config = yaml.safe_load((ROOT / ".readthedocs.yaml").read_text())
    assert config["version"] == 2
    assert config["mkdocs"] == {"configuration": "mkdocs.yml", "fail_on_warning": True}  # = --strict
    install = config["python"]["install"]
    assert install == [{"method": "pip", "path": ".", "extra_requirements": ["docs"]}]
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^docs = \[.*mkdocstrings", pyproject, re.M), "the docs extra installs the site's plugins"
    assert 'Documentation = "https://invoiceai-claude.readthedocs.io"' in pyproject


# --- The sample scan (issue 15, point 6) ------------------------------------------------------------


@pytest.mark.allow_stderr
def test_the_sample_scan_needs_the_model_and_dry_runs_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from PIL import Image

    from invoiceai.cli.main import main
    from invoiceai.documents import load_document

    scan = ROOT / "examples" / "sample-scan.jpg"
    assert "examples/sample-scan.jpg" in (DOCS / "quickstart.md").read_text()
    assert load_document(scan).media_type == "image/jpeg"  # an image, no XML: only the model can read it
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["extract", "--dry-run", "examples/sample-scan.jpg"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("examples/sample-scan.jpg"))
    assert row.split()[1:4] == ["model", "1", "1"]  # origin, pages, requests

    # The script in examples/ makes it: same page size, a JPEG, from the sample invoice.
    spec = importlib.util.spec_from_file_location("make_scan", ROOT / "examples" / "make_scan.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main([str(tmp_path / "again.jpg")])
    with Image.open(tmp_path / "again.jpg") as again, Image.open(scan) as shipped:
        assert (
            (again.format, again.size, again.mode)
            == (shipped.format, shipped.size, shipped.mode)
            == ("JPEG", (1240, 1754), "L")
        )
