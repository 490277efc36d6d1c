"""The anthropic clients a :class:`~invoiceai.backends.claude.ClaudeBackend` talks through.

Injected clients are used as given (minus SDK retries) and never closed; the backend builds its
own only for a side (sync or async) that was not injected at all, from ``api_key=`` or
``ANTHROPIC_API_KEY`` and ``base_url=`` or ``ANTHROPIC_BASE_URL`` (constructor arguments win).
An async client's connections belong to the event loop that opened them, so one is built per
loop and dropped with it. ``import anthropic`` happens on first use, not on import.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
import threading
import weakref
from typing import Any

from invoiceai.errors import ConfigurationError
from invoiceai.secrets import get_logger, register_secret

__all__ = ["Clients"]

# Where the SDK's clients keep credentials: Anthropic (api_key, auth_token), Vertex
# (access_token), Bedrock (aws_secret_key, aws_session_token).
_CLIENT_SECRET_ATTRIBUTES = ("api_key", "auth_token", "access_token", "aws_secret_key", "aws_session_token")

# The SDK's and its HTTP stack's loggers: at DEBUG they print the response headers a server sent,
# which may echo the key. They get the masking filter once a backend exists.
_SDK_LOGGERS = (
    "anthropic",
    "anthropic._base_client",
    "anthropic._response",
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
)


class Clients:
    """Injected and built clients, sync and async. Thread-safe.

    Args:
        client: An injected sync client (an async one is taken as ``async_client``).
        async_client: An injected async client.
        api_key: Key for built clients; defaults to ``ANTHROPIC_API_KEY``.
        base_url: API address for built clients; defaults to ``ANTHROPIC_BASE_URL``.
        timeout: Request timeout of built clients, in seconds.
    """

    def __init__(
        self, *, client: Any, async_client: Any, api_key: str | None, base_url: str | None, timeout: float
    ) -> None:
        self._api_key = api_key
        self._base_url = base_url
        self._timeout = timeout
        self._lock = threading.Lock()
        self._injected: Any = None
        self._injected_async: Any = None
        self._client: Any = None
        self._owned: Any = None
        self._owned_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        if client is not None:
            if _is_async_client(client):
                async_client = async_client or client
            else:
                self._injected = self._client = _without_sdk_retries(client)
        if async_client is not None:
            if not _is_async_client(async_client):
                raise ConfigurationError("async_client= must be an async Anthropic client (AsyncAnthropic, ...).")
            self._injected_async = _without_sdk_retries(async_client)
        # Every message, repr and log record of invoiceai masks these from now on.
        for secret in self.secrets():
            register_secret(secret, owner=self)
        for name in _SDK_LOGGERS:
            get_logger(name)

    def secrets(self) -> tuple[str, ...]:
        """Returns every credential value these clients may hold, to mask from messages."""
        values = [self._api_key, os.environ.get("ANTHROPIC_API_KEY"), os.environ.get("ANTHROPIC_AUTH_TOKEN")]
        # An injected client may hold the only copy of the credentials (api_key=... passed to it).
        for client in (self._injected, self._injected_async):
            if client is not None:
                values += [getattr(client, name, None) for name in _CLIENT_SECRET_ATTRIBUTES]
        return tuple(dict.fromkeys(value for value in values if isinstance(value, str) and value))

    def sync(self) -> Any:
        """Returns the sync client, building it on first use.

        Raises:
            ConfigurationError: Only an async client was injected, or there is no API key.
        """
        if self._client is not None:
            return self._client
        if self._injected_async is not None:
            raise ConfigurationError(
                "ClaudeBackend was given only an async client; call aextract(), or pass a sync client= too."
            )
        kwargs = self._kwargs()  # a missing key fails here, before the slow SDK import
        with self._lock:
            if self._client is None:
                import anthropic

                self._client = self._owned = anthropic.Anthropic(**kwargs)
            return self._client

    async def async_or_none(self) -> Any:
        """Returns the async client for the running loop, or ``None`` to run the injected sync one in a thread."""
        if self._injected_async is not None:
            return self._injected_async  # the caller owns its event loop
        if self._injected is not None:
            return None
        loop = asyncio.get_running_loop()
        kwargs = self._kwargs()  # a missing key fails here, before the slow SDK import
        if "anthropic" not in sys.modules:
            # The first import takes a second or more: keep it off the event loop.
            await asyncio.to_thread(importlib.import_module, "anthropic")
        with self._lock:
            client = self._owned_async.get(loop)
            if client is None:
                import anthropic

                # The SDK's own HTTP client closes itself from __del__ by scheduling a task on
                # whatever loop is running when it is collected: for a client whose loop has
                # ended that is another loop, which then logs "Event loop is closed". A plain
                # client is dropped with its loop instead (aclose() still closes it properly).
                http_client = anthropic.DefaultAsyncHttpxClient()
                client = self._owned_async[loop] = anthropic.AsyncAnthropic(**kwargs, http_client=http_client)
            return client

    def close(self) -> None:
        """Closes the sync client built here (an injected one stays open); a later call builds a new one."""
        with self._lock:
            owned, self._owned = self._owned, None
            if owned is not None and self._client is owned:
                self._client = None
        if owned is not None:
            owned.close()

    async def aclose(self) -> None:
        """Closes the clients built here for the sync side and for the running loop."""
        self.close()
        with self._lock:
            owned = self._owned_async.pop(asyncio.get_running_loop(), None)
        if owned is not None:
            await owned.close()

    def _kwargs(self) -> dict[str, Any]:
        key = self._api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not key and not os.environ.get("ANTHROPIC_AUTH_TOKEN"):
            raise ConfigurationError(
                "No Claude API key: set the ANTHROPIC_API_KEY environment variable, "
                "or pass api_key= or client= to ClaudeBackend."
            )
        _check_credential(key, "api_key=" if self._api_key else "ANTHROPIC_API_KEY")
        _check_credential(os.environ.get("ANTHROPIC_AUTH_TOKEN"), "ANTHROPIC_AUTH_TOKEN")
        if self._base_url is not None:
            _check_base_url(self._base_url, "base_url=")
        elif "ANTHROPIC_BASE_URL" in os.environ:  # set but empty too: the SDK would use ''
            _check_base_url(os.environ["ANTHROPIC_BASE_URL"], "ANTHROPIC_BASE_URL")
        kwargs: dict[str, Any] = {"max_retries": 0, "timeout": self._timeout}
        if key:
            kwargs["api_key"] = key
        if self._base_url:
            kwargs["base_url"] = self._base_url
        return kwargs


def _check_credential(value: str | None, where: str) -> None:
    """Refuses a key no HTTP header can carry, naming what is wrong in it but never the key.

    A newline or space (a key pasted with its line end) otherwise fails inside the HTTP stack as
    if the network were down, and is retried until the attempts run out.
    """
    if not value or (value.isascii() and value.isprintable() and " " not in value):
        return
    if any(char in "\r\n" for char in value):
        what = "a line break"
    elif any(char.isspace() for char in value):
        what = "a space or tab"
    elif not value.isascii():
        what = "a non-ASCII character"
    else:
        what = "a control character"
    raise ConfigurationError(
        f"The Claude API key in {where} contains {what}, which no API key has; copy the key again "
        "without surrounding whitespace (a key read from a file often keeps its trailing newline)."
    )


def _check_base_url(url: str, where: str) -> None:
    """Refuses an API address that is not an http(s) URL with a host (it was retried as a network failure).

    The value is checked as the SDK gets it: a line end or space around it is no part of a URL,
    and failed inside the HTTP stack (an ``InvalidURL`` traceback, or a retried connection error).
    """
    if not url:
        why = " (it is set but empty)"
    elif any(char.isspace() for char in url):
        why = " (it holds a space or line break, often one copied with the address)"
    elif not url.isprintable():
        why = " (it holds a control character)"
    elif _is_http_url(url):
        return
    else:
        why = ""
    # Not the value itself: a malformed URL may still carry a user and password.
    raise ConfigurationError(
        f"{where} is not an http(s) URL with a host{why}; set it to the API's address, such as "
        "https://api.anthropic.com, or unset it."
    )


def _is_http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port out of range
    except ValueError:  # a bad port or IPv6 literal
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _is_async_client(client: Any) -> bool:
    import anthropic

    names = [name for name in dir(anthropic) if name.startswith("AsyncAnthropic")]
    classes = tuple(value for value in (getattr(anthropic, name) for name in names) if isinstance(value, type))
    return isinstance(client, classes)


def _without_sdk_retries(client: Any) -> Any:
    # A copy with max_retries=0: the caller's client keeps its own settings.
    with_options = getattr(client, "with_options", None)
    if callable(with_options) and getattr(client, "max_retries", 0) != 0:
        return with_options(max_retries=0)
    return client
