"""Image detail levels: the standard budget by default, the large one only when asked and supported."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from claude_fakes import ANSWER, USAGE, make_backend, run, settings
from documents_factory import example_invoice, png_invoice
from invoiceai import Extractor
from invoiceai.backends.claude.chunking import RequestLimits
from invoiceai.backends.claude.models import (
    KNOWN_MODELS,
    LARGE_IMAGE_BUDGET,
    STANDARD_IMAGE_BUDGET,
    ModelState,
    lookup_model,
)
from invoiceai.cache import MemoryCache
from invoiceai.config import DEFAULT_MODEL, Settings
from invoiceai.errors import ConfigurationError
from invoiceai.testing import FakeBackend, FakeClaudeAPI, StaticPages
from streaming_fakes import SyntheticPages


class Note(BaseModel):
    """A schema small enough that 22 pages fit one request's output budget."""

    text: str | None = None


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def largest_side(api: FakeClaudeAPI) -> int:
    return max(max(image.width, image.height) for request in api.message_requests for image in request.images())


def largest_area(api: FakeClaudeAPI) -> int:
    return max(image.width * image.height for request in api.message_requests for image in request.images())


# -- the model table ------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(KNOWN_MODELS))
def test_every_model_defaults_to_the_standard_budget(model: str) -> None:
    spec = lookup_model(model)
    assert spec.budget() == spec.budget("standard")
    assert spec.budget().long_edge == 1568
    assert spec.budget().max_pixels == 1_150_000
    # "high" is the large budget exactly where the table says the model has one.
    expected = LARGE_IMAGE_BUDGET if spec.high_detail else STANDARD_IMAGE_BUDGET
    assert spec.budget("high") == expected == spec.image_budget


def test_the_table_says_which_models_have_the_large_budget() -> None:
    assert lookup_model(DEFAULT_MODEL).high_detail
    assert lookup_model("claude-opus-4-7").high_detail
    assert lookup_model("claude-opus-5-5-20260101").high_detail
    assert not lookup_model("claude-haiku-4-5").high_detail
    assert not lookup_model("claude-sonnet-4-6").high_detail
    assert not lookup_model("some-proxy-model").high_detail
    assert lookup_model("claude-sonnet-6-1").high_detail  # an unlisted 6.x: judged by its family


def test_an_unknown_detail_is_refused() -> None:
    with pytest.raises(ValueError, match="detail"):
        lookup_model(DEFAULT_MODEL).budget("ultra")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="detail"):
        Settings(detail="ultra")
    with pytest.raises(ConfigurationError, match="detail"):
        Settings.load(env={"INVOICEAI_DETAIL": "ultra"})
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    with pytest.raises(ConfigurationError, match="detail"):
        make_backend(api, "sync", detail="ultra")


def test_the_setting_comes_from_the_environment() -> None:
    assert Settings.load(env={}).detail == "standard"
    assert Settings.load(env={"INVOICEAI_DETAIL": "high"}).detail == "high"
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    backend = make_backend(api, "sync", settings=settings(detail="high"))
    assert backend.detail == "high"
    assert backend.image_budget() == LARGE_IMAGE_BUDGET
    assert make_backend(api, "sync", settings=settings(detail="high"), detail="standard").detail == "standard"


# -- what is sent ---------------------------------------------------------------------------


def test_the_default_sends_pages_at_the_standard_budget(flavour: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    backend = make_backend(api, flavour)
    assert backend.detail == "standard"
    assert backend.image_budget() == STANDARD_IMAGE_BUDGET
    source = StaticPages.blank(2, width=1700, height=2200)
    run(backend, flavour, source)
    assert [budget.long_edge for budget in source.render_calls] == [1568]
    assert largest_side(api) <= 1568
    assert 1_100_000 < largest_area(api) <= 1_150_000
    assert api.downsized_images == 0


def test_high_detail_sends_the_large_budget_where_the_model_has_it(flavour: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    source = StaticPages.blank(1, width=1900, height=2500)
    run(make_backend(api, flavour, detail="high"), flavour, source)
    assert 1568 < largest_side(api) <= 2576
    assert 3_600_000 < largest_area(api) <= 3_750_000

    # A model without the large budget: "high" is the standard budget.
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    run(make_backend(api, flavour, model="claude-haiku-4-5", detail="high"), flavour, source)
    assert largest_side(api) <= 1568
    assert largest_area(api) <= 1_150_000


def test_the_many_images_limit_follows_the_detail(flavour: str) -> None:
    # More than 20 images in one request: each side at most 2000 px, whatever the detail.
    limits = RequestLimits(max_pages=25)
    sides = {}
    for detail, bound in (("high", 2000), ("standard", 1568)):
        api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
        source = SyntheticPages.blank(22, size=(1900, 2500))
        run(make_backend(api, flavour, detail=detail, limits=limits), flavour, source, Note)
        (request,) = api.message_requests
        assert len(request.images()) == 22
        sides[detail] = largest_side(api)
        assert sides[detail] <= bound, detail
    assert sides["high"] > sides["standard"]


def test_the_fingerprint_follows_the_detail_that_takes_effect() -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE)
    standard = make_backend(api, "sync")
    high = make_backend(api, "sync", detail="high")
    assert standard.fingerprint() != high.fingerprint()
    assert standard.with_detail("high").fingerprint() == high.fingerprint()
    assert high.with_detail("standard").fingerprint() == standard.fingerprint()
    # On a model without the large budget both levels render alike: one cache entry serves both.
    haiku = make_backend(api, "sync", model="claude-haiku-4-5")
    assert haiku.fingerprint() == haiku.with_detail("high").fingerprint()


def test_with_detail_shares_what_it_learned() -> None:
    state = ModelState()
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE, max_image_side=2000)
    backend = make_backend(api, "sync", model_state=state)
    high = backend.with_detail("high")
    assert backend.with_detail("standard") is backend
    assert high.detail == "high" and backend.detail == "standard"
    run(high, "sync", StaticPages.blank(1, width=1900, height=2500))
    statuses = [request.status for request in api.message_requests]
    assert statuses == [400, 200]  # refused at 2500 px, re-rendered at the 2000 px it named
    assert high.image_budget().long_edge == 2000
    assert state.budget(backend.model, "high").long_edge == 2000
    assert backend.image_budget().long_edge == 1568  # below the learned limit: unchanged


# -- the facade's per-call detail -----------------------------------------------------------


def extractor_for(api: FakeClaudeAPI, **options: Any) -> Extractor:
    options.setdefault("cache", MemoryCache())
    return Extractor(client=api.client(), settings=settings(), **options)


def test_a_per_call_detail_renders_and_caches_for_that_detail() -> None:
    api = FakeClaudeAPI(answer=example_invoice().model_dump(mode="json"), usage=USAGE)
    page = png_invoice("big", size=(1900, 2500))
    with extractor_for(api) as extractor:
        high = extractor.extract(page, detail="high")
        assert 3_600_000 < largest_area(api) <= 3_750_000
        standard = extractor.extract(page)  # another detail: another cache key, another request
        assert len(api.message_requests) == 2
        assert max(image.width * image.height for image in api.message_requests[1].images()) <= 1_150_000
        again = extractor.extract(page, detail="standard")
        also = extractor.extract(page, detail="high")
    assert (high.origin, standard.origin, again.origin, also.origin) == ("model", "model", "model", "model")
    assert (high.cached, standard.cached, again.cached, also.cached) == (False, False, True, True)
    assert len(api.message_requests) == 2


def test_extract_many_takes_a_detail_too() -> None:
    api = FakeClaudeAPI(answer=example_invoice().model_dump(mode="json"), usage=USAGE)
    pages = [png_invoice(str(number), size=(1900, 2500)) for number in range(3)]
    with extractor_for(api, cache=None) as extractor:
        results = extractor.extract_many(pages, detail="high", progress=False)
        assert all(result.ok for result in results)
        assert all(image.width * image.height > 3_600_000 for r in api.message_requests for image in r.images())
        items = list(extractor.iter_extract(pages[:1], detail="standard", progress=False))
    assert items[0].result.ok
    assert max(image.width * image.height for image in api.message_requests[-1].images()) <= 1_150_000


def test_a_detail_needs_a_backend_with_detail_levels() -> None:
    with Extractor(backend=FakeBackend(default=example_invoice()), cache=None) as extractor:
        extractor.extract(png_invoice())  # without detail= any backend works
        with pytest.raises(ConfigurationError, match="detail"):
            extractor.extract(png_invoice(), detail="high")
        with pytest.raises(ConfigurationError, match="detail"):
            extractor.extract_many([png_invoice()], detail="ultra")  # type: ignore[typeddict-item]
