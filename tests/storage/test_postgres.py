"""What only the PostgreSQL backend needs: several replicas (here: several stores, each its own
pool of connections) writing one thread at once, replicas starting together on a new
database, leases on the server's clock, and THREADBOT_DB mistakes said in one line without
the password. (Everything a store promises is in tests/contract/.)"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.errors import ConfigError
from bot.ports import Store
from bot.types import NewMessage, ThreadKey, Usage
from storage import open_store, redacted
from storage.migrations import postgres as postgres_migrations
from storage.migrations.postgres import MIGRATIONS
from tests.process import threadbot

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")


def user(text: str, tokens: int, pid: str | None = None) -> NewMessage:
    return NewMessage(role="user", content=text, tokens=tokens, platform_message_id=pid)


@pytest.fixture
async def replicas(postgres_url: str) -> AsyncIterator[list[Store]]:
    """Five stores on one database: five processes' worth of connections."""
    stores = list(await asyncio.gather(*(open_store(postgres_url) for _ in range(5))))
    try:
        yield stores
    finally:
        await asyncio.gather(*(s.close() for s in stores))


def newest_within(tokens: Sequence[tuple[str, int]], budget: int) -> list[str]:
    """What context(budget) must return for messages in stored order: the newest that fit."""
    picked: list[str] = []
    total = 0
    for text, count in reversed(tokens):
        if picked and total + count > budget:
            break
        picked.insert(0, text)
        total += count
    return picked


async def test_four_replicas_writing_one_thread_keep_every_running_total_right(
    replicas: list[Store],
) -> None:
    writers = replicas[:4]
    thread = await writers[0].ensure_thread(KEY, "replay")
    sizes = {f"r{r}-m{i}": 1 + (r * 50 + i) % 7 for r in range(4) for i in range(50)}

    async def write(r: int) -> None:
        for i in range(50):
            text = f"r{r}-m{i}"
            await writers[r].add(thread, user(text, sizes[text], text))

    await asyncio.gather(*(write(r) for r in range(4)))
    stored = [m.content for _, m in await replicas[4].history(KEY)]  # in id order
    assert sorted(stored) == sorted(sizes)
    # The whole context comes back in running-total order: the same as id order, so no
    # message got a total below one stored (committed) before it.
    assert [m.content for m in await replicas[4].context(thread, 10_000)] == stored
    in_order = [(text, sizes[text]) for text in stored]
    for budget in (1, 7, 30, 31, 99, 250, 600):
        window = [m.content for m in await replicas[4].context(thread, budget)]
        assert window == newest_within(in_order, budget), budget


async def test_the_same_message_from_five_replicas_is_stored_once(replicas: list[Store]) -> None:
    thread = await replicas[0].ensure_thread(KEY, "replay")
    for round_ in range(10):
        pid = f"m{round_}"
        ids = await asyncio.gather(*(s.add(thread, user("hello", 3, pid)) for s in replicas))
        assert sum(row is not None for row in ids) == 1
    assert len(await replicas[0].history(KEY)) == 10


async def test_five_replicas_starting_one_thread_at_once_share_it(replicas: list[Store]) -> None:
    for round_ in range(10):
        key = ThreadKey("slack", "T1", "C1", f"new-{round_}")
        threads = await asyncio.gather(*(s.ensure_thread(key, "replay") for s in replicas))
        assert len({t.id for t in threads}) == 1
    assert len(await replicas[0].list_threads()) == 10


async def test_a_command_from_five_replicas_is_handled_once(replicas: list[Store]) -> None:
    for round_ in range(10):
        firsts = await asyncio.gather(
            *(s.first_time(KEY, f"cmd-{round_}", "reset") for s in replicas)
        )
        assert firsts.count(True) == 1


async def test_replies_and_messages_from_many_replicas_keep_order_and_totals(
    replicas: list[Store],
) -> None:
    """A reply reserved and finished on one replica while others store messages: the reply's
    tokens shift exactly the rows stored after it."""
    thread = await replicas[0].ensure_thread(KEY, "replay")
    await replicas[0].add(thread, user("question", 10, "q"))
    row = await replicas[0].begin_reply(thread)
    finish = replicas[0].finish_reply(
        thread, row, NewMessage(role="assistant", content="answer", tokens=5)
    )
    later = (s.add(thread, user(f"later {i}", 1, f"l{i}")) for i, s in enumerate(replicas[1:]))
    await asyncio.gather(finish, *later)
    everything = [(m.content, m.tokens) for m in await replicas[0].context(thread, 10_000)]
    assert everything[:2] == [("question", 10), ("answer", 5)]
    for budget in (1, 4, 5, 9, 15):
        window = [m.content for m in await replicas[0].context(thread, budget)]
        assert window == newest_within(everything, budget), budget


async def test_replicas_starting_together_migrate_a_new_database_once(postgres_url: str) -> None:
    stores = await asyncio.gather(*(open_store(postgres_url) for _ in range(4)))
    await asyncio.gather(*(s.close() for s in stores))
    import asyncpg

    db = await asyncpg.connect(postgres_url)
    try:
        names = [r[0] for r in await db.fetch("SELECT name FROM _migrations ORDER BY name")]
    finally:
        await db.close()
    assert names == [name for name, _ in MIGRATIONS]


# the previous release's threadbot_add_message: 15 arguments, no cached input tokens
OLD_ADD = ("SELECT threadbot_add_message($1, $2, $3, '', '', $4, 2, NULL, $5, 'gpt-x', $6, $7, "
           "'answered', 0::smallint, now())")


async def test_a_database_from_before_cached_input_tokens_is_upgraded_and_keeps_its_usage(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database the previous release wrote opens with the cached-input column added: its
    replies read as 0 cached, new ones keep theirs — and a replica still on the previous
    release (the old function signature) keeps writing during a rolling upgrade."""
    import asyncpg

    db = await asyncpg.connect(postgres_url)
    try:
        with monkeypatch.context() as old_release:
            old_release.setattr(postgres_migrations, "MIGRATIONS", MIGRATIONS[:1])
            await postgres_migrations.migrate(db)
        thread_id = await db.fetchval(
            """INSERT INTO threads (platform, scope, channel, thread, strategy, created_at,
                                    updated_at)
               VALUES ($1, $2, $3, $4, 'chain', now(), now()) RETURNING id""",
            KEY.platform, KEY.scope, KEY.channel, KEY.thread,
        )
        await db.fetchval(OLD_ADD, thread_id, 0, "assistant", "old reply", "resp_old", 120, 7)
        store = await open_store(postgres_url)  # the new release migrates it
        try:
            thread = await store.get_thread(KEY)
            assert thread is not None
            assert await store.reply_usage(thread, "resp_old") == Usage(120, 7, 0)
            await store.add(thread, NewMessage(role="assistant", content="new reply", tokens=2,
                                               response_id="resp_new", usage=Usage(300, 9, 256)))
            await db.fetchval(OLD_ADD, thread_id, 0, "assistant", "late", "resp_late", 50, 5)
            assert await store.reply_usage(thread, "resp_new") == Usage(300, 9, 256)
            assert await store.reply_usage(thread, "resp_late") == Usage(50, 5, 0)
            assert [s.cached_input_tokens for s in await store.stats()] == [256]
        finally:
            await store.close()
        names = [r[0] for r in await db.fetch("SELECT name FROM _migrations ORDER BY name")]
        assert names == [name for name, _ in MIGRATIONS]
    finally:
        await db.close()


async def test_a_lease_runs_on_the_servers_clock(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica whose clock is an hour behind still holds its lease for its full length."""
    first, second = await open_store(postgres_url), await open_store(postgres_url)
    try:
        thread = await first.ensure_thread(KEY, "replay")
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() - 3600)
        assert await first.claim(thread.id, "behind", 30)
        monkeypatch.setattr(time, "time", real)
        assert not await second.claim(thread.id, "on-time", 30)
        assert await second.request_stop(thread.id)  # the lease is live
    finally:
        await first.close()
        await second.close()


# --- THREADBOT_DB mistakes: one line, never the password ---


def _with(url: str, **parts: Any) -> str:
    split = urlsplit(url)
    netloc = parts.pop("netloc", split.netloc)
    return urlunsplit(split._replace(netloc=netloc, **parts))


def _credentials(url: str) -> tuple[str, str, str]:
    split = urlsplit(url)
    return split.username or "", split.password or "", f"{split.hostname}:{split.port}"


async def _problem(url: str) -> str:
    with pytest.raises(ConfigError) as caught:
        await open_store(url)
    line = str(caught.value)
    assert "\n" not in line and line.startswith("THREADBOT_DB=")
    return line


async def test_a_wrong_password_is_one_line_without_it(postgres_url: str) -> None:
    user_name, _, where = _credentials(postgres_url)
    line = await _problem(_with(postgres_url, netloc=f"{user_name}:Wr0ngSecret@{where}"))
    if "refused" not in line:
        pytest.skip(f"this server lets anyone in: {line}")
    assert "Wr0ngSecret" not in line and "password" in line and user_name in line


async def test_a_missing_database_says_how_to_create_it(postgres_url: str) -> None:
    _, password, _ = _credentials(postgres_url)
    line = await _problem(_with(postgres_url, path="/no_such_db"))
    assert "'no_such_db' does not exist" in line and "createdb" in line
    assert not password or password not in line


async def test_an_unreachable_server_is_one_line() -> None:
    line = await _problem("postgresql://bot:Hunter2Secret@127.0.0.1:9/threadbot")
    assert "cannot reach" in line and "127.0.0.1:9" in line and "Hunter2Secret" not in line
    assert "bot:***@127.0.0.1:9" in line


def test_a_url_is_shown_without_its_password() -> None:
    assert redacted("postgresql://bot:s3cr@t@db:5432/x") == "postgresql://bot:***@db:5432/x"
    assert redacted("postgres://bot@db/x?sslmode=require&password=s3cret") == (
        "postgres://bot@db/x?sslmode=require&password=***"
    )
    assert redacted("postgresql:///x?host=/run/postgresql") == "postgresql:///x?host=/run/postgresql"
    assert redacted("sqlite:///bot.db") == "sqlite:///bot.db" and redacted("bot.db") == "bot.db"


async def test_a_wrong_scheme_names_the_right_one() -> None:
    with pytest.raises(ConfigError) as caught:
        await open_store("postgresql+asyncpg://bot:Hunter2Secret@db/threadbot")
    assert "postgresql://" in str(caught.value) and "Hunter2Secret" not in str(caught.value)


async def test_the_cli_says_it_in_one_line_and_exit_status_2(tmp_path: Any) -> None:
    env = {"THREADBOT_DB": "postgresql://bot:Hunter2Secret@127.0.0.1:9/threadbot"}
    code, out, err = await threadbot("stats", cwd=tmp_path, env=env, deadline=30)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and "Traceback" not in err and "Hunter2Secret" not in err
    assert err.startswith("threadbot: THREADBOT_DB=postgresql://bot:***@127.0.0.1:9/")


def test_the_cli_does_not_load_asyncpg_before_a_postgresql_store_is_opened() -> None:
    from tests.test_architecture import loaded_after

    assert "asyncpg" not in loaded_after("import bot.cli, storage, bot.app")


async def test_a_thread_not_found_names_the_database_without_its_password(
    tmp_path: Any, postgres_url: str
) -> None:
    _, password, _ = _credentials(postgres_url)
    env = {"THREADBOT_DB": postgres_url}
    code, out, err = await threadbot("export", "--thread", "nope", cwd=tmp_path, env=env)
    assert (code, out) == (2, "") and "no stored thread 'nope'" in err, err
    assert password and password not in err and ":***@" in err
