"""Images shared in Slack reach the model as image input, in each provider's own block
format: downscaled when large, re-sent only with the newest THREADBOT_IMAGE_TURNS turns
that have images, and not at all to a model that cannot see images."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as Pil

from bot.config import Settings
from bot.images import b64
from tests.conftest import make_settings
from tests.fakes.slack_server import FakeSlack
from tests.sample_files import PNG_SMALL, png
from tests.slack.conftest import Served, serve
from tests.slack.test_slack_replicas import replicas

URL = "data:image/png;base64,"


def user_contents(fake: Any, index: int = -1) -> list[Any]:
    messages = fake.requests[index].json.get("messages") or fake.requests[index].json["input"]
    return [m["content"] for m in messages if m["role"] == "user"]


@pytest.fixture
async def vision(tmp_path: Path, slack: FakeSlack, fake_openai: Any,
                 fake_anthropic: Any, request: pytest.FixtureRequest) -> AsyncIterator[tuple[Served, Any]]:
    """The bot on the provider ``request.param`` names, and that provider's fake."""
    provider, overrides, fake = {
        "openai": ("openai", {"openai_base_url": fake_openai.base_url}, fake_openai),
        "openai-responses": ("openai-responses", {"openai_base_url": fake_openai.base_url},
                             fake_openai),
        "anthropic": ("anthropic", {"anthropic_api_key": "test-key", "model": "claude-sonnet-4-6",
                                    "anthropic_base_url": fake_anthropic.base_url}, fake_anthropic),
    }[request.param]
    settings = make_settings(tmp_path, provider=provider, **overrides)
    async for served in serve(settings, slack):
        yield served, fake


EXPECTED = {
    "openai": [{"type": "image_url", "image_url": {"url": URL + b64(PNG_SMALL)}},
               {"type": "text", "text": "What is this?\n[image: chart.png]"}],
    "openai-responses": [{"type": "input_image", "image_url": URL + b64(PNG_SMALL), "detail": "auto"},
                         {"type": "input_text", "text": "What is this?\n[image: chart.png]"}],
    "anthropic": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                               "data": b64(PNG_SMALL)}},
                  # the newest message is a prompt-cache breakpoint (compaction and caching)
                  {"type": "text", "text": "What is this?\n[image: chart.png]",
                   "cache_control": {"type": "ephemeral"}}],
}


@pytest.mark.parametrize("vision", list(EXPECTED), indirect=True)
async def test_an_image_is_sent_in_each_providers_image_block(
    vision: tuple[Served, Any], slack: FakeSlack, request: pytest.FixtureRequest
) -> None:
    bot, fake = vision
    shared = slack.add_file("chart.png", PNG_SMALL, mimetype="image/png", filetype="png")
    await bot.mention("What is this?", files=[shared])

    provider = request.node.callspec.params["vision"]
    assert user_contents(fake) == [EXPECTED[provider]]


async def test_a_large_image_is_downscaled_to_the_providers_limits(
    bot: Served, slack: FakeSlack, fake_openai: Any
) -> None:
    shared = slack.add_file("screen.png", png(4000, 2500), mimetype="image/png")
    await bot.mention("What is this?", files=[shared])

    [content] = user_contents(fake_openai)
    url = content[0]["image_url"]["url"]
    media, data = url.removeprefix("data:").split(";base64,")
    sent = Pil.open(io.BytesIO(base64.b64decode(data)))
    assert (media, sent.size) == ("image/jpeg", (1568, 980))


async def test_images_are_re_sent_only_with_the_newest_three_turns_that_have_any(
    bot: Served, slack: FakeSlack, fake_openai: Any
) -> None:
    colours = [(i * 50, 0, 0) for i in range(4)]
    root = await bot.mention("Four screenshots coming",
                             files=[slack.add_file("s0.png", png(color=colours[0]))])
    for i in range(1, 4):
        await bot.say(f"number {i}", thread_ts=root,
                      files=[slack.add_file(f"s{i}.png", png(color=colours[i]))])

    first, *rest = user_contents(fake_openai)
    assert first == "Four screenshots coming\n[image: s0.png]"  # named, no longer sent
    assert [part["image_url"]["url"] for content in rest for part in content
            if part["type"] == "image_url"] == [URL + b64(png(color=c)) for c in colours[1:]]


async def test_a_model_that_cannot_see_images_gets_their_names_and_the_user_is_told_once(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any
) -> None:
    settings: Settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                                       model="llama3.1")
    async for bot in serve(settings, slack):
        root = await bot.mention("What is this?", files=[slack.add_file("chart.png", PNG_SMALL)])
        await bot.say("And this?", thread_ts=root, files=[slack.add_file("b.png", png(9, 9))])

    assert user_contents(fake_openai, 0) == ["What is this?\n[image: chart.png]"]
    assert user_contents(fake_openai)[-1] == "And this?\n[image: b.png]"
    notices = [p.text for p in slack.visible(thread_ts=root) if "can't see images" in p.text]
    print([p.text for p in slack.visible(thread_ts=root)], [r.json["model"] for r in fake_openai.requests])
    assert notices == ["I can't see images with the model llama3.1: I only know their names."]


async def test_in_chain_mode_a_new_image_goes_with_the_new_input_only(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any
) -> None:
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                             provider="openai-responses", history="chain")
    async for bot in serve(settings, slack):
        root = await bot.mention("Here is the bug", files=[slack.add_file("a.png", PNG_SMALL)])
        await bot.say("and the fix", thread_ts=root, files=[slack.add_file("b.png", png(9, 9))])

    first, second = (r.json for r in fake_openai.requests)
    assert "previous_response_id" not in first and second["previous_response_id"]
    assert second["input"] == [{"type": "message", "role": "user", "content": [
        {"type": "input_image", "image_url": URL + b64(png(9, 9)), "detail": "auto"},
        {"type": "input_text", "text": "Alice: and the fix\n[image: b.png]"},
    ]}]


async def test_images_sent_take_their_tokens_from_the_budget_before_the_text(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any
) -> None:
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                             context_tokens=3_000, max_output_tokens=200)
    async for bot in serve(settings, slack):
        root = await bot.mention("First: " + "word " * 300)
        for i in range(3):
            await bot.say(f"Part {i}: " + "word " * 300, thread_ts=root)
        await bot.say("Now this", thread_ts=root, files=[slack.add_file("a.png", PNG_SMALL)])

    def opening(content: Any) -> str:
        return (content if isinstance(content, str) else content[-1]["text"])[:6]

    without, with_image = ([opening(c) for c in user_contents(fake_openai, i)] for i in (-2, -1))
    assert without == ["First:", "Part 0", "Part 1", "Part 2"]  # it all fits without an image
    assert with_image == ["Part 0", "Part 1", "Part 2", "Now th"]  # with ~1,600 for the image


async def test_after_a_restart_an_image_of_a_recent_turn_is_fetched_again_and_sent(
    settings: Settings, slack: FakeSlack, fake_openai: Any
) -> None:
    async for bot in serve(settings, slack):
        root = await bot.mention("What is this?", files=[slack.add_file("chart.png", PNG_SMALL)])
    downloads = len(slack.downloads)
    async for bot in serve(settings, slack):  # a new process: nothing of the image in memory
        await bot.say("And what colour is it?", thread_ts=root)

    first, follow_up = user_contents(fake_openai, -1)
    assert first == [{"type": "image_url", "image_url": {"url": URL + b64(PNG_SMALL)}},
                     {"type": "text", "text": "What is this?\n[image: chart.png]"}]
    assert follow_up == "And what colour is it?"
    assert slack.downloads[downloads:] == [("F00000001", slack.bot_token)]


@pytest.mark.parametrize(("change", "note"), [
    ("deleted", "it is no longer there"),
    ("replaced", "it has changed since it was shared"),  # the hash no longer matches
])
async def test_an_image_that_cannot_be_fetched_again_is_a_note_and_the_turn_is_answered(
    settings: Settings, slack: FakeSlack, fake_openai: Any, change: str, note: str
) -> None:
    async for bot in serve(settings, slack):
        root = await bot.mention("What is this?", files=[slack.add_file("chart.png", PNG_SMALL)])
    if change == "deleted":
        del slack.files["F00000001"]
    else:
        slack.files["F00000001"] = png(9, 9)
    async for bot in serve(settings, slack):
        await bot.say("Still there?", thread_ts=root)

    assert user_contents(fake_openai, -1)[0] == (
        f"What is this?\n[image: chart.png]\n[image: chart.png — not sent: {note}]")
    assert len(slack.visible(thread_ts=root)) == 2  # answered both times


async def test_the_image_notice_follows_the_model_the_thread_was_switched_to(
    tmp_path: Path, slack: FakeSlack, fake_openai: Any
) -> None:
    settings: Settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url,
                                       model="llama3.1", vision_models="gpt-4.1,gpt-4o*")
    async for bot in serve(settings, slack):
        root = await bot.mention("hello")
        await bot.say("!model gpt-4.1", thread_ts=root)
        await bot.say("What is this?", thread_ts=root, files=[slack.add_file("a.png", PNG_SMALL)])
        await bot.say("!model gpt-4.1-nano", thread_ts=root)
        await bot.say("And this?", thread_ts=root, files=[slack.add_file("b.png", png(9, 9))])

    assert [r.json["model"] for r in fake_openai.requests] == ["llama3.1", "gpt-4.1", "gpt-4.1-nano"]
    assert user_contents(fake_openai, 1)[-1][0] == {  # switched to a vision model: it is sent
        "type": "image_url", "image_url": {"url": URL + b64(PNG_SMALL)}}
    assert user_contents(fake_openai, 2)[-1] == "And this?\n[image: b.png]"
    assert [p.text for p in slack.visible(thread_ts=root)] == [
        "You said: hello",
        "Switched this conversation to gpt-4.1.",
        "You said: What is this?\n[image: a.png]",  # no notice: gpt-4.1 sees it
        "Switched this conversation to gpt-4.1-nano.",
        "I can't see images with the model gpt-4.1-nano: I only know their names.",
        "You said: And this?\n[image: b.png]",
    ]


async def test_a_replica_answering_a_follow_up_sends_the_image_another_replica_stored(
    settings: Settings, slack: FakeSlack, fake_openai: Any
) -> None:
    async with replicas(settings, slack) as (a, b):
        root = await a.mention("What is this?", files=[slack.add_file("chart.png", PNG_SMALL)])
        await b.say("Which colour?", thread_ts=root)  # the balancer chose b: no bytes there

    assert len(fake_openai.requests) == 2
    assert user_contents(fake_openai, -1)[0] == EXPECTED["openai"]
