"""The fake API's Message Batches endpoints, through the real anthropic SDK: shapes, checks, switches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from claude_fakes import ANSWER
from invoiceai.testing import FakeClaudeAPI, Fault, ItemFault

PARAMS = {
    "model": "claude-sonnet-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Extract."}]}],
}


def items(count: int) -> list[dict[str, Any]]:
    return [{"custom_id": f"item-{number}", "params": PARAMS} for number in range(count)]


@pytest.fixture(params=["transport", "server"])
def client(request: pytest.FixtureRequest, api: FakeClaudeAPI) -> Iterator[Any]:
    import anthropic

    if request.param == "transport":
        yield api.client()
        return
    with api.serve() as server:
        yield anthropic.Anthropic(base_url=server.base_url, api_key="sk-ant-test", max_retries=0)


@pytest.fixture
def api() -> FakeClaudeAPI:
    return FakeClaudeAPI(answer=ANSWER)


def test_a_batch_ends_and_its_results_come_back_by_custom_id_in_any_order(client: Any, api: FakeClaudeAPI) -> None:
    created = client.messages.batches.create(requests=items(8))
    assert created.type == "message_batch" and created.id.startswith("msgbatch_")
    assert created.processing_status == "ended"
    assert created.request_counts.succeeded == 8 and created.request_counts.processing == 0
    assert created.results_url is not None
    assert created.results_url.endswith(f"/v1/messages/batches/{created.id}/results")
    lines = list(client.messages.batches.results(created.id))
    assert sorted(line.custom_id for line in lines) == sorted(f"item-{number}" for number in range(8))
    assert [line.custom_id for line in lines] != [f"item-{number}" for number in range(8)]  # shuffled
    message = lines[0].result.message
    assert message.content[0].text.startswith("{") and message.usage.service_tier == "batch"
    assert api.batches.submitted == [f"item-{number}" for number in range(8)]


def test_switches_make_items_error_expire_or_cancel(client: Any, api: FakeClaudeAPI) -> None:
    api.batches.enqueue(ItemFault.errored("overloaded_error"), None, ItemFault.expired(), ItemFault.canceled())
    api.enqueue(Fault.bad_request("messages: invalid"))  # the second item's answer, as live
    batch = client.messages.batches.create(requests=items(5))
    counts = batch.request_counts
    assert (counts.succeeded, counts.errored, counts.expired, counts.canceled) == (1, 2, 1, 1)
    results = {line.custom_id: line.result for line in client.messages.batches.results(batch.id)}
    assert results["item-0"].type == "errored" and results["item-0"].error.error.type == "overloaded_error"
    assert results["item-1"].type == "errored" and results["item-1"].error.error.type == "invalid_request_error"
    assert (results["item-2"].type, results["item-3"].type, results["item-4"].type) == (
        "expired",
        "canceled",
        "succeeded",
    )


def test_a_batch_can_stay_in_progress_until_ended_or_canceled(client: Any, api: FakeClaudeAPI) -> None:
    import anthropic

    api.batches.auto_end = False
    running = client.messages.batches.create(requests=items(2))
    assert running.processing_status == "in_progress" and running.results_url is None
    assert client.messages.batches.retrieve(running.id).request_counts.processing == 2
    with pytest.raises(anthropic.AnthropicError):
        list(client.messages.batches.results(running.id))
    api.batches.end(running.id)
    assert client.messages.batches.retrieve(running.id).processing_status == "ended"
    other = client.messages.batches.create(requests=items(1))
    canceled = client.messages.batches.cancel(other.id)
    assert canceled.request_counts.canceled == 1 and canceled.cancel_initiated_at is not None
    assert [batch.id for batch in client.messages.batches.list()] == [other.id, running.id]


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([], "non-empty"),
        ([{"custom_id": "has space", "params": PARAMS}], "custom_id"),
        ([{"custom_id": "x" * 65, "params": PARAMS}], "custom_id"),
        ([{"custom_id": "a", "params": PARAMS}, {"custom_id": "a", "params": PARAMS}], "twice"),
    ],
)
def test_bad_items_are_refused_as_the_api_does(client: Any, requests: list[Any], message: str) -> None:
    import anthropic

    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.batches.create(requests=requests)


def test_an_unknown_batch_is_not_found(client: Any) -> None:
    import anthropic

    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_nope")


def test_items_are_checked_like_live_requests(client: Any, api: FakeClaudeAPI) -> None:
    too_large = {**PARAMS, "max_tokens": api.max_tokens_limit + 1}
    batch = client.messages.batches.create(requests=[{"custom_id": "big", "params": too_large}])
    (line,) = client.messages.batches.results(batch.id)
    assert line.result.type == "errored" and line.result.error.error.type == "invalid_request_error"
