"""What a request spends besides its pages: one note for a multi-page request, none for one page (issue 12)."""

from __future__ import annotations

from typing import Any

from invoiceai.backends.claude.request import build_request, page_contents
from invoiceai.pages import Page
from invoiceai.testing import make_page_image

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"total": {"type": "string"}}}


def content_of(pages: int, mode: str = "images", texts: list[str | None] | None = None) -> list[dict[str, Any]]:
    images = [Page(index, 60, 85, "image/png", make_page_image(60, 85)) for index in range(pages)]
    contents = page_contents(images, mode, texts)  # type: ignore[arg-type]
    built = build_request(model="m", schema=SCHEMA, structured=True, max_tokens=100, pages=contents)
    return list(built.params["messages"][0]["content"])


def kinds(content: list[dict[str, Any]]) -> list[str]:
    return [block["type"] for block in content]


def test_a_single_page_carries_no_label() -> None:
    content = content_of(1)
    assert kinds(content) == ["image", "text"]  # the page, then the closing instruction
    assert not content[-1]["text"].startswith("Page")


def test_several_pages_share_one_note_naming_them() -> None:
    content = content_of(3)
    assert kinds(content) == ["text", "image", "image", "image", "text"]
    assert content[0]["text"] == "Pages 1-3, in order."


def test_pages_whose_text_layers_name_them_need_no_note() -> None:
    content = content_of(2, "images+text", ["first page", "second page"])
    assert kinds(content) == ["image", "text", "image", "text", "text"]
    assert content[1]["text"].startswith('<page_text page="1">')
    assert content[3]["text"].startswith('<page_text page="2">')
    # A page without a text layer among them: the note names the pages again.
    mixed = content_of(2, "images+text", ["first page", None])
    assert mixed[0]["text"] == "Pages 1-2, in order."
