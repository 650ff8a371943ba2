"""Files shared in Slack reach the model as text: downloaded from ``url_private`` with the bot
token, read by their content, labelled, cut to THREADBOT_FILE_TOKENS, stored with the
message; whatever fails is a short note and the user is still answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import FileSettings, Settings
from bot.images import b64
from bot.types import ThreadKey
from tests.fakes.slack_server import TEAM_ID, FakeSlack, message_event
from tests.sample_files import CODE, PNG_SMALL, text_pdf
from tests.slack.conftest import Served, serve
from tests.slack.test_slack_conversations import replies, said
from tests.slack.test_slack_inbound import stored


def last_user(fake_openai: Any) -> Any:
    return [content for role, content in said(fake_openai) if role == "user"][-1]


def files(**values: Any) -> FileSettings:
    return FileSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def capped(settings: Settings, slack: FakeSlack) -> AsyncIterator[Served]:
    """The bot with small caps: 20 tokens and 2,000 bytes per file, 0.3 s of downloads."""
    async for served in serve(settings, slack, files=files(file_tokens=20, file_bytes=2_000,
                                                           file_seconds=0.3)):
        yield served


async def test_a_code_file_is_sent_to_the_model_as_a_labelled_block_and_stored(
    bot: Served, slack: FakeSlack, fake_openai: Any
) -> None:
    shared = slack.add_file("greet.py", CODE.encode(), mimetype="text/x-python", filetype="python")
    ts = await bot.mention("What does this do?", subtype="file_share", files=[shared])

    assert last_user(fake_openai) == (
        "What does this do?\n"
        "[file: greet.py]\n"
        'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n'
        "[end of file: greet.py]"
    )
    assert slack.downloads == [(shared["id"], slack.bot_token)]  # once, with the bot token
    key = ThreadKey("slack", TEAM_ID, "C0GENERAL", ts)
    assert "[file: greet.py]" in (await stored(bot, key))[0]
    assert len(replies(slack)) == 1


async def test_a_pdf_is_read_by_its_text_and_a_misnamed_image_by_its_bytes(
    bot: Served, slack: FakeSlack, fake_openai: Any
) -> None:
    # (the default test model, gpt-4o-mini, sees images: the image itself is sent too,
    # tests/slack/test_slack_images.py)
    pdf = slack.add_file("q3.pdf", text_pdf("Revenue rose 12%"), mimetype="application/pdf")
    image = slack.add_file("notes.txt", PNG_SMALL)
    await bot.mention("Summarise", files=[pdf, image])

    assert last_user(fake_openai) == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(PNG_SMALL)}},
        {"type": "text", "text": "Summarise\n[file: q3.pdf]\nRevenue rose 12%\n"
                                 "[end of file: q3.pdf]\n[image: notes.txt]"},
    ]


async def test_the_token_goes_only_to_slack_and_a_sign_in_page_is_not_taken_for_the_file(
    bot: Served, slack: FakeSlack, fake_openai: Any
) -> None:
    shared = slack.add_file("log.txt", b"ERROR disk full")
    elsewhere = shared | {"url_private": shared["url_private"].replace("127.0.0.1", "localhost")}
    await bot.mention("Why did it fail?", files=[elsewhere])

    assert slack.downloads == [(shared["id"], "")]
    assert last_user(fake_openai) == (
        "Why did it fail?\n[attachment: log.txt — the bot was not allowed to download it]"
    )


async def test_files_over_the_caps_are_cut_or_named_and_the_user_is_still_answered(
    capped: Served, slack: FakeSlack, fake_openai: Any
) -> None:
    long = slack.add_file("server.log", b"GET /health 200\n" * 100)
    huge = slack.add_file("dump.csv", b"a,b\n" * 1_000)
    await capped.mention("Look", files=[long, huge])

    said_to_model = last_user(fake_openai)
    assert said_to_model.startswith("Look\n[file: server.log — only its first 20 tokens]\nGET /health 200\n")
    assert said_to_model.count("GET /health") < 10
    assert said_to_model.endswith(
        "[end of file: server.log]\n[attachment: dump.csv — too large to read (4 KB; the limit is 2 KB)]"
    )
    assert len(replies(slack)) == 1


async def test_a_slow_download_is_a_note_not_a_failed_turn(
    capped: Served, slack: FakeSlack, fake_openai: Any
) -> None:
    slack.file_delay = 1.0
    shared = slack.add_file("slow.md", b"# Plan")
    await capped.mention("Read this", files=[shared])

    assert last_user(fake_openai) == "Read this\n[attachment: slow.md — the download took too long]"
    assert len(replies(slack)) == 1


async def test_files_shared_before_the_bot_joined_a_thread_are_read_like_live_ones(
    bot: Served, slack: FakeSlack, fake_openai: Any
) -> None:
    root = slack.next_ts()
    code = slack.add_file("greet.py", CODE.encode(), mimetype="text/x-python", filetype="python")
    shot = slack.add_file("chart.png", PNG_SMALL, mimetype="image/png", filetype="png")
    slack.threads[("C0GENERAL", root)] = [
        message_event("Here is the code", ts=root, user="U0ALICE", files=[code]),
        message_event("and the chart", ts=slack.next_ts(), user="U0BOB", thread_ts=root,
                      subtype="file_share", files=[shot]),
    ]
    await bot.mention("What do you make of these?", thread_ts=root, user="U0BOB")

    [asked] = [m["content"] for m in fake_openai.requests[-1].json["messages"]
               if m["role"] == "user"]  # one user turn: the same role's messages merged
    assert asked == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(PNG_SMALL)}},
        {"type": "text", "text": "Alice: Here is the code\n[file: greet.py]\n"
                                 'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n'
                                 "[end of file: greet.py]\n\n"
                                 "Bob: and the chart\n[image: chart.png]\n\n"
                                 "Bob: What do you make of these?"},
    ]
    assert sorted(slack.downloads) == [(code["id"], slack.bot_token), (shot["id"], slack.bot_token)]
