"""The engine keeps its promises across races, restarts, shutdowns and faults: every message
it was asked to answer is answered exactly once, and nothing the user saw is lost.

Real OpenAI SDK against the loopback fake; each test once on a real SQLite file and once on a
real PostgreSQL database (the ``database`` fixture). A restart is a new engine on the same
database.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_engine
from bot.config import Settings
from bot.errors import USER_MESSAGES, ErrorKind
from bot.tokens import TokenCounter
from bot.types import Command, CommandName, Ending, NewMessage, ThreadKey, Turn, Unfinished
from storage import open_store
from tests.conftest import make_settings
from tests.crash import left_by_a_crash
from tests.helpers import RecordingSink

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")


@pytest.fixture
def settings(tmp_path: Path, fake_openai: Any, database: str) -> Settings:
    """The shared ``settings`` (and so ``engine``) on each store in turn."""
    return make_settings(tmp_path, openai_base_url=fake_openai.base_url, db=database)


_ids = iter(range(1, 1_000_000))


def turn(text: str, *, key: ThreadKey = KEY, author: str = "Alice", mid: str = "") -> Turn:
    return Turn(key=key, message_id=mid or f"m{next(_ids)}", author_id=f"U-{author}",
                author_name=author, text=text)


def user_turns(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def new_input(body: dict[str, Any]) -> str:
    """What a Chat request asks the model to answer: the user turn after the last reply."""
    messages = [m for m in body["messages"] if m["role"] != "system"]
    assert messages[-1]["role"] == "user", "a request must end on the user's words"
    return str(messages[-1]["content"])


class Resumed:
    """A platform's side of a restart: which messages it was asked to tidy, and a recording
    sink per resumed conversation."""

    def __init__(self) -> None:
        self.tidied: list[tuple[ThreadKey, tuple[str, ...]]] = []
        self.sinks: dict[ThreadKey, RecordingSink] = {}

    async def tidy(self, key: ThreadKey, refs: Sequence[str], answer: str | None) -> None:
        self.tidied.append((key, tuple(refs)))

    def sink_for(self, work: Unfinished) -> RecordingSink:
        return self.sinks.setdefault(work.key, RecordingSink())

    async def answered(self, key: ThreadKey) -> RecordingSink:
        sink = self.sinks[key]
        await asyncio.wait_for(sink.done.wait(), 5)
        return sink


async def test_a_message_arriving_as_a_reply_starts_is_answered_once(
    settings: Any, fake_openai: Any
) -> None:
    """Follow-ups 0–40 ms after the first message, in many threads at once: each message is
    the new input of exactly one request, and no request ends on the bot's own words."""
    fake_openai.delay = 0.005
    rng = random.Random(7)
    keys = [ThreadKey("slack", "T1", "D1", f"t{i}") for i in range(60)]

    async def conversation(key: ThreadKey) -> None:
        first = engine.handle(turn(f"first [{key.thread}]", key=key), RecordingSink())
        task = asyncio.create_task(first)
        await asyncio.sleep(rng.uniform(0, 0.04))
        await engine.handle(turn(f"second [{key.thread}]", key=key), RecordingSink())
        await task

    async with open_engine(settings) as engine:
        await asyncio.gather(*(conversation(k) for k in keys))
    asked = [new_input(r.json) for r in fake_openai.requests]
    for key in keys:
        for which in ("first", "second"):
            said = f"{which} [{key.thread}]"
            assert sum(said in text for text in asked) == 1, (said, asked)


async def test_reset_during_a_reply_with_a_message_waiting_sends_no_empty_request(
    settings: Any, fake_openai: Any
) -> None:
    fake_openai.delay = 0.02
    fake_openai.reply_with("word " * 30)
    async with open_engine(settings) as engine:
        first = RecordingSink()
        running = asyncio.create_task(engine.handle(turn("tell me a story"), first))
        while not first.deltas:
            await asyncio.sleep(0.005)
        waiting = RecordingSink()
        await engine.handle(turn("and another"), waiting)  # waits for the next round
        await engine.command(Command(key=KEY, name=CommandName.RESET), RecordingSink())
        await asyncio.wait_for(running, 5)
    assert first.final is not None and len(fake_openai.requests) == 1
    assert not waiting.used  # forgotten by the reset, not sent as an empty conversation


async def test_a_restart_answers_what_was_left_waiting_once_and_tidies_the_screen(
    settings: Any, fake_openai: Any
) -> None:
    # What a kill -9 mid-reply leaves: two messages waiting, a reply row with no ending
    # and the platform message that was showing it.
    await left_by_a_crash(settings.db, KEY, ["My name is Alice", "What is my name?"],
                          author_id="U-Alice", author_name="Alice", message_ids=["p0", "p1"],
                          refs=["stream:1700000001.000200"])

    platform = Resumed()
    async with open_engine(settings) as engine:
        assert len(await engine.resume("slack", platform)) == 1
        assert await engine.resume("discord", Resumed()) == []  # another platform's work
        sink = await platform.answered(KEY)
    assert platform.tidied == [(KEY, ("stream:1700000001.000200",))]
    assert sink.final == "Your name is Alice."  # both waiting messages, answered together
    assert len(fake_openai.requests) == 1

    async with open_engine(settings) as engine:  # a second restart: nothing left to do
        again = Resumed()
        assert await engine.resume("slack", again) == [] and again.tidied == []
    store = await open_store(settings.db)
    rows = [m for _, m in await store.history(KEY)]
    [stats] = await store.stats()
    await store.close()
    assert [m.role for m in rows] == ["user", "user", "assistant"]  # the empty row is gone
    assert stats.messages == 3


async def test_messages_that_waited_too_long_are_left_and_marked(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    settings = make_settings(
        tmp_path, db=database, openai_base_url=fake_openai.base_url, resume_max_age=60
    )
    store = await open_store(settings.db)
    thread = await store.ensure_thread(KEY, "replay")
    old = NewMessage(role="user", content="hello?", tokens=3, platform_message_id="p1",
                     awaits_answer=True, at=__import__("datetime").datetime(2020, 1, 1,
                     tzinfo=__import__("datetime").UTC))
    await store.add(thread, old)
    await store.close()
    platform = Resumed()
    async with open_engine(settings) as engine:
        assert await engine.resume("slack", platform) == []
    assert fake_openai.requests == []


async def test_shutdown_lets_a_reply_finish_within_the_grace_period(
    settings: Any, fake_openai: Any
) -> None:
    fake_openai.delay = 0.01
    fake_openai.reply_with("one two three four five six")
    async with open_engine(settings) as engine:
        sink = RecordingSink()
        running = asyncio.create_task(engine.handle(turn("count"), sink))
        while not sink.deltas:
            await asyncio.sleep(0.005)
        await engine.close(grace=5)
        await running
        late = RecordingSink()
        await engine.handle(turn("are you there?"), late)  # arrives during the shutdown
    assert sink.final == "one two three four five six" and sink.ending is Ending.ANSWERED
    assert not late.used
    async with open_engine(settings) as engine:  # the next process answers it
        platform = Resumed()
        assert len(await engine.resume("slack", platform)) == 1
        assert (await platform.answered(KEY)).final == "one two three four five six"


async def test_a_reply_still_running_after_the_grace_period_is_kept_and_marked_interrupted(
    settings: Any, fake_openai: Any
) -> None:
    fake_openai.delay = 0.05
    fake_openai.reply_with("word " * 100)
    async with open_engine(settings) as engine:
        sink = RecordingSink()
        running = asyncio.create_task(engine.handle(turn("a long story"), sink))
        while len(sink.deltas) < 2:
            await asyncio.sleep(0.005)
        await engine.close(grace=0.1)
        await asyncio.wait_for(running, 5)
    assert sink.ending is Ending.INTERRUPTED and sink.final and sink.final.startswith("word")
    store = await open_store(settings.db)
    [reply] = [m for _, m in await store.history(KEY) if m.role == "assistant"]
    thread = await store.get_thread(KEY)
    assert thread is not None and await store.waiting(thread) is None  # counts as answered
    await store.close()
    assert reply.ending is Ending.INTERRUPTED and reply.content == sink.final


async def test_text_shown_before_a_provider_failure_is_kept_and_marked(
    engine: Any, fake_openai: Any
) -> None:
    fake_openai.reply_with("The first part of the answer and then more words")
    fake_openai.break_stream_next(after_chars=15)
    sink = RecordingSink()
    await engine.handle(turn("explain"), sink)
    assert sink.error in (USER_MESSAGES[ErrorKind.UNAVAILABLE], USER_MESSAGES[ErrorKind.OTHER])
    shown = "".join(sink.deltas)
    assert shown
    store = engine._store
    [reply] = [m for _, m in await store.history(KEY) if m.role == "assistant"]
    assert reply.content == shown and reply.ending is Ending.FAILED
    nxt = RecordingSink()
    await engine.handle(turn("go on"), nxt)
    assert shown in [m["content"] for m in fake_openai.requests[-1].json["messages"]]


async def test_commands_and_hints_are_answered_once_per_platform_message(
    settings: Any, fake_openai: Any
) -> None:
    async with open_engine(settings) as engine:
        await engine.handle(turn("My name is Alice"), RecordingSink())
        reset = Command(key=KEY, name=CommandName.RESET, message_id="cmd-1")
        first, again = RecordingSink(), RecordingSink()
        await engine.command(reset, first)
        await engine.command(reset, again)
        hint, hint_again = RecordingSink(), RecordingSink()
        await engine.handle(turn("  ", mid="empty-1"), hint)
        await engine.handle(turn("  ", mid="empty-1"), hint_again)
    assert first.final and not again.used
    assert hint.final and not hint_again.used
    async with open_engine(settings) as engine:  # redelivered after a restart
        after = RecordingSink()
        await engine.command(reset, after)
        await engine.handle(turn("  ", mid="empty-1"), after)
        await engine.handle(turn("What is my name?"), after)
    assert after.final == "I don't know your name."  # reset once, not twice; no second hint


async def test_a_bare_mention_starts_the_conversation(engine: Any) -> None:
    hint = RecordingSink()
    await engine.handle(turn(""), hint)
    assert hint.final and await engine.follows(KEY)


async def test_chain_names_every_author_and_counts_the_names_in_the_budget(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    settings = make_settings(tmp_path, db=database, openai_base_url=fake_openai.base_url,
                             provider="openai-responses", history="chain", context_tokens=400,
                             system_prompt="Be brief.", model="gpt-4o-mini")
    counter = TokenCounter("gpt-4o-mini")
    async with open_engine(settings) as engine:
        for i in range(30):
            await engine.handle(turn(f"note {i}: " + "lorem ipsum " * 8,
                                     author="Bartholomew-Alexander"), RecordingSink())
        fake_openai.expire_responses()  # the next turn replays its context
        await engine.handle(turn("last one", author="Bartholomew-Alexander"), RecordingSink())
    calls = [r.json for r in fake_openai.requests]

    def text(item: dict[str, Any]) -> str:
        return "".join(part["text"] for part in item["content"])

    assert text(calls[0]["input"][0]).startswith("Bartholomew-Alexander: ")
    replayed = calls[-1]["input"]
    sent = sum(counter.count(text(m)) + 4 for m in replayed)
    assert sent + counter.count("Be brief.") <= 400, sent
    assert all(text(m).startswith("Bartholomew-Alexander: ") for m in replayed if m["role"] == "user")


async def test_a_timeout_reaches_the_user_within_the_deadline_retries_included(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    settings = make_settings(tmp_path, db=database, openai_base_url=fake_openai.base_url,
                             provider_timeout=0.5, provider_retries=3)
    fake_openai.hang_next(times=4)
    async with open_engine(settings) as engine:
        started = time.monotonic()
        sink = RecordingSink()
        await engine.handle(turn("hello?"), sink)
        elapsed = time.monotonic() - started
    assert sink.error == USER_MESSAGES[ErrorKind.TIMEOUT]
    assert elapsed < 1.5  # one deadline, not one per attempt (4 × 0.5 s and backoff)


async def test_a_long_reply_that_keeps_streaming_is_not_cut_by_the_timeout(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    settings = make_settings(
        tmp_path, db=database, openai_base_url=fake_openai.base_url, provider_timeout=0.5
    )
    fake_openai.reply_with("a b c d e f g h i j")
    fake_openai.chunk_size = 2
    fake_openai.delay = 0.2  # ten chunks over two seconds, never silent for 0.5 s
    async with open_engine(settings) as engine:
        sink = RecordingSink()
        await engine.handle(turn("spell it"), sink)
    assert sink.final == "a b c d e f g h i j" and sink.error is None


@pytest.mark.parametrize("grace", [0.0])
async def test_nothing_waits_after_a_stop(settings: Any, fake_openai: Any, grace: float) -> None:
    fake_openai.delay = 0.02
    fake_openai.reply_with("word " * 50)
    async with open_engine(settings) as engine:
        sink = RecordingSink()
        running = asyncio.create_task(engine.handle(turn("long"), sink))
        while not sink.deltas:
            await asyncio.sleep(0.005)
        await engine.handle(turn("and this"), RecordingSink())
        await engine.command(Command(key=KEY, name=CommandName.STOP), RecordingSink())
        await asyncio.wait_for(running, 5)
    async with open_engine(settings) as engine:  # stop means quiet, also after a restart
        assert await engine.resume("slack", Resumed()) == []


async def test_the_bots_own_messages_read_back_are_not_taken_for_cut_replies(
    settings: Any, fake_openai: Any
) -> None:
    async with open_engine(settings) as engine:
        await engine.remember([turn("hi"), turn("Hello! I'm the bot.", author="Bot")],
                              bot_user_id="U-Bot")
    platform = Resumed()
    async with open_engine(settings) as engine:  # a restart
        assert await engine.resume("slack", platform) == [] and platform.tidied == []
        sink = RecordingSink()
        await engine.handle(turn("what did you say?"), sink)
    assert {"role": "assistant", "content": "Hello! I'm the bot."} in (
        fake_openai.requests[-1].json["messages"])
