"""Slash commands: /reset /summarize /stop /help, each acting on the conversation of the
place it is used (a thread, a DM, or — for /summarize and /stop — a text channel).

Discord drops an interaction not acknowledged within 3 s. /summarize involves the model, so
it is deferred ("threadbot is thinking…") at once and the response edited as the summary
streams; the others answer directly, deferred only if the engine is not done in time.

A channel summary is an answer people reply to ("tell me more about point 2"). Such a reply
continues a reply chain rooted at the summary's message (client.py), and that conversation is
stored right away with the messages summarised and the summary itself, so the model knows
what "point 2" is, in either thread mode and after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from adapters.common.help import help_text
from adapters.discord import events as ev
from adapters.discord.sink import InteractionSink
from bot.types import Command, CommandName, Ending, ThreadKey, Turn

if TYPE_CHECKING:
    from adapters.discord.client import ThreadbotClient

log = logging.getLogger(__name__)

DESCRIPTIONS = {
    CommandName.RESET: "Forget this conversation and start over",
    CommandName.SUMMARIZE: "Summarise this conversation (in a channel: its recent messages)",
    CommandName.STOP: "Stop the reply being written here",
    CommandName.HELP: "How to talk to threadbot",
}
HELP_TEXT = help_text(
    "**threadbot** answers when you mention it. In a server channel it opens a thread, and "
    "every message there continues the conversation; in DMs just write.",
    lambda name: f"`/{name}`",
)
CHANNEL_RESET_TEXT = (
    "Conversations here live in threads (or reply chains): use /reset inside the thread. "
    "Mentioning me in a new message always starts a fresh conversation."
)
TRANSCRIPT_MESSAGES = 50  # how much of a channel /summarize reads


def build_tree(client: ThreadbotClient) -> app_commands.CommandTree[ThreadbotClient]:
    tree: app_commands.CommandTree[ThreadbotClient] = app_commands.CommandTree(client)
    for name, description in DESCRIPTIONS.items():
        tree.add_command(app_commands.Command(name=name.value, description=description,
                                              callback=_callback(client, name)))
    return tree


async def sync_commands(client: ThreadbotClient, guild_id: int | None) -> None:
    """Register the commands: in one server (instant, for testing) or globally."""
    try:
        if guild_id:
            guild = discord.Object(guild_id)
            client.tree.copy_global_to(guild=guild)
            synced = await client.tree.sync(guild=guild)
        else:
            synced = await client.tree.sync()
    except discord.HTTPException as exc:
        log.warning("could not register slash commands (%s); re-invite the bot with the URL "
                    "from `threadbot discord-invite` (it needs applications.commands)", exc)
        return
    where = f"in server {guild_id}" if guild_id else "globally (new ones can take a while)"
    log.info("registered %d slash commands %s", len(synced), where)


def _callback(client: ThreadbotClient, name: CommandName):  # type: ignore[no-untyped-def]
    async def callback(interaction: discord.Interaction) -> None:
        with client.tasks.working():
            await handle_command(client, interaction, name)

    callback.__name__ = name.value
    return callback


async def handle_command(client: ThreadbotClient, interaction: discord.Interaction,
                         name: CommandName) -> None:
    if name is CommandName.HELP:
        await interaction.response.send_message(HELP_TEXT, ephemeral=True)
        return
    in_channel = interaction.guild_id is not None and ev.place_of(interaction.channel) == "channel"
    sink = InteractionSink(interaction, interval=client.edit_interval,
                           ephemeral=in_channel and name is CommandName.RESET)
    author = str(interaction.user.id)
    try:
        if not in_channel:  # a thread or a DM: the conversation is the channel itself
            key = ThreadKey(ev.PLATFORM, str(interaction.guild_id or ""),
                            str(interaction.channel_id), "")
            if name is CommandName.SUMMARIZE:
                await sink.defer()
            else:
                sink.guard(client.command_deadline)
            await client.engine.command(Command(key=key, name=name, author_id=author), sink)
        elif name is CommandName.SUMMARIZE:
            await sink.defer()
            turns = await _recent(client, interaction.channel)
            await client.engine.summarize_transcript(turns, sink)
            await _keep_summary(client, interaction, turns, sink)
        elif name is CommandName.STOP:
            keys = client.running_chains(interaction.channel_id or 0)
            for key in keys:
                await client.engine.command(Command(key=key, name=name, author_id=author),
                                            _Quiet())
            await sink.finish("Stopped." if keys else "Nothing to stop.")
        else:
            await sink.finish(CHANNEL_RESET_TEXT)
    finally:
        await sink.close()


async def _recent(client: ThreadbotClient, channel: object) -> list[Turn]:
    """A channel's recent messages, oldest first, as turns for a one-off summary."""
    if client.user is None or not isinstance(channel, discord.abc.Messageable):
        return []
    messages = [m async for m in channel.history(limit=TRANSCRIPT_MESSAGES)]
    key = ThreadKey(ev.PLATFORM, "", str(getattr(channel, "id", "")), "")
    return [ev.to_turn(ev.incoming(m, client.user.id), key) for m in reversed(messages)
            if m.type in ev.CHAT_TYPES]


async def _keep_summary(client: ThreadbotClient, interaction: discord.Interaction,
                        turns: Sequence[Turn], sink: InteractionSink) -> None:
    """Store a channel summary as the start of the reply chain rooted at its message: the
    messages it summarised as context, then the summary as the bot's own answer."""
    root, summary = sink.response_id, sink.answer
    summarised = any(t.text.strip() for t in turns)
    if client.user is None or root is None or summary is None or not summarised:
        return
    bot_id = str(client.user.id)
    key = ThreadKey(ev.PLATFORM, str(interaction.guild_id or ""), str(interaction.channel_id),
                    str(root))
    said = Turn(key=key, message_id=str(root), author_id=bot_id,
                author_name=client.user.display_name, text=summary)
    await client.engine.remember([*(replace(t, key=key, addressed=False) for t in turns), said],
                                 bot_user_id=bot_id)


class _Quiet:
    """A sink for engine answers nobody needs to see (per-chain stop confirmations)."""

    refs: tuple[str, ...] = ()

    async def start(self) -> None: ...
    async def append(self, delta: str) -> None: ...
    async def finish(self, text: str, ending: Ending = Ending.ANSWERED) -> None: ...
    async def fail(self, message: str) -> None: ...
