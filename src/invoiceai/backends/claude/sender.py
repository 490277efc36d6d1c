"""The I/O of one request, sync and async: wait for a turn, send, release, sleep before a retry.

Every decision is made elsewhere: the pacer (:mod:`invoiceai.backends.claude.pacing`) says when
a request may go, :class:`~invoiceai.backends.claude.call.ApiCall` what an answer means and how
long to wait before the next attempt. The two loops below repeat only the I/O.

Requests go through ``messages.with_raw_response`` where the client has it (every anthropic
client does), because the rate-limit headers of every answer feed the pacer.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from invoiceai.backends.claude.call import ApiCall
    from invoiceai.backends.claude.clock import Clock
    from invoiceai.backends.claude.pacing_wait import Gate

__all__ = ["asend", "send"]


def send(client: Any, call: ApiCall, gate: Gate, clock: Clock, timeout: float) -> None:
    """Sends ``call``'s request through a sync client, with pacing and retries, until it is decided."""
    import anthropic

    raw_create, create = _creators(client)
    while True:
        ticket = gate.turn(call)
        try:
            params = call.begin()
            if raw_create is not None:
                raw = raw_create(**params, timeout=timeout)
                call.sent(raw.parse(), headers=raw.headers)
            else:
                call.sent(create(**params, timeout=timeout))
        except anthropic.AnthropicError as exc:
            call.failed(exc)
        except BaseException:
            gate.pacer.release(ticket, outcome="failed")
            raise
        gate.pacer.release(ticket, **call.release())
        if (wait := call.wait()) is None:
            call.finish()
            return
        gate.pacer.announce(call.retry_event(wait))
        clock.sleep(wait)


async def asend(client: Any, call: ApiCall, gate: Gate, clock: Clock, timeout: float) -> None:
    """Async twin of :func:`send`, for an async client."""
    import anthropic

    raw_create, create = _creators(client)
    while True:
        ticket = await gate.aturn(call)
        try:
            params = call.begin()
            if raw_create is not None:
                raw = await raw_create(**params, timeout=timeout)
                parsed = raw.parse()
                call.sent(await parsed if inspect.isawaitable(parsed) else parsed, headers=raw.headers)
            else:
                call.sent(await create(**params, timeout=timeout))
        except anthropic.AnthropicError as exc:
            call.failed(exc)
        except BaseException:  # cancelled, or a defect: the turn must still be handed back
            gate.pacer.release(ticket, outcome="failed")
            raise
        gate.pacer.release(ticket, **call.release())
        if (wait := call.wait()) is None:
            call.finish()
            return
        gate.pacer.announce(call.retry_event(wait))
        await clock.asleep(wait)


def _creators(client: Any) -> tuple[Any, Any]:
    # The raw-response variant gives the headers; a stand-in client without it still works.
    messages = client.messages
    raw = getattr(messages, "with_raw_response", None)
    return (getattr(raw, "create", None) if raw is not None else None), messages.create
