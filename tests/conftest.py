"""Shared fixtures. The real-world corpus lives next to the project at ../shared/corpus."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Property tests must not fail because the machine is busy (CI runners, `pytest -n 2` next to other
# jobs): "ci" drops the per-example deadline and the too_slow health check, and derandomizes so a
# run is reproducible from the commit alone. "dev" keeps Hypothesis's defaults (random examples
# find more), with no deadline either, since timing is not what these tests check.
# Choose with HYPOTHESIS_PROFILE; CI=1 (set by most CI services) picks "ci".
settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    print_blob=True,
)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("INVOICEAI_CORPUS", ROOT.parent / "shared" / "corpus"))
CORPUS_SKIP_REASON = (
    f"the shared real-world corpus is not at {CORPUS} (set INVOICEAI_CORPUS to point at it); "
    "the project's own fixtures still run"
)


def corpus_files(subdir: str, *patterns: str) -> list[Path]:
    """Corpus files under ``subdir`` matching any glob pattern, sorted; empty when the corpus is absent."""
    base = CORPUS / subdir
    if not base.is_dir():
        return []
    found: set[Path] = set()
    for pattern in patterns or ("*",):
        found.update(path for path in base.glob(pattern) if path.is_file())
    return sorted(found)


def corpus_params(subdir: str, *patterns: str) -> list[object]:
    """``pytest.param`` per corpus file (id = relative path), or one skipped param when absent."""
    files = corpus_files(subdir, *patterns)
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=CORPUS_SKIP_REASON), id="corpus-absent")]
    return [pytest.param(path, id=str(path.relative_to(CORPUS)), marks=pytest.mark.corpus) for path in files]


@pytest.fixture
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(CORPUS_SKIP_REASON)
    return CORPUS


@pytest.fixture(autouse=True)
def _no_real_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never reach the network; a real key in the developer's shell must not leak into them.
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)


@pytest.fixture(autouse=True)
def _ocr_only_where_tested(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tesseract takes seconds a page, and most tests extract a scan for something else (batches,
    # the service, the docs' examples): OCR is off unless a test passes ``ocr`` itself or carries
    # the ``ocr`` marker (the default ``ocr="auto"`` with Tesseract installed, as users have it).
    if request.node.get_closest_marker("ocr") is None:
        monkeypatch.setenv("INVOICEAI_OCR", "off")


# --- The stderr guard (issue 10: "nothing written to stderr by the library") -----------------------
# A library that prints to stderr pollutes every service log it runs in, with lines nobody can
# attribute to a document. Two ways it can happen, both checked after every test:
#
# * something writes to file descriptor 2 (a C library, a stray print, warnings shown by a
#   dependency): read from ``capfd``, or from the test's own capture fixture when it has one,
#   since pytest allows only one per test. Reading at teardown loses nothing: pytest has
#   already copied the setup and call output into the report sections.
# * a log record at WARNING or above from a logger with no handler of its own (pypdf's, for
#   one): under pytest the logging plugin takes it, but in an application that has not
#   configured logging, Python's ``logging.lastResort`` prints it to stderr.
#
# Tests whose *own* code writes to stderr (an in-process CLI run: the CLI is an application, it
# reports errors on stderr) opt out with ``@pytest.mark.allow_stderr``.

_CAPTURE_FIXTURES = ("capfd", "capfdbinary", "capsys", "capsysbinary", "capteesys")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_stderr: the test itself writes to stderr (e.g. an in-process CLI run); "
        "skips the check that the library wrote nothing to stderr",
    )
    config.addinivalue_line(
        "markers",
        "ocr: the test runs with the default OCR setting (Tesseract where installed); other tests run with "
        "INVOICEAI_OCR=off unless they pass ocr themselves",
    )
    config.addinivalue_line(
        "markers",
        "fleet: starts PostgreSQL, Redis and service processes (in the normal suite; skipped when "
        "redis-server or PostgreSQL is not installed)",
    )


class _UnhandledRecords(logging.Handler):
    """Keeps the records that ``logging.lastResort`` would print in an unconfigured application."""

    def __init__(self) -> None:
        super().__init__(level=logging.lastResort.level if logging.lastResort else logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None and logger is not logging.root:
            if logger.handlers:
                return
            if not logger.propagate:
                return
            logger = logger.parent  # type: ignore[assignment]
        self.records.append(record)


@pytest.fixture(autouse=True)
def _library_writes_nothing_to_stderr(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.node.get_closest_marker("allow_stderr") is not None:
        yield
        return
    name = next((name for name in _CAPTURE_FIXTURES if name in request.fixturenames), "capfd")
    capture: pytest.CaptureFixture[Any] = request.getfixturevalue(name)
    unhandled = _UnhandledRecords()
    logging.root.addHandler(unhandled)
    try:
        yield
    finally:
        logging.root.removeHandler(unhandled)
    err = capture.readouterr().err
    text = err.decode("utf-8", "replace") if isinstance(err, bytes) else err
    problems = []
    if text:
        problems.append(f"wrote to stderr ({name}):\n{text[:2000]}")
    if unhandled.records:
        lines = "\n".join(f"  {r.name} {r.levelname}: {r.getMessage()[:200]}" for r in unhandled.records[:20])
        problems.append(
            f"logged {len(unhandled.records)} record(s) that an application without logging "
            f"configuration prints to stderr (no handler below the root logger):\n{lines}"
        )
    if problems:
        pytest.fail(
            "Nothing may be written to stderr during a test (issue 10); mark the test "
            "@pytest.mark.allow_stderr if the test itself writes there.\n" + "\n".join(problems),
            pytrace=False,
        )


# --- PostgreSQL and Redis for the service's fleet tests ---------------------------------------------
# INVOICEAI_TEST_POSTGRES_URL, when set, names a server the tests may create databases on;
# without it a throwaway cluster is started from Debian's binaries (skipped when they are absent).


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server URL (its ``postgres`` database) on which tests create their own databases."""
    configured = os.environ.get("INVOICEAI_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    from server_postgres import throwaway_postgres

    with throwaway_postgres() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_server: str) -> str:
    """A new, empty database on :func:`postgres_server`, for this test alone."""
    import uuid

    from sqlalchemy import create_engine, text

    name = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        admin.dispose()
    return postgres_server.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A job-store URL: a SQLite file, then a new database on :func:`postgres_server`."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    url: str = request.getfixturevalue("postgres_database")
    return url
