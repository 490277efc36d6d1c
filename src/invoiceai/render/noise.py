"""Keeping pypdf's and Pillow's log lines and Pillow's warnings off stderr, only inside invoiceai's own calls.

pypdf reports what it repaired through :mod:`logging` (``logging.getLogger("pypdf._reader")``
and friends) at WARNING; with no handler configured, Python's last-resort handler prints those to
stderr, with no file name. Pillow reports through :mod:`warnings`, and its file plugins log a
few refusals (a TIFF's impossible sample count) at ERROR. Inside ``with library_noise(name):``
all of these go instead to the ``invoiceai.render`` logger at DEBUG, prefixed with
the document's name. Outside such a block nothing changes: a user's own pypdf and Pillow calls log
and warn exactly as before.

How, thread-safely and without touching global configuration per call:

* The active document is a :class:`contextvars.ContextVar`, so each thread (and asyncio task)
  sees only its own block.
* Once per pypdf and Pillow module, a :class:`logging.Filter` is added to that module's logger (loggers are
  process-wide, so the filter is added once, under a lock, and never removed). Outside a block it
  passes every record untouched; inside one it re-logs the record to ``invoiceai.render`` and
  drops the original, so no handler (the last-resort one included) sees it.
* :func:`warnings.showwarning` is wrapped (again whenever someone has replaced it): outside a block it calls whatever
  was installed before; inside one it logs. Warnings filters are not touched (``catch_warnings``
  is not thread-safe before Python 3.14), so ``-W error`` still turns a warning into an error,
  which the renderers map to a typed error.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from invoiceai.secrets import get_logger

__all__ = ["LOGGER_NAME", "library_noise", "refresh"]

LOGGER_NAME = "invoiceai.render"
_LOG = get_logger(LOGGER_NAME)
_DOCUMENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("invoiceai_render_document", default=None)
_INSTALL_LOCK = threading.Lock()
_FILTERED: set[str] = set()


class _PypdfFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        name = _DOCUMENT.get()
        if name is None:
            return True
        library = "Pillow" if record.name.split(".")[0] == "PIL" else "pypdf"
        _LOG.debug("%s: %s: %s", name, library, record.getMessage())
        return False


_FILTER = _PypdfFilter()


@contextlib.contextmanager
def library_noise(document_name: str) -> Iterator[None]:
    """Routes pypdf's log records and Pillow's warnings raised in the block to ``invoiceai.render``.

    Args:
        document_name: Shown with every message (the document's display name).

    Yields:
        Nothing.
    """
    _install()
    token = _DOCUMENT.set(document_name)
    try:
        yield
    finally:
        _DOCUMENT.reset(token)


def refresh() -> None:
    """Filters the loggers of pypdf modules imported since the block began (call after importing pypdf)."""
    _install()


def _install() -> None:
    # pypdf logs under its modules' names (logging.getLogger(__name__)). Once pypdf is imported,
    # every module of the package gets the filter, including those pypdf imports lazily later.
    # Pillow's plugins log too (a TIFF claiming 26372 samples a pixel logs an ERROR before the
    # plugin refuses it), from modules Pillow imports only when a file needs them: their loggers
    # get the filter up front, found without importing Pillow.
    pypdf = sys.modules.get("pypdf")
    if ("pypdf" in _FILTERED or pypdf is None) and "PIL" in _FILTERED and _is_ours(warnings.showwarning):
        return
    modules = _pypdf_modules(pypdf) if pypdf is not None else []
    modules += _pillow_modules() if "PIL" not in _FILTERED else []
    with _INSTALL_LOCK:
        for name in modules:
            if name not in _FILTERED:
                # pypdf's records may quote the file; they are masked like ours, then rerouted.
                get_logger(name).addFilter(_FILTER)
                _FILTERED.add(name)
        # Checked each time, not once: whoever replaces showwarning later (logging.captureWarnings,
        # a test runner's catch_warnings) is wrapped in turn.
        if not _is_ours(warnings.showwarning):
            warnings.showwarning = _wrap_showwarning(warnings.showwarning)


def _pypdf_modules(pypdf: Any) -> list[str]:
    import pkgutil

    names = [name for name in list(sys.modules) if name == "pypdf" or name.startswith("pypdf.")]
    with contextlib.suppress(Exception):  # a zipped or frozen install: the imported modules still count
        names += [info.name for info in pkgutil.walk_packages(pypdf.__path__, prefix="pypdf.")]
    return names


def _pillow_modules() -> list[str]:
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec("PIL")  # a top-level package: located, not imported
    locations = spec.submodule_search_locations if spec is not None else None
    # Pillow is flat: its modules are all in the one folder.
    return ["PIL", *(f"PIL.{info.name}" for info in pkgutil.iter_modules(locations))] if locations else ["PIL"]


def _is_ours(function: Any) -> bool:
    return getattr(function, "_invoiceai_wrapper", False) is True


def _wrap_showwarning(original: Any) -> Any:
    def showwarning(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        name = _DOCUMENT.get()
        if name is None:
            original(message, category, filename, lineno, file, line)
            return
        _LOG.debug("%s: %s: %s", name, category.__name__, message)

    showwarning._invoiceai_wrapper = True  # type: ignore[attr-defined]
    return showwarning
