"""`threadbot migrate-store`: SQLite → PostgreSQL → SQLite keeps every conversation as it was
(what export shows, and what the bot needs to carry on: epochs, endings, usage, anchors,
pending messages, open replies, handled commands), the spending ledger and the settings
changed from chat, and a second run copies nothing twice. Each step runs the real
`threadbot` command."""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
import termios
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bot.admin.ledger import (
    Charge,
    PlaceSetting,
    Spender,
    Spending,
    Subject,
    UsageBy,
    UsageRow,
    Verdict,
)
from bot.ports import Store
from bot.types import Coverage, Ending, Image, NewMessage, RollingSummary, ThreadKey, Usage
from storage import open_store
from storage.copy import open_copier
from storage.copy_rows import ChargeCopy, ThreadCopy
from tests.process import child_env, command, threadbot

CHAIN = ThreadKey("slack", "T1", "C1", "1700000000.000100")
REPLAY = ThreadKey("discord", "G1", "C9", "T9")
NO_THREAD = ThreadKey("slack", "T1", "C2", "")
EARLY = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
ALICE = Spender("slack", "T1", "C1", "U1")
GUILD = Spender("discord", "G1", "C9", "U7")
SPENT = [  # what usage by user says of a_lived_in_sqlite_store
    UsageRow("slack", "U1", 2, 1320, 1000, 87, 0.03125, 30),
    UsageRow("discord", "U7", 1, 40, 0, 3, 0.0078125),
]


def said(text: str, pid: str, author: str = "U1", *, waits: bool = False) -> NewMessage:
    return NewMessage(role="user", content=text, tokens=len(text.split()), author_id=author,
                      author_name=f"name {author}", platform_message_id=pid, at=EARLY,
                      awaits_answer=waits)


def reply(text: str, ending: Ending, response_id: str | None = None) -> NewMessage:
    return NewMessage(role="assistant", content=text, tokens=len(text.split()), model="gpt-x",
                      response_id=response_id, usage=Usage(120, 7, 100, 30), ending=ending, at=EARLY)


async def a_lived_in_sqlite_store(url: str) -> None:
    """Two epochs of a chained thread with every kind of ending, a summary, a message still
    waiting and a reply cut short on screen; a replayed thread; commands handled."""
    store = await open_store(url)
    try:
        chain = await store.ensure_thread(CHAIN, "chain")
        await store.add(chain, said("My name is Alice", "m1", waits=True))
        row = await store.begin_reply(chain)
        await store.finish_reply(chain, row, reply("Hello Alice", Ending.ANSWERED, "resp_1"))
        await store.set_anchor(chain, "resp_1", "gpt-x")
        await store.reset(chain.id)
        chain = await store.ensure_thread(CHAIN, "chain")
        await store.add(chain, replace(said("Tell me a story", "m2", "U2", waits=True),
                                       images=(Image("a.png", "image/png", "ab" * 32, "F1"),)))
        row = await store.begin_reply(chain)
        await store.finish_reply(chain, row, reply("Once upon", Ending.STOPPED, "resp_2"))
        await store.set_anchor(chain, "resp_2", "gpt-x")
        await store.add(chain, NewMessage(role="summary", content="a story", tokens=2, at=EARLY))
        await store.add_rolling_summary(chain, RollingSummary(
            content="Alice asked for a story", tokens=5, covers=Coverage(7, 2), model="gpt-s",
            usage=Usage(300, 20, 0, 4)))
        await store.add(chain, said("And then?", "m3", "U2", waits=True))
        open_row = await store.begin_reply(chain)  # a process died writing this
        await store.set_refs(open_row, ["C1:1700000001.1", "C1:1700000001.2"])

        replay = await store.ensure_thread(REPLAY, "replay")
        await store.add_many(replay, [said("hi", "d1"), said("anyone?", "d2", waits=True)])
        row = await store.begin_reply(replay)
        await store.finish_reply(replay, row, reply("Sorry", Ending.FAILED))
        assert await store.first_time(CHAIN, "cmd-1", "reset")
        assert await store.first_time(NO_THREAD, "cmd-2", "help")
        await spent_and_set(store, chain.id, replay.id)
    finally:
        await store.close()


async def spent_and_set(store: Store, chain: int, replay: int) -> None:
    """Charges (ended, estimated, one still in flight) and settings changed from chat."""
    def admitted(spent: object) -> Verdict:
        return Verdict(admitted=True)

    _, charge_id = await store.admit(Charge(ALICE, chain, "gpt-x", 9000, 0.5), [], admitted,
                                     stale_after=60)
    await store.spend(charge_id, Spending(ALICE, chain, "gpt-x", 1200, 1000, 80, 0.0234375,
                                          reasoning_tokens=30))
    await store.spend(None, Spending(ALICE, None, "gpt-y", 120, 0, 7, 0.0078125))
    await store.spend(None, Spending(GUILD, replay, "gpt-x", 40, 0, 3, 0.0078125, estimated=True))
    await store.admit(Charge(GUILD, replay, "gpt-x", 5000, 0.25), [], admitted, stale_after=60)
    await store.set_place_setting("channel:slack:C1", "model", "gpt-y", "U1")
    await store.set_place_setting(f"thread:{REPLAY}", "history", "replay", "U7")


async def migrate(source: str, target: str, cwd: Path) -> str:
    code, out, err = await threadbot("migrate-store", "--from", source, "--to", target,
                                     cwd=cwd, env={}, deadline=60)
    assert (code, err) == (0, ""), err
    assert out.count("\n") == 1, out  # one summary line off a terminal
    return out


async def everything(url: str) -> tuple[
    list[ThreadCopy], list[tuple[str, str, str]], list[ChargeCopy], list[PlaceSetting]
]:
    copier = await open_copier(url)
    try:
        threads = [await copier.read_thread(k) for k in await copier.thread_keys()]
        handled = sorted((str(h.key), h.event_id, h.kind) for h in await copier.read_handled())
        return threads, handled, await copier.read_charges(), await copier.read_place_settings()
    finally:
        await copier.close()


async def shown(db: str, cwd: Path, *args: str) -> str:
    code, out, err = await threadbot(*args, cwd=cwd, env={"THREADBOT_DB": db}, deadline=60)
    assert code == 0, err
    return out


async def test_sqlite_to_postgresql_and_back_keeps_every_conversation(
    tmp_path: Path, postgres_url: str
) -> None:
    first, last = f"sqlite:///{tmp_path / 'first.db'}", f"sqlite:///{tmp_path / 'last.db'}"
    await a_lived_in_sqlite_store(first)

    out = await migrate(first, postgres_url, tmp_path)
    assert out.startswith("copied 2 thread(s) with 11 message(s); 0 already")
    assert "2 handled" in out and "4 charge(s) and 2 place setting(s) copied" in out
    again = await migrate(first, postgres_url, tmp_path)
    assert again.startswith("copied 0 thread(s) with 0 message(s); 2 already in the target")
    assert "0 handled" in again and "0 charge(s) and 0 place setting(s) copied" in again
    # The bot went on spending on the old store: a final run copies only what is new.
    store = await open_store(first)
    try:
        await store.spend(None, Spending(GUILD, None, "gpt-y", 5, 0, 1, 0.0078125))
    finally:
        await store.close()
    final = await migrate(first, postgres_url, tmp_path)
    assert "1 charge(s) and 0 place setting(s) copied" in final
    await migrate(postgres_url, last, tmp_path)

    original = await everything(first)
    assert sum(m.images is not None for t in original[0] for m in t.messages) == 1
    charges = original[2]
    assert [c.thread for c in charges] == [CHAIN, None, REPLAY, REPLAY, None]  # by key, not id
    assert [(c.open, c.estimated) for c in charges] == [
        (False, False), (False, False), (False, True), (True, False), (False, False),
    ]
    assert [c.reasoning_tokens for c in charges] == [30, 0, 0, 0, 0]
    rolling = [m for m in original[0][0].messages if m.covers_tokens is not None]
    assert [(m.input_tokens, m.output_tokens, m.reasoning_tokens) for m in rolling] == [
        (300, 20, 4)]
    assert len(original[3]) == 2
    assert await everything(postgres_url) == original
    assert await everything(last) == original
    for thread in ("slack:T1:C1:1700000000.000100", "discord:G1:C9:T9"):
        exported = [await shown(db, tmp_path, "export", "--format", "json", "--thread", thread)
                    for db in (first, postgres_url, last)]
        assert exported[0] == exported[1] == exported[2] and '"content"' in exported[0]
    stats = [await shown(db, tmp_path, "stats") for db in (first, postgres_url, last)]
    assert stats[0] == stats[1] == stats[2]


async def test_the_bot_carries_on_where_it_was_in_the_copy(
    tmp_path: Path, postgres_url: str
) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    await a_lived_in_sqlite_store(first)
    await migrate(first, postgres_url, tmp_path)
    store = await open_store(postgres_url)
    try:
        chain = await store.get_thread(CHAIN)
        assert chain is not None and (chain.epoch, chain.last_response_id) == (1, "resp_2")
        waiting = await store.waiting(chain)
        assert waiting is not None and (waiting.waiting, waiting.last_author_id) == (1, "U2")
        assert await store.reply_usage(chain, "resp_2") == Usage(120, 7, 100, 30)
        assert [m.content for m in await store.since_response(chain, "resp_2")] == ["And then?"]
        [cut] = [w for w in await store.unfinished() if w.key == CHAIN]
        assert cut.open_refs == ("C1:1700000001.1", "C1:1700000001.2")
        assert not await store.first_time(CHAIN, "cmd-1", "reset")  # handled before the move
        assert not await store.first_time(NO_THREAD, "cmd-2", "help")
        assert await store.usage(EARLY, UsageBy.USER) == SPENT
        assert await store.usage(EARLY, UsageBy.MODEL, within=(Subject.USER, GUILD)) == [
            UsageRow("", "gpt-x", 1, 40, 0, 3, 0.0078125),
        ]
        [setting] = await store.place_settings([f"thread:{REPLAY}"])
        assert (setting.name, setting.value, setting.set_by) == ("history", "replay", "U7")
        # New messages continue the running totals the copy kept.
        await store.add(chain, said("one two three", "m4"))
        assert [m.content for m in await store.context(chain, 6)] == ["And then?", "one two three"]
    finally:
        await store.close()


def read_all(fd: int) -> str:
    """What a terminal showed, until the program let go of it."""
    seen = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: no process has the terminal open any more
            break
        if not chunk:
            break
        seen += chunk
    return seen.decode(errors="replace")


async def test_a_progress_bar_on_a_terminal(tmp_path: Path, postgres_url: str) -> None:
    first = f"sqlite:///{tmp_path / 'first.db'}"
    await a_lived_in_sqlite_store(first)
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # 80 columns
    try:
        proc = await asyncio.create_subprocess_exec(
            *command("migrate-store", "--from", first, "--to", postgres_url), cwd=tmp_path,
            env=child_env({}), stdout=asyncio.subprocess.PIPE, stderr=follower,
        )
        os.close(follower)
        terminal = asyncio.create_task(asyncio.to_thread(read_all, leader))
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        bar = await asyncio.wait_for(terminal, 10)
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert "/2 [" in bar and "thread/s" in bar, bar  # n of 2 threads, and a rate
    assert out.decode().startswith("copied 2 thread(s)")
