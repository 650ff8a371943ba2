"""Slash commands: /reset /summarize /stop /help /usage /model /config, each acting on the
conversation of the place it is used (a thread, a DM, or — for /summarize, /stop, /usage,
/model and /config — a text channel, whose own key stands for the channel).

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
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from adapters.common.commands import as_turn
from adapters.common.help import help_text
from adapters.discord import events as ev
from adapters.discord.sink import InteractionSink
from bot.types import Command, CommandName, Ending, Origin, ThreadKey, Turn

if TYPE_CHECKING:
    from adapters.discord.client import ThreadbotClient

log = logging.getLogger(__name__)
Callback = Callable[..., Coroutine[Any, Any, None]]

DESCRIPTIONS = {
    CommandName.RESET: "Forget this conversation and start over",
    CommandName.SUMMARIZE: "Summarise this conversation (in a channel: its recent messages)",
    CommandName.STOP: "Stop the reply being written here",
    CommandName.HELP: "How to talk to threadbot",
    CommandName.USAGE: "What you've used so far, against your limits (only you see it)",
    CommandName.MODEL: "The models allowed here, or switch this conversation to one",
    CommandName.CONFIG: "This channel's settings (admins: change one)",
    CommandName.FORGET: "Delete your messages stored in this conversation (only you see it)",
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
CHANNEL_FORGET_TEXT = (
    "Conversations here live in threads (or reply chains): use /forget inside the thread to "
    "delete your messages there."
)
VALUE_WITHOUT_KEY = "Say which setting to change too: `/config key:<setting> value:<new value>`."
# Answered to the caller alone: their own usage, a channel's settings, what they had
# deleted; in a text channel, a
# reset's hint and a model switch (the channel's conversation is nobody's in particular).
PRIVATE = frozenset({CommandName.USAGE, CommandName.CONFIG, CommandName.FORGET})
PRIVATE_IN_CHANNEL = frozenset({CommandName.RESET, CommandName.MODEL})
# The commands that act on the conversation of the place they are used, in a text channel too.
MODEL_IN_CHANNEL = ("Conversations here live in threads: use /model inside one. An admin can "
                    "set this channel's model with /config key:model value:NAME.")
PLACE_COMMANDS = frozenset({CommandName.USAGE, CommandName.MODEL, CommandName.CONFIG})
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


def _callback(client: ThreadbotClient, command: CommandName) -> Callback:
    """The command's callback; discord.py reads its options from the signature."""

    async def run(interaction: discord.Interaction, argument: str = "") -> None:
        with client.tasks.working():
            await handle_command(client, interaction, command, argument)

    @app_commands.describe(name="The model to switch to (leave it out to list them)")
    async def model(interaction: discord.Interaction, name: str | None = None) -> None:
        await run(interaction, name or "")

    @app_commands.describe(key="The setting to show or change",
                           value="Its new value (leave it out to clear the setting)")
    async def config(interaction: discord.Interaction, key: str | None = None,
                     value: str | None = None) -> None:
        if value and not key:
            await interaction.response.send_message(VALUE_WITHOUT_KEY, ephemeral=True)
            return
        await run(interaction, " ".join(part.strip() for part in (key, value) if part))

    @app_commands.describe(scope="all: the whole conversation, everyone's (admins only)")
    @app_commands.choices(scope=[app_commands.Choice(name="my messages", value="mine"),
                                 app_commands.Choice(name="all (admins)", value="all")])
    async def forget(interaction: discord.Interaction, scope: str | None = None) -> None:
        await run(interaction, "all" if scope == "all" else "")

    async def callback(interaction: discord.Interaction) -> None:
        await run(interaction)

    options: dict[CommandName, Callback] = {CommandName.MODEL: model, CommandName.CONFIG: config,
                                            CommandName.FORGET: forget}
    chosen = options.get(command, callback)
    chosen.__name__ = command.value
    return chosen


async def handle_command(client: ThreadbotClient, interaction: discord.Interaction,
                         name: CommandName, argument: str = "") -> None:
    if name is CommandName.HELP:
        await interaction.response.send_message(HELP_TEXT, ephemeral=True)
        return
    in_channel = interaction.guild_id is not None and ev.place_of(interaction.channel) == "channel"
    private = name in PRIVATE or (in_channel and name in PRIVATE_IN_CHANNEL)
    sink = InteractionSink(interaction, interval=client.edit_interval, ephemeral=private)
    # A thread or a DM: the conversation is the channel itself; in a text channel the
    # channel's own key stands for the channel.
    key = ThreadKey(ev.PLATFORM, str(interaction.guild_id or ""), str(interaction.channel_id), "")
    author = str(interaction.user.id)
    try:
        command = Command(key=key, name=name, author_id=author, argument=argument,
                          origin=_origin(interaction, key))
        if (in_channel and name is CommandName.MODEL and argument
                and not client.engine.refused(as_turn(command))):
            await sink.finish(MODEL_IN_CHANNEL)  # no conversation is the channel's own
        elif not in_channel or name in PLACE_COMMANDS:
            if name is CommandName.SUMMARIZE:
                await sink.defer()
            else:
                sink.guard(client.command_deadline)
            await client.engine.command(command, sink)
        else:
            await _in_channel(client, interaction, name, sink, key)
    finally:
        await sink.close()


async def _in_channel(client: ThreadbotClient, interaction: discord.Interaction,
                      name: CommandName, sink: InteractionSink, key: ThreadKey) -> None:
    """/summarize, /stop, /reset and /forget in a text channel, where conversations are its threads
    and reply chains."""
    author = str(interaction.user.id)
    command = Command(key=key, name=name, author_id=author, origin=_origin(interaction, key))
    if name is CommandName.RESET:
        await sink.finish(CHANNEL_RESET_TEXT)
    elif name is CommandName.FORGET:
        await sink.finish(CHANNEL_FORGET_TEXT)
    elif client.engine.refused(as_turn(command)):
        await client.engine.command(command, sink)  # it says why not; nothing is read
    elif name is CommandName.SUMMARIZE:
        await sink.defer()
        turns = await _recent(client, interaction.channel)
        summary = await client.engine.summarize_transcript(turns, sink, command=command)
        await _keep_summary(client, interaction, turns, sink, summary)
    elif name is CommandName.STOP:
        keys = client.running_chains(interaction.channel_id or 0)
        for chain in keys:
            await client.engine.command(replace(command, key=chain), _Quiet())
        await sink.finish("Stopped." if keys else "Nothing to stop.")


def _origin(interaction: discord.Interaction, key: ThreadKey) -> Origin:
    """Where the command comes from: the author's roles and rights in the server (an
    interaction's user is a Member there), and the channel a thread belongs to."""
    channel = interaction.channel
    parent = channel.parent_id if isinstance(channel, discord.Thread) else None
    return ev.origin(ev.place_of(channel), parent or interaction.channel_id or 0, key,
                     ev.standing_of(interaction.user))


async def _recent(client: ThreadbotClient, channel: object) -> list[Turn]:
    """A channel's recent messages, oldest first, as turns for a one-off summary."""
    if client.user is None or not isinstance(channel, discord.abc.Messageable):
        return []
    messages = [m async for m in channel.history(limit=TRANSCRIPT_MESSAGES)]
    key = ThreadKey(ev.PLATFORM, "", str(getattr(channel, "id", "")), "")
    return [ev.to_turn(ev.incoming(m, client.user.id), key) for m in reversed(messages)
            if m.type in ev.CHAT_TYPES]


async def _keep_summary(client: ThreadbotClient, interaction: discord.Interaction,
                        turns: Sequence[Turn], sink: InteractionSink, summary: str | None) -> None:
    """Store a channel summary as the start of the reply chain rooted at its message: the
    messages it summarised as context, then the summary as the bot's own answer (nothing
    when there was none: refused, failed, or nothing to summarise)."""
    root = sink.response_id
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
