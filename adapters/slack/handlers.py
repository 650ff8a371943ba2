"""What the bot does with each Slack message (after bolt has acked); commands and shortcuts
are in commands.py.

Translation is in events.py (pure); this module adds the I/O: the engine, user names,
one conversations.replies read when joining a thread, and choosing the reply sink.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from yarl import URL

from adapters.common.caches import BoundedSet
from adapters.common.extract import FileRead
from adapters.common.files import FileReader
from adapters.common.routing import Action
from adapters.common.titles import title_from
from adapters.slack.commands import SlackCommands
from adapters.slack.events import (
    Identity,
    Incoming,
    Target,
    decide,
    history_turn,
    mentioned_users,
    parse_message,
    prompts,
    readable,
    shared_files,
)
from adapters.slack.replies import newest_replies
from adapters.slack.settings import SlackSettings
from adapters.slack.shape import is_id
from adapters.slack.sink import (
    SLACK_ERRORS,
    EphemeralSink,
    SlackCaps,
    SlackEditingSink,
    error_code,
)
from adapters.slack.stream import SlackStreamSink
from adapters.slack.users import NameCache
from bot.config import FileSettings, secret
from bot.engine import Engine
from bot.ports import ReplySink
from bot.types import Refusal, ThreadKey, ThreadState, Turn

log = logging.getLogger(__name__)

TITLE_LIMIT = 60  # an AI-app thread's title in Slack's history list
# Before the ack (Slack wants it within 3 s): how long user names and a thread's earlier
# messages may take before the message is stored without them.
LOOKUP_SECONDS = 1.0
JOIN_SECONDS = 1.5
FILE_SECONDS = 1.5  # downloading a message's files (THREADBOT_FILE_SECONDS if shorter)
FILE_MARGIN = 0.3  # joining: the files' downloads end this long before the join's time box
Later = Callable[[], Coroutine[Any, Any, None]]  # what is left to do after the ack


class SlackHandlers:
    def __init__(
        self, settings: SlackSettings, engine: Engine, client: AsyncWebClient, caps: SlackCaps,
        files: FileSettings,
    ) -> None:
        self.settings = settings
        # url_private needs the bot token; the reader keeps it to Slack's file addresses
        self.files = FileReader(files, headers={"Authorization": f"Bearer {secret(settings.bot_token)}"},
                                hosts=file_hosts(settings), seconds=FILE_SECONDS)
        self.engine = engine
        self.client = client
        self.caps = caps
        self.names = NameCache(client)
        self.read_limit = settings.context_messages
        self.greeting = settings.greeting
        self._seen: BoundedSet[tuple[str, str]] = BoundedSet(4096)
        self._assistant_threads: BoundedSet[tuple[str, str]] = BoundedSet(4096)
        self._joining: dict[ThreadKey, asyncio.Lock] = {}
        self.commands = SlackCommands(self)  # text and slash commands, message shortcuts

    # --- messages ---
    def accept(self, event: Mapping[str, Any], ident: Identity) -> Incoming | None:
        """Synchronous first look (before any await): our own/bot/subtype messages and a
        second delivery of the same message (retry, app_mention + message) end here."""
        incoming = parse_message(
            event, ident, team_id=ident.team_id, allow_bots=self.settings.allow_bots
        )
        if incoming is None or not self._seen.add((incoming.channel, incoming.ts)):
            return None
        return incoming

    async def take(self, incoming: Incoming, ident: Identity) -> Later | None:
        """Everything that must happen before Slack gets its acknowledgement: decide what
        the message is, and store it — Slack never redelivers an acknowledged event, so a
        crash after the ack must find it stored. Lookups on the way are time-boxed so the
        ack stays well within Slack's 3 s. Returns the rest (the answer), to run after."""
        # A top-level channel message is a new thread: nothing to look up.
        follows = (incoming.in_thread or incoming.direct) and await self.engine.follows(incoming.key)
        action = decide(incoming, follows=follows, follow_threads=self.settings.follow_threads)
        if action is Action.IGNORE:
            return None
        # Reading a thread only serves an answer: not for someone the bot will not answer.
        refused = self.engine.refused(_draft(incoming))
        if action is Action.JOIN and not refused:
            await self._join(incoming, ident)
        if incoming.command is not None:
            invocation = await self.commands.readable(incoming.command)
            return partial(self.commands.command, invocation, incoming.target, incoming.ts)
        if refused:  # told once in the channel or DM, not once per thread they start
            incoming = replace(incoming, key=incoming.place_key)
        turn = await self._turn(incoming, addressed=action is not Action.CONTEXT)
        if not turn.addressed:
            await self.engine.remember([turn])
            return None
        sink = self.reply_sink(
            incoming.channel, incoming.reply_thread_ts, incoming.author_team, incoming.author_id
        )
        if not turn.text.strip():
            return partial(self.engine.handle, turn, sink)  # a hint, once per message
        thread = await self.engine.accept(turn)
        if isinstance(thread, Refusal):  # nothing stored; the text is "" once they were told
            return partial(self._refuse, incoming, thread.text) if thread.text else None
        if thread is None:
            return None  # stored before: a redelivery
        return partial(self._answer, incoming, turn, thread, sink, new=not follows)

    async def _turn(self, incoming: Incoming, *, addressed: bool) -> Turn:
        """The message as the model reads it: people's names instead of their ids, what was
        read of its files. Both looked up side by side: each is time-boxed, and Slack's ack
        waits for the slower."""
        if incoming.author_name:
            self.names.put(incoming.author_id, incoming.author_name)
        names, files = await asyncio.gather(
            self.lookup_names([incoming.author_id, *mentioned_users(incoming.text)]),
            self.files.read(incoming.files),
        )
        return incoming.turn(
            names.get(incoming.author_id, incoming.author_id),
            readable(incoming.text, names),
            addressed=addressed,
            files=files if incoming.files else None,
        )

    async def _refuse(self, incoming: Incoming, text: str) -> None:
        """Tell the author why the bot does not answer them (or a notice before its answer),
        where its answer would be."""
        await SlackEditingSink(self.client, self.caps, incoming.channel,
                               incoming.reply_thread_ts).finish(text)

    async def _answer(
        self, incoming: Incoming, turn: Turn, thread: ThreadState, sink: ReplySink, *, new: bool
    ) -> None:
        if notice := await self.engine.cannot_see(turn):
            await self._refuse(incoming, notice)  # where the answer goes, before it
        # A thread in the app's DM is an AI-app thread even when another replica got its
        # assistant_thread_started: the cache only spares a failing call elsewhere.
        ai_thread = incoming.direct and incoming.in_thread
        if new and (ai_thread or (incoming.channel, incoming.key.thread) in self._assistant_threads):
            await self._call(
                self.client.assistant_threads_setTitle(
                    channel_id=incoming.channel,
                    thread_ts=incoming.key.thread,
                    title=title_from(turn.text, TITLE_LIMIT) or "Chat",
                )
            )
        await self.engine.answer(turn.key, sink, thread=thread)

    async def lookup_names(self, user_ids: list[str]) -> dict[str, str]:
        """Display names, or the ids themselves if users.info is slow (rate-limited)."""
        try:
            return await asyncio.wait_for(self.names.many(user_ids), LOOKUP_SECONDS)
        except TimeoutError:
            log.info("users.info too slow before the ack; using ids for %d user(s)", len(user_ids))
            return {u: u for u in user_ids}

    async def _join(self, incoming: Incoming, ident: Identity) -> None:
        """First mention in a thread the bot is new to: store its earlier messages once,
        before the mention itself (so they come first). Time-boxed: the mention must be
        stored before the ack, with or without the earlier messages."""
        lock = self._joining.setdefault(incoming.key, asyncio.Lock())
        try:
            async with lock:
                if await self.engine.follows(incoming.key):
                    return
                try:
                    turns = await asyncio.wait_for(
                        self.read_thread(incoming.key, before=incoming.ts, ident=ident,
                                         files_within=JOIN_SECONDS - FILE_MARGIN),
                        JOIN_SECONDS,
                    )
                except TimeoutError:
                    log.warning("reading thread %s took too long; answering without it",
                                incoming.key)
                    return
                await self.engine.remember(turns, bot_user_id=ident.user_id)
        finally:
            if not lock.locked():
                self._joining.pop(incoming.key, None)

    async def read_thread(self, key: ThreadKey, *, before: str, ident: Identity,
                          files_within: float = 0.0) -> list[Turn]:
        """The newest ``context_messages`` of a thread older than ``before`` → context turns
        (paged and bounded: see replies.py). With ``files_within`` (seconds from now) their
        files are read like a live message's; else they are only named."""
        deadline = asyncio.get_running_loop().time() + files_within
        messages = await newest_replies(
            self.client, key.channel, key.thread, before=before, keep=self.read_limit
        )
        left = deadline - asyncio.get_running_loop().time()
        return await self.turns(messages, key, ident, files_within=left if files_within else 0.0)

    async def turns(self, messages: list[dict[str, Any]], key: ThreadKey, ident: Identity,
                    *, files_within: float = 0.0) -> list[Turn]:
        ids = [m.get("user") for m in messages if not m.get("bot_id")]
        for m in messages:
            text = m.get("text")
            ids.extend(mentioned_users(text) if isinstance(text, str) else [])
        names, reads = await asyncio.gather(
            self.names.many(i for i in ids if is_id(i)),
            self._read_files(messages, files_within),
        )
        turns = (history_turn(m, key, names, ident, files=r) for m, r in zip(messages, reads, strict=True))
        return [t for t in turns if t is not None]

    async def _read_files(self, messages: list[dict[str, Any]], seconds: float
                          ) -> list[list[FileRead] | None]:
        """What was read of each message's files (None: they are only named)."""
        shared = [shared_files(m) if seconds > 0 else () for m in messages]
        reads = await asyncio.gather(*(self.files.read(f, seconds=seconds) for f in shared if f))
        found = iter(reads)
        return [next(found) if f else None for f in shared]

    # --- AI-app threads ---
    async def assistant_thread_started(self, event: Mapping[str, Any]) -> None:
        thread = event.get("assistant_thread") or {}
        channel, ts = thread.get("channel_id") or "", thread.get("thread_ts") or ""
        if not channel or not ts:
            return
        self._assistant_threads.add((channel, ts))
        # once per thread across redeliveries and replicas (the store decides)
        if not await self.engine.once(ThreadKey("slack", "", channel, ts), ts, "greeting"):
            return
        await self._call(self.client.chat_postMessage(channel=channel, thread_ts=ts, text=self.greeting))
        suggested = prompts(self.settings.suggested_prompts)
        if suggested:
            await self._call(
                self.client.assistant_threads_setSuggestedPrompts(
                    channel_id=channel, thread_ts=ts, prompts=suggested
                )
            )

    # --- sinks ---
    def reply_sink(self, channel: str, thread_ts: str, team: str, user: str) -> ReplySink:
        """Native streaming in threads where Slack allows it; post-then-update otherwise."""
        if thread_ts and self.caps.native_stream:
            return SlackStreamSink(
                self.client,
                self.caps,
                channel,
                thread_ts,
                recipient_team_id=team,
                recipient_user_id=user,
            )
        return SlackEditingSink(self.client, self.caps, channel, thread_ts)

    def ephemeral(self, target: Target) -> EphemeralSink:
        return EphemeralSink(self.client, self.caps, target.channel, target.user_id, target.reply_thread_ts)

    async def _call(self, call: Any) -> None:
        try:
            await call
        except SLACK_ERRORS as exc:
            log.info("Slack call failed: %s", error_code(exc))


def file_hosts(settings: SlackSettings) -> set[str]:
    """Where Slack serves ``url_private``: files.slack.com, and the host of a
    ``SLACK_API_URL`` (a proxy or a test server serves both)."""
    hosts = {"files.slack.com"}
    if settings.api_url:
        hosts.add(URL(settings.api_url).host or "files.slack.com")
    return hosts


def _draft(incoming: Incoming) -> Turn:
    """The turn ``incoming`` becomes, as far as the access rules look at it (no names yet)."""
    return incoming.turn(incoming.author_name, incoming.text, addressed=True)
