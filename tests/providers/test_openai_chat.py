"""Chat Completions specifics: what the request body carries and compatible-server quirks."""

from __future__ import annotations

from openai import AsyncOpenAI

from bot.errors import ErrorKind
from bot.providers.openai_chat import OpenAIChatProvider
from tests.providers.conftest import Backend, collect, failure, make_request


async def test_system_prompt_leads_the_messages_and_max_tokens_is_sent(chat: Backend) -> None:
    await collect(chat.provider(), make_request("hi", "hello", "bye", system="SYS"))

    body = chat.fake.requests[0].json
    assert body["messages"] == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]
    assert body["model"] == "test-model" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # A compatible server (any base URL but api.openai.com) gets the widely known name.
    assert body["max_tokens"] == 64 and "max_completion_tokens" not in body
    assert chat.fake.requests[0].headers["Authorization"] == "Bearer sk-test-secret-key"


async def test_no_system_message_when_the_prompt_is_empty(chat: Backend) -> None:
    await collect(chat.provider(), make_request("hi", system=""))
    assert [m["role"] for m in chat.fake.requests[0].json["messages"]] == ["user"]


async def test_official_openai_gets_max_completion_tokens(chat: Backend) -> None:
    client = AsyncOpenAI(api_key="k", base_url=chat.fake.base_url, max_retries=0)
    provider = OpenAIChatProvider(client, token_param="max_completion_tokens")
    try:
        await collect(provider, make_request("hi"))
    finally:
        await provider.aclose()
    body = chat.fake.requests[0].json
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body


async def test_response_id_is_not_reported_because_chat_cannot_chain(chat: Backend) -> None:
    provider = chat.provider()
    _, completion = await collect(provider, make_request("hi"))
    assert completion.response_id is None and provider.supports_chain is False


async def test_a_compatible_server_saying_context_length_in_prose(chat: Backend) -> None:
    chat.fake.fail_next(
        400, message="This model's maximum context length is 8192 tokens. However, you requested 9000 tokens."
    )
    _, error = await failure(chat.provider(), make_request("hi"))
    assert error.kind is ErrorKind.CONTEXT_TOO_LONG


async def test_quota_exhausted_is_rate_limited(chat: Backend) -> None:
    chat.fake.fail_next(429, code="insufficient_quota")
    _, error = await failure(chat.provider(), make_request("hi"))
    assert error.kind is ErrorKind.RATE_LIMITED and "insufficient_quota" in error.detail


async def test_an_error_chunk_inside_the_stream_is_other(chat: Backend) -> None:
    chat.fake.reply_with("some words that get cut")
    chat.fake.fail_stream_next(after_chars=5)
    deltas, error = await failure(chat.provider(), make_request("hi"))
    assert error.kind is ErrorKind.OTHER and deltas


async def test_a_stream_without_usage_still_completes(chat: Backend) -> None:
    """Servers that ignore stream_options send no usage chunk: usage is None, not a crash."""
    chat.fake.reply_with("fine")
    original = chat.fake._chat_frames
    chat.fake._chat_frames = lambda head, text, usage, fault: original(head, text, None, fault)
    _, completion = await collect(chat.provider(), make_request("hi"))
    assert completion.text == "fine" and completion.usage is None


async def test_openai_gets_the_threads_prompt_cache_key(chat: Backend) -> None:
    client = AsyncOpenAI(api_key="k", base_url=chat.fake.base_url, max_retries=0)
    provider = OpenAIChatProvider(client, token_param="max_completion_tokens", cache_keys=True)
    try:
        await collect(provider, make_request("hi", cache_key="threadbot-abc"))
    finally:
        await provider.aclose()
    assert chat.fake.requests[0].json["prompt_cache_key"] == "threadbot-abc"


async def test_a_local_server_gets_no_prompt_cache_key(chat: Backend) -> None:
    """make_provider for a compatible server: a field it may not know is never sent."""
    await collect(chat.provider(), make_request("hi", cache_key="threadbot-abc"))
    assert "prompt_cache_key" not in chat.fake.requests[0].json
