"""Anthropic specifics: ``system=``, the key header, in-stream ``event: error``."""

from __future__ import annotations

import pytest

from bot.errors import ErrorKind
from tests.providers.conftest import KEY, Backend, collect, failure, make_request

CACHE = {"type": "ephemeral"}


def cached(text: str) -> list[dict[str, object]]:
    return [{"type": "text", "text": text, "cache_control": CACHE}]


async def test_system_goes_to_system_with_cache_breakpoints_on_the_stable_prefix(
    claude: Backend,
) -> None:
    await collect(claude.provider(), make_request("hi", "hello", "bye", system="SYS"))

    request = claude.fake.requests[0]
    assert request.path == "/v1/messages"
    assert request.json["system"] == cached("SYS")
    # the previous turn's question (where the last request's cache was written) and the
    # newest message (written for the next turn) end in a breakpoint; the rest stays plain
    assert request.json["messages"] == [
        {"role": "user", "content": cached("hi")},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": cached("bye")},
    ]
    assert request.json["max_tokens"] == 64 and request.json["model"] == "test-model"
    assert request.headers["Authorization"] == f"Bearer {KEY}"


async def test_no_system_field_when_the_prompt_is_empty(claude: Backend) -> None:
    await collect(claude.provider(), make_request("hi", system=""))
    assert "system" not in claude.fake.requests[0].json


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", ErrorKind.OVERLOADED),
        ("rate_limit_error", ErrorKind.RATE_LIMITED),
        ("api_error", ErrorKind.OTHER),
    ],
)
async def test_an_error_event_inside_the_stream(claude: Backend, error_type: str, kind: ErrorKind) -> None:
    claude.fake.reply_with("a reply that stops half way")
    claude.fake.fail_stream_next(code=error_type, after_chars=5)

    deltas, error = await failure(claude.provider(), make_request("hi"))

    assert error.kind is kind and deltas
    assert "status=200" in error.detail  # the SDK reports stream errors with the 200 status


async def test_a_read_timeout_mid_stream_is_a_timeout(claude: Backend) -> None:
    """Mid-stream the SDK lets the raw httpx2 ReadTimeout escape; it is still TIMEOUT."""
    claude.fake.reply_with("slow words " * 5)
    claude.fake.delay = 0.5
    deltas, error = await failure(claude.provider(provider_timeout=0.2), make_request("hi"))
    assert error.kind is ErrorKind.TIMEOUT and deltas == []


async def test_the_rolling_summary_is_its_own_cached_system_block_within_four_breakpoints(
    claude: Backend,
) -> None:
    texts = ("a", "b", "c", "d", "e", "f", "g")
    await collect(claude.provider(), make_request(*texts, system="SYS\n\nSUMMARY", summary="SUMMARY"))

    body = claude.fake.requests[0].json
    assert body["system"] == cached("SYS") + cached("SUMMARY")
    marked = [m["content"][0]["text"] for m in body["messages"] if isinstance(m["content"], list)]
    assert marked == ["e", "g"]  # 2 in system + 2 in messages: Anthropic allows 4
