"""Page selections, the renderer registry, entry points and import cost."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import EntryPoint

import pytest

from invoiceai.documents import Document
from invoiceai.errors import (
    ConfigurationError,
    EmptyDocumentError,
    PageSelectionError,
    UnsupportedFormatError,
)
from invoiceai.pages import ImageBudget, Page, PageSource
from invoiceai.render import (
    ImageRenderer,
    PdfRenderer,
    Renderer,
    RendererRegistry,
    open_document,
    parse_pages,
)
from render_fixtures import build_pdf, document_image, encode_image, invoice_page

# --- page selections -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pages", "count", "indices"),
    [
        (None, 4, (0, 1, 2, 3)),
        ("all", 3, (0, 1, 2)),
        ("1-3,7", 8, (0, 1, 2, 6)),
        (" 2 , 4 - 5 ", 6, (1, 3, 4)),
        ("3-", 5, (2, 3, 4)),
        ("7,1-2,2", 7, (0, 1, 6)),
        ([3, 1, 3], 3, (0, 2)),
        (range(2, 4), 5, (1, 2)),
        ((1,), 1, (0,)),
    ],
)
def test_selections_resolve_to_sorted_zero_based_indices(pages: object, count: int, indices: tuple[int, ...]) -> None:
    assert parse_pages(pages).resolve(count) == indices  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        ("", "empty string"),
        ("1-3;7", "does not parse"),
        ("a-b", "does not parse"),
        ("0", "numbered from 1"),
        ("5-2", "backwards range"),
        ("-3", "does not parse"),
        ("1.5", "does not parse"),
        ([], "empty list"),
        ([0], "numbered from 1"),
        ([1, "2"], "whole page numbers"),
        ([True], "whole page numbers"),
        (b"1-2", "not bytes"),
        (3, "not int"),
        # Services pass user-supplied selections through: a number too long for int() raised a
        # bare ValueError.
        ("1" * 5000, "past the end"),
        ("2-" + "9" * 5000, "past the end"),
    ],
)
def test_bad_selections_say_how_to_write_one(pages: object, message: str) -> None:
    with pytest.raises(PageSelectionError, match=message):
        parse_pages(pages)  # type: ignore[arg-type]


def test_selection_past_the_end_names_the_page_count() -> None:
    selection = parse_pages("2-9")
    with pytest.raises(PageSelectionError, match="only 4 pages"):
        selection.resolve(4)
    with pytest.raises(PageSelectionError, match="page 9"):
        parse_pages([9]).resolve(1)
    with pytest.raises(EmptyDocumentError):
        parse_pages(None).resolve(0)


# --- the registry --------------------------------------------------------------------------------------


class TextPageSource:
    """A minimal third-party page source: one white page per text line."""

    def __init__(self, document: Document) -> None:
        self._document = document
        self._lines = document.data.decode().splitlines()

    @property
    def document_id(self) -> str:
        return self._document.document_id

    @property
    def page_count(self) -> int:
        return len(self._lines)

    def render(self, budget: ImageBudget) -> Iterator[Page]:
        for index, line in enumerate(self._lines):
            data = encode_image(document_image((64, 64)), "PNG")
            yield Page(index=index, width=64, height=64, media_type="image/png", data=data, text=line)

    def text_layers(self) -> list[str | None]:
        return list(self._lines)

    def pdf_bytes(self) -> None:
        return None


class TextRenderer:
    """A third-party renderer for plain text, registered like the built-ins."""

    media_types = frozenset({"text/plain"})

    def open(self, document: Document, *, pages: object = None, password: str | None = None) -> PageSource:
        return TextPageSource(document)


def test_builtins_cover_pdf_and_every_image_type_and_nothing_else() -> None:
    registry = RendererRegistry.with_builtins()
    assert set(registry.media_types) == {
        "application/pdf",
        "image/bmp",
        "image/gif",
        "image/heic",
        "image/heif",
        "image/jpeg",
        "image/png",
        "image/tiff",
        "image/webp",
    }
    assert isinstance(registry.get("application/pdf"), PdfRenderer)
    assert isinstance(registry.get("image/tiff"), ImageRenderer)
    assert isinstance(registry.get("image/png"), Renderer)


def test_registries_are_independent() -> None:
    first = RendererRegistry.with_builtins()
    second = RendererRegistry.with_builtins()
    first.register(TextRenderer())
    assert "text/plain" in first.media_types
    assert "text/plain" not in second.media_types
    assert "text/plain" not in RendererRegistry.with_builtins().media_types


def test_unknown_types_list_what_is_supported() -> None:
    registry = RendererRegistry.with_builtins()
    document = Document(data=b"hello", media_type="text/plain")
    with pytest.raises(UnsupportedFormatError, match="Supported: application/pdf, image/bmp") as info:
        registry.open(document)
    assert info.value.document_id == document.document_id
    with pytest.raises(UnsupportedFormatError, match="read directly"):
        registry.get("application/xml")


def test_a_third_party_renderer_registers_like_the_builtins() -> None:
    registry = RendererRegistry.with_builtins()
    registry.register(TextRenderer())
    source = registry.open(Document(data=b"one\ntwo", media_type="text/plain"))
    assert isinstance(source, PageSource)
    assert [page.text for page in source.render(ImageBudget())] == ["one", "two"]


def test_conflicts_need_replace() -> None:
    registry = RendererRegistry.with_builtins()

    class OtherPdf(TextRenderer):
        media_types = frozenset({"application/pdf"})

    with pytest.raises(ConfigurationError, match="PdfRenderer already renders application/pdf"):
        registry.register(OtherPdf())
    registry.register(OtherPdf(), replace=True)
    assert isinstance(registry.get("application/pdf"), OtherPdf)
    registry.unregister("application/pdf")
    with pytest.raises(UnsupportedFormatError):
        registry.get("application/pdf")


@pytest.mark.parametrize("bad", [object(), "renderer", TextRenderer])
def test_non_renderers_are_refused(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        RendererRegistry().register(bad)  # type: ignore[arg-type]


def test_open_document_uses_the_builtins_or_a_given_registry() -> None:
    pdf = Document.from_bytes(build_pdf([invoice_page(), invoice_page(2)]))
    source = open_document(pdf, pages="2")
    assert source.page_count == 1
    registry = RendererRegistry()
    registry.register(TextRenderer())
    with pytest.raises(UnsupportedFormatError, match="Supported: text/plain"):
        open_document(pdf, registry=registry)


# --- entry points --------------------------------------------------------------------------------------


def fake_entry_points(points: list[EntryPoint]) -> object:
    def entry_points(*, group: str) -> list[EntryPoint]:
        return [point for point in points if point.group == group]

    return entry_points


def test_entry_points_load_only_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(**_: object) -> list[EntryPoint]:
        raise AssertionError("entry points must not be read unless asked for")

    monkeypatch.setattr("importlib.metadata.entry_points", explode)
    RendererRegistry.with_builtins()
    open_document(Document.from_bytes(build_pdf([invoice_page()])))


def test_entry_point_renderers_are_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint(name="text", value="test_render_registry:TextRenderer", group="invoiceai.renderers")
    other_group = EntryPoint(name="x", value="nonexistent.module:Thing", group="somebody.else")
    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points([point, other_group]))
    registry = RendererRegistry.with_builtins(entry_points=True)
    assert "text/plain" in registry.media_types
    assert RendererRegistry().load_entry_points() == ["text"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nonexistent_plugin_module:Renderer", "failed to load"),
        ("test_render_registry:fake_entry_points", "failed to load"),
        ("render_fixtures:PDF_PAGE_MARKER", "failed to load"),
        ("test_render_registry:make_nothing", "not a renderer"),
    ],
)
def test_broken_plugins_are_configuration_errors(monkeypatch: pytest.MonkeyPatch, value: str, message: str) -> None:
    point = EntryPoint(name="broken", value=value, group="invoiceai.renderers")
    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points([point]))
    with pytest.raises(ConfigurationError, match=message):
        RendererRegistry().load_entry_points()


def test_plugins_conflicting_with_builtins_need_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    point = EntryPoint(name="pdf", value="test_render_registry:PdfOverride", group="invoiceai.renderers")
    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points([point]))
    registry = RendererRegistry.with_builtins()
    with pytest.raises(ConfigurationError, match="replace=True"):
        registry.load_entry_points()
    registry.load_entry_points(replace=True)
    assert isinstance(registry.get("application/pdf"), PdfOverride)


def make_nothing() -> None:
    return None


class PdfOverride(TextRenderer):
    media_types = frozenset({"application/pdf"})


# --- import cost ---------------------------------------------------------------------------------------


def test_importing_documents_and_render_loads_no_heavy_library() -> None:
    code = (
        "import sys, invoiceai.documents, invoiceai.render\n"
        "heavy = [m for m in ('PIL', 'pypdfium2', 'pillow_heif', 'httpx2', 'httpcore2') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
