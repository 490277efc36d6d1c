"""The decisions of a URL fetch, tested directly: FetchState does no I/O, so a table drives it.

Each row starts a fetch, feeds it the answers a server would give (status and headers) and the
addresses a resolver would return, and checks every request the state asked for (where it is
pinned, which Host and SNI it carries, whether credentials go with it) and how the fetch ends.
The I/O loops that obey these decisions are tested in test_documents_fetch.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import httpx2
import pytest

from cache_contract import FakeClock
from invoiceai.config import Settings
from invoiceai.documents.hops import FetchState, Hop, parse_url
from invoiceai.errors import DocumentTooLargeError, FetchError, InvoiceAIError, UnsafeURLError
from render_fixtures import build_pdf, invoice_page

PUBLIC = "93.184.216.34"
OTHER = "1.1.1.1"
DNS = {
    "erp.example": [PUBLIC],
    "files.example": [OTHER],
    "internal.example": ["10.0.0.5"],
    "mixed.example": [PUBLIC, "10.0.0.5"],
    "nothing.example": [],
}
OK = (200, {"content-type": "application/pdf"})


def redirect(location: str | None, status: int = 302) -> tuple[int, dict[str, str]]:
    return (status, {} if location is None else {"location": location})


@dataclasses.dataclass(frozen=True)
class Sent:
    """What one hop asked for: the URL sent (pinned), its Host and SNI, credentials, and the lookup."""

    url: str
    host: str | None
    sni: object
    credentials: bool
    lookup: tuple[str, int] | None


def run(url: str, answers: list[tuple[int, Mapping[str, str]]], **settings: object) -> tuple[list[Sent], str]:
    """Drives a fetch through ``answers``; returns the hops sent and how it ended ("body" or an error)."""
    state = FetchState(url, Settings(**settings), clock=FakeClock())  # type: ignore[arg-type]
    sent: list[Sent] = []
    try:
        for status, headers in answers:
            hop = state.next_hop()
            request = state.pin(hop, None if hop.lookup is None else DNS[hop.lookup[0]])
            sent.append(
                Sent(
                    url=str(request.url),
                    host=request.headers.get("Host"),
                    sni=request.extensions.get("sni_hostname"),
                    credentials=hop.credentials,
                    lookup=hop.lookup,
                )
            )
            if not state.follows(status, httpx2.Headers(headers)):
                return sent, "body"
        # The answers ran out on a redirect: the next hop must be refused.
        hop = state.next_hop()
        state.pin(hop, None if hop.lookup is None else DNS[hop.lookup[0]])
    except InvoiceAIError as exc:
        return sent, f"{type(exc).__name__}: {exc}"
    return sent, "another hop"


def pinned(url: str, host: str, *, credentials: bool = True, sni: bool = True) -> Sent:
    target = httpx2.URL(url)
    port = target.port or (443 if target.scheme == "https" else 80)
    address = DNS[target.host][0]
    return Sent(
        url=str(target.copy_with(host=address)),
        host=host,
        sni=target.host if sni else None,
        credentials=credentials,
        lookup=(target.host, port),
    )


HOPS = [
    pytest.param(
        "https://erp.example/march/invoice.pdf",
        [OK],
        {},
        [pinned("https://erp.example/march/invoice.pdf", "erp.example")],
        "body",
        id="pinned-to-the-checked-address",
    ),
    pytest.param(
        "http://erp.example:8080/a.pdf",
        [OK],
        {},
        [pinned("http://erp.example:8080/a.pdf", "erp.example:8080", sni=False)],
        "body",
        id="plain-http-keeps-its-port-and-has-no-sni",
    ),
    pytest.param(
        f"https://{PUBLIC}/a.pdf",
        [OK],
        {},
        [Sent(f"https://{PUBLIC}/a.pdf", PUBLIC, PUBLIC, True, None)],
        "body",
        id="an-ip-literal-needs-no-lookup",
    ),
    pytest.param(
        "http://127.0.0.1:8080/a.pdf",
        [OK],
        {"allow_private_urls": True},
        [Sent("http://127.0.0.1:8080/a.pdf", None, None, True, None)],
        "body",
        id="the-opt-in-sends-unpinned-without-lookup",
    ),
    pytest.param(
        "https://erp.example/export/1",
        [redirect("/invoice.pdf"), OK],
        {},
        [
            pinned("https://erp.example/export/1", "erp.example"),
            pinned("https://erp.example/invoice.pdf", "erp.example"),
        ],
        "body",
        id="a-relative-redirect-stays-on-the-origin-with-credentials",
    ),
    pytest.param(
        "https://erp.example/export/1",
        [redirect("https://files.example/invoice.pdf", 307), OK],
        {},
        [
            pinned("https://erp.example/export/1", "erp.example"),
            pinned("https://files.example/invoice.pdf", "files.example", credentials=False),
        ],
        "body",
        id="credentials-do-not-follow-to-another-origin",
    ),
    pytest.param(
        "http://erp.example/export/1",
        [redirect("https://erp.example/export/1", 301), OK],
        {},
        [
            pinned("http://erp.example/export/1", "erp.example", sni=False),
            pinned("https://erp.example/export/1", "erp.example"),
        ],
        "body",
        id="credentials-follow-the-https-upgrade",
    ),
    pytest.param(
        "https://erp.example/export/1",
        [redirect("https://files.example/bounce", 303), redirect("https://erp.example/invoice.pdf", 308), OK],
        {},
        [
            pinned("https://erp.example/export/1", "erp.example"),
            pinned("https://files.example/bounce", "files.example", credentials=False),
            pinned("https://erp.example/invoice.pdf", "erp.example", credentials=False),
        ],
        "body",
        id="credentials-withheld-once-stay-withheld",
    ),
    pytest.param(
        "https://erp.example/a.pdf",
        [redirect("file:///etc/passwd", 301)],
        {},
        [pinned("https://erp.example/a.pdf", "erp.example")],
        "UnsafeURLError: Refused to fetch https://erp.example/a.pdf: only http and https",
        id="a-redirect-to-another-scheme-is-refused",
    ),
    pytest.param(
        "https://erp.example/a.pdf",
        [redirect("http://169.254.169.254/latest/meta-data/")],
        {},
        [pinned("https://erp.example/a.pdf", "erp.example")],
        "UnsafeURLError: Refused to fetch https://erp.example/a.pdf: 169.254.169.254 resolves to 169.254.169.254",
        id="each-redirect-hop-is-checked-again",
    ),
    pytest.param(
        "https://erp.example/a.pdf",
        [redirect("https://internal.example/a.pdf"), OK],
        {},
        [pinned("https://erp.example/a.pdf", "erp.example")],
        "UnsafeURLError: Refused to fetch https://erp.example/a.pdf: internal.example resolves to 10.0.0.5",
        id="a-redirect-to-a-name-of-a-private-address-is-refused",
    ),
    pytest.param(
        "https://mixed.example/a.pdf",
        [OK],
        {},
        [],
        "UnsafeURLError: Refused to fetch https://mixed.example/a.pdf: mixed.example resolves to 10.0.0.5",
        id="any-private-address-of-a-host-refuses-it",
    ),
    pytest.param(
        "https://nothing.example/a.pdf",
        [OK],
        {},
        [],
        "FetchError: Could not fetch https://nothing.example/a.pdf: nothing.example did not resolve",
        id="a-host-without-addresses",
    ),
    pytest.param(
        "https://erp.example/a.pdf",
        [redirect(None)],
        {},
        [pinned("https://erp.example/a.pdf", "erp.example")],
        "FetchError: Could not fetch https://erp.example/a.pdf: a redirect came without a Location header.",
        id="a-redirect-without-location",
    ),
    pytest.param(
        "https://erp.example/1",
        [redirect("/2"), redirect("/3")],
        {"max_fetch_redirects": 1},
        [pinned("https://erp.example/1", "erp.example"), pinned("https://erp.example/2", "erp.example")],
        "FetchError: Could not fetch https://erp.example/1: more than 1 redirects.",
        id="the-redirect-limit",
    ),
    pytest.param(
        "https://erp.example/1",
        [redirect("file:///etc/passwd")],
        {"max_fetch_redirects": 0},
        [pinned("https://erp.example/1", "erp.example")],
        "FetchError: Could not fetch https://erp.example/1: more than 0 redirects.",
        id="no-redirects-allowed-is-checked-before-the-target",
    ),
    pytest.param(
        "https://erp.example/a.pdf?X-Amz-Signature=secret",
        [(404, {})],
        {},
        [pinned("https://erp.example/a.pdf?X-Amz-Signature=secret", "erp.example")],
        "FetchError: Could not fetch https://erp.example/a.pdf: the server answered HTTP 404.",
        id="an-http-error-without-the-query-string",
    ),
    pytest.param(
        "https://erp.example/a.pdf",
        [(101, {})],
        {},
        [pinned("https://erp.example/a.pdf", "erp.example")],
        "FetchError: Could not fetch https://erp.example/a.pdf: the server answered HTTP 101.",
        id="an-informational-status-is-no-document",
    ),
    pytest.param(
        "https://erp.example/a.pdf",
        [(304, {})],
        {},
        [pinned("https://erp.example/a.pdf", "erp.example")],
        "body",
        id="a-3xx-that-is-no-redirect-is-read-as-a-body",
    ),
    pytest.param(
        "https://erp.example/a.pdf",
        [(200, {"content-type": "text/html; charset=utf-8"})],
        {},
        [pinned("https://erp.example/a.pdf", "erp.example")],
        "FetchError: Could not fetch https://erp.example/a.pdf: the server answered with Content-Type text/html",
        id="a-web-page-is-refused",
    ),
    pytest.param(
        "https://erp.example/a.pdf",
        [(200, {"content-length": "999999999"})],
        {},
        [pinned("https://erp.example/a.pdf", "erp.example")],
        "DocumentTooLargeError: ",
        id="a-declared-length-above-the-cap",
    ),
    pytest.param(
        "https://erp.example/a.pdf",
        [(200, {"content-length": "12; lies"})],
        {},
        [pinned("https://erp.example/a.pdf", "erp.example")],
        "body",
        id="a-malformed-length-is-left-to-the-streamed-cap",
    ),
]


@pytest.mark.parametrize(("url", "answers", "settings", "expected_sent", "ending"), HOPS)
def test_next_hop_decisions(
    url: str,
    answers: list[tuple[int, Mapping[str, str]]],
    settings: dict[str, object],
    expected_sent: list[Sent],
    ending: str,
) -> None:
    sent, ended = run(url, answers, **settings)
    assert sent == expected_sent
    assert ended.startswith(ending), ended


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://erp.example/a.pdf", "only http and https URLs are fetched, not ftp://"),
        ("file:///etc/passwd", "only http and https URLs are fetched, not file://"),
        ("http:///a.pdf", "the URL has no host"),
    ],
)
def test_the_first_hop_is_checked_like_the_others(url: str, message: str) -> None:
    state = FetchState(url, Settings(allow_private_urls=True))
    with pytest.raises(UnsafeURLError, match=message):
        state.next_hop()


def test_an_invalid_url_is_refused_before_any_hop() -> None:
    with pytest.raises(UnsafeURLError, match="not a valid URL"):
        FetchState("http://example.com:abc/", Settings())
    with pytest.raises(UnsafeURLError, match="not a valid URL"):
        parse_url("https://[::1/")


def test_a_hop_needing_a_lookup_cannot_be_pinned_without_addresses() -> None:
    state = FetchState("https://erp.example/a.pdf", Settings())
    hop = state.next_hop()
    with pytest.raises(ValueError, match="resolved before"):
        state.pin(hop)
    handmade = Hop(url=httpx2.URL("https://erp.example/a.pdf"), credentials=True, lookup=None)
    with pytest.raises(ValueError, match="not an IP address"):
        state.pin(handmade)


def test_the_body_is_capped_chunk_by_chunk() -> None:
    state = FetchState("https://erp.example/a.pdf", Settings(max_document_bytes=10), clock=FakeClock())
    body = bytearray()
    state.append(body, b"%PDF-")
    state.append(body, b"1.7\n0")
    assert body == b"%PDF-1.7\n0"
    with pytest.raises(DocumentTooLargeError):
        state.append(body, b"0")
    assert len(body) == 10  # the refused chunk was not kept


def test_one_deadline_covers_every_step() -> None:
    clock = FakeClock()
    state = FetchState("https://erp.example/a.pdf", Settings(fetch_timeout=2), clock=clock)
    assert state.remaining() == 2
    clock.advance(1.5)
    assert state.remaining() == 0.5
    state.append(bytearray(), b"%PDF")  # still in time
    clock.advance(0.5)
    with pytest.raises(FetchError, match=r"longer than 2 s"):
        state.remaining()
    with pytest.raises(FetchError, match=r"INVOICEAI_FETCH_TIMEOUT"):
        state.append(bytearray(), b"%PDF")


def test_the_document_is_named_after_the_last_hop() -> None:
    pdf = build_pdf([invoice_page()])
    state = FetchState("https://erp.example/export/42", Settings())
    state.pin(state.next_hop(), [PUBLIC])
    assert state.follows(302, httpx2.Headers({"location": "https://files.example/files/march.pdf"}))
    state.pin(state.next_hop(), [OTHER])
    assert not state.follows(200, httpx2.Headers({"content-type": "application/octet-stream"}))
    document = state.document(bytearray(pdf))
    assert (document.name, document.media_type, document.data) == ("march.pdf", "application/pdf", pdf)
