"""Issue 10's acceptance: hostile files end in a typed error or a correct result, quickly, in bounded memory.

Each bomb is built inside a child process (they take milliseconds) and extracted there with a
FakeBackend and no cache under a 1 GiB address-space limit (:func:`fuzzing.run_isolated`). The
child must end by itself within 15 s, with no signal, in a result that is correct or in an
``InvoiceAIError``, and with no backend request when it fails. The parent kills a child after
:data:`KILL_AFTER` seconds, so a regression fails instead of hanging the suite.

The other issue points that are not bombs run in-process: a damaged embedded e-invoice is skipped
with a warning and the pages are read; an attachment that pdfium cannot get is a typed outcome;
a damaged cache row is a miss with a warning, for every built-in cache.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fuzzing
import hostile_files
import invoiceai
from documents_factory import example_invoice
from invoiceai.cache import Cache, MemoryCache, RedisCache, SQLiteCache, cache_key
from invoiceai.testing import FakeBackend
from test_cache_redis import redis_url  # noqa: F401  (the session's Redis server, a fixture)

WITHIN = 15.0
"""The issue's bound: every hostile file ends within 15 s."""
KILL_AFTER = 30.0
"""When the parent gives up on a child: generous, so a slow machine fails on WITHIN, not here."""
FETCH_TIMEOUT = 3.0

ERROR = "error"
RESULT = "result"
EITHER = "either"

# (id, child spec, what is acceptable, the pages a correct result reads)
BOMBS = [
    ("content-stream-1GiB", {"build": "flate_bomb_content_pdf"}, EITHER, [1]),
    # A stream past max_stream_bytes fails the document, attachment or not: pdfium can be pointed at
    # any stream object, so an /EmbeddedFile dictionary earns no exemption from the stream cap.
    ("attachment-1GiB", {"build": "flate_bomb_attachment_pdf"}, ERROR, []),
    ("pages-100000", {"build": "many_pages_pdf"}, EITHER, list(range(1, 100_001))),
    ("one-page-listed-20000-times", {"build": "one_page_repeated_pdf"}, EITHER, list(range(1, 20_001))),
    ("dictionary-500000-deep", {"build": "deep_dictionary_pdf"}, EITHER, [1]),
    ("tiff-10000-frames", {"build": "many_frames_tiff"}, EITHER, list(range(1, 10_001))),
    ("tiff-10000-frames-pages-1", {"build": "many_frames_tiff", "pages": "1"}, RESULT, [1]),
    # A 1000 x 1000 Flate image whose data inflates to 1 GiB, drawn as an image: pdfium reads
    # only its declared rows, so the page renders (the pre-scan checks it by its declared size).
    ("image-declared-1000x1000-inflating-1GiB", {"build": "image_drawn_pdf"}, RESULT, [1]),
    # The same 1 GiB image stream as the page's content: pdfium would inflate it in full, so the
    # pre-scan does not trust its declared size and inflates it, to the stream cap.
    ("image-as-content-1GiB", {"build": "image_bomb_pdf"}, ERROR, []),
]


# The PDFs that get past the stream pre-scan (tests/pdf_bombs.py): only the sandbox worker's
# address-space limit (render_memory_limit) and the parent's real render deadline stop them.
# (id, child spec, the setting the error must name)
SANDBOX_BOMBS = [
    ("encrypted-content-1GiB", {"build": "encrypted_bomb_pdf"}, "render_memory_limit"),
    ("contents-array-24x100MiB", {"build": "many_contents_pdf"}, "render_memory_limit"),
    ("form-xobject-fanout-1000^3", {"build": "form_fanout_pdf"}, "render_memory_limit"),
    ("five-million-paths", {"build": "many_paths_pdf"}, "render_memory_limit"),
    # One FPDF_RenderPage call that runs for minutes: the deadline kills the worker mid-call.
    ("slow-shading", {"build": "slow_shading_pdf", "settings": {"render_timeout": 5}}, "render_timeout"),
]


def _check(run: fuzzing.Isolated, expect: str, pages: list[int]) -> None:
    account = run.describe()
    assert not run.timed_out, f"still running after {KILL_AFTER} s, killed: {account}"
    assert run.returncode >= 0, f"killed by signal {-run.returncode}: {account}"
    assert run.returncode == 0, f"the child failed: {account}"
    assert run.seconds < WITHIN, f"took {run.seconds:.1f} s (bound {WITHIN} s): {account}"
    outcome = run.outcome
    assert outcome is not None, account
    assert outcome["outcome"] != "untyped", f"untyped {outcome['type']}: {outcome.get('traceback')}"
    if expect != EITHER:
        assert outcome["outcome"] == expect, account
    if outcome["outcome"] == ERROR:
        assert outcome["calls"] == 0, f"a request was sent for a failing input: {account}"
    else:
        assert outcome["origin"] == "model", account
        assert outcome["pages"] == pages, account
        assert outcome["calls"] == 1, account
        assert outcome["rendered"] == [len(pages)], account
    assert run.stderr == "", f"the library wrote to stderr: {run.stderr[-1500:]}"


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "expect", "pages"), [b[1:] for b in BOMBS], ids=[b[0] for b in BOMBS])
def test_a_bomb_ends_quickly_in_a_typed_error_or_a_correct_result(
    spec: dict[str, Any], expect: str, pages: list[int]
) -> None:
    _check(fuzzing.run_isolated(spec, kill_after=KILL_AFTER), expect, pages)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "setting"), [b[1:] for b in SANDBOX_BOMBS], ids=[b[0] for b in SANDBOX_BOMBS])
def test_a_bomb_past_the_pre_scan_ends_in_a_typed_error_from_the_sandbox(spec: dict[str, Any], setting: str) -> None:
    run = fuzzing.run_isolated(spec, kill_after=KILL_AFTER)
    _check(run, ERROR, [])
    assert run.outcome is not None
    assert run.outcome["type"] in ("DocumentTooLargeError", "RenderTimeoutError"), run.describe()
    assert setting in run.outcome["message"], run.describe()


def test_the_attachment_bomb_is_stopped_by_the_stream_cap() -> None:
    run = fuzzing.run_isolated({"build": "flate_bomb_attachment_pdf"}, kill_after=KILL_AFTER)
    assert run.outcome is not None, run.describe()
    assert run.outcome["type"] == "StreamTooLargeError", run.describe()


def test_an_attachment_over_its_own_cap_is_skipped_with_a_warning_and_the_pages_read() -> None:
    # 40 MiB: past max_attachment_bytes (32 MiB), within max_stream_bytes (128 MiB).
    spec = {"build": "flate_bomb_attachment_pdf", "args": {"size": 40 * 1024 * 1024}}
    run = fuzzing.run_isolated(spec, kill_after=KILL_AFTER)
    _check(run, RESULT, [1])
    assert run.outcome is not None
    assert any("e-invoice" in w or "attachment" in w for w in run.outcome["warnings"]), run.describe()


@pytest.mark.slow
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("part", "interval"), [("headers", 0.5), ("body", 2.5)])
def test_a_trickling_server_ends_in_a_typed_error(part: str, interval: float, use_async: bool) -> None:
    with hostile_files.TricklingServer(part=part, interval=interval) as server:
        settings = {"fetch_timeout": FETCH_TIMEOUT, "allow_private_urls": True}
        run = fuzzing.run_isolated({"url": server.url, "settings": settings, "async": use_async}, kill_after=KILL_AFTER)
    _check(run, ERROR, [])
    assert run.outcome is not None
    assert run.outcome["type"] == "FetchError", run.describe()


# -- damaged attachments, in-process -----------------------------------------------------------

# Attachments that hold a damaged e-invoice: the document is read from its pages, with a warning.
DAMAGED_EINVOICE = ["truncated_xml", "flate_garbage", "swapped_filters", "not_xml"]
# A name tree entry that is no attachment at all: the pages are read (a warning is allowed).
DAMAGED_OTHER = ["filespec_not_dict"]


def _extract(data: bytes, **options: Any) -> tuple[invoiceai.Extraction[invoiceai.Invoice], FakeBackend]:
    backend = FakeBackend(default=example_invoice())
    with invoiceai.Extractor(backend=backend, cache=None, **options) as extractor:
        return extractor.extract(data), backend


@pytest.mark.parametrize("kind", DAMAGED_EINVOICE)
def test_a_damaged_embedded_einvoice_is_skipped_with_a_warning_and_the_pages_are_read(kind: str) -> None:
    result, backend = _extract(hostile_files.damaged_attachment_pdf(kind))
    assert (result.origin, result.pages, len(backend.history)) == ("model", (1,), 1)
    assert any("e-invoice" in warning or "attachment" in warning for warning in result.warnings), result.warnings


@pytest.mark.parametrize("kind", DAMAGED_OTHER)
def test_unreadable_attachments_do_not_stop_the_pages(kind: str) -> None:
    result, backend = _extract(hostile_files.damaged_attachment_pdf(kind))
    assert (result.origin, result.pages, len(backend.history)) == ("model", (1,), 1)


def test_an_attachment_pdfium_cannot_get_is_a_typed_outcome() -> None:
    # pdfium counts the name tree's entry but fails to get it ("Failed to get attachment at index 0").
    data = hostile_files.damaged_attachment_pdf("dangling_name_tree")
    backend = FakeBackend(default=example_invoice())
    with invoiceai.Extractor(backend=backend, cache=None) as extractor:
        try:
            result = extractor.extract(data)
        except invoiceai.InvoiceAIError:
            assert backend.history == []
        else:
            assert (result.origin, result.pages) == ("model", (1,))


# -- damaged cache rows --------------------------------------------------------------------------


def _deep_json(depth: int = 100_000) -> str:
    return '{"version":"1","model":"fake-model","pages":[1],"data":' + "[" * depth + "]" * depth + "}"


DAMAGED_ROWS = {
    "deep-json": lambda valid: _deep_json(),
    "deep-json-whole-row": lambda valid: "[" * 100_000 + "]" * 100_000,
    "pages-1e999": lambda valid: valid.replace('"pages":[1]', '"pages":[1e999]'),
    "pages-huge-int": lambda valid: valid.replace('"pages":[1]', '"pages":[' + "9" * 5000 + "]"),
    "not-json": lambda valid: valid[: len(valid) // 2],
}


@pytest.fixture(params=["memory", "sqlite", "redis"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
    elif request.param == "sqlite":
        with SQLiteCache(tmp_path / "cache.sqlite3") as sqlite:
            yield sqlite
    else:
        with RedisCache(request.getfixturevalue("redis_url"), prefix=f"hostile-{tmp_path.name}:") as redis:
            redis.clear()
            yield redis


def _key_the_extractor_uses(data: bytes, backend: FakeBackend) -> str:
    # The recipe of Extractor._cache_key, from public parts; the test checks it finds the entry.
    from invoiceai.documents import load_document
    from invoiceai.extractor.steps import ENVELOPE_VERSION
    from invoiceai.render import open_document

    document = load_document(data)
    renderer = type(open_document(document))
    return cache_key(
        document_id=document.document_id,
        pages=[1],
        schema=invoiceai.Invoice,
        model_fingerprint=backend.fingerprint(),
        prompt_version=ENVELOPE_VERSION,
        render_settings={"renderer": f"{renderer.__module__}.{renderer.__qualname__}"},
    )


@pytest.mark.parametrize("damage", DAMAGED_ROWS)
def test_a_damaged_cache_row_is_a_miss_with_a_warning(cache: Cache, damage: str) -> None:
    data = hostile_files.attachment_pdf(b"<< /Type /Filespec /F (notes.txt) >>", af=False, names=b"")
    backend = FakeBackend(default=example_invoice())
    with invoiceai.Extractor(backend=backend, cache=cache) as extractor:
        assert extractor.extract(data).origin == "model"
        key = _key_the_extractor_uses(data, backend)
        valid = cache.get(key)
        assert valid is not None, "the test's key recipe no longer matches the extractor's"
        assert json.loads(valid)["pages"] == [1]
        cache.set(key, DAMAGED_ROWS[damage](valid))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = extractor.extract(data)
    assert result.origin == "model"
    assert len(backend.history) == 2
    cache_warnings = [w for w in caught if issubclass(w.category, invoiceai.cache.CacheWarning)]
    assert cache_warnings or any("cache" in warning for warning in result.warnings), (caught, result.warnings)


# -- the documentation page ----------------------------------------------------------------------


def test_the_untrusted_files_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    page = (Path(__file__).resolve().parent.parent / "docs" / "untrusted.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"docs/untrusted.md (example {number})", "exec"), namespace)
