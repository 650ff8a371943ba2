"""The engine end to end: real SDK clients → loopback fakes, and each test once on a real
SQLite file and once on a real PostgreSQL database (the ``database`` fixture).

Each test asserts what a user would notice (the reply, the error message) and what the model
was sent (the request the fake recorded).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_engine
from bot.config import Settings
from bot.engine import EMPTY_TEXT
from bot.errors import USER_MESSAGES, ErrorKind
from bot.types import Command, CommandName, Ending, ThreadKey, Turn
from storage import open_store
from tests.conftest import make_settings
from tests.helpers import RecordingSink, answering

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")


@pytest.fixture
def settings(tmp_path: Path, fake_openai: Any, database: str) -> Settings:
    """The shared ``settings`` (and so ``engine``) on each store in turn."""
    return make_settings(tmp_path, openai_base_url=fake_openai.base_url, db=database)


_ids = iter(range(1, 1_000_000))


def turn(text: str, *, author: str = "Alice", key: ThreadKey = KEY, mid: str | None = None) -> Turn:
    return Turn(
        key=key, message_id=mid or f"m{next(_ids)}", author_id=f"U-{author}",
        author_name=author, text=text,
    )


async def ask(engine: Any, text: str, **kw: Any) -> RecordingSink:
    sink = RecordingSink()
    await engine.handle(turn(text, **kw), sink)
    return sink


def model_path(provider: str) -> str:
    return {"openai": "/chat/completions", "openai-responses": "/responses"}.get(
        provider, "/messages"
    )


def sent_messages(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of the conversation a request carried (system prompt aside), whatever
    the API's shape."""
    items = body.get("messages") or body.get("input") or []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    out = []
    for item in items:
        content = item["content"]
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content)
        if item["role"] != "system":
            out.append((item["role"], content))
    return out


@pytest.mark.parametrize(
    ("provider", "history"),
    [
        ("openai", "replay"),
        ("openai-responses", "replay"),
        ("openai-responses", "chain"),
        ("anthropic", "replay"),
    ],
)
async def test_alice_is_remembered_in_every_provider_and_strategy(
    tmp_path: Path, database: str, fake_openai: Any, fake_anthropic: Any, provider: str, history: str
) -> None:
    fake = fake_anthropic if provider == "anthropic" else fake_openai
    settings = make_settings(
        tmp_path, db=database, provider=provider, history=history, openai_base_url=fake_openai.base_url,
        anthropic_api_key="test-key", anthropic_base_url=fake_anthropic.base_url,
        model="claude-sonnet-4-6" if provider == "anthropic" else "gpt-4o-mini",
        system_prompt="Be brief.",
    )
    async with open_engine(settings) as engine:
        first = await ask(engine, "My name is Alice")
        second = await ask(engine, "What is my name?")
    assert first.final and first.deltas  # streamed, then finished
    assert second.final == "Your name is Alice."
    calls = [r for r in fake.requests if r.path.endswith(model_path(provider))]
    assert len(calls) == 2
    body = calls[1].json
    if history == "chain":
        # Only the new input travels (named: earlier turns can't be re-attributed later if
        # someone else joins); the provider holds the rest.
        assert sent_messages(body) == [("user", "Alice: What is my name?")]
        # The fake resolves the id like the real service: only then can it know "Alice".
        assert body["previous_response_id"].startswith("resp_")
        assert body["store"] is True and body["instructions"] == "Be brief."
        assert calls[0].json["instructions"] == "Be brief."
    else:
        texts = [text for _, text in sent_messages(body)]
        assert texts[0].endswith("My name is Alice") and texts[-1] == "What is my name?"
        assert [role for role, _ in sent_messages(body)][-3:] == ["user", "assistant", "user"]


async def test_small_budget_keeps_system_prompt_newest_messages_and_alternation(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    settings = make_settings(
        tmp_path, db=database, openai_base_url=fake_openai.base_url, context_tokens=120,
        system_prompt="SYSTEM PROMPT", compaction=False,  # trimming as such
    )
    async with open_engine(settings) as engine:
        for i in range(12):
            await ask(engine, f"message number {i} " + "filler " * 5)
    body = fake_openai.requests[-1].json
    roles = [m["role"] for m in body["messages"]]
    assert body["messages"][0] == {"role": "system", "content": "SYSTEM PROMPT"}
    assert roles[1] == "user" and roles[-1] == "user"
    assert all(a != b for a, b in zip(roles[1:], roles[2:], strict=False)), roles
    texts = " ".join(m["content"] for m in body["messages"])
    assert "message number 11" in texts and "message number 0 " not in texts
    assert len(roles) < 1 + 2 * 12  # really trimmed


async def test_a_huge_message_is_truncated_with_a_note_not_refused(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    settings = make_settings(
        tmp_path, db=database, openai_base_url=fake_openai.base_url, context_tokens=300
    )
    async with open_engine(settings) as engine:
        sink = await ask(engine, "lorem ipsum " * 5000)
    assert sink.final and sink.error is None
    sent = answering(fake_openai)[-1].json["messages"][-1]["content"]
    assert "message truncated" in sent and len(sent) < 2000


async def test_chain_falls_back_to_replay_when_the_response_expired(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    settings = make_settings(
        tmp_path, db=database, provider="openai-responses", history="chain",
        openai_base_url=fake_openai.base_url,
    )
    async with open_engine(settings) as engine:
        first = await ask(engine, "My name is Alice")
        fake_openai.expire_responses()
        sink = await ask(engine, "What is my name?")
        after = await ask(engine, "Thanks")
    assert sink.final == "Your name is Alice." and sink.error is None
    calls = [r.json for r in fake_openai.requests if r.path.endswith("/responses")]
    assert len(calls) == 4
    assert calls[1]["previous_response_id"]  # tried the chain, was told it expired
    assert calls[2].get("previous_response_id") is None
    # In chain mode every user message is named, in the replayed context too.
    assert [t for _, t in sent_messages(calls[2])] == [
        "Alice: My name is Alice", first.final, "Alice: What is my name?"
    ]
    # Re-anchored on the replayed response: the next turn chains again, on the new id.
    store = await open_store(settings.db)
    ids = [m.response_id for _, m in await store.history(KEY) if m.role == "assistant"]
    await store.close()
    assert calls[3]["previous_response_id"] == ids[1] != calls[1]["previous_response_id"]
    assert sent_messages(calls[3]) == [("user", "Alice: Thanks")] and after.final


async def test_reset_removes_old_history_from_the_next_request(engine: Any, fake_openai: Any) -> None:
    await ask(engine, "My name is Alice")
    reset = RecordingSink()
    await engine.command(Command(key=KEY, name=CommandName.RESET), reset)
    sink = await ask(engine, "What is my name?")
    assert reset.final and "reset" in reset.final.lower()
    assert sink.final == "I don't know your name."
    assert [m["content"] for m in fake_openai.requests[-1].json["messages"][1:]] == [
        "What is my name?"
    ]


async def test_summarize_shows_a_summary_and_stores_it_outside_the_context(
    settings: Any, fake_openai: Any
) -> None:
    async with open_engine(settings) as engine:
        await ask(engine, "We agreed to ship on Friday", author="Alice")
        await ask(engine, "And Bob writes the release notes", author="Bob")
        summary = RecordingSink()
        await engine.command(Command(key=KEY, name=CommandName.SUMMARIZE), summary)
        await ask(engine, "ok")
    assert summary.final and summary.final.startswith("Summary:")
    transcript = fake_openai.requests[-2].json["messages"][-1]["content"]
    assert "Alice: We agreed to ship on Friday" in transcript and "Bob: And Bob" in transcript
    # The summary is not a normal assistant turn: the next request does not contain it.
    assert all("Summary:" not in m["content"] for m in fake_openai.requests[-1].json["messages"])
    store = await open_store(settings.db)
    roles = [m.role for _, m in await store.history(KEY)]
    await store.close()
    assert roles.count("summary") == 1


async def test_stop_keeps_the_partial_reply_marked_and_the_next_turn_works(
    settings: Any, fake_openai: Any
) -> None:
    fake_openai.reply_with("word " * 200)
    fake_openai.delay = 0.02
    async with open_engine(settings) as engine:
        sink = RecordingSink()
        running = asyncio.create_task(engine.handle(turn("Tell me a long story"), sink))
        while not sink.deltas:
            await asyncio.sleep(0.01)
        stop = RecordingSink()
        await engine.command(Command(key=KEY, name=CommandName.STOP), stop)
        await asyncio.wait_for(running, 5)
        fake_openai.delay = 0
        fake_openai.reply_with("short answer")
        nxt = await ask(engine, "Never mind")
    assert stop.final == "Stopped."
    assert sink.ending is Ending.STOPPED and sink.final is not None
    assert 0 < sink.final.count("word") < 200
    assert nxt.final == "short answer"
    store = await open_store(settings.db)
    stopped = [m for _, m in await store.history(KEY) if m.stopped]
    await store.close()
    assert len(stopped) == 1 and stopped[0].content.startswith("word")


async def test_duplicate_delivery_is_answered_once(engine: Any, fake_openai: Any) -> None:
    first = RecordingSink()
    again = RecordingSink()
    await engine.handle(turn("hello", mid="same-id"), first)
    await engine.handle(turn("hello", mid="same-id"), again)
    assert first.final and not again.used
    assert len(fake_openai.requests) == 1


async def test_messages_during_a_reply_are_answered_once_together(
    settings: Any, fake_openai: Any
) -> None:
    fake_openai.delay = 0.02
    async with open_engine(settings) as engine:
        first = RecordingSink()
        running = asyncio.create_task(engine.handle(turn("first question"), first))
        while not first.deltas:
            await asyncio.sleep(0.01)
        sinks = [RecordingSink() for _ in range(3)]
        await asyncio.gather(
            *(engine.handle(turn(f"extra {i}"), s) for i, s in enumerate(sinks)), running
        )
    assert first.final
    assert sum(1 for s in sinks if s.final) == 1  # one answer, not three
    calls = [r.json for r in fake_openai.requests]
    assert len(calls) == 2
    last_user = calls[1]["messages"][-1]["content"]
    assert all(f"extra {i}" in last_user for i in range(3))  # none lost
    assert calls[1]["messages"][-2]["role"] == "assistant"  # after the first answer


async def test_threads_answer_concurrently(settings: Any, fake_openai: Any) -> None:
    fake_openai.delay = 0.05
    fake_openai.reply_with("a b c d e f g h")
    fake_openai.chunk_size = 2
    async with open_engine(settings) as engine:
        keys = [ThreadKey("slack", "T1", "C1", f"t{i}") for i in range(5)]
        loop = asyncio.get_running_loop()
        started = loop.time()
        sinks = [RecordingSink() for _ in keys]
        await asyncio.gather(*(engine.handle(turn("hi", key=k), s) for k, s in zip(keys, sinks, strict=True)))
        elapsed = loop.time() - started
    assert all(s.final == "a b c d e f g h" for s in sinks)
    one_reply = 0.05 * 8
    assert elapsed < one_reply * 3  # five replies overlapped instead of queueing


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, "rate_limit_exceeded", ErrorKind.RATE_LIMITED),
        (503, None, ErrorKind.OVERLOADED),
        (401, "invalid_api_key", ErrorKind.AUTH),
        (400, "context_length_exceeded", ErrorKind.CONTEXT_TOO_LONG),
        (500, None, ErrorKind.OTHER),
    ],
)
async def test_provider_errors_give_a_short_message_and_lose_nothing(
    engine: Any, fake_openai: Any, status: int, code: str | None, kind: ErrorKind
) -> None:
    # Over the model's window, a request is tried twice more with less history first.
    fake_openai.fail_next(status, code=code, times=3 if kind is ErrorKind.CONTEXT_TOO_LONG else 1)
    failed = await ask(engine, "My name is Alice")
    assert failed.error == USER_MESSAGES[kind] and failed.final is None
    assert "Traceback" not in failed.error and len(failed.error) < 120
    ok = await ask(engine, "What is my name?")
    assert ok.final == "Your name is Alice."  # the failed turn's message was kept


async def test_timeout_gives_the_timeout_message(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    settings = make_settings(
        tmp_path, db=database, openai_base_url=fake_openai.base_url, provider_timeout=0.5
    )
    fake_openai.hang_next()
    async with open_engine(settings) as engine:
        sink = await ask(engine, "hello?")
    assert sink.error == USER_MESSAGES[ErrorKind.TIMEOUT]


async def test_broken_stream_keeps_the_user_message_and_recovers(
    engine: Any, fake_openai: Any
) -> None:
    fake_openai.break_stream_next(after_chars=5)
    broken = await ask(engine, "My name is Alice")
    assert broken.error in (USER_MESSAGES[ErrorKind.UNAVAILABLE], USER_MESSAGES[ErrorKind.OTHER])
    assert (await ask(engine, "What is my name?")).final == "Your name is Alice."


async def test_several_people_are_told_apart(engine: Any, fake_openai: Any) -> None:
    await ask(engine, "I prefer tea", author="Alice")
    await ask(engine, "I prefer coffee", author="Bob")
    users = [m["content"] for m in fake_openai.requests[-1].json["messages"] if m["role"] == "user"]
    assert users == ["Alice: I prefer tea", "Bob: I prefer coffee"]


async def test_empty_message_gets_a_hint_and_no_model_call(engine: Any, fake_openai: Any) -> None:
    sink = await ask(engine, "   ")
    assert sink.final == EMPTY_TEXT
    assert fake_openai.requests == []


async def test_history_survives_a_restart(settings: Any, fake_openai: Any) -> None:
    async with open_engine(settings) as engine:
        await ask(engine, "My name is Alice")
    async with open_engine(settings) as engine:  # a new engine on the same database file
        assert await engine.follows(KEY)
        sink = await ask(engine, "What is my name?")
    assert sink.final == "Your name is Alice."


async def test_remembered_context_is_used_but_not_answered(engine: Any, fake_openai: Any) -> None:
    earlier = [turn("My name is Alice"), turn("hi Alice", author="Bot")]
    await engine.remember(earlier, bot_user_id="U-Bot")
    await engine.remember(earlier, bot_user_id="U-Bot")  # a second import adds nothing
    assert fake_openai.requests == []
    sink = await ask(engine, "What is my name?", author="Alice")
    assert sink.final == "Your name is Alice."
    roles = [m["role"] for m in fake_openai.requests[0].json["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


async def test_chain_replays_when_the_model_changed(
    tmp_path: Path, database: str, fake_openai: Any
) -> None:
    base = {"provider": "openai-responses", "history": "chain", "openai_base_url": fake_openai.base_url,
            "db": database}
    async with open_engine(make_settings(tmp_path, model="gpt-4.1-mini", **base)) as engine:
        await ask(engine, "My name is Alice")
    async with open_engine(make_settings(tmp_path, model="gpt-5-mini", **base)) as engine:
        sink = await ask(engine, "What is my name?")
        await ask(engine, "Thanks")
    calls = [r.json for r in fake_openai.requests]
    # A response id from another model is not chained on: the history is replayed...
    assert calls[1].get("previous_response_id") is None and calls[1]["model"] == "gpt-5-mini"
    assert [t for _, t in sent_messages(calls[1])][-1] == "Alice: What is my name?"
    assert sink.final == "Your name is Alice."
    # ...and the chain continues from the new model's response.
    assert calls[2]["previous_response_id"] and sent_messages(calls[2]) == [("user", "Alice: Thanks")]


class StrictSink(RecordingSink):
    """Slow platform calls that fail the test on overlap or on being cancelled midway."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay, self.busy, self.cut = delay, False, 0
        self.calls: list[str] = []

    async def _call(self, name: str) -> None:
        assert not self.busy, f"{name} overlapped another sink call: {self.calls}"
        self.busy = True
        self.calls.append(name)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cut += 1
            raise
        finally:
            self.busy = False

    async def start(self) -> None:
        await self._call("start")
        await super().start()

    async def append(self, delta: str) -> None:
        await self._call("append")
        await super().append(delta)

    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None:
        await self._call("finish")
        await super().finish(text, ending)

    async def fail(self, message: str) -> None:
        await self._call("fail")
        await super().fail(message)


@pytest.mark.parametrize("at", [0.0, 0.01, 0.02])
async def test_sink_calls_are_ordered_and_a_stop_never_cuts_one(
    settings: Any, fake_openai: Any, at: float
) -> None:
    fake_openai.reply_with("word " * 200)  # the model outpaces the sink: calls would pile up
    async with open_engine(settings) as engine:
        sink = StrictSink(delay=0.03)
        running = asyncio.create_task(engine.handle(turn("Tell me a long story"), sink))
        async with asyncio.timeout(5):
            while len(sink.deltas) < 2 and not sink.done.is_set():
                await asyncio.sleep(0.005)
        await asyncio.sleep(at)  # somewhere inside an append
        await engine.command(Command(key=KEY, name=CommandName.STOP), RecordingSink())
        await asyncio.wait_for(running, 5)
    assert sink.calls[0] == "start" and sink.calls.count("start") == 1
    assert sink.calls[-1] == "finish" and sink.calls.count("finish") == 1
    assert sink.cut == 0
    assert sink.final is not None and sink.ending is Ending.STOPPED


async def test_indentation_reaches_the_model(engine: Any, fake_openai: Any) -> None:
    code = "def f():\n    return 1"
    await ask(engine, "    indented first line\n" + code)
    sent = fake_openai.requests[-1].json["messages"][-1]["content"]
    assert sent == "    indented first line\n" + code
