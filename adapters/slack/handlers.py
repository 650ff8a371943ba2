"""What the bot does with each Slack message, command and shortcut (after bolt has acked).

Translation is in events.py (pure); this module adds the I/O: the engine, user names,
one conversations.replies read when joining a thread, and choosing the reply sink.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.caches import BoundedSet
from adapters.common.help import help_text
from adapters.common.routing import Action
from adapters.common.titles import title_from
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
)
from adapters.slack.replies import newest_replies
from adapters.slack.settings import SlackSettings
from adapters.slack.shape import is_id
from adapters.slack.sink import SLACK_ERRORS, EphemeralSink, SlackCaps, SlackEditingSink, error_code
from adapters.slack.stream import SlackStreamSink
from adapters.slack.users import NameCache
from bot.engine import Engine
from bot.ports import ReplySink
from bot.types import Command, CommandName, ThreadKey, Turn

log = logging.getLogger(__name__)



TITLE_LIMIT = 60  # an AI-app thread's title in Slack's history list


def slack_help(settings: SlackSettings) -> str:
    reset, summarize = settings.reset_command, settings.summarize_command
    return help_text(
        "I answer when you mention me, and keep answering in threads where I've replied — "
        "no need to mention me again. In a DM every message is for me.",
        lambda name: f"`!{name}`",
        also={
            CommandName.RESET: " (or the *Reset conversation* message shortcut)",
            CommandName.SUMMARIZE: " (or the *Summarize thread* shortcut)",
        },
        footer=f"`{reset}` and `{summarize}` work in a DM with me; in a channel, `{summarize}` "
        "gives you a private catch-up of its recent messages.",
    )


class SlackHandlers:
    def __init__(
        self, settings: SlackSettings, engine: Engine, client: AsyncWebClient, caps: SlackCaps
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.client = client
        self.caps = caps
        self.names = NameCache(client)
        self.read_limit = settings.context_messages
        self.greeting = settings.greeting
        self._seen: BoundedSet[tuple[str, str]] = BoundedSet(4096)
        self._assistant_threads: BoundedSet[tuple[str, str]] = BoundedSet(4096)
        self._joining: dict[ThreadKey, asyncio.Lock] = {}

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

    async def on_message(self, incoming: Incoming, ident: Identity) -> None:
        # A top-level channel message is a new thread: nothing to look up.
        follows = (incoming.in_thread or incoming.direct) and await self.engine.follows(incoming.key)
        action = decide(incoming, follows=follows, follow_threads=self.settings.follow_threads)
        if action is Action.IGNORE:
            return
        if action is Action.JOIN:
            await self._join(incoming, ident)
        if incoming.command is not None:
            target = Target(
                key=incoming.key,
                channel=incoming.channel,
                reply_thread_ts=incoming.reply_thread_ts,
                user_id=incoming.author_id,
                direct=incoming.direct,
            )
            await self.command(incoming.command, target)
            return
        if incoming.author_name:
            self.names.put(incoming.author_id, incoming.author_name)
        names = await self.names.many([incoming.author_id, *mentioned_users(incoming.text)])
        turn = incoming.turn(
            names.get(incoming.author_id, incoming.author_id),
            readable(incoming.text, names),
            addressed=action is not Action.CONTEXT,
        )
        if not turn.addressed:
            await self.engine.remember([turn])
            return
        if not follows and (incoming.channel, incoming.key.thread) in self._assistant_threads:
            await self._call(
                self.client.assistant_threads_setTitle(
                    channel_id=incoming.channel,
                    thread_ts=incoming.key.thread,
                    title=title_from(turn.text, TITLE_LIMIT) or "Chat",
                )
            )
        sink = self.reply_sink(
            incoming.channel, incoming.reply_thread_ts, incoming.author_team, incoming.author_id
        )
        await self.engine.handle(turn, sink)

    async def _join(self, incoming: Incoming, ident: Identity) -> None:
        """First mention in a thread the bot is new to: store its earlier messages once."""
        lock = self._joining.setdefault(incoming.key, asyncio.Lock())
        try:
            async with lock:
                if await self.engine.follows(incoming.key):
                    return
                turns = await self.read_thread(incoming.key, before=incoming.ts, ident=ident)
                await self.engine.remember(turns, bot_user_id=ident.user_id)
        finally:
            if not lock.locked():
                self._joining.pop(incoming.key, None)

    async def read_thread(self, key: ThreadKey, *, before: str, ident: Identity) -> list[Turn]:
        """The newest ``context_messages`` of a thread older than ``before`` → context turns
        (paged and bounded: see replies.py)."""
        messages = await newest_replies(
            self.client, key.channel, key.thread, before=before, keep=self.read_limit
        )
        return await self._turns(messages, key, ident)

    async def _turns(self, messages: list[dict[str, Any]], key: ThreadKey, ident: Identity) -> list[Turn]:
        ids = [m.get("user") for m in messages if not m.get("bot_id")]
        for m in messages:
            text = m.get("text")
            ids.extend(mentioned_users(text) if isinstance(text, str) else [])
        names = await self.names.many(i for i in ids if is_id(i))
        turns = (history_turn(m, key, names, ident) for m in messages)
        return [t for t in turns if t is not None]

    # --- commands ---
    async def command(self, name: CommandName, target: Target) -> None:
        """A text command (!reset…) or a DM slash command: answered where it was given."""
        sink = self.reply_sink(target.channel, target.reply_thread_ts, target.key.scope, target.user_id)
        if name is CommandName.HELP:
            await sink.finish(slack_help(self.settings))
            return
        await self.engine.command(Command(key=target.key, name=name, author_id=target.user_id), sink)

    async def shortcut(self, name: CommandName, target: Target, ident: Identity) -> None:
        follows = await self.engine.follows(target.key)
        if name is CommandName.RESET:
            if not follows:
                await self._ephemeral(target).finish("I'm not part of this thread: nothing to reset.")
                return
            sink = self.reply_sink(target.channel, target.reply_thread_ts, target.key.scope, target.user_id)
            await self.engine.command(Command(key=target.key, name=name, author_id=target.user_id), sink)
            return
        private = self._ephemeral(target)
        if follows:
            await self.engine.command(Command(key=target.key, name=name, author_id=target.user_id), private)
        else:  # a thread the bot has not joined: summarise what Slack has
            turns = await self.read_thread(target.key, before="", ident=ident)
            await self.engine.summarize_transcript(turns, private)

    async def channel_summary(self, target: Target, ident: Identity, respond: Any) -> None:
        """/summarize in a channel: a private catch-up on its recent messages."""
        try:
            response = await self.client.conversations_history(channel=target.channel, limit=self.read_limit)
        except SLACK_ERRORS as exc:
            log.info("cannot read %s for a summary: %s", target.channel, error_code(exc))
            await respond(
                "I can only summarize channels I'm a member of — add me with "
                "`/invite @threadbot` and try again."
            )
            return
        messages = list(reversed(response.get("messages") or []))
        turns = await self._turns(messages, target.key, ident)
        await self.engine.summarize_transcript(turns, self._ephemeral(target))

    # --- AI-app threads ---
    async def assistant_thread_started(self, event: Mapping[str, Any]) -> None:
        thread = event.get("assistant_thread") or {}
        channel, ts = thread.get("channel_id") or "", thread.get("thread_ts") or ""
        if not channel or not ts:
            return
        self._assistant_threads.add((channel, ts))
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

    def _ephemeral(self, target: Target) -> EphemeralSink:
        return EphemeralSink(self.client, self.caps, target.channel, target.user_id, target.reply_thread_ts)

    async def _call(self, call: Any) -> None:
        try:
            await call
        except SLACK_ERRORS as exc:
            log.info("Slack call failed: %s", error_code(exc))
