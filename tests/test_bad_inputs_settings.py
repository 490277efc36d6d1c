"""Bad settings, keys and command lines from the outside (review s21 WP-B).

Each case was found by a newcomer's first hour: a NaN timeout that hung, a key with a trailing
newline retried as a network failure, tracebacks from ``keys`` and ``serve --port``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from cli_helpers import isolate_cli, run
from documents_factory import ROOT, SAMPLE_FACTURX
from invoiceai.backends import ClaudeBackend
from invoiceai.config import Settings
from invoiceai.errors import ConfigurationError
from invoiceai.schema import Invoice
from invoiceai.testing import StaticPages


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_cli(tmp_path, monkeypatch)


# -- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("INVOICEAI_REQUEST_TIMEOUT", "nan"),  # hung: a NaN deadline never passes
        ("INVOICEAI_REQUEST_TIMEOUT", "inf"),  # hung the same way
        ("INVOICEAI_FETCH_TIMEOUT", "nan"),
        ("INVOICEAI_MAX_RETRY_SECONDS", "nan"),  # "must not be negative" let NaN through
        ("INVOICEAI_CACHE_TTL_SECONDS", "1e400"),  # float() says inf
    ],
)
def test_a_non_finite_number_is_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=f"{variable}.*finite"):
        Settings.load(env={variable: value})


@pytest.mark.parametrize(
    "variable", ["INVOICEAI_CONCURRENCY", "INVOICEAI_RENDER_MEMORY_LIMIT", "INVOICEAI_MAX_RENDER_BYTES"]
)
def test_a_number_beyond_what_any_limit_takes_is_refused(variable: str) -> None:
    # render_memory_limit=1e23 reached setrlimit and read as "may be too small" to the user.
    with pytest.raises(ConfigurationError, match=f"{variable}.*too large"):
        Settings.load(env={variable: "99999999999999999999999"})


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("INVOICEAI_SERVER_LEASE_SECONDS", "nan", "finite"),  # accepted: then every claim raised ValueError
        ("INVOICEAI_SERVER_WEBHOOK_BACKOFF_SECONDS", "inf", "finite"),
        ("INVOICEAI_SERVER_MAX_UPLOAD_BYTES", "99999999999999999999999", "too large"),
    ],
)
def test_a_service_setting_gets_the_same_number_checks(variable: str, value: str, words: str) -> None:
    from invoiceai.server.settings import ServiceSettings

    with pytest.raises(ConfigurationError, match=f"{variable}.*{words}"):
        ServiceSettings.load(env={variable: value})


@pytest.mark.parametrize(
    ("variable", "value"),
    [("INVOICEAI_OCR", "maybe"), ("INVOICEAI_DETAIL", "ultra"), ("INVOICEAI_MAX_PAGES", "0")],
)
def test_a_checked_setting_names_its_environment_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        Settings.load(env={variable: value})


def test_a_number_that_does_not_parse_says_what_is_expected_in_plain_words() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(env={"INVOICEAI_MAX_IMAGE_PIXELS": "1e9"})
    assert "whole number" in str(caught.value) and "int()" not in str(caught.value)


def test_a_nan_timeout_is_a_usage_error_on_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("INVOICEAI_REQUEST_TIMEOUT", "nan")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    code, out, err = run(["extract", "examples/sample-scan.jpg"], capsys)
    assert (code, out) == (2, "")
    assert "INVOICEAI_REQUEST_TIMEOUT" in err and err.count("\n") == 1


# -- the API key -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "what"),
    [
        ("sk-ant-test\n", "a line break"),  # `export ANTHROPIC_API_KEY=$(cat key.txt)` keeps none, a .env may
        ("sk-ant-test ", "a space"),
        ("sk-ant-t\x01st", "a control character"),
        ("sk-ant-tést", "a non-ASCII character"),
    ],
)
@pytest.mark.parametrize("given", ["environment", "argument"])
def test_a_key_no_header_can_carry_is_refused_before_any_request(
    key: str, what: str, given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the HTTP stack refused the header, which read as a network failure and was retried
    # max_attempts times (the newline hung the CLI for minutes).
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # never reached
    if given == "environment":
        monkeypatch.setenv("ANTHROPIC_API_KEY", key)
        backend = ClaudeBackend(settings=Settings.load(env={}))
        where = "ANTHROPIC_API_KEY"
    else:
        backend = ClaudeBackend(api_key=key, settings=Settings.load(env={}))
        where = "api_key="
    with backend, pytest.raises(ConfigurationError) as caught:
        backend.extract(StaticPages.blank(1), Invoice)
    message = str(caught.value)
    assert what in message and where in message
    assert key.strip() not in message  # never the key itself


@pytest.mark.parametrize(
    "url",
    [
        "not a url",
        "ftp://127.0.0.1:21",
        "http://127.0.0.1:99999",
        "http://[::1",
        "http://",
        "http://127.0.0.1:9\n",  # the SDK got the raw value: an InvalidURL traceback from extract()
        " http://127.0.0.1:9",  # a retried connection failure
        "",  # set but empty: the same
        "http://127.0.0.1:9/\x7f",  # DEL: unprintable
    ],
)
def test_an_api_address_that_is_no_http_url_is_refused_before_any_request(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: each attempt failed as a connection error and was retried with backoff.
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    with ClaudeBackend(settings=Settings.load(env={})) as backend, pytest.raises(ConfigurationError) as caught:
        backend.extract(StaticPages.blank(1), Invoice)
    assert "ANTHROPIC_BASE_URL is not an http(s) URL" in str(caught.value)
    assert url.strip() not in str(caught.value) or not url.strip()  # never the value: it may hold a password


def test_an_api_address_with_credentials_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    backend = ClaudeBackend(base_url="htp://user:hunter2-secret@proxy", settings=Settings.load(env={}))
    with backend, pytest.raises(ConfigurationError) as caught:
        backend.extract(StaticPages.blank(1), Invoice)
    assert "base_url=" in str(caught.value) and "hunter2-secret" not in str(caught.value)


# -- commands --------------------------------------------------------------------------------------


def test_keys_accepts_database_after_the_action(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sqlalchemy", reason="the keys command needs the server extra")
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    code, out, err = run(["keys", "create", "--name", "ci", "--database", url], capsys)
    assert code == 0, err
    code, out, err = run(["keys", "list", "--database", url], capsys)
    assert code == 0, err
    assert '"name": "ci"' in out


def test_keys_on_a_file_that_is_no_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sqlalchemy", reason="the keys command needs the server extra")
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("hello, this is no SQLite file " * 100)
    code, out, err = run(["keys", "--database", f"sqlite:///{not_a_database}", "list"], capsys)
    assert (code, out) == (2, "")
    assert "Cannot use the job store" in err and err.count("\n") == 1


def test_keys_hides_the_database_password(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("psycopg", reason="a PostgreSQL URL needs the server extra's driver")
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    url = "postgresql://invoiceai:hunter2-secret@127.0.0.1:9/jobs"
    code, out, err = run(["keys", "list", "--database", url], capsys)
    assert (code, out) == (2, "")
    assert "hunter2-secret" not in err and "***" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://u:S3cretPW@127.0.0.1:abc/db",  # ValueError from make_url: a traceback
        "mysql://u:S3cretPW@127.0.0.1/db",  # ModuleNotFoundError (MySQLdb): a traceback
        "nosuchdb://u:S3cretPW@127.0.0.1/db",
    ],
)
@pytest.mark.parametrize("command", ["keys", "serve"])
def test_a_database_url_that_cannot_be_used_is_one_line_without_the_password(
    url: str, command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uvicorn = pytest.importorskip("uvicorn", reason="serve and keys need the server extra")

    def no_serving(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("serve started with a database URL it cannot use")

    monkeypatch.setattr(uvicorn, "run", no_serving)
    argv = ["keys", "list", "--database", url] if command == "keys" else ["serve", "--database", url]
    code, out, err = run(argv, capsys)
    assert (code, out) == (2, "")
    assert "database URL" in err and err.count("\n") == 1
    assert "S3cretPW" not in err


def test_keys_masks_the_password_in_a_driver_message_that_quotes_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The connection-refused test above cannot fail when the masking breaks: no driver quotes the URL.
    pytest.importorskip("psycopg", reason="a PostgreSQL URL needs the server extra's driver")
    from sqlalchemy.exc import OperationalError

    from invoiceai.server import db

    def quoting_migrate(_engine: object) -> None:
        reason = Exception("connection to invoiceai:hunter2-secret@127.0.0.1:9 failed: refused")
        raise OperationalError("SELECT 1", None, reason)

    monkeypatch.setattr(db, "migrate", quoting_migrate)
    url = "postgresql://invoiceai:hunter2-secret@127.0.0.1:9/jobs"
    code, out, err = run(["keys", "list", "--database", url], capsys)
    assert (code, out) == (2, "")
    assert "connection to invoiceai:***@127.0.0.1:9 failed" in err
    assert "hunter2-secret" not in err and err.count("\n") == 1


def test_keys_without_the_server_extra_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "sqlalchemy.exc", None)
    code, out, err = run(["keys", "list"], capsys)
    assert (code, out) == (2, "")
    assert 'pip install "invoiceai-claude[server]"' in err


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_serve_checks_the_port_before_starting(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["serve", "--port", port], capsys)
    assert code == 2
    assert "is not a port number" in err


def test_a_library_warning_is_one_line_without_python_source(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A corrupted cache warned with Python's two lines: "plugins.py:168: CacheWarning: ..." and
    # the source line "made = self.get(name)(**options)".
    def warn(args: object) -> int:
        warnings.warn("The SQLite cache was corrupted; a new one was started.", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr("invoiceai.cli.cache_cmd.run", warn)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code, _, err = run(["cache", "info"], capsys)
    assert code == 0
    assert err == "invoiceai: warning: The SQLite cache was corrupted; a new one was started.\n"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGPIPE and closing a pipe early are POSIX behaviour")
def test_a_reader_that_stops_early_ends_the_run_quietly(tmp_path: Path) -> None:
    # `invoiceai extract ... | head -1`: printed "invoiceai: [Errno 32] Broken pipe" and exited 1.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("ANTHROPIC_API_KEY", None)
    process = subprocess.Popen(
        # 40 results: more than a pipe's buffer (64 KiB), so writing must meet the closed end.
        [sys.executable, "-m", "invoiceai", "extract", *[str(SAMPLE_FACTURX)] * 40, "--no-cache", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(1)  # it has started writing
    process.stdout.close()  # the reader goes away
    err = process.stderr.read().decode()
    assert process.wait() == 141
    assert err == ""
