"""What the bot does with each Slack message, command and shortcut (after bolt has acked).

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

from adapters.common.caches import BoundedSet
from adapters.common.commands import Invocation, as_turn
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
from adapters.slack.sink import (
    SLACK_ERRORS,
    EphemeralSink,
    ResponseSink,
    SlackCaps,
    SlackEditingSink,
    error_code,
)
from adapters.slack.stream import SlackStreamSink
from adapters.slack.users import NameCache
from bot.engine import Engine
from bot.ports import ReplySink
from bot.types import Command, CommandName, Refusal, ThreadKey, ThreadState, Turn

log = logging.getLogger(__name__)



# Answered to the author alone outside a DM: their own usage, a channel's settings.
PRIVATE = frozenset({CommandName.USAGE, CommandName.CONFIG})
TITLE_LIMIT = 60  # an AI-app thread's title in Slack's history list
# Before the ack (Slack wants it within 3 s): how long user names and a thread's earlier
# messages may take before the message is stored without them.
LOOKUP_SECONDS = 1.0
JOIN_SECONDS = 1.5
Later = Callable[[], Coroutine[Any, Any, None]]  # what is left to do after the ack


def slack_help(settings: SlackSettings) -> str:
    reset, summarize = settings.reset_command, settings.summarize_command
    usage, model = settings.usage_command, settings.model_command
    return help_text(
        "I answer when you mention me, and keep answering in threads where I've replied — "
        "no need to mention me again. In a DM every message is for me.",
        lambda name: f"`!{name}`",
        also={
            CommandName.RESET: " (or the *Reset conversation* message shortcut)",
            CommandName.SUMMARIZE: " (or the *Summarize thread* shortcut)",
        },
        footer=f"`{reset}` and `{summarize}` work in a DM with me; in a channel, `{summarize}` "
        f"gives you a private catch-up of its recent messages. `{usage}` and `{model}` work "
        "in channels and DMs (Slack has no slash commands in threads).",
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
            invocation = await self._readable(incoming.command)
            return partial(self.command, invocation, _target(incoming), incoming.ts)
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
        """The message as the model reads it: people's names instead of their ids."""
        if incoming.author_name:
            self.names.put(incoming.author_id, incoming.author_name)
        names = await self._names([incoming.author_id, *mentioned_users(incoming.text)])
        return incoming.turn(
            names.get(incoming.author_id, incoming.author_id),
            readable(incoming.text, names),
            addressed=addressed,
        )

    async def _refuse(self, incoming: Incoming, text: str) -> None:
        """Tell the author why the bot does not answer them, where its answer would be."""
        await SlackEditingSink(self.client, self.caps, incoming.channel,
                               incoming.reply_thread_ts).finish(text)

    async def _answer(
        self, incoming: Incoming, turn: Turn, thread: ThreadState, sink: ReplySink, *, new: bool
    ) -> None:
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

    async def _names(self, user_ids: list[str]) -> dict[str, str]:
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
                        self.read_thread(incoming.key, before=incoming.ts, ident=ident),
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
    async def command(
        self, invocation: Invocation, target: Target, message_id: str = "",
        *, sink: ReplySink | None = None,
    ) -> None:
        """A text command (!reset…) or a slash command: answered where it was given (or into
        ``sink``), once per message (a redelivery, even after a restart, is not answered
        again). What is only the author's business (usage, a channel's settings) is answered
        to them alone outside a DM."""
        name = invocation.name
        if sink is None and name in PRIVATE and not target.direct:
            sink = self._ephemeral(target)
        if sink is None:
            sink = self.reply_sink(target.channel, target.reply_thread_ts, target.key.scope,
                                   target.user_id)
        if name is CommandName.HELP:
            if await self.engine.once(target.key, message_id, "help"):
                await sink.finish(slack_help(self.settings))
            return
        command = Command(key=target.key, name=name, author_id=target.user_id,
                          message_id=message_id, argument=invocation.argument,
                          origin=target.origin)
        await self.engine.command(command, sink)

    async def slash(self, name: CommandName, target: Target, respond: Any, *, private: bool) -> None:
        """/usage, /model: the slash command's text is the argument; a ``private`` answer goes
        through the command's response_url, which reaches the caller anywhere (also in a
        channel the bot is not a member of)."""
        sink = ResponseSink(respond, self.caps, target.channel) if private else None
        await self.command(Invocation(name, target.argument), target, sink=sink)

    async def _readable(self, invocation: Invocation) -> Invocation:
        """The argument as people read it (a persona prompt may name people)."""
        if not invocation.argument:
            return invocation
        names = await self._names(mentioned_users(invocation.argument))
        return replace(invocation, argument=readable(invocation.argument, names).strip())

    async def shortcut(self, name: CommandName, target: Target, ident: Identity) -> None:
        follows = await self.engine.follows(target.key)
        if name is CommandName.RESET:
            if not follows:
                await self._ephemeral(target).finish("I'm not part of this thread: nothing to reset.")
                return
            sink = self.reply_sink(target.channel, target.reply_thread_ts, target.key.scope, target.user_id)
            await self.engine.command(_command(name, target), sink)
            return
        private, command = self._ephemeral(target), _command(name, target)
        if follows:
            await self.engine.command(command, private)
        else:  # a thread the bot has not joined: summarise what Slack has
            refused = self.engine.refused(as_turn(command))  # then the engine says so
            turns = [] if refused else await self.read_thread(target.key, before="", ident=ident)
            await self.engine.summarize_transcript(turns, private, command=command)

    def refuses(self, target: Target) -> bool:
        """Whether the access rules refuse the author of a command at ``target``."""
        return self.engine.refused(as_turn(_command(CommandName.SUMMARIZE, target)))

    async def channel_summary(self, target: Target, ident: Identity, respond: Any) -> None:
        """/summarize in a channel: a private catch-up on its recent messages (for someone
        refused, why not: through the command's response_url, which needs no membership)."""
        command = _command(CommandName.SUMMARIZE, target)
        if self.refuses(target):
            sink = ResponseSink(respond, self.caps, target.channel)
            await self.engine.summarize_transcript([], sink, command=command)
            return
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
        await self.engine.summarize_transcript(turns, self._ephemeral(target), command=command)

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

    def _ephemeral(self, target: Target) -> EphemeralSink:
        return EphemeralSink(self.client, self.caps, target.channel, target.user_id, target.reply_thread_ts)

    async def _call(self, call: Any) -> None:
        try:
            await call
        except SLACK_ERRORS as exc:
            log.info("Slack call failed: %s", error_code(exc))


def _command(name: CommandName, target: Target) -> Command:
    return Command(key=target.key, name=name, author_id=target.user_id, origin=target.origin)


def _draft(incoming: Incoming) -> Turn:
    """The turn ``incoming`` becomes, as far as the access rules look at it (no names yet)."""
    return incoming.turn(incoming.author_name, incoming.text, addressed=True)


def _target(incoming: Incoming) -> Target:
    """Where a text command (``!reset``) acts and answers: its own conversation."""
    return Target(
        key=incoming.key,
        channel=incoming.channel,
        reply_thread_ts=incoming.reply_thread_ts,
        user_id=incoming.author_id,
        direct=incoming.direct,
    )
