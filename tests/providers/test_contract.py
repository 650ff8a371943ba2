"""The Provider contract, run against every provider: real SDK client → loopback fake.

Deltas then exactly one Completion; every failure a ProviderError of the right kind (and
nothing else, except a cancellation, which must pass through untouched).
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from bot.errors import ErrorKind
from tests.providers.conftest import KEY, Backend, collect, failure, make_request

CONVERSATION = ("My name is Ada", "Hello Ada!", "What is my name?")


async def test_deltas_concatenate_to_the_completion_with_usage(backend: Backend) -> None:
    backend.fake.chunk_size = 4
    provider = backend.provider()

    deltas, completion = await collect(provider, make_request(*CONVERSATION))

    assert len(deltas) > 1
    assert "".join(deltas) == completion.text == "Your name is Ada."
    assert completion.model == "test-model"
    assert completion.usage is not None
    assert completion.usage.input_tokens > 0 and completion.usage.output_tokens > 0
    assert [r.path for r in backend.fake.requests] == [backend.path]
    assert backend.fake.requests[0].json["stream"] is True


async def test_reply_with_a_function_sees_the_system_prompt_first(backend: Backend) -> None:
    seen: list[list[dict[str, str]]] = []
    def reply(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return "ok"

    backend.fake.reply_with(reply)

    _, completion = await collect(backend.provider(), make_request("hi", system="SYS"))

    assert completion.text == "ok"
    assert seen == [[{"role": "system", "content": "SYS"}, {"role": "user", "content": "hi"}]]


_FAILURES = [
    (429, None, ErrorKind.RATE_LIMITED),
    (503, None, ErrorKind.OVERLOADED),
    (529, None, ErrorKind.OVERLOADED),
    (401, None, ErrorKind.AUTH),
    (403, None, ErrorKind.AUTH),
    (400, "context_length_exceeded", ErrorKind.CONTEXT_TOO_LONG),
    (400, None, ErrorKind.OTHER),
    (500, None, ErrorKind.OTHER),
]


@pytest.mark.parametrize(("status", "code", "kind"), _FAILURES)
async def test_http_errors_map_to_kinds(
    backend: Backend, status: int, code: str | None, kind: ErrorKind
) -> None:
    backend.fake.fail_next(status, code=code, message=f"Incorrect API key provided: {KEY}")

    deltas, error = await failure(backend.provider(), make_request("hello"))

    assert error.kind is kind
    assert deltas == []
    assert str(status) in error.detail
    # OpenAI's 401 message quotes the key: nothing of the message reaches logs.
    assert KEY not in str(error) and error.__cause__ is None


async def test_a_hang_times_out(backend: Backend) -> None:
    backend.fake.hang_next()
    _, error = await failure(backend.provider(provider_timeout=0.3), make_request("hello"))
    assert error.kind is ErrorKind.TIMEOUT


async def test_a_dropped_stream_is_unavailable_after_some_text(backend: Backend) -> None:
    backend.fake.reply_with("a long answer " * 20)
    backend.fake.break_stream_next(after_chars=20)

    deltas, error = await failure(backend.provider(), make_request("hello"))

    assert error.kind is ErrorKind.UNAVAILABLE
    assert 20 <= len("".join(deltas)) < 280


async def test_connection_refused_is_unavailable(backend: Backend) -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}" + ("" if backend.name == "anthropic" else "/v1")
    key = "anthropic_base_url" if backend.name == "anthropic" else "openai_base_url"

    _, error = await failure(backend.provider(**{key: url}), make_request("hello"))

    assert error.kind is ErrorKind.UNAVAILABLE


async def test_sdk_retries_a_429_after_retry_after_then_succeeds(backend: Backend) -> None:
    backend.fake.fail_next(429, retry_after=0.01)
    provider = backend.provider(provider_retries=1)

    started = time.monotonic()
    _, completion = await collect(provider, make_request("hello"))

    assert completion.text == "You said: hello"
    assert len(backend.fake.requests) == 2
    assert backend.fake.requests[1].headers["x-stainless-retry-count"] == "1"
    # retry-after-ms=10 was honoured: the SDK's own backoff starts at ~0.4-0.5 s.
    assert time.monotonic() - started < 0.35


async def test_cancellation_propagates_untouched(backend: Backend) -> None:
    backend.fake.reply_with("word " * 100)
    backend.fake.delay = 0.05
    provider = backend.provider()
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in provider.stream(make_request("hello")):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_closing_the_stream_early_then_reusing_the_client(backend: Backend) -> None:
    backend.fake.reply_with("word " * 50)
    provider = backend.provider()
    stream = provider.stream(make_request("hello"))
    assert isinstance(await anext(stream), str)
    await stream.aclose()  # what a consumer that stops reading does

    backend.fake.reply_with("again")
    _, completion = await collect(provider, make_request("hello"))
    assert completion.text == "again"


async def test_cached_input_is_recorded_within_the_whole_input(backend: Backend) -> None:
    """Each API reports the prompt-cache hits in its own field (Anthropic even leaves them
    out of its input_tokens); the Usage always has all input in input_tokens and the cached
    part in cached_input_tokens."""
    provider = backend.provider()
    _, plain = await collect(provider, make_request(*CONVERSATION))
    backend.fake.cached_tokens = 6
    _, cached = await collect(provider, make_request(*CONVERSATION))

    assert plain.usage is not None and cached.usage is not None
    assert plain.usage.cached_input_tokens == 0  # no cache details reported: 0
    assert cached.usage.cached_input_tokens == 6
    assert cached.usage.input_tokens == plain.usage.input_tokens
    assert cached.usage.output_tokens == plain.usage.output_tokens
