"""What an operator scrapes from /metrics and /healthz on Slack's HTTP-mode server, after
real turns: the real bolt app and slack_sdk against the fake Slack, the openai SDK against
the fake OpenAI."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.slack_server import FakeSlack, message_event
from tests.slack.test_slack_commands import long_reply_showing

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(bot: Any) -> Samples:
    async with bot.http.get(bot.url + "/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_turns_replies_tokens_and_latencies_after_real_turns(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    fake_openai.cached_tokens = 2
    root = await bot.mention("hello there")  # answered
    await bot.say("and again", thread_ts=root)  # answered
    fake_openai.fail_next(429)
    await bot.mention("hello?")  # failed: rate limited
    slack.rate_limit("chat.startStream", times=1, retry_after=0)
    await bot.mention("once more")  # answered, after one 429 from Slack
    await bot.say("!reset", thread_ts=root)

    samples = await scrape(bot)
    assert value(samples, "threadbot_turns_total", platform="slack") == 4
    assert value(samples, "threadbot_commands_total", command="reset") == 1
    assert value(samples, "threadbot_replies_total", outcome="answered", error_kind="") == 3
    assert value(samples, "threadbot_replies_total", outcome="failed", error_kind="rate_limited") == 1
    assert value(samples, "threadbot_reply_first_text_seconds_count") == 3
    assert value(samples, "threadbot_reply_final_text_seconds_count") == 4  # the failure's too
    assert value(samples, "threadbot_provider_seconds_count", provider="openai",
                 model="gpt-4o-mini") == 4
    inputs = value(samples, "threadbot_tokens_total", model="gpt-4o-mini", kind="input")
    outputs = value(samples, "threadbot_tokens_total", model="gpt-4o-mini", kind="output")
    assert inputs >= 3 and outputs >= 3  # the fake counts words
    assert value(samples, "threadbot_tokens_total", model="gpt-4o-mini", kind="cached") == 6
    assert value(samples, "threadbot_platform_rate_limited_total", platform="slack",
                 method="chat.startStream") == 1
    assert value(samples, "threadbot_store_seconds_count", operation="add_to") == 4
    assert value(samples, "threadbot_store_seconds_count", operation="finish_reply") == 4
    assert value(samples, "threadbot_replies_in_flight") == 0
    assert value(samples, "threadbot_pending_messages") == 0
    assert not any("U0ALICE" in str(key) or root in str(key) for key in samples)  # no ids


async def test_in_flight_and_pending_while_a_reply_streams_then_stopped(
    bot: Any, slack: FakeSlack, fake_openai: Any
) -> None:
    root = await long_reply_showing(bot, slack, fake_openai)
    await bot.event(message_event("and a poem", ts=slack.next_ts(), thread_ts=root), settle=False)

    during = await scrape(bot)
    await bot.say("!stop", thread_ts=root)
    after = await scrape(bot)

    assert value(during, "threadbot_replies_in_flight") == 1
    assert value(during, "threadbot_pending_messages") == 1  # the poem waits for the story
    assert value(after, "threadbot_replies_total", outcome="stopped", error_kind="") == 1
    assert value(after, "threadbot_commands_total", command="stop") == 1
    assert value(after, "threadbot_replies_in_flight") == 0


async def test_healthz_reports_http_mode_its_last_event_and_the_store(bot: Any) -> None:
    await bot.mention("hello")
    async with bot.http.get(bot.url + "/healthz") as resp:
        assert resp.status == 200
        report = await resp.json()
    assert report["ok"] is True and report["store"]["ok"] is True
    slack = report["platforms"]["slack"]
    assert slack["mode"] == "http" and slack["ok"] is True
    assert 0 <= slack["last_event_seconds_ago"] < 10
