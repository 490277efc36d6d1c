"""URL sources: the SSRF guard, pinning, limits, and real fetches from a loopback server.

Nothing here touches the real network: refusals happen before any request, pinned requests go
to an httpx2.MockTransport, and real fetches go to a server this module starts on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx2
import pytest

from hostile_files import TricklingServer
from invoiceai.config import Settings
from invoiceai.documents import afetch_url, aload_document, fetch_url, load_document, refusal_reason
from invoiceai.errors import DocumentTooLargeError, FetchError, UnsafeURLError
from render_fixtures import build_pdf, invoice_page

PDF = build_pdf([invoice_page()])
PUBLIC = "93.184.216.34"
OPT_IN = Settings(allow_private_urls=True, fetch_timeout=5)


# --- the address policy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "not globally routable"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("fec0::1", "site-local"),  # deprecated, but still routed inside some networks
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:1", "private"),
        ("2002:a00:1::1", "private"),
        ("not-an-ip", "not an IP address"),
    ],
)
def test_internal_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    found = refusal_reason(address)
    assert found is not None and reason in found


@pytest.mark.parametrize("address", [PUBLIC, "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(address) is None


# --- refusals before any request ---------------------------------------------------------------------


def no_requests_client() -> tuple[httpx2.Client, list[httpx2.Request]]:
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, content=PDF)

    return httpx2.Client(transport=httpx2.MockTransport(handler)), sent


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/invoice.pdf",
        "http://127.0.0.1:8080/invoice.pdf",
        "http://localhost/invoice.pdf",
        "http://2130706433/invoice.pdf",  # 127.0.0.1 written as one number
        "http://[::1]/invoice.pdf",
        "http://10.0.0.7/invoice.pdf",
        "https://10.20.30.40/invoice.pdf",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fec0::5]/invoice.pdf",
    ],
)
def test_internal_urls_are_refused_by_default_without_a_request(url: str) -> None:
    client, sent = no_requests_client()
    with pytest.raises(UnsafeURLError, match="allow_private_urls"):
        load_document(url, settings=Settings(), http_client=client)
    assert sent == []


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "FILE:///C:/invoices/a.pdf", "ftp://example.com/a.pdf", "gopher://example.com/"]
)
def test_non_http_schemes_are_refused(url: str) -> None:
    client, sent = no_requests_client()
    with pytest.raises(UnsafeURLError, match="only http and https"):
        load_document(url, settings=Settings(allow_private_urls=True), http_client=client)
    assert sent == []


def test_a_host_resolving_to_any_private_address_is_refused() -> None:
    client, sent = no_requests_client()
    for addresses in (["10.0.0.5"], [PUBLIC, "10.0.0.5"], ["::1", PUBLIC]):
        with pytest.raises(UnsafeURLError, match=r"invoices\.example resolves to"):
            fetch_url(
                "https://invoices.example/a.pdf",
                settings=Settings(),
                client=client,
                resolver=lambda host, port, addresses=addresses: list(addresses),
            )
    assert sent == []


def test_messages_hide_credentials_and_query_strings() -> None:
    with pytest.raises(UnsafeURLError) as info:
        load_document("http://user:hunter2@127.0.0.1/a.pdf?X-Amz-Signature=abcdef", settings=Settings())
    message = str(info.value)
    assert "hunter2" not in message and "abcdef" not in message
    assert "http://127.0.0.1/a.pdf" in message


# --- pinned requests (MockTransport: no network) -----------------------------------------------------


def recording_client(responses: dict[str, httpx2.Response]) -> tuple[httpx2.Client, list[httpx2.Request]]:
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return responses[request.url.path]

    return httpx2.Client(transport=httpx2.MockTransport(handler)), sent


def public(host: str, port: int) -> list[str]:
    return [PUBLIC]


def test_requests_are_pinned_to_the_checked_address() -> None:
    client, sent = recording_client(
        {"/march/invoice.pdf": httpx2.Response(200, content=PDF, headers={"content-type": "application/pdf"})}
    )
    document = fetch_url(
        "https://invoices.example/march/invoice.pdf", settings=Settings(), client=client, resolver=public
    )
    assert document.media_type == "application/pdf"
    assert document.name == "invoice.pdf"
    (request,) = sent
    assert request.url.host == PUBLIC
    assert request.headers["host"] == "invoices.example"
    assert request.extensions["sni_hostname"] == "invoices.example"
    assert request.headers["accept-encoding"] == "identity"


def test_each_redirect_hop_is_checked_again() -> None:
    client, sent = recording_client(
        {"/a.pdf": httpx2.Response(302, headers={"location": "http://169.254.169.254/latest/meta-data/"})}
    )
    with pytest.raises(UnsafeURLError, match=r"169\.254\.169\.254"):
        fetch_url("https://invoices.example/a.pdf", settings=Settings(), client=client, resolver=public)
    assert len(sent) == 1


def test_redirects_to_other_schemes_are_refused() -> None:
    client, _ = recording_client({"/a.pdf": httpx2.Response(301, headers={"location": "file:///etc/passwd"})})
    with pytest.raises(UnsafeURLError, match="only http and https"):
        fetch_url("https://invoices.example/a.pdf", settings=Settings(), client=client, resolver=public)


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/json"])
def test_web_pages_are_refused_by_content_type(content_type: str) -> None:
    client, _ = recording_client(
        {"/a.pdf": httpx2.Response(200, content=b"<html>login</html>", headers={"content-type": content_type})}
    )
    with pytest.raises(FetchError, match="web page"):
        fetch_url("https://invoices.example/a.pdf", settings=Settings(), client=client, resolver=public)


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "image/jpeg", "application/pdf"])
def test_binary_content_types_are_accepted_and_bytes_decide(content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    client, _ = recording_client({"/a": httpx2.Response(200, content=PDF, headers=headers)})
    document = fetch_url("https://invoices.example/a", settings=Settings(), client=client, resolver=public)
    assert document.media_type == "application/pdf"


def test_http_errors_name_the_status() -> None:
    client, _ = recording_client({"/a.pdf": httpx2.Response(404)})
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_url("https://invoices.example/a.pdf", settings=Settings(), client=client, resolver=public)


def test_a_declared_length_above_the_cap_is_refused_before_reading() -> None:
    client, _ = recording_client({"/a.pdf": httpx2.Response(200, content=PDF, headers={"content-length": "999999999"})})
    with pytest.raises(DocumentTooLargeError):
        fetch_url("https://invoices.example/a.pdf", settings=Settings(), client=client, resolver=public)


def test_async_refusals_and_pinning() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, content=PDF)

    async def public_async(host: str, port: int) -> list[str]:
        return [PUBLIC]

    async def private_async(host: str, port: int) -> list[str]:
        return ["10.9.8.7"]

    async def main() -> None:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            with pytest.raises(UnsafeURLError):
                await aload_document("http://127.0.0.1/a.pdf", settings=Settings(), http_client=client)
            with pytest.raises(UnsafeURLError):
                await afetch_url("https://x.example/a", settings=Settings(), client=client, resolver=private_async)
            document = await afetch_url(
                "https://x.example/a", settings=Settings(), client=client, resolver=public_async
            )
            assert document.media_type == "application/pdf"

    asyncio.run(main())
    assert [request.url.host for request in seen] == [PUBLIC]


# --- a real loopback server, with the opt-in ---------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    big_body_aborted = threading.Event()
    # Answers a test holds back (/slow, /drip) wait for the test to open their gate, named by the
    # request's query, once the client has given up: the order comes from events, not sleeps.
    gates: ClassVar[dict[str, threading.Event]] = {}
    finished: ClassVar[set[str]] = set()  # queries whose whole answer was sent

    @classmethod
    def gate(cls, token: str) -> threading.Event:
        return cls.gates.setdefault(token, threading.Event())

    def log_message(self, format: str, *args: object) -> None:  # silence the test output
        return

    def do_GET(self) -> None:
        path, _, token = self.path.partition("?")
        if path == "/invoice.pdf":
            self._send(200, PDF, "application/pdf")
        elif path.startswith("/redirect/"):
            remaining = int(path.rsplit("/", 1)[1])
            target = "/invoice.pdf" if remaining <= 1 else f"/redirect/{remaining - 1}"
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/big":
            # No Content-Length: the size is only known by reading, so the cap must stop the read.
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.end_headers()
            chunk = b"%PDF-1.7\n" + b"0" * 65_527
            try:
                for _ in range(800):  # 50 MiB
                    self.wfile.write(chunk)
            except OSError:
                Handler.big_body_aborted.set()
                return
            Handler.finished.add(token)
        elif path == "/slow":
            # Answers only once the test opens the gate (or after a minute, so no thread is left).
            Handler.gate(token).wait(60)
            self._send(200, PDF, "application/pdf")
            Handler.finished.add(token)
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"0")
                    self.wfile.flush()
                    # One byte every 0.05 s keeps each read well inside any per-read timeout, so
                    # only the whole-fetch deadline can end it; the gate stops the drip early.
                    if Handler.gate(token).wait(0.05):
                        return
            except OSError:
                return
            Handler.finished.add(token)
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up mid-answer (the deadline tests) is expected, not news


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_loopback_fetch_works_with_the_opt_in(server: str) -> None:
    document = load_document(f"{server}/invoice.pdf", settings=OPT_IN)
    assert document.data == PDF
    assert document.name == "invoice.pdf"


def test_loopback_fetch_is_refused_without_the_opt_in(server: str) -> None:
    with pytest.raises(UnsafeURLError, match="loopback"):
        load_document(f"{server}/invoice.pdf", settings=Settings())


def test_loopback_fetch_async(server: str) -> None:
    document = asyncio.run(aload_document(f"{server}/invoice.pdf", settings=OPT_IN))
    assert document.data == PDF


def test_redirects_are_followed_up_to_the_limit(server: str) -> None:
    settings = OPT_IN.replace(max_fetch_redirects=2)
    assert load_document(f"{server}/redirect/2", settings=settings).data == PDF
    with pytest.raises(FetchError, match="more than 2 redirects"):
        load_document(f"{server}/redirect/3", settings=settings)
    with pytest.raises(FetchError, match="more than 0 redirects"):
        load_document(f"{server}/redirect/1", settings=OPT_IN.replace(max_fetch_redirects=0))


def test_async_redirect_limit(server: str) -> None:
    with pytest.raises(FetchError, match="more than 1 redirects"):
        asyncio.run(aload_document(f"{server}/redirect/2", settings=OPT_IN.replace(max_fetch_redirects=1)))


def test_streamed_bodies_stop_at_the_size_cap(server: str) -> None:
    Handler.big_body_aborted.clear()
    token = uuid.uuid4().hex
    with pytest.raises(DocumentTooLargeError):
        load_document(f"{server}/big?{token}", settings=OPT_IN.replace(max_document_bytes=1_000_000))
    # The cap, not the end of the body, stopped the read: the server was still writing (50 MiB
    # do not fit in the socket buffers), and the client hung up long before the 50 MiB were written.
    assert token not in Handler.finished
    assert Handler.big_body_aborted.wait(60)


def test_async_streamed_bodies_stop_at_the_size_cap(server: str) -> None:
    with pytest.raises(DocumentTooLargeError):
        asyncio.run(aload_document(f"{server}/big", settings=OPT_IN.replace(max_document_bytes=500_000)))


@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_fetch_timeout_covers_waiting_and_trickling(server: str, path: str) -> None:
    token = uuid.uuid4().hex
    try:
        with pytest.raises(FetchError, match=r"longer than 0\.5 s"):
            load_document(f"{server}{path}?{token}", settings=OPT_IN.replace(fetch_timeout=0.5))
        # The deadline ended the fetch, not the server: /slow had not answered (it waits for the
        # gate) and /drip had not sent its whole body (it takes 5 s).
        assert token not in Handler.finished
    finally:
        Handler.gate(token).set()


def test_http_errors_from_a_real_server(server: str) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        load_document(f"{server}/nothing-here", settings=OPT_IN)


def test_connection_errors_are_fetch_errors() -> None:
    with pytest.raises(FetchError, match="Could not fetch"):
        load_document("http://127.0.0.1:9/invoice.pdf", settings=OPT_IN.replace(fetch_timeout=2))


# --- credentials on redirects, and the deadline around name resolution ---------------------------------


def credentialed_client(sent: list[httpx2.Request]) -> httpx2.Client:
    """A caller's client that authenticates to its ERP, whose links redirect elsewhere."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        host = request.headers["host"]
        if request.url.path == "/same-origin":
            return httpx2.Response(302, headers={"location": "/invoice.pdf"})
        if host == "erp.example" and request.url.path != "/invoice.pdf":
            return httpx2.Response(302, headers={"location": "https://files.example/invoice.pdf"})
        return httpx2.Response(200, content=PDF, headers={"content-type": "application/pdf"})

    return httpx2.Client(transport=httpx2.MockTransport(handler), auth=("erp-user", "erp-secret"))


def test_credentials_are_not_sent_to_another_origin_after_a_redirect() -> None:
    sent: list[httpx2.Request] = []
    with credentialed_client(sent) as client:
        fetch_url("https://erp.example/export/42", settings=Settings(), client=client, resolver=public)
        client.auth = None
        client.headers["Authorization"] = "Bearer erp-token"  # a default header, not an auth flow
        fetch_url("https://erp.example/export/43", settings=Settings(), client=client, resolver=public)
    hosts = [request.headers["host"] for request in sent]
    assert hosts == ["erp.example", "files.example"] * 2
    # The ERP gets its credentials; the host it redirects to does not (as httpx2 itself does it).
    assert [request.headers.get("authorization", "")[:6] for request in sent] == ["Basic ", "", "Bearer", ""]


def test_credentials_still_go_to_the_same_origin_after_a_redirect() -> None:
    sent: list[httpx2.Request] = []
    with credentialed_client(sent) as client:
        fetch_url("https://erp.example/same-origin", settings=Settings(), client=client, resolver=public)
    assert [request.url.path for request in sent] == ["/same-origin", "/invoice.pdf"]
    assert all(request.headers["authorization"].startswith("Basic ") for request in sent)


def test_async_credentials_are_not_sent_to_another_origin() -> None:
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        if request.headers["host"] == "erp.example":
            return httpx2.Response(302, headers={"location": "https://files.example/invoice.pdf"})
        return httpx2.Response(200, content=PDF)

    async def public_async(host: str, port: int) -> list[str]:
        return [PUBLIC]

    async def main() -> None:
        transport = httpx2.MockTransport(handler)
        async with httpx2.AsyncClient(transport=transport, auth=("erp-user", "erp-secret")) as client:
            await afetch_url("https://erp.example/a", settings=Settings(), client=client, resolver=public_async)

    asyncio.run(main())
    assert [request.headers["host"] for request in sent] == ["erp.example", "files.example"]
    assert "authorization" in sent[0].headers
    assert "authorization" not in sent[1].headers


def test_a_slow_name_lookup_is_inside_the_fetch_deadline() -> None:
    release = threading.Event()
    answered = threading.Event()

    def slow_resolver(host: str, port: int) -> list[str]:
        release.wait(60)  # a lookup that hangs until the test lets it go
        answered.set()
        return [PUBLIC]

    client, sent = no_requests_client()
    try:
        with pytest.raises(FetchError, match=r"longer than 0\.3 s"):
            fetch_url(
                "https://invoices.example/a.pdf",
                settings=Settings(fetch_timeout=0.3),
                client=client,
                resolver=slow_resolver,
            )
        # The fetch gave up while the lookup still hung: the deadline covers name resolution.
        assert not answered.is_set()
    finally:
        release.set()
    assert sent == []


def test_an_explicit_name_wins_for_urls_too() -> None:
    # load_document(name=...) is documented to override the display name for every source.
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=PDF)

    url = f"https://{PUBLIC}/download?id=42"  # an IP literal: no name lookup
    with httpx2.Client(transport=httpx2.MockTransport(handler)) as client:
        assert load_document(url, settings=Settings(), http_client=client).name == "download"
        named = load_document(url, settings=Settings(), http_client=client, name="march.pdf")
    assert named.name == "march.pdf"
    assert named.data == PDF

    async def main() -> str:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as client:
            document = await aload_document(url, settings=Settings(), http_client=client, name="march.pdf")
        return document.name

    assert asyncio.run(main()) == "march.pdf"


# --- the deadline bounds the whole fetch: slow headers and slow bodies ---------------------------------

TRICKLE_INTERVAL = 0.5
"""Seconds between two bytes: each read returns well within any per-read timeout."""


def trickling_seconds(server: TricklingServer) -> float:
    """The least time the server needs to send its whole answer (it sends at most one byte per interval)."""
    slow_bytes = 150 if server.part == "headers" else server.limit  # the head is about 150 bytes
    return slow_bytes * server.interval


def fetch_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "invoiceai-fetch"}


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_trickling_server_is_cut_off_at_the_deadline(part: str) -> None:
    # httpx2's timeouts are per read, and a byte every half second resets them: before the
    # whole-fetch deadline, slow headers held a fetch for minutes.
    before = fetch_threads()
    with TricklingServer(part=part, interval=TRICKLE_INTERVAL) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"took longer than 1 s\. Retry later, or raise Settings\.fetch_timeout"):
            load_document(server.url, settings=OPT_IN.replace(fetch_timeout=1))
        # Not a speed test: the server cannot have finished in this time, so the deadline ended it.
        assert time.monotonic() - started < trickling_seconds(server)
        # The worker thread does not linger on its socket either: the watchdog shut it down.
        for thread in fetch_threads() - before:
            thread.join(30)
            assert not thread.is_alive()


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_trickling_server_is_cut_off_at_the_deadline_async(part: str) -> None:
    with TricklingServer(part=part, interval=TRICKLE_INTERVAL) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"took longer than 1 s"):
            asyncio.run(aload_document(server.url, settings=OPT_IN.replace(fetch_timeout=1)))
        assert time.monotonic() - started < trickling_seconds(server)


def test_the_deadline_holds_with_a_callers_client_too() -> None:
    with TricklingServer(part="headers", interval=TRICKLE_INTERVAL) as server, httpx2.Client() as client:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"took longer than 1 s"):
            fetch_url(server.url, settings=OPT_IN.replace(fetch_timeout=1), client=client)
        assert time.monotonic() - started < trickling_seconds(server)
        assert not client.is_closed  # the caller's client is left open, and still works
        with TricklingServer(part="body", interval=0) as quick:
            assert fetch_url(quick.url, settings=OPT_IN, client=client).data.startswith(b"%PDF-1.7")


def test_errors_of_the_exchange_reach_the_caller_unchanged() -> None:
    # The exchange runs in a worker thread; its typed errors are the caller's errors.
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"<html></html>", headers={"content-type": "text/html"})

    with httpx2.Client(transport=httpx2.MockTransport(handler)) as client, pytest.raises(FetchError, match="text/html"):
        fetch_url(f"https://{PUBLIC}/a.pdf", settings=Settings(), client=client)


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("http://93.184.216.34:70000/x.pdf", {}),  # refused before any lookup: no network touched
        ("http://127.0.0.1:99999/x.pdf", {"allow_private_urls": True}),
        ("http://a..b/x.pdf", {"allow_private_urls": True}),  # idna refuses the empty label
    ],
)
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_malformed_hosts_and_ports_are_typed_errors(url: str, options: dict[str, object], use_async: bool) -> None:
    from invoiceai.documents import aload_document, load_document
    from invoiceai.errors import FetchError

    settings = Settings(fetch_timeout=5, **options)  # type: ignore[arg-type]

    def fetch() -> object:
        return (
            asyncio.run(aload_document(url, settings=settings)) if use_async else load_document(url, settings=settings)
        )

    with pytest.raises(FetchError):
        fetch()
