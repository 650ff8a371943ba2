"""Responses specifics: instructions every call, chaining on previous_response_id, and
failures that arrive as stream events."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI

from bot.errors import ErrorKind
from bot.providers.openai_responses import OpenAIResponsesProvider
from tests.providers.conftest import Backend, collect, failure, make_request


async def test_request_body_and_response_id(responses: Backend) -> None:
    _, completion = await collect(
        responses.provider(), make_request("hi", "hello", "bye", system="SYS", store=True)
    )

    body = responses.fake.requests[0].json
    assert body["instructions"] == "SYS"
    assert body["input"] == [  # fully typed: llama.cpp and proxies require it
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "hello"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "bye"}]},
    ]
    assert body["store"] is True and body["max_output_tokens"] == 64 and body["stream"] is True
    assert "previous_response_id" not in body
    assert completion.response_id is not None and completion.response_id.startswith("resp_")


async def test_a_chain_resolves_earlier_turns_and_resends_instructions(
    responses: Backend,
) -> None:
    provider = responses.provider()
    _, first = await collect(provider, make_request("My name is Ada", store=True))

    request = make_request("What is my name?", store=True, previous_response_id=first.response_id)
    _, second = await collect(provider, request)

    assert second.text == "Your name is Ada."  # the fake knew only through the chain
    assert second.response_id not in (None, first.response_id)
    body = responses.fake.requests[1].json
    assert body["previous_response_id"] == first.response_id
    assert body["instructions"] == "Be brief."  # not inherited, so sent again
    assert body["input"] == [{"type": "message", "role": "user",
                              "content": [{"type": "input_text", "text": "What is my name?"}]}]


async def test_an_expired_previous_response_fails_before_any_text(responses: Backend) -> None:
    provider = responses.provider()
    _, first = await collect(provider, make_request("My name is Ada", store=True))
    responses.fake.expire_responses()

    deltas, error = await failure(
        provider, make_request("What is my name?", previous_response_id=first.response_id)
    )

    assert error.kind is ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND and deltas == []
    assert "previous_response_not_found" in error.detail


async def test_an_unstored_response_cannot_be_chained_on(responses: Backend) -> None:
    provider = responses.provider()
    _, first = await collect(provider, make_request("My name is Ada", store=False))
    _, error = await failure(
        provider, make_request("What is my name?", previous_response_id=first.response_id)
    )
    assert error.kind is ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND


@pytest.mark.parametrize(
    ("chained", "kind"),
    [(True, ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND), (False, ErrorKind.OTHER)],
)
async def test_a_404_means_not_found_only_for_a_chained_call(
    responses: Backend, chained: bool, kind: ErrorKind
) -> None:
    """Some compatible servers answer an unknown previous_response_id with 404."""
    responses.fake.fail_next(404)
    previous = "resp_gone" if chained else None
    _, error = await failure(responses.provider(), make_request("hi", previous_response_id=previous))
    assert error.kind is kind


@pytest.mark.parametrize(
    ("event", "code", "kind"),
    [
        ("response.failed", "server_error", ErrorKind.OTHER),
        ("response.failed", "rate_limit_exceeded", ErrorKind.RATE_LIMITED),
        ("response.incomplete", "content_filter", ErrorKind.OTHER),
        ("error", "server_error", ErrorKind.OTHER),
        ("error", "context_length_exceeded", ErrorKind.CONTEXT_TOO_LONG),
    ],
)
async def test_failure_events_inside_the_stream(
    responses: Backend, event: str, code: str, kind: ErrorKind
) -> None:
    responses.fake.reply_with("an answer that will not finish")
    responses.fake.fail_stream_next(event=event, code=code, after_chars=6)

    deltas, error = await failure(responses.provider(), make_request("hi"))

    assert error.kind is kind and deltas
    assert code in error.detail or event in error.detail


async def test_a_reply_cut_at_max_output_tokens_is_kept(responses: Backend) -> None:
    """Like Chat's finish_reason="length": the user gets the text that was written."""
    responses.fake.reply_with("an answer that will not finish")
    responses.fake.fail_stream_next(event="response.incomplete", code="max_output_tokens", after_chars=9)

    deltas, completion = await collect(responses.provider(), make_request("hi"))

    assert completion.text == "".join(deltas) and completion.text.startswith("an answer")
    assert completion.response_id


async def test_a_stream_that_ends_without_completed_is_unavailable(
    responses: Backend,
) -> None:
    original = responses.fake._response_frames

    def without_completed(*args: object) -> object:
        return (f for f in original(*args) if f.event != "response.completed")

    responses.fake._response_frames = without_completed
    _, error = await failure(responses.provider(), make_request("hi"))
    assert error.kind is ErrorKind.UNAVAILABLE


async def test_openai_gets_the_threads_prompt_cache_key(responses: Backend) -> None:
    client = AsyncOpenAI(api_key="k", base_url=responses.fake.base_url, max_retries=0)
    provider = OpenAIResponsesProvider(client, cache_keys=True)
    try:
        await collect(provider, make_request("hi", cache_key="threadbot-abc"))
    finally:
        await provider.aclose()
    assert responses.fake.requests[0].json["prompt_cache_key"] == "threadbot-abc"


async def test_a_local_server_gets_no_prompt_cache_key(responses: Backend) -> None:
    await collect(responses.provider(), make_request("hi", cache_key="threadbot-abc"))
    assert "prompt_cache_key" not in responses.fake.requests[0].json
