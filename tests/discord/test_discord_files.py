"""Files attached on Discord reach the model as text: downloaded from their signed CDN URLs
(never with the bot token), read by content, labelled, stored with the message; an
attachment that cannot be fetched is a short note and the user is still answered."""

from __future__ import annotations

from typing import Any

from bot.app import open_engine
from bot.config import Settings
from bot.images import b64
from tests.discord.conftest import Bot, StartBot
from tests.discord.test_discord_conversations import prompts, texts
from tests.fakes.discord_server import FakeDiscord
from tests.sample_files import CODE, PNG_SMALL, text_pdf


async def test_attached_code_and_pdf_are_sent_to_the_model_as_labelled_blocks(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    code = fake_discord.attachment("greet.py", CODE.encode(), content_type="text/x-python")
    pdf = fake_discord.attachment("spec.pdf", text_pdf("Ship on Friday"))
    msg = await fake_discord.say(alice, "review these", mention_bot=True, attachments=[code, pdf])
    await bot.settle()

    assert prompts(fake_openai) == [
        "review these\n"
        "[file: greet.py]\n"
        'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n'
        "[end of file: greet.py]\n"
        "[file: spec.pdf]\nShip on Friday\n[end of file: spec.pdf]"
    ]
    assert len(fake_discord.cdn_gets) == 2
    assert not any("Authorization" in headers for headers in fake_discord.cdn_gets)
    assert texts(fake_discord, msg["id"])  # answered in the thread it opened


async def test_a_file_alone_in_the_bots_thread_is_answered(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    msg = await fake_discord.say(alice, "I'll send the log", mention_bot=True)
    await bot.settle()
    thread = int(msg["id"])
    log = fake_discord.attachment("app.log", b"ERROR disk full\n", channel=thread)
    await fake_discord.say(alice, "", channel=thread, attachments=[log])
    await bot.settle()

    assert prompts(fake_openai)[-1] == "[file: app.log]\nERROR disk full\n[end of file: app.log]"
    assert len(texts(fake_discord, thread)) == 2


async def test_an_expired_attachment_url_is_a_note_and_the_question_is_answered(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    att = fake_discord.attachment("notes.md", b"# Plan")
    expired = att | {"url": att["url"].replace("ex=7fffffff", "ex=00000001")}
    msg = await fake_discord.say(alice, "what's in it?", mention_bot=True, attachments=[expired])
    await bot.settle()

    assert prompts(fake_openai) == ["what's in it?\n[attachment: notes.md — it is no longer there]"]
    assert texts(fake_discord, msg["id"])


async def test_an_attached_image_is_sent_to_the_model_as_an_image(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice = fake_discord.add_user("Alice")
    shot = fake_discord.attachment("screen.png", PNG_SMALL, content_type="image/png")
    await fake_discord.say(alice, "what's wrong here?", mention_bot=True, attachments=[shot])
    await bot.settle()

    [*_, last] = fake_openai.requests[-1].json["messages"]
    assert last["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(PNG_SMALL)}},
        {"type": "text", "text": "what's wrong here?\n[image: screen.png]"},
    ]


async def test_after_a_restart_an_expired_image_link_is_renewed_from_the_message_and_sent(
    start_bot: StartBot, fake_discord: FakeDiscord, fake_openai: Any, settings: Settings
) -> None:
    alice = fake_discord.add_user("Alice")
    shot = fake_discord.attachment("screen.png", PNG_SMALL, content_type="image/png")
    first = await start_bot()
    msg = await fake_discord.say(alice, "what's wrong here?", mention_bot=True, attachments=[shot])
    await first.settle()
    await first.client.close()
    await first.task
    fake_discord.expire_cdn_links()  # a day later: the stored link no longer works

    async with open_engine(settings) as engine:  # a new process: no image bytes in memory
        second = await start_bot(engine_=engine)
        await fake_discord.say(alice, "and now?", channel=int(msg["id"]))
        await second.settle()
        await second.client.close()

    asked, _, follow_up = fake_openai.requests[-1].json["messages"][-3:]
    assert asked["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(PNG_SMALL)}},
        {"type": "text", "text": "what's wrong here?\n[image: screen.png]"},
    ]
    assert follow_up["content"] == "and now?"
    reread = f"/channels/{fake_discord.channel_id}/messages/{msg['id']}"
    assert [c.method for c in fake_discord.calls if c.path == reread] == ["GET"]


async def test_files_in_a_thread_the_bot_joins_are_read_like_live_ones(
    bot: Bot, fake_discord: FakeDiscord, fake_openai: Any
) -> None:
    alice, bob = fake_discord.add_user("Alice"), fake_discord.add_user("Bob")
    starter = await fake_discord.say(alice, "release prep")
    thread = int((await fake_discord.start_thread(starter, alice, "release"))["id"])
    code = fake_discord.attachment("greet.py", CODE.encode(), channel=thread)
    shot = fake_discord.attachment("chart.png", PNG_SMALL, content_type="image/png", channel=thread)
    await fake_discord.say(bob, "the code", channel=thread, attachments=[code])
    await fake_discord.say(bob, "and the chart", channel=thread, attachments=[shot])
    await bot.settle()
    assert fake_openai.requests == []

    await fake_discord.say(alice, "thoughts?", channel=thread, mention_bot=True)
    await bot.settle()

    [asked] = [m["content"] for m in fake_openai.requests[0].json["messages"]
               if m["role"] == "user"]  # one user turn: the same role's messages merged
    assert asked == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(PNG_SMALL)}},
        {"type": "text", "text": "Bob: the code\n[file: greet.py]\n"
                                 'def greet(name: str) -> str:\n    return f"Hello, {name}!"\n'
                                 "[end of file: greet.py]\n\n"
                                 "Bob: and the chart\n[image: chart.png]\n\n"
                                 "Alice: thoughts?"},
    ]
