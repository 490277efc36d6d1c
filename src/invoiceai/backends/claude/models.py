"""What invoiceai knows about each Claude model, and what it learns at run time.

The table below is the fallback. When the client can, the backend asks the API
(``client.models.retrieve(model).capabilities``) and that answer wins; when the API rejects an
image as too large, the limit it names is remembered in :class:`ModelState` and wins over both.

Image budgets are the largest image worth sending: models scale anything larger down on the
server, so extra pixels only cost upload time. Every model works at 1568 px on the long edge
and about 1.15 megapixels (:data:`STANDARD_IMAGE_BUDGET`), and that is what pages are sent at by
default (``detail="standard"``). Opus 4.7 and newer accept about 2576 px and 3.75 megapixels
(:data:`LARGE_IMAGE_BUDGET`, not verified against the API: :class:`ModelState` corrects it at
run time), about three times the tokens per page; ``detail="high"`` buys it where the table
says a model has it (``high_detail=True`` below).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Mapping
from typing import Any

from invoiceai.config import DETAILS, Detail
from invoiceai.pages import ImageBudget

__all__ = [
    "DETAILS",
    "KNOWN_MODELS",
    "LARGE_IMAGE_BUDGET",
    "STANDARD_IMAGE_BUDGET",
    "Detail",
    "ModelSpec",
    "ModelState",
    "canonical_model_id",
    "lookup_model",
    "spec_from_model_info",
]

STANDARD_IMAGE_BUDGET = ImageBudget(max_long_edge=1568, max_pixels=1_150_000)
"""The documented standard limit: larger images are scaled down to this on the server (before
Opus 4.7), so it is the default (``detail="standard"``) on every model. A4 at 1568 px is about
135 dpi."""

LARGE_IMAGE_BUDGET = ImageBudget(max_long_edge=2576, max_pixels=3_750_000)
"""What Opus 4.7 and the 5.x models accept, bought with ``detail="high"``. The one place this
unverified figure lives; a model that refuses it teaches :class:`ModelState` its real limit."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The facts about one model that change how requests are built.

    Attributes:
        id: Canonical model id (no dates, provider prefixes or versions).
        structured_outputs: Whether ``output_config.format`` is supported; else forced tool use.
        image_budget: The largest image the model takes without scaling it down: what
            ``detail="high"`` sends (:meth:`budget` gives the budget for each detail level).
        max_output_tokens: Largest ``max_tokens`` the model accepts.
        context_window: Input plus output tokens per request.
        pdf_input: Whether native PDF document blocks are accepted.
        max_images: Images allowed in one request.
    """

    id: str
    structured_outputs: bool
    image_budget: ImageBudget = STANDARD_IMAGE_BUDGET
    max_output_tokens: int = 64_000
    context_window: int = 200_000
    pdf_input: bool = True
    max_images: int = 100

    @property
    def high_detail(self) -> bool:
        """Whether ``detail="high"`` buys this model a larger budget than the standard one."""
        budget, standard = self.image_budget, STANDARD_IMAGE_BUDGET
        return budget.long_edge > standard.long_edge or budget.max_pixels > standard.max_pixels

    def budget(self, detail: Detail = "standard") -> ImageBudget:
        """Returns the image budget for ``detail``: the standard one, or the model's largest for ``high``."""
        if detail not in DETAILS:
            raise ValueError(f"detail must be one of {list(DETAILS)}, got {detail!r}")
        if detail == "high":
            return self.image_budget
        return ImageBudget(
            max_long_edge=min(STANDARD_IMAGE_BUDGET.max_long_edge, self.image_budget.max_long_edge),
            max_pixels=min(STANDARD_IMAGE_BUDGET.max_pixels, self.image_budget.max_pixels),
            max_bytes=self.image_budget.max_bytes,
            max_side=self.image_budget.max_side,
        )


def _spec(model_id: str, *, high_detail: bool, structured: bool = True, max_output: int = 64_000) -> ModelSpec:
    budget = LARGE_IMAGE_BUDGET if high_detail else STANDARD_IMAGE_BUDGET
    return ModelSpec(model_id, structured_outputs=structured, image_budget=budget, max_output_tokens=max_output)


KNOWN_MODELS: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        # Which models accept the large image budget (detail="high"): this table, and the
        # family rule of lookup_model() for ids not listed here.
        # 5.x: structured outputs and the larger image size.
        _spec("claude-opus-5-5", high_detail=True),
        _spec("claude-sonnet-5-5", high_detail=True),
        _spec("claude-haiku-5-5", high_detail=True),
        _spec("claude-fable-5-2", high_detail=True),
        _spec("claude-fable-5-1", high_detail=True),
        _spec("claude-fable-5", high_detail=True),
        _spec("claude-mythos-5-2", high_detail=True),
        _spec("claude-mythos-5-1", high_detail=True),
        _spec("claude-mythos-5", high_detail=True),
        _spec("claude-opus-5", high_detail=True),
        _spec("claude-sonnet-5", high_detail=True),
        # 4.x with structured outputs.
        _spec("claude-opus-4-8", high_detail=True),
        _spec("claude-opus-4-7", high_detail=True),
        _spec("claude-opus-4-6", high_detail=False),
        _spec("claude-sonnet-4-6", high_detail=False),
        _spec("claude-opus-4-5", high_detail=False),
        _spec("claude-sonnet-4-5", high_detail=False),
        _spec("claude-haiku-4-5", high_detail=False),
        # Older models without structured outputs: forced tool use.
        _spec("claude-opus-4-1", high_detail=False, structured=False, max_output=32_000),
        _spec("claude-opus-4-0", high_detail=False, structured=False, max_output=32_000),
        _spec("claude-sonnet-4-0", high_detail=False, structured=False),
        _spec("claude-3-7-sonnet", high_detail=False, structured=False),
        _spec("claude-3-5-haiku", high_detail=False, structured=False, max_output=8_192),
    )
}

_DATE_SUFFIX = re.compile(r"-(\d{8}|latest)$")
_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")
_FAMILY = re.compile(r"^claude-(?:opus|sonnet|haiku|fable|mythos)-(\d+)(?:-(\d+))?$")


def canonical_model_id(model: str) -> str:
    """Returns the model id without provider decoration or snapshot date.

    ``us.anthropic.claude-sonnet-4-5-20250929-v1:0`` (Bedrock), ``claude-sonnet-4-5@20250929``
    (Vertex) and ``claude-sonnet-4-5-20250929`` all become ``claude-sonnet-4-5``.
    """
    name = model.strip().rsplit("/", 1)[-1]
    if "anthropic." in name:
        name = name.split("anthropic.", 1)[1]
    name = name.split("@", 1)[0]
    name = _BEDROCK_VERSION.sub("", name)
    return _DATE_SUFFIX.sub("", name)


def lookup_model(model: str) -> ModelSpec:
    """Returns what is known about ``model`` without asking the API.

    Unlisted models of a known family are judged by version (5.x and Opus 4.7+ get structured
    outputs and the large image budget for ``detail="high"``, 4.5+ structured outputs); anything
    else gets the conservative choice: forced tool use, which every model supports, and the
    standard budget only.
    """
    canonical = canonical_model_id(model)
    known = KNOWN_MODELS.get(canonical)
    if known is not None:
        return known
    match = _FAMILY.match(canonical)
    if match:
        major = int(match.group(1))
        minor = int(match.group(2) or 0)
        if major >= 5:
            return _spec(canonical, high_detail=True)
        if major == 4 and minor >= 5:
            return _spec(canonical, high_detail=minor >= 7 and "opus" in canonical)
    return _spec(canonical, high_detail=False, structured=False)


def spec_from_model_info(info: Mapping[str, Any], fallback: ModelSpec) -> ModelSpec:
    """Returns ``fallback`` corrected by the API's model info (``models.retrieve(...).to_dict()``).

    Capabilities the API reports win; the image budget stays the table's because the API does
    not report it (it is learned from rejections instead).
    """
    capabilities = info.get("capabilities") or {}

    def supported(name: str, default: bool) -> bool:
        value = capabilities.get(name)
        if isinstance(value, Mapping) and isinstance(value.get("supported"), bool):
            return bool(value["supported"])
        return default

    max_tokens = info.get("max_tokens")
    max_input = info.get("max_input_tokens")
    return dataclasses.replace(
        fallback,
        structured_outputs=supported("structured_outputs", fallback.structured_outputs),
        pdf_input=supported("pdf_input", fallback.pdf_input),
        max_output_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else fallback.max_output_tokens,
        context_window=max_input if isinstance(max_input, int) and max_input > 0 else fallback.context_window,
    )


class ModelState:
    """Facts learned at run time, per model: API capabilities and image limits.

    Thread-safe. A backend owns one; pass the same instance to several backends to share what
    they learn.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs: dict[str, ModelSpec] = {}
        self._max_side: dict[str, int] = {}
        self._grammar_refused: set[tuple[str, str]] = set()

    def detected(self, model: str) -> ModelSpec | None:
        """Returns the spec built from the API's answer, if the model was looked up already."""
        with self._lock:
            return self._specs.get(model)

    def remember_spec(self, model: str, spec: ModelSpec) -> None:
        """Stores the spec built from the API's answer for ``model``."""
        with self._lock:
            self._specs[model] = spec

    def spec(self, model: str) -> ModelSpec:
        """Returns the best-known spec: the API's answer if any, else the table's."""
        return self.detected(model) or lookup_model(model)

    def learn_max_side(self, model: str, pixels: int) -> None:
        """Remembers that ``model`` rejects images with a side above ``pixels``."""
        if pixels <= 0:
            return
        with self._lock:
            self._max_side[model] = min(pixels, self._max_side.get(model, pixels))

    def learned_max_side(self, model: str) -> int | None:
        """Returns the side limit learned for ``model``, if any."""
        with self._lock:
            return self._max_side.get(model)

    def refuse_grammar(self, model: str, schema_key: str) -> None:
        """Remembers that ``model`` could not compile the schema ``schema_key`` into a grammar."""
        with self._lock:
            self._grammar_refused.add((model, schema_key))

    def grammar_refused(self, model: str, schema_key: str) -> bool:
        """Whether ``model`` refused the schema ``schema_key`` as a structured output before."""
        with self._lock:
            return (model, schema_key) in self._grammar_refused

    def budget(self, model: str, detail: Detail = "standard") -> ImageBudget:
        """Returns the image budget for ``model`` at ``detail``: the table's, capped by anything learned."""
        budget = self.spec(model).budget(detail)
        learned = self.learned_max_side(model)
        return budget.capped(learned) if learned is not None else budget
