"""One ``messages.create`` call with its transport retries, as decisions the I/O loops consult.

:class:`ApiCall` ties a :class:`~invoiceai.backends.claude.steps.SendRequest` step of a job to a
:class:`~invoiceai.backends.claude.retry.CallRetry`: it counts and reports every attempt to the
job, decides how long to wait, and hands the job the final reply or failure. The backend's sync
and async loops only hold the request slot, sleep and send::

    while True:
        with slots.hold():
            while pause := call.pause():
                sleep(pause)
            try:
                message = client.messages.create(**call.begin(), timeout=timeout)
            except anthropic.AnthropicError as exc:
                call.failed(exc)
            else:
                call.sent(message)
        if (wait := call.wait()) is None:
            return call.finish()
        sleep(wait)

The cooldown is checked once a slot is held, and a 429 starts it before the slot is released,
so a call queued for the slot never sends during a cooldown. The reply is parsed and validated
in :meth:`ApiCall.finish`, after the slot is released.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from invoiceai.backends.claude.clock import SYSTEM_CLOCK, Clock
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

    def pause(self) -> float:
        """Returns the shared 429 cooldown left to wait out before sending (0 for none).

        Raises:
            RateLimitError: The cooldown outlasts the call's time budget: giving up now beats a
                pointless sleep.
        """
        pause = self._retry.pause()
        if pause is None:
            self._job.handle_cooldown_overrun(self._retry.cooldown_left())
        return pause

    def begin(self) -> dict[str, Any]:
        """Counts an attempt about to be sent; returns the ``messages.create`` keyword arguments."""
        self._retry.begin()
        self._attempt_started = self._clock.now()
        self._message, self._error, self._wait = None, None, None
        return self._step.params

    def sent(self, message: Any) -> None:
        """Records a successful attempt's reply (an SDK ``Message`` or a dict)."""
        self._message = message
        self._job.record_attempt(request_id=request_id(message), error=None, elapsed=self._elapsed())

    def failed(self, exc: BaseException) -> None:
        """Records a failed attempt and decides whether and when to try again."""
        self._error = exc
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
