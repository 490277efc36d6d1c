"""The shell examples of the docs parse, and the cookbook's FastAPI recipe serves an upload.

The ``python`` blocks run in tests/test_docs.py; shell blocks cannot run as written (they name
the reader's files and need a key), but every ``invoiceai ...`` line in them must at least be a
command line the CLI accepts: an option renamed or removed shows up here, not in a reader's shell.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import doc_blocks
from invoiceai.cli import inputs
from invoiceai.cli.main import build_parser
from invoiceai.testing import FAKE_API_KEY, FakeClaudeAPI

ROOT = doc_blocks.ROOT
_FILE_TYPES = (inputs.existing_file, inputs.output_path)


def _stub_file_types(parser: argparse.ArgumentParser) -> None:
    # The examples name the reader's files; whether they exist is not the example's fault.
    for action in parser._actions:
        if action.type in _FILE_TYPES:
            action.type = str
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _stub_file_types(sub)


def _commands() -> list[doc_blocks.Command]:
    return [command for page in doc_blocks.pages() for command in doc_blocks.commands(page)]


def test_the_docs_show_invoiceai_commands() -> None:
    commands = _commands()
    print(f"{len(commands)} invoiceai command lines in shell blocks")
    assert len(commands) >= 30
    assert {command.argv[0] for command in commands} >= {"extract", "convert", "validate", "cache", "batch"}


@pytest.mark.parametrize("command", _commands(), ids=lambda command: command.where)
def test_every_invoiceai_line_of_a_shell_block_parses(
    command: doc_blocks.Command, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    _stub_file_types(parser)
    try:
        parser.parse_args(list(command.argv))
    except SystemExit as exc:
        pytest.fail(f"{command.where}: invoiceai {' '.join(command.argv)}: {capsys.readouterr().err.strip()} ({exc})")


def test_a_wrong_option_in_a_shell_block_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.md"
    page.write_text("```bash\nFOO=1 invoiceai extract a.pdf \\\n  --formt csv > out.csv  # typo\n```\n")
    doc_blocks_root = doc_blocks.ROOT
    try:
        doc_blocks.ROOT = tmp_path  # commands() names pages relative to the root
        (command,) = doc_blocks.commands(page)
    finally:
        doc_blocks.ROOT = doc_blocks_root
    assert command.argv == ("extract", "a.pdf", "--formt", "csv")
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(list(command.argv))
    assert "--formt" in capsys.readouterr().err


# -- the cookbook's FastAPI recipe, served by uvicorn ---------------------------------------------


def _fastapi_recipe() -> str:
    page = doc_blocks.DOCS / "cookbook.md"
    text = page.read_text()
    start = text.index("## An HTTP endpoint with FastAPI")
    (block,) = [block for block in doc_blocks.blocks(page) if "FastAPI(" in block.code]
    assert text.count("\n", 0, start) < block.line
    return block.code


def _multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def recipe_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    pytest.importorskip("fastapi", reason="the recipe needs the server extra (fastapi)")
    pytest.importorskip("multipart", reason="FastAPI's UploadFile needs python-multipart (the server extra)")
    pytest.importorskip("uvicorn", reason="the recipe is served with uvicorn (the server extra)")
    from claude_fakes import ANSWER

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("INVOICEAI_CACHE_DIR", raising=False)
    api = FakeClaudeAPI(answer=ANSWER, usage={"input_tokens": 1000, "output_tokens": 200})
    with api.serve() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_API_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        namespace: dict[str, Any] = {"__name__": "service"}
        exec(compile(_fastapi_recipe(), "docs/cookbook.md (FastAPI recipe)", "exec", dont_inherit=True), namespace)
        yield namespace["app"]


def _serve(app: Any) -> Iterator[str]:
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="critical", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


def _post(url: str, name: str, data: bytes) -> tuple[int, dict[str, Any]]:
    body, content_type = _multipart(name, data)
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.allow_stderr
def test_the_cookbook_fastapi_recipe_answers_an_upload(recipe_app: Any) -> None:
    from documents_factory import SAMPLE_FACTURX, png_invoice

    for base in _serve(recipe_app):
        status, scan = _post(f"{base}/invoices", "scan.png", png_invoice("recipe"))
        assert (status, scan["origin"], scan["data"]["invoice_number"]) == (200, "model", "INV-1")
        status, einvoice = _post(f"{base}/invoices", "facturx.pdf", SAMPLE_FACTURX.read_bytes())
        assert (status, einvoice["origin"]) == (200, "einvoice")
        status, problem = _post(f"{base}/invoices", "broken.pdf", b"%PDF-1.7\n% truncated in transit")
        assert status == 422 and "detail" in problem
