"""Slack commands: typed (``!model gpt-4.1``, or ``model gpt-4.1`` right after a mention),
slashed (``/usage``, ``/model``, ``/reset`` and ``/summarize`` in DMs, a channel catch-up)
and message shortcuts, answered where they were given — or to their author alone, when it is
their own business (usage, a channel's settings) or the place is a channel."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from adapters.common.commands import Invocation, as_turn
from adapters.common.help import help_text
from adapters.slack.events import Identity, Target, mentioned_users, readable
from adapters.slack.settings import SlackSettings
from adapters.slack.sink import SLACK_ERRORS, ResponseSink, error_code
from bot.ports import ReplySink
from bot.types import Command, CommandName

if TYPE_CHECKING:
    from adapters.slack.handlers import SlackHandlers

log = logging.getLogger(__name__)

# Answered to the author alone outside a DM: their own usage, a channel's settings, what
# they had deleted.
PRIVATE = frozenset({CommandName.USAGE, CommandName.CONFIG, CommandName.FORGET})
NOT_IN_THREAD = "I'm not part of this thread: nothing to reset."


def slack_help(settings: SlackSettings) -> str:
    reset, summarize = settings.reset_command, settings.summarize_command
    usage, model, forget = settings.usage_command, settings.model_command, settings.forget_command
    return help_text(
        "I answer when you mention me, and keep answering in threads where I've replied — "
        "no need to mention me again. In a DM every message is for me.",
        lambda name: f"`!{name}`",
        also={
            CommandName.RESET: " (or the *Reset conversation* message shortcut)",
            CommandName.SUMMARIZE: " (or the *Summarize thread* shortcut)",
        },
        footer=f"`{reset}`, `{forget}` and `{summarize}` work in a DM with me; in a channel, "
        f"`{summarize}` gives you a private catch-up of its recent messages. `{usage}` and "
        f"`{model}` work in channels and DMs (Slack has no slash commands in threads).",
    )


MODEL_IN_CHANNEL = ("Slack allows no slash commands in threads: type `!model NAME` in the "
                    "conversation's thread. An admin can set this channel's model with "
                    "`!config model NAME`.")
FORGET_IN_CHANNEL = ("Slack allows no slash commands in threads: type `!forget` in the "
                     "conversation's thread to delete your messages there (admins: "
                     "`!forget all` for the whole conversation).")

class SlackCommands:
    """The commands of one bot, on its handlers' engine, names and sinks."""

    def __init__(self, handlers: SlackHandlers) -> None:
        self.handlers = handlers
        self.engine = handlers.engine

    async def command(
        self, invocation: Invocation, target: Target, message_id: str = "",
        *, sink: ReplySink | None = None,
    ) -> None:
        """A text command (!reset…) or a slash command: answered where it was given (or into
        ``sink``), once per message (a redelivery, even after a restart, is not answered
        again). What is only the author's business (usage, a channel's settings) is answered
        to them alone outside a DM."""
        name = invocation.name
        if sink is None:
            private = name in PRIVATE and not target.direct
            sink = self.handlers.ephemeral(target) if private else self._reply_sink(target)
        if name is CommandName.HELP:
            if await self.engine.once(target.key, message_id, "help"):
                await sink.finish(slack_help(self.handlers.settings))
            return
        command = Command(key=target.key, name=name, author_id=target.user_id,
                          message_id=message_id, argument=invocation.argument,
                          origin=target.origin)
        await self.engine.command(command, sink)

    async def slash(self, name: CommandName, target: Target, respond: Any, *, private: bool) -> None:
        """/usage, /model, /forget: the slash command's text is the argument; a ``private`` answer goes
        through the command's response_url, which reaches the caller anywhere (also in a
        channel the bot is not a member of)."""
        sink = ResponseSink(respond, self.handlers.caps, target.channel) if private else None
        if (name is CommandName.MODEL and target.argument and not target.direct
                and not self.refuses(target)):
            await (sink or self.handlers.ephemeral(target)).finish(MODEL_IN_CHANNEL)
            return
        if name is CommandName.FORGET and not target.direct:
            await (sink or self.handlers.ephemeral(target)).finish(FORGET_IN_CHANNEL)
            return
        await self.command(Invocation(name, target.argument), target, sink=sink)

    async def readable(self, invocation: Invocation) -> Invocation:
        """The argument as people read it (a persona prompt may name people)."""
        if not invocation.argument:
            return invocation
        names = await self.handlers.lookup_names(mentioned_users(invocation.argument))
        return replace(invocation, argument=readable(invocation.argument, names).strip())

    async def shortcut(self, name: CommandName, target: Target, ident: Identity) -> None:
        follows = await self.engine.follows(target.key)
        if name is CommandName.RESET:
            if not follows:
                await self.handlers.ephemeral(target).finish(NOT_IN_THREAD)
                return
            await self.engine.command(_command(name, target), self._reply_sink(target))
            return
        private, command = self.handlers.ephemeral(target), _command(name, target)
        if follows:
            await self.engine.command(command, private)
        else:  # a thread the bot has not joined: summarise what Slack has
            refused = self.engine.refused(as_turn(command))  # then the engine says so
            turns = [] if refused else await self.handlers.read_thread(target.key, before="", ident=ident)
            await self.engine.summarize_transcript(turns, private, command=command)

    def refuses(self, target: Target) -> bool:
        """Whether the access rules refuse the author of a command at ``target``."""
        return self.engine.refused(as_turn(_command(CommandName.SUMMARIZE, target)))

    async def channel_summary(self, target: Target, ident: Identity, respond: Any) -> None:
        """/summarize in a channel: a private catch-up on its recent messages (for someone
        refused, why not: through the command's response_url, which needs no membership)."""
        command = _command(CommandName.SUMMARIZE, target)
        if self.refuses(target):
            sink = ResponseSink(respond, self.handlers.caps, target.channel)
            await self.engine.summarize_transcript([], sink, command=command)
            return
        try:
            response = await self.handlers.client.conversations_history(
                channel=target.channel, limit=self.handlers.read_limit
            )
        except SLACK_ERRORS as exc:
            log.info("cannot read %s for a summary: %s", target.channel, error_code(exc))
            await respond(
                "I can only summarize channels I'm a member of — add me with "
                "`/invite @threadbot` and try again."
            )
            return
        messages = list(reversed(response.get("messages") or []))
        turns = await self.handlers.turns(messages, target.key, ident)
        await self.engine.summarize_transcript(turns, self.handlers.ephemeral(target), command=command)

    def _reply_sink(self, target: Target) -> ReplySink:
        return self.handlers.reply_sink(target.channel, target.reply_thread_ts, target.key.scope,
                                        target.user_id)


def _command(name: CommandName, target: Target) -> Command:
    return Command(key=target.key, name=name, author_id=target.user_id, origin=target.origin)
