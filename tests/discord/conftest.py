"""Discord fixtures: a fake Discord on loopback and the real adapter connected to it.

The adapter runs as in production (``serve()``: login, gateway, command sync) on the real
engine, SQLite file and OpenAI SDK against FakeOpenAI. discord.py swallows exceptions from
event handlers (``on_error``) and app commands (``tree.on_error``): the test client records
them, and any ERROR log record fails the test, so nothing breaks silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import pytest
from pydantic import SecretStr

from adapters.discord.client import ShardedThreadbotClient, ThreadbotClient
from adapters.discord.connection import serve
from adapters.discord.settings import DiscordSettings
from adapters.discord.setup import discord_endpoints
from bot.engine import Engine
from tests.fakes.discord_server import TOKEN, FakeDiscord

EDIT_INTERVAL = 0.3  # production uses 1 s; shorter keeps the suite fast, same logic


class RecordingClient(ThreadbotClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.errors: list[BaseException] = []

        async def tree_error(interaction: discord.Interaction, error: Exception) -> None:
            self.errors.append(error)

        self.tree.on_error = tree_error  # type: ignore[method-assign]

        self.handled: list[int] = []  # ids of the messages that reached on_message

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        self.errors.append(sys.exc_info()[1] or RuntimeError(event_method))

    async def on_message(self, message: discord.Message) -> None:
        self.handled.append(message.id)
        await super().on_message(message)

    def caught_up(self, fake: FakeDiscord) -> bool:
        """Whether the client has every event the fake sent it so far."""
        ws = self.ws
        return ws is not None and (ws.sequence or 0) >= fake.seq


class RecordingShardedClient(RecordingClient, ShardedThreadbotClient):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s before each further shard's IDENTIFY (Discord's rate limit
        for real); the fake has none."""

    def caught_up(self, fake: FakeDiscord) -> bool:
        # discord.py has no public accessor for a shard's connection
        sockets = {s: self._get_websocket(shard_id=s) for s in self.shards}
        return bool(sockets) and all((ws.sequence or 0) >= fake.seq_of(s)
                                     for s, ws in sockets.items())


class Bot:
    """The running adapter plus helpers to wait for it."""

    def __init__(self, client: RecordingClient, fake: FakeDiscord, task: asyncio.Task[None]):
        self.client = client
        self.fake = fake
        self.task = task

    @property
    def id(self) -> int:
        assert self.client.user is not None
        return self.client.user.id

    async def settle(self, within: float = 10.0) -> None:
        """Wait until the bot received every event sent so far and finished handling them.
        A bot that was stopped has nothing left to do; one that ended by itself raises why."""
        async with asyncio.timeout(within):
            calm = 0
            while calm < 3:
                if self.task.done():
                    if not self.task.cancelled():
                        self.task.result()
                    return
                caught_up = self.client.caught_up(self.fake)
                calm = calm + 1 if caught_up and self.client.tasks.busy == 0 else 0
                await asyncio.sleep(0.02)


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def discord_settings(fake_discord: FakeDiscord) -> DiscordSettings:
    return DiscordSettings(  # type: ignore[call-arg]
        _env_file=None,
        bot_token=SecretStr(fake_discord.token),
        api_url=fake_discord.api_url,
        gateway_url=fake_discord.gateway_url,
    )


StartBot = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def start_bot(
    discord_settings: DiscordSettings, engine: Engine, fake_discord: FakeDiscord
) -> AsyncIterator[StartBot]:
    """``await start_bot(**settings_overrides)`` → a connected, ready Bot."""
    bots: list[Bot] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(discord_endpoints(fake_discord.api_url, fake_discord.gateway_url))

        async def start(*, engine_: Engine = engine, **overrides: Any) -> Bot:
            settings = discord_settings.model_copy(update=overrides)
            kind = RecordingShardedClient if settings.shards else RecordingClient
            client = kind(settings, engine_, edit_interval=EDIT_INTERVAL,
                          guild_ready_timeout=0.05)
            task = asyncio.create_task(serve(client, fake_discord.token))
            ready = asyncio.create_task(client.ready_event.wait())
            done, _ = await asyncio.wait({task, ready}, timeout=10,
                                         return_when=asyncio.FIRST_COMPLETED)
            if ready not in done:
                ready.cancel()
                if task in done:
                    task.result()  # raise what stopped it
                raise TimeoutError("the Discord client did not become ready")
            bot = Bot(client, fake_discord, task)
            bots.append(bot)
            return bot

        try:
            yield start
            for bot in bots:
                if not bot.task.done():  # one that ended was awaited by its test
                    await bot.settle()
        finally:
            for bot in bots:
                if bot.task.done():
                    continue
                bot.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await bot.task
        for bot in bots:
            assert not bot.client.errors, f"handler errors: {bot.client.errors!r}"


@pytest.fixture
async def bot(start_bot: StartBot) -> Bot:
    return await start_bot()


@pytest.fixture(autouse=True)
def _no_error_logs(caplog: pytest.LogCaptureFixture) -> Any:
    """Exceptions the engine or discord.py catch and log must still fail the test."""
    caplog.set_level(logging.DEBUG)  # DEBUG too: no log line may carry the token
    yield
    records = [r for when in ("setup", "call", "teardown") for r in caplog.get_records(when)]
    errors = [r for r in records if r.levelno >= logging.ERROR]
    assert not errors, "ERROR logged: " + "; ".join(r.getMessage() for r in errors)
    leaked = [r for r in records if TOKEN in r.getMessage()]
    assert not leaked, "the bot token was logged"
