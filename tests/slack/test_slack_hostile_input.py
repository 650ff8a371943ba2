"""Signed but malformed requests to the real bolt HTTP endpoint: never a 500, never a
half-written conversation, and the bot keeps serving. Odd unicode is stored and answered."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from storage import open_store
from tests.fakes.slack_server import BOT_USER_ID, FakeSlack, event_callback, message_event, signed_headers
from tests.slack.conftest import SECRET
from tests.slack.payload_strategies import bodies
from tests.slack.test_slack_conversations import replies, said

T = TypeVar("T")
FUZZ_COUNT = 1_500


def generate(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` examples of ``strategy``, drawn by hypothesis up front (no shrinking) so the
    HTTP part can run them as one batch on the test's event loop."""
    found: list[T] = []

    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: T) -> None:
        found.append(value)

    collect()
    return found


async def post_raw(bot: Any, body: str | bytes, content_type: str, **headers: str) -> int:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    sent = signed_headers(SECRET, raw, content_type=content_type) | headers
    async with bot.http.post(bot.url + "/slack/events", data=raw, headers=sent) as resp:
        await resp.read()
        status: int = resp.status
        return status


async def assert_no_half_written_threads(bot: Any) -> None:
    store = await open_store(bot.settings.db)
    try:
        empty = [t.key for t in await store.list_threads() if t.messages == 0]
    finally:
        await store.close()
    assert not empty, empty


async def assert_still_serving(bot: Any, slack: FakeSlack) -> None:
    before = len(replies(slack))
    await bot.mention("still there?", channel="C0AFTER")
    assert [p.text for p in replies(slack)[before:]] == ["You said: still there?"]


async def test_fuzzed_signed_payloads_never_get_a_500(bot: Any, slack: FakeSlack) -> None:
    cases = generate(bodies, FUZZ_COUNT)
    too_big = json.dumps(event_callback(message_event("x" * 2_000_000, ts="1.1")))  # 413
    big = json.dumps(event_callback(message_event("y" * 900_000, ts="1.2")))  # chatter: ignored
    deep = "[" * 100_000 + "]" * 100_000
    cases += [(body, "application/json") for body in (too_big, big, deep, b"\xff\xfe{")]
    assert len(cases) >= FUZZ_COUNT

    limit = asyncio.Semaphore(16)

    async def one(case: tuple[str | bytes, str]) -> tuple[int, tuple[str | bytes, str]]:
        async with limit:
            return await post_raw(bot, *case), case

    results = await asyncio.gather(*(one(case) for case in cases))
    await bot.bot.drain()
    failed = [(status, case[0][:300]) for status, case in results if status >= 500]
    assert not failed, (len(failed), Counter(s for s, _ in results), failed[:5])
    await assert_no_half_written_threads(bot)
    await assert_still_serving(bot, slack)


async def test_a_non_numeric_or_missing_signature_timestamp_is_401(bot: Any, slack: FakeSlack) -> None:
    body = json.dumps(event_callback(message_event(f"<@{BOT_USER_ID}> hi", ts=slack.next_ts())))
    for stamp in ("soon", "", "1e9", " 12", "١٢٣"):
        assert await post_raw(bot, body, "application/json", **{"X-Slack-Request-Timestamp": stamp}) == 401
    assert not slack.calls


async def test_odd_unicode_is_sanitised_stored_and_answered(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    text = "lone \ud800 surrogate, nul \x00, rtl \u202eabc\u202c \u200f, zwj 👩\u200d💻, emoji 🎉"
    ts = slack.next_ts()
    body = json.dumps(event_callback(message_event(f"<@{BOT_USER_ID}> {text}", ts=ts)))
    assert "\\ud800" in body  # as JSON carries it
    assert await post_raw(bot, body, "application/json") == 200
    await bot.bot.drain()

    expected = text.replace("\ud800", "\ufffd")
    assert said(fake_openai) == [("user", expected)]
    assert [p.text for p in replies(slack)] == [f"You said: {expected}"]
    await assert_no_half_written_threads(bot)
