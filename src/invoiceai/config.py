"""Settings: one frozen object with every knob, read once.

Precedence, highest first:

1. an explicit argument (``Settings.load(model=...)``, or ``Extractor(model=...)``);
2. the ``INVOICEAI_<FIELD>`` environment variable (``INVOICEAI_MODEL``, ``INVOICEAI_CACHE_DIR``, ...);
3. the default written on the field below.

There is no module-level settings instance and nothing mutates a ``Settings``: components take
the object they are given, and :meth:`Settings.replace` returns a modified copy. API keys are not
settings: the backend reads ``ANTHROPIC_API_KEY`` itself so a key never sits in an object that
could be logged or pickled.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from invoiceai.errors import ConfigurationError

__all__ = [
    "DEFAULT_MODEL",
    "DETAILS",
    "ENV_PREFIX",
    "Detail",
    "Settings",
    "check_numbers",
    "default_cache_dir",
    "settings_values",
]

ENV_PREFIX = "INVOICEAI_"

DEFAULT_MODEL = "claude-sonnet-5"
"""A current vision model with structured outputs; never one in ``anthropic._data.DEPRECATED_MODELS``."""

Detail = Literal["standard", "high"]
"""How large pages are sent: ``standard`` (the size every model takes without downsizing it) or ``high``."""

DETAILS: tuple[Detail, ...] = ("standard", "high")
"""The values of :data:`Detail`."""


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    r"""Returns the per-user cache directory for invoiceai, following each platform's convention.

    Args:
        env: Environment to read (defaults to ``os.environ``).

    Returns:
        ``$XDG_CACHE_HOME/invoiceai`` (or ``~/.cache/invoiceai``) on Linux,
        ``~/Library/Caches/invoiceai`` on macOS and ``%LOCALAPPDATA%\invoiceai\Cache`` on Windows.
    """
    env = os.environ if env is None else env
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "invoiceai" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "invoiceai"
    xdg = env.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "invoiceai"


_POSITIVE = (
    "max_attempts",
    "concurrency",
    "max_document_bytes",
    "token_budget",
    "request_timeout",
    "fetch_timeout",
    "max_pages",
    "max_stream_bytes",
    "max_attachment_bytes",
    "max_render_bytes",
    "max_image_pixels",
    "render_timeout",
    "provenance_max_pages",
)
_NOT_NEGATIVE = (
    "max_reasks",
    "max_fetch_redirects",
    "max_retry_seconds",
    "cache_ttl_seconds",
    "max_concurrent_requests",
    "render_memory_limit",
)
_LARGEST = 2**63 - 1
"""The largest number a setting may hold: what the OS calls (``setrlimit``) and C libraries take."""


def _named(name: str, prefix: str = ENV_PREFIX) -> str:
    """A setting as messages name it: the field and the variable that sets it (``'ocr' (INVOICEAI_OCR)``)."""
    return f"{name!r} ({prefix}{name.upper()})"


def check_numbers(settings: object, *, prefix: str = ENV_PREFIX, what: str = "Setting") -> None:
    """Refuses NaN, infinity and numbers no limit needs in a settings dataclass's fields.

    A NaN timeout never expires and compares false with everything (it passed "must be
    positive"); a number past ``2**63 - 1`` fails later in the OS call that takes it.

    Args:
        settings: A dataclass instance whose ``int`` and ``float`` fields to check.
        prefix: The prefix of the environment variables that set its fields.
        what: How messages name one of its fields (``"Setting"``, ``"Service setting"``).

    Raises:
        ConfigurationError: A field is not finite or too large, naming the field and its variable.
    """
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, field.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        named = f"{what} {_named(field.name, prefix)}"
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigurationError(f"{named} must be a finite number, got {value!r}.")
        if abs(value) > _LARGEST:
            raise ConfigurationError(f"{named} is too large ({value:.3g}); the most it takes is {_LARGEST:,}.")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every tunable of invoiceai in one immutable object.

    Build it with :meth:`load`, which applies the precedence documented in this module.

    Attributes:
        model: Claude model id used for extraction.
        cache_dir: Where the default SQLite cache lives.
        cache_ttl_seconds: How long a cached extraction stays valid.
        max_attempts: Attempts per request, counting the first, for transient API failures.
        max_retry_seconds: Total time one request may spend retrying before giving up.
        max_reasks: Follow-up requests allowed when a reply fails schema validation.
        token_budget: Input plus output tokens one document may spend over all its attempts.
            Checked before the first request against the whole plan (estimated input plus every
            request's ``max_tokens``), so a document that could cost more fails with nothing
            sent. The default admits a 500-page invoice (about 2.6 million tokens planned: at
            most $19 at claude-sonnet-5 prices, about $2 in practice).
        concurrency: Requests in flight at once in a batch (``extract_many``, ``iter_extract``
            and their async twins); as many more documents are loaded and rendered ahead of
            them, so set it to your account's concurrency.
        max_concurrent_requests: An optional cap on the requests one backend keeps in flight,
            shared by every batch and single extraction using it (0: no cap beyond
            ``concurrency``); a single batch does not need it.
        request_timeout: Seconds before one API request times out.
        fetch_timeout: Seconds before fetching a URL source times out; also the longest wait for the
            writer of a named pipe (FIFO) given as a path.
        max_document_bytes: Largest document accepted, in bytes.
        max_fetch_redirects: Redirects followed when fetching a URL source.
        allow_private_urls: Fetch URLs that resolve to private, loopback or link-local addresses.
        max_pages: Most pages (or image frames) one document may have selected; counted from the
            page tree before anything renders. Bounds the work of opening a document; what it
            may cost is ``token_budget``'s to say.
        max_stream_bytes: Most bytes any one PDF stream may inflate to; checked before pdfium
            parses the file, stopping each stream at the cap. A 600 dpi A4 colour scan stored
            with Flate is 104 MB.
        max_attachment_bytes: Most bytes one PDF attachment (the embedded e-invoice) may decode
            to; a larger one is skipped, as a damaged one is.
        max_render_bytes: Most bytes one page's bitmap may take (pixels x 4); far above what the
            model budgets ask for (1.15 MP, 4.6 MB).
        max_image_pixels: Most pixels one image may have: an image file's frame, or an image
            inside a PDF. Pillow's own decompression-bomb threshold.
        render_timeout: Seconds one document may spend being opened and rendered (summed over
            the time spent inside the renderer, not the backend's time between pages).
        detail: Image size sent to the model: ``standard`` (1568 px / 1.15 MP, what every
            current model takes without downsizing it) or ``high`` (the larger budget of the
            models that accept one, about 3x the tokens per page; see ``docs/models.md``).
        render_memory_limit: Address space, in bytes, of the child process that opens and renders
            untrusted PDFs (``RLIMIT_AS``; pdfium cannot be capped from Python). A PDF that needs
            more ends in a typed error, not a crash of this process. ``0`` turns the sandbox off:
            PDFs are opened and rendered in this process.
        provenance: Read every page's words after an invoice is extracted and record where each
            value is printed (``Extraction.provenance``), flagging values not on their page
            (``IAI-UNGROUNDED``), with a review flag (``Extraction.needs_review``). On by
            default: it costs no tokens and about 15 ms of CPU per born-digital PDF (OCR of
            scans, when the ``ocr`` extra is installed, costs seconds a page; see ``ocr``).
            ``INVOICEAI_PROVENANCE=0`` turns it off, and with it the ``IAI-UNGROUNDED``
            findings. See ``docs/provenance.md``.
        ocr: Word layers for scans and photos by OCR: ``auto`` when the ``ocr`` extra and the
            Tesseract program are installed (else page-level provenance only), ``on`` (required:
            a missing extra is an error before any cost), ``off``.
        ocr_languages: Tesseract languages, ``+``-separated; only the installed ones are used.
        provenance_max_pages: The most pages whose words provenance reads per document. A longer
            document has the words read of the pages the model named for its values, then its
            first and last page, up to this many; values elsewhere keep the model's page as
            page-level provenance (grounding ``unknown``) and the result says so in a warning.
            Bounds the time and memory of provenance (and OCR) on long documents.
    """

    model: str = DEFAULT_MODEL
    cache_dir: Path = dataclasses.field(default_factory=default_cache_dir)
    cache_ttl_seconds: float = 30 * 24 * 3600.0
    max_attempts: int = 8
    max_retry_seconds: float = 300.0
    max_reasks: int = 2
    token_budget: int = 3_000_000
    concurrency: int = 8
    max_concurrent_requests: int = 0
    request_timeout: float = 180.0
    fetch_timeout: float = 30.0
    max_document_bytes: int = 50 * 1024 * 1024
    max_fetch_redirects: int = 5
    allow_private_urls: bool = False
    max_pages: int = 1000
    max_stream_bytes: int = 128 * 1024 * 1024
    max_attachment_bytes: int = 32 * 1024 * 1024
    max_render_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 89_478_485
    render_timeout: float = 120.0
    detail: str = "standard"  # one of DETAILS; checked below
    render_memory_limit: int = 2 * 1024 * 1024 * 1024
    provenance: bool = True
    ocr: str = "auto"  # one of "auto", "on", "off"; checked below
    ocr_languages: str = "eng+deu+fra"
    provenance_max_pages: int = 50

    def __post_init__(self) -> None:
        check_numbers(self)
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"Setting {_named(name)} must be positive, got {getattr(self, name)!r}.")
        for name in _NOT_NEGATIVE:
            if getattr(self, name) < 0:
                raise ConfigurationError(f"Setting {_named(name)} must not be negative, got {getattr(self, name)!r}.")
        if not self.model.strip():
            raise ConfigurationError(f"Setting {_named('model')} must be a non-empty Claude model id.")
        if self.detail not in DETAILS:
            raise ConfigurationError(f"Setting {_named('detail')} must be one of {list(DETAILS)}, got {self.detail!r}.")
        if self.ocr not in ("auto", "on", "off"):
            raise ConfigurationError(f"Setting {_named('ocr')} must be one of ['auto', 'on', 'off'], got {self.ocr!r}.")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Builds settings from explicit overrides, then the environment, then defaults.

        Args:
            env: Environment to read (defaults to ``os.environ``).
            **overrides: Explicit values; ``None`` means "not given" and falls through.

        Returns:
            The resolved settings.

        Raises:
            ConfigurationError: An override names no setting, or an environment value does not parse.
        """
        env = os.environ if env is None else env
        values = settings_values(cls, env, overrides, prefix=ENV_PREFIX, what="setting")
        if "cache_dir" not in values:
            values["cache_dir"] = default_cache_dir(env)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """Returns a copy with ``changes`` applied (``None`` values are ignored)."""
        return dataclasses.replace(self, **{key: value for key, value in changes.items() if value is not None})


def settings_values(
    cls: type[Any], env: Mapping[str, str], overrides: Mapping[str, Any], *, prefix: str, what: str
) -> dict[str, Any]:
    """The values of a settings dataclass's fields: explicit overrides, then ``PREFIX<FIELD>`` variables.

    Shared by :class:`Settings` and the service's settings so both resolve the same way. Fields
    given neither way are left out (their defaults apply).

    Args:
        cls: The settings dataclass.
        env: The environment to read.
        overrides: Explicit values; ``None`` means "not given" and falls through.
        prefix: The environment variables' prefix (``INVOICEAI_``).
        what: What one field is called in messages (``"setting"``).

    Returns:
        The resolved values by field name, each coerced to the field's type.

    Raises:
        ConfigurationError: An override names no field, or a value does not parse.
    """
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigurationError(f"Unknown {what}(s) {unknown}; known {what}s are {sorted(fields)}.")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if overrides.get(name) is not None:
            values[name] = _coerce(name, overrides[name], field.type, source="argument")
            continue
        variable = prefix + name.upper()
        raw = env.get(variable)
        if raw is not None and raw.strip() != "":
            values[name] = _coerce(variable, raw, field.type, source="environment variable")
    return values


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _coerce(name: str, value: Any, annotation: Any, *, source: str) -> Any:
    # Annotations are strings under `from __future__ import annotations`.
    kind = str(annotation)
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(f"expected one of {sorted(_TRUE | _FALSE)}")
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError("expected an integer")
            return _parse_int(value)
        if kind == "float":
            return _parse_float(value)
        if kind == "Path":
            return Path(value).expanduser()
        return str(value).strip()
    except ValueError as exc:
        raise ConfigurationError(f"Invalid {source} {name}={value!r}: {exc}.") from exc


def _parse_int(value: Any) -> int:
    text = str(value).strip().replace("_", "")
    try:
        return int(text)
    except ValueError:
        # int()'s own message ("invalid literal for int() with base 10") speaks Python, not settings.
        raise ValueError("expected a whole number such as 8 (no decimal point or exponent)") from None


def _parse_float(value: Any) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError("expected a number such as 30 or 2.5") from None
