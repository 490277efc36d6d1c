"""A schema the API cannot compile into a grammar is asked again through a forced tool call."""

from __future__ import annotations

import pytest

from claude_fakes import ANSWER, USAGE, make_backend, run
from invoiceai.backends.claude.request import TOOL_NAME
from invoiceai.backends.claude.retry import classify
from invoiceai.errors import RequestRejectedError
from invoiceai.testing import FakeClaudeAPI, Fault, StaticPages


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def page() -> StaticPages:
    return StaticPages.blank(1, width=400, height=500)


def test_a_refused_grammar_is_retried_as_a_forced_tool_call(flavour: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE).enqueue(Fault.schema_too_complex())
    result = run(make_backend(api, flavour), flavour, page())

    refused, retried = api.message_requests
    assert refused.status == 400 and "output_config" in refused.body
    assert "output_config" not in retried.body
    assert retried.body["tool_choice"] == {"type": "tool", "name": TOOL_NAME}
    assert result.data.invoice_number == ANSWER["invoice_number"]
    assert any("forced tool call" in warning for warning in result.warnings)


def test_the_backend_remembers_the_refusal_for_the_next_document(flavour: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE).enqueue(Fault.schema_too_complex())
    backend = make_backend(api, flavour)
    run(backend, flavour, page())
    second = run(backend, flavour, page())

    assert len(api.message_requests) == 3
    assert "tools" in api.message_requests[2].body and "output_config" not in api.message_requests[2].body
    assert second.warnings == ()


def test_a_refusal_in_tool_mode_is_an_error_not_a_loop(flavour: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE, structured_outputs=False).enqueue(Fault.schema_too_complex())
    with pytest.raises(RequestRejectedError):
        run(make_backend(api, flavour, model="claude-opus-4-1-20250805", detect_capabilities=False), flavour, page())
    assert len(api.message_requests) == 1


def test_other_bad_requests_are_not_mistaken_for_a_grammar_refusal(flavour: str) -> None:
    api = FakeClaudeAPI(answer=ANSWER, usage=USAGE).enqueue(Fault.bad_request("messages.0: unexpected field"))
    with pytest.raises(RequestRejectedError):
        run(make_backend(api, flavour), flavour, page())
    assert len(api.message_requests) == 1


@pytest.mark.parametrize(
    "message",
    [
        "The compiled grammar is too large, which would cause performance issues.",
        "Schema is too complex for compilation",
    ],
)
def test_both_reported_wordings_are_recognised(message: str) -> None:
    import anthropic
    import httpx2

    request = httpx2.Request("POST", "http://127.0.0.1/v1/messages")
    response = httpx2.Response(400, request=request)
    body = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    exc = anthropic.BadRequestError(message, response=response, body=body)
    assert classify(exc) == "schema_too_complex"
