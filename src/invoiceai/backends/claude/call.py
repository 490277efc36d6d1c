"""One ``messages.create`` call with its transport retries, as decisions the I/O loops consult.

:class:`ApiCall` ties a :class:`~invoiceai.backends.claude.steps.SendRequest` step of a job to a
:class:`~invoiceai.backends.claude.retry.CallRetry`: it counts and reports every attempt to the
job, decides how long to wait, and hands the job the final reply or failure. The backend's sync
and async loops (:mod:`invoiceai.backends.claude.sender`) only wait for a turn, send and sleep::

    while True:
        ticket = gate.turn(call)          # pacing: hold until the limits have room
        try:
            raw = client.messages.with_raw_response.create(**call.begin(), timeout=timeout)
        except anthropic.AnthropicError as exc:
            call.failed(exc)
        else:
            call.sent(raw.parse(), headers=raw.headers)
        gate.pacer.release(ticket, **call.release())
        if (wait := call.wait()) is None:
            return call.finish()
        gate.pacer.announce(call.retry_event(wait))
        sleep(wait)

A 429 starts the shared cooldown before the ticket is released, so no call held for a turn
sends during the cooldown. The reply is parsed and validated in :meth:`ApiCall.finish`, after
the ticket is released.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.backends.claude.clock import SYSTEM_CLOCK, Clock
from invoiceai.backends.claude.pacing import Cost, Hold, Outcome, WaitEvent
from invoiceai.backends.claude.retry import classify, wait_reason
from invoiceai.secrets import mask_text

if TYPE_CHECKING:
    from invoiceai.backends.claude.job import ExtractionJob
    from invoiceai.backends.claude.retry import CallRetry
    from invoiceai.backends.claude.steps import SendRequest

__all__ = ["ApiCall", "message_dict", "request_id"]


class ApiCall:
    """The attempts of one request of a job. Not thread-safe: one loop drives it.

    Args:
        job: The job that asked for the request; told about every attempt and the outcome.
        step: The request to send.
        retry: The retry decisions for this call.
        clock: Times each attempt for the job's log lines.
    """

    def __init__(
        self, job: ExtractionJob[Any], step: SendRequest, retry: CallRetry, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._job = job
        self._step = step
        self._retry = retry
        self._clock = clock
        self._attempt_started = 0.0
        self._message: Any = None
        self._error: BaseException | None = None
        self._wait: float | None = None
        self._headers: Mapping[str, str] | None = None

    @property
    def cost(self) -> Cost:
        """What the request takes from the rate-limit buckets: its input estimate and ``max_tokens``."""
        max_tokens = self._step.params.get("max_tokens", 0)
        return Cost(1, self._step.estimated_input_tokens, max_tokens if isinstance(max_tokens, int) else 0)

    def hold_event(self, hold: Hold) -> WaitEvent:
        """Returns the event announcing a timed pacing hold.

        Raises:
            RateLimitError: The hold is a 429 cooldown that outlasts the call's time budget:
                giving up now beats a pointless sleep.
        """
        seconds = hold.seconds or 0.0
        if hold.reason == "cooldown":
            if self._retry.overruns(seconds):
                self._job.handle_cooldown_overrun(seconds)
            return WaitEvent("cooldown", "rate limited", seconds, self._step.label, self._retry.attempts)
        reason = "request limit" if hold.reason == "requests" else hold.reason.replace("-tokens", "-token limit")
        return WaitEvent("pacing", reason, seconds, self._step.label, self._retry.attempts)

    def retry_event(self, seconds: float) -> WaitEvent:
        """Returns the event announcing the wait before the next attempt."""
        return WaitEvent("retry", wait_reason(self._error), seconds, self._step.label, self._retry.attempts)

    def release(self) -> dict[str, Any]:
        """Returns what the pacer is told when the attempt's ticket is released (outcome, headers)."""
        outcome: Outcome = "ok"
        if self._error is not None:
            rate_limited = getattr(self._error, "status_code", None) == 429 and classify(self._error) == "retry"
            outcome = "rate_limited" if rate_limited else "ok" if self._headers is not None else "failed"
        return {"outcome": outcome, "headers": self._headers}

    def begin(self) -> dict[str, Any]:
        """Counts an attempt about to be sent; returns the ``messages.create`` keyword arguments."""
        self._retry.begin()
        self._attempt_started = self._clock.now()
        self._message, self._error, self._wait, self._headers = None, None, None, None
        return self._step.params

    def sent(self, message: Any, *, headers: Mapping[str, str] | None = None) -> None:
        """Records a successful attempt's reply (an SDK ``Message`` or a dict) and its response headers."""
        self._message = message
        self._headers = headers
        self._job.record_attempt(request_id=request_id(message), error=None, elapsed=self._elapsed())

    def failed(self, exc: BaseException) -> None:
        """Records a failed attempt and decides whether and when to try again."""
        self._error = exc
        self._headers = getattr(getattr(exc, "response", None), "headers", None)
        self._job.record_attempt(request_id=request_id(exc), error=exc, elapsed=self._elapsed())
        self._wait = self._retry.failed(exc)

    def wait(self) -> float | None:
        """Returns the wait before the next attempt, or ``None`` when the call is over."""
        return self._wait if self._error is not None else None

    def finish(self) -> None:
        """Hands the outcome to the job: the reply, or the failure (which may raise)."""
        if self._error is not None:
            self._job.handle_failure(self._error, call_attempts=self._retry.attempts)
        else:
            self._job.handle_reply(message_dict(self._message))

    def _elapsed(self) -> float:
        return self._clock.now() - self._attempt_started


def request_id(obj: Any) -> str | None:
    """Returns the API request id an SDK reply or exception carries, if any, masked.

    It comes from a response header, which a hostile or broken server may fill with anything,
    an echo of the key included; it is logged and kept on results and errors.
    """
    value = getattr(obj, "request_id", None) or getattr(obj, "_request_id", None)
    return mask_text(value) if isinstance(value, str) else None


def message_dict(message: Any) -> dict[str, Any]:
    """Returns a reply as a plain dict, whether an SDK ``Message``, a pydantic model or a mapping."""
    if isinstance(message, Mapping):
        return dict(message)
    to_dict = getattr(message, "to_dict", None)
    if callable(to_dict):
        result: dict[str, Any] = to_dict()
        return result
    dumped: dict[str, Any] = message.model_dump()
    return dumped
