"""The Discord adapter's gateway client: what the bot does with each message.

A conversation is a thread (the one the bot opens from a mention, or one it was mentioned
in), a DM channel, or — with THREADBOT_DISCORD_THREADS=never, or where the bot may not create
threads — a reply chain in a text channel, keyed by its first message (for the parts of a
command's answer: its original response). Which messages count is decided in events.py,
replies are shown by sink.py, slash commands live in commands.py, endpoints / intents / the
invite URL in setup.py, connecting and staying connected in connection.py.

Nothing kept in this process decides what the bot answers: whether it follows a thread is
the store's (``engine.follows``) or Discord's (the thread's owner); the reply-chain cache only
spares walking a chain's replies through the API (up to CHAIN_HOPS back), which a miss does
(a restart, a server that moved to another process's shard). That is what lets several
processes share the shards (sharding.py) and one database.

Tests build the client themselves (shorter edit interval and ready timeout) inside
``discord_endpoints(fake.api_url, fake.gateway_url)`` and run it with ``connection.serve()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import discord

from adapters.common.caches import BoundedCache
from adapters.common.files import FileReader
from adapters.common.routing import Action
from adapters.common.tasks import Tracker
from adapters.discord import events as ev
from adapters.discord.commands import build_tree, sync_commands
from adapters.discord.files import DiscordImages
from adapters.discord.metered import counting_trace
from adapters.discord.recovery import DiscordResumer
from adapters.discord.settings import DiscordSettings
from adapters.discord.setup import intents
from adapters.discord.sharding import Sharding
from adapters.discord.sink import DiscordSink
from bot.config import FileSettings
from bot.engine import Engine
from bot.types import Refusal, ThreadKey, ThreadState, Turn

__all__ = ["ShardedThreadbotClient", "ThreadbotClient"]

log = logging.getLogger(__name__)

CONTEXT_MESSAGES = 20  # earlier messages read when first mentioned in an existing thread
CATCH_UP_SECONDS = 1.5  # reading them may delay storing the mention this long, no longer
FILE_MARGIN = 0.3  # their files' downloads end this long before that
CHAIN_HOPS = 25  # how far a reply chain is walked through the API after a restart
CHAIN_MEMORY = 10_000  # messages whose reply chain is remembered (then walked again)


def _skipping_malformed(event: str, parse: Callable[[Any], None]) -> Callable[[Any], None]:
    """``parse`` (discord.py's handler for one gateway event), logging and skipping a payload
    it cannot read instead of letting the error end the gateway loop."""

    def parse_or_skip(data: Any) -> None:
        try:
            parse(data)
        except Exception as exc:
            log.warning("ignored a malformed Discord %s event (%s: %.200s)", event,
                        type(exc).__name__, exc)

    return parse_or_skip


class ThreadbotClient(discord.Client):
    """One plain gateway connection, which gets every event (no THREADBOT_DISCORD_SHARDS);
    ShardedThreadbotClient below is the same bot over discord.py's sharded client."""

    sharding: Sharding | None = None

    def __init__(self, settings: DiscordSettings, engine: Engine, *, edit_interval: float = 1.0,
                 guild_ready_timeout: float = 2.0, command_deadline: float = 2.0,
                 files: FileSettings | None = None, **options: Any) -> None:
        # discord.py's own watchdog: a connection that received nothing (not even a heartbeat
        # ACK) for this long is closed and resumed
        options.setdefault("heartbeat_timeout", engine.health.watchdog_s)
        options.setdefault("http_trace", counting_trace(engine.metrics))  # API errors, 429s
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none(),
                         guild_ready_timeout=guild_ready_timeout, **options)
        self.link = engine.health.link("discord", "gateway")  # for /healthz
        self.settings = settings
        self.engine = engine
        # attachment URLs are signed: fetched without the bot token
        self.files = FileReader(files or FileSettings.load())
        # an image's bytes once they are gone from memory: fetched again from Discord
        engine.images.fetch_from("discord", DiscordImages(self, self.files))
        self.edit_interval = edit_interval  # per message; Discord rate-limits edits
        self.command_deadline = command_deadline  # defer a command not answered by then
        self.chains: BoundedCache[int, int] = BoundedCache(CHAIN_MEMORY)  # message → chain root
        self.ready_event = asyncio.Event()
        self.tasks = Tracker("Discord")  # messages and commands being handled
        self._running: Counter[ThreadKey] = Counter()  # turns being handled, per key
        self._warned: set[int] = set()
        self.reconnect_delay = 1.0  # first pause before opening a broken gateway again
        self.tree = build_tree(self)
        parsers = self._connection.parsers  # the dict the gateway looks handlers up in
        for event, parse in list(parsers.items()):
            parsers[event] = _skipping_malformed(event, parse)

    async def setup_hook(self) -> None:
        if self.sharding is None or self.sharding.registers_commands:
            await sync_commands(self, self.settings.guild_id)
        else:
            log.info("running Discord %s; slash commands are registered by the process that "
                     "runs shard 0", self.sharding)

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%d servers)", self.user, len(self.guilds))
        self.link.up()
        self.ready_event.set()
        # What a previous process left: tidied up and answered (again on a new session:
        # a conversation being answered right now is left to its reply).
        await self.engine.resume("discord", DiscordResumer(self))

    async def close(self) -> None:
        await super().close()
        await self.files.aclose()

    def running_chains(self, channel_id: int) -> list[ThreadKey]:
        """Reply chains in this text channel with a reply being written."""
        return [k for k in self._running if k.channel == str(channel_id) and k.thread]

    async def on_resumed(self) -> None:
        self.link.up()

    async def on_disconnect(self) -> None:
        self.link.down("the gateway connection is closed; reconnecting")

    async def on_message(self, message: discord.Message) -> None:
        self.link.event()
        with self.tasks.working():
            await self._on_message(message)

    async def _on_message(self, message: discord.Message) -> None:
        read = await self._read(message)
        if read is None:
            return
        msg, decision = read
        # Reading a thread and opening one only serve an answer: not for someone refused.
        refused = self.engine.refused(ev.to_turn(msg, decision.key))
        if refused:
            decision = ev.refused_route(msg, decision)
        key = await self._conversation(message, decision, refused=refused)
        if key is None:
            return
        if msg.files and not refused:  # read before it is stored: the text the model reads
            msg = ev.with_files_read(msg, await self.files.read(msg.files))
        turn = ev.to_turn(msg, key)
        # Stored before anything else that can be cut (creating the thread, the reply): a
        # crash afterwards finds it waiting and the next process answers it.
        thread = await self.engine.accept(turn) if turn.text.strip() else None
        if isinstance(thread, Refusal):
            await self._refuse(message, thread.text)
            return
        if turn.text.strip() and thread is None:
            return  # stored before: a redelivered event
        if decision.action is Action.OPEN_THREAD:
            await self._answer_in_thread(message, msg, turn, thread)
            return
        reply_to = message if decision.reply_to is not None else None
        await self._answer(turn, message.channel, reply_to, thread)

    async def _read(self, message: discord.Message) -> tuple[ev.Incoming, ev.Route] | None:
        """The message and what the bot does with it; None when it is not for the bot."""
        assert self.user is not None
        channel = await self._channel_of(message)
        if channel is None:
            return None
        try:
            msg = ev.incoming(message, self.user.id, channel=channel)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # e.g. content null
            log.warning("ignored a malformed Discord message %s (%s)", message.id,
                        type(exc).__name__)
            return None
        decision = ev.route(msg, bot_id=self.user.id, threads=self.settings.threads,
                            allow_bots=self.settings.allow_bots)
        return None if decision is None else (msg, decision)

    async def _answer_in_thread(self, message: discord.Message, msg: ev.Incoming, turn: Turn,
                                thread: ThreadState | None) -> None:
        """Open a thread from ``message`` and answer there; where no thread can be opened,
        answer by a reply in the channel, as the root of a reply chain."""
        target, opened, reply_to = await self._open_thread(message, msg)
        if opened != turn.key:  # no thread could be opened here: a reply chain instead
            moved = ev.to_turn(msg, opened)
            if thread is not None:
                await self.engine.settle(turn.key)
                accepted = await self.engine.accept(moved)
                if isinstance(accepted, Refusal):
                    await self._refuse(message, accepted.text)
                    return
                thread = accepted
            turn = moved
        await self._answer(turn, target, reply_to, thread)

    async def _refuse(self, message: discord.Message, text: str) -> None:
        """Tell the author, once per conversation (``text`` "" after that), why the bot does
        not answer them: a reply to their message, where they wrote it."""
        if text:
            await self._tell(message.channel, message if message.guild is not None else None,
                             text)

    async def _tell(self, target: discord.abc.Messageable,
                    reply_to: discord.Message | discord.PartialMessage | None, text: str) -> None:
        """One short message of the bot's own (not a model's answer)."""
        sink = DiscordSink(target, reply_to=reply_to, interval=self.edit_interval)
        try:
            await sink.finish(text)
        finally:
            await sink.close()

    async def _conversation(self, message: discord.Message, decision: ev.Route, *,
                            refused: bool = False) -> ThreadKey | None:
        """The conversation ``message`` belongs to (a thread is keyed by its first message
        before it exists); None when the bot does not answer it. A thread the bot is new to
        is read first, so its earlier messages come before this one (not for an author the
        bot will not answer)."""
        key = decision.key
        if decision.action is Action.ANSWER_IF_FOLLOWING and not await self.engine.follows(key):
            return None
        if decision.action is Action.JOIN and not refused and not await self.engine.follows(key):
            try:
                await asyncio.wait_for(self._catch_up(message, key), CATCH_UP_SECONDS)
            except TimeoutError:
                log.warning("reading thread %s took too long; answering without it", key)
        if decision.action is Action.CONTINUE_CHAIN:
            root = await self._chain_root(message)
            key = ThreadKey(key.platform, key.scope, key.channel, str(root))
        return key

    async def _channel_of(self, message: discord.Message) -> object | None:
        """The message's channel, fetched when the cache only has a partial one (to learn
        whether it is a thread); None when Discord will not say."""
        channel: object = message.channel
        if isinstance(channel, discord.PartialMessageable) and message.guild is not None:
            try:
                return await self.fetch_channel(channel.id)
            except discord.HTTPException as exc:
                log.info("ignoring a message in unknown channel %s: %s", channel.id, exc)
                return None
        return channel

    async def _answer(self, turn: Turn, target: discord.abc.Messageable,
                      reply_to: discord.Message | discord.PartialMessage | None,
                      thread: ThreadState | None) -> None:
        """Answer what waits in ``turn``'s conversation (``thread`` None: a hint)."""
        if turn.key.thread:  # a reply chain: remember which chain each message belongs to
            self.chains.put(int(turn.message_id), int(turn.key.thread))
        if thread is not None and (notice := await self.engine.cannot_see(turn)):
            await self._tell(target, reply_to, notice)
        sink = self.reply_sink(turn.key, target, reply_to)
        self._running[turn.key] += 1
        try:
            if thread is None:
                await self.engine.handle(turn, sink)
            else:
                await self.engine.answer(turn.key, sink, thread=thread)
        finally:
            self._running -= Counter({turn.key: 1})  # drops keys that reach zero
            await sink.close()

    def reply_sink(self, key: ThreadKey, target: discord.abc.Messageable,
                   reply_to: discord.Message | discord.PartialMessage | None) -> DiscordSink:
        """A sink answering in ``key``'s conversation; in a reply chain every message it
        posts is remembered as part of that chain."""
        on_post = None
        if key.thread:
            root = int(key.thread)

            def on_post(posted: discord.Message) -> None:
                self.chains.put(posted.id, root)

        return DiscordSink(target, reply_to=reply_to, interval=self.edit_interval,
                           on_post=on_post)

    async def _open_thread(
        self, message: discord.Message, msg: ev.Incoming
    ) -> tuple[discord.abc.Messageable, ThreadKey, discord.Message | None]:
        try:
            thread = await message.create_thread(name=ev.thread_name(msg.text, msg.author_name))
        except discord.HTTPException as exc:
            if exc.code == 160004:  # already started (a redelivered event): continue in it
                existing = message.guild.get_thread(message.id) if message.guild else None
                thread = existing or await self.fetch_channel(message.id)  # type: ignore[assignment]
            else:
                self._warn_once(message.channel, exc)
                fallback = ev.chain_route(msg)
                return message.channel, fallback.key, message
        key = ThreadKey(ev.PLATFORM, str(msg.guild_id or ""), str(thread.id), "")
        return thread, key, None

    def _warn_once(self, channel: object, exc: discord.HTTPException) -> None:
        channel_id = getattr(channel, "id", 0)
        if channel_id in self._warned:
            return
        self._warned.add(channel_id)
        log.warning("cannot create a thread in #%s (Discord error %s: %s); replying in the "
                    "channel instead. Give the bot 'Create Public Threads' and 'Send Messages "
                    "in Threads' there, or set THREADBOT_DISCORD_THREADS=never",
                    getattr(channel, "name", channel_id), exc.code, exc.text)

    async def _chain_root(self, message: discord.Message) -> int:
        """The first message of the reply chain ``message`` continues."""
        current: discord.Message = message
        for _ in range(CHAIN_HOPS):
            ref = current.reference
            if ref is None or ref.message_id is None:
                return _first_part(current)
            known = self.chains.get(ref.message_id)
            if known is not None:
                return known
            parent = ref.resolved if isinstance(ref.resolved, discord.Message) else None
            if parent is None:
                try:
                    parent = await message.channel.fetch_message(ref.message_id)
                except discord.HTTPException:
                    return current.id
            if current.author != self.user and parent.author != self.user:
                return current.id  # a person replying to a person: the chain starts here
            current = parent
        return current.id

    async def _catch_up(self, message: discord.Message, key: ThreadKey) -> None:
        """First mention in a thread the bot wasn't in: store its recent messages as context,
        their files read like a live message's (within the catch-up's time box)."""
        assert self.user is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CATCH_UP_SECONDS - FILE_MARGIN
        try:
            earlier = [m async for m in message.channel.history(limit=CONTEXT_MESSAGES,
                                                                 before=message)]
        except discord.HTTPException as exc:
            log.info("could not read earlier messages of thread %s: %s", key, exc)
            return
        msgs = [ev.incoming(m, self.user.id) for m in reversed(earlier) if m.type in ev.CHAT_TYPES]
        seconds = max(0.05, deadline - loop.time())
        reads = await asyncio.gather(*(self.files.read(m.files, seconds=seconds)
                                       for m in msgs if m.files))
        found = iter(reads)
        msgs = [ev.with_files_read(m, next(found)) if m.files else m for m in msgs]
        turns = [ev.to_turn(m, key, addressed=False) for m in msgs]
        await self.engine.remember(turns, bot_user_id=str(self.user.id))


class ShardedThreadbotClient(ThreadbotClient, discord.AutoShardedClient):
    """The shards in THREADBOT_DISCORD_SHARD_IDS (all by default) of THREADBOT_DISCORD_SHARDS,
    through discord.py's AutoShardedClient; each shard gets only its servers' events."""

    def __init__(self, settings: DiscordSettings, engine: Engine, **options: Any) -> None:
        sharding = Sharding.of(settings)
        if sharding is None:
            raise ValueError("ShardedThreadbotClient needs THREADBOT_DISCORD_SHARDS")
        super().__init__(settings, engine, shard_count=sharding.count,
                         shard_ids=list(sharding.ids), **options)
        self.sharding = sharding

    async def on_ready(self) -> None:  # every shard of this process is ready
        log.info("connected to Discord as %s (%s, %d servers)", self.user, self.sharding,
                 len(self.guilds))
        self.link.up()
        self.ready_event.set()

    async def on_shard_ready(self, shard_id: int) -> None:
        """A shard has a new session: what a previous process left in this process's
        servers (or, with shard 0, DMs) is tidied up and answered here, by no other process.
        The resumer covers all of this process's shards: the engine keeps it to take over
        what a replica leaves later (replies go out over REST, whichever shard is up)."""
        assert self.sharding is not None
        log.debug("shard %d ready", shard_id)
        await self.engine.resume("discord", DiscordResumer(self, self.sharding))


def _first_part(message: discord.Message) -> int:
    """The message that starts the answer ``message`` is part of: a command's follow-up (the
    rest of a long /summarize) belongs to the original response, which Discord names."""
    meta = message.interaction_metadata
    if meta is not None and meta.original_response_message_id is not None:
        return meta.original_response_message_id
    return message.id
