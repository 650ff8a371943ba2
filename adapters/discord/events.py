"""Discord message → Turn, and the decision whether a message is for the bot.

Everything here is pure except ``incoming()`` (and ``standing_of()``, its part for the
author), which reads a discord.py Message once into an ``Incoming`` so the rules below can
be tested without a gateway:

- its own messages, other bots and webhooks (unless allowed), and system messages: ignored;
  edits never reach ``on_message``;
- DMs: every message is a turn, the DM channel is the conversation;
- threads: a mention, or any message in a thread the bot opened or already follows;
- text channels: a mention opens a thread (``auto``) or is answered by a reply (``never``);
  replying to one of the bot's messages continues that reply chain in either mode.

A reply chain's conversation is keyed by its first message (the root); the client
remembers which root each message of a chain belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import discord

from adapters.common.extract import FileRead
from adapters.common.files import SharedFile
from adapters.common.routing import Action
from adapters.common.text import sanitized, with_attachments, with_blocks, without_mention
from adapters.common.titles import title_from
from adapters.discord.files import attachment_ref
from bot.types import Image, Origin, ThreadKey, Turn

PLATFORM = "discord"
Place = Literal["dm", "thread", "channel"]
_MENTION = re.compile(r"<(@[!&]?|#)(\d{1,20})>")  # snowflakes have at most 20 digits
THREAD_NAME_LIMIT = 80  # Discord allows 100; shorter names read better in the channel list


@dataclass(frozen=True, slots=True)
class Standing:
    """Who the author is in the server, as the access rules see it."""

    roles: tuple[str, ...] = ()  # role ids, @everyone left out (everybody has it)
    manager: bool = False  # may manage the server (Manage Server, or Administrator)


@dataclass(frozen=True, slots=True, kw_only=True)
class Incoming:
    """What the bot needs to know about one Discord message."""

    id: int
    channel_id: int
    guild_id: int | None
    place: Place
    author_id: int
    author_name: str
    author_is_bot: bool = False  # bots and webhooks
    system: bool = False
    text: str = ""  # content with mentions made readable and the bot's own mention removed
    mentions_bot: bool = False
    thread_owner_id: int | None = None
    reply_to: int | None = None  # id of the message this one replies to
    reply_to_bot: bool = False
    attachments: tuple[str, ...] = ()
    at: datetime | None = None
    parent_id: int | None = None  # a thread's text channel
    standing: Standing = Standing()
    files: tuple[SharedFile, ...] = ()  # the attachments, where to download them
    images: tuple[Image, ...] = ()  # the images among them, once downloaded


@dataclass(frozen=True, slots=True)
class Route:
    """What to do with a message: ``key`` is its conversation (for ``continue_chain`` the
    thread part is filled in once the chain's root is known)."""

    action: Action
    key: ThreadKey
    reply_to: int | None = None  # answer as a Discord reply to this message (channels)


def route(msg: Incoming, *, bot_id: int, threads: str = "auto",
          allow_bots: bool = False) -> Route | None:
    """The bot's decision for ``msg``; None means ignore it."""
    if msg.author_id == bot_id or msg.system or (msg.author_is_bot and not allow_bots):
        return None
    if msg.place == "dm":
        return Route(Action.ANSWER, ThreadKey(PLATFORM, "", str(msg.channel_id), ""))
    scope = str(msg.guild_id or "")
    if msg.place == "thread":
        key = ThreadKey(PLATFORM, scope, str(msg.channel_id), "")
        if msg.thread_owner_id == bot_id:
            return Route(Action.ANSWER, key)
        if msg.mentions_bot:  # someone else's thread: read it once if new to the bot
            return Route(Action.JOIN, key)
        return Route(Action.ANSWER_IF_FOLLOWING, key)
    if msg.reply_to is not None and msg.reply_to_bot:
        return Route(Action.CONTINUE_CHAIN, ThreadKey(PLATFORM, scope, str(msg.channel_id), ""),
                     reply_to=msg.id)
    if not msg.mentions_bot:
        return None
    if threads == "auto":
        # A thread started from a message has the message's id.
        return Route(Action.OPEN_THREAD, ThreadKey(PLATFORM, scope, str(msg.id), ""))
    return chain_route(msg)


def chain_route(msg: Incoming) -> Route:
    """Answer ``msg`` by a reply in its channel, as the root of a new reply chain."""
    key = ThreadKey(PLATFORM, str(msg.guild_id or ""), str(msg.channel_id), str(msg.id))
    return Route(Action.ANSWER, key, reply_to=msg.id)


def refused_route(msg: Incoming, decision: Route) -> Route:
    """For someone the bot will not answer: no thread opened, no reply chain walked — a
    reply to their message in the place they wrote it (a text channel is keyed as itself,
    so they are told once there, not once per mention)."""
    if msg.place != "channel":
        return decision
    key = ThreadKey(PLATFORM, str(msg.guild_id or ""), str(msg.channel_id), "")
    return Route(Action.ANSWER, key, reply_to=msg.id)


def to_turn(msg: Incoming, key: ThreadKey, *, addressed: bool = True) -> Turn:
    """The Turn for ``msg``: attachments named in the text, lone surrogates made storable,
    where it comes from (``origin``)."""
    turn = Turn(key=key, message_id=str(msg.id), author_id=str(msg.author_id),
                author_name=sanitized(msg.author_name),
                text=sanitized(with_attachments(msg.text, msg.attachments)),
                addressed=addressed,
                origin=origin(msg.place, msg.parent_id or msg.channel_id, key, msg.standing),
                images=msg.images)
    return turn if msg.at is None else replace(turn, at=msg.at)


def with_files_read(msg: Incoming, files: Sequence[FileRead]) -> Incoming:
    """``msg`` as the model reads it once its files are downloaded: what was read of each
    follows its text, in place of the files' names; its images go with it."""
    return replace(msg, text=with_blocks(msg.text, [f.text for f in files]), attachments=(),
                   files=(), images=tuple(f.image for f in files if f.image is not None))


def origin(place: Place, listed: int, key: ThreadKey, standing: Standing) -> Origin:
    """Where a message or command in ``key``'s conversation comes from. ``listed`` is the
    channel the user sees in the server's channel list (a thread's parent): the access
    rules and a channel's settings are about that channel, which ``key`` names only when
    the conversation is not a thread (its own, or one about to be opened from a message)."""
    if place == "dm":
        return Origin(direct=True)
    channel = str(listed) if key.channel != str(listed) else ""
    return Origin(roles=standing.roles, manager=standing.manager, channel=channel)


def standing_of(author: object) -> Standing:
    """A discord.py author's roles and whether they may manage the server; none of it for a
    user outside a server (a DM, a webhook). An interaction says what the member may do in
    its channel (``resolved_permissions``: Discord's own reckoning, owner included); a
    message only gives the roles, whose permissions make ``guild_permissions``."""
    if not isinstance(author, discord.Member):
        return Standing()
    roles = tuple(str(role.id) for role in author.roles if not role.is_default())
    permissions = author.resolved_permissions or author.guild_permissions
    return Standing(roles, permissions.manage_guild or permissions.administrator)


def clean_text(content: str, *, bot_id: int, users: Mapping[int, str] | None = None,
               roles: Mapping[int, str] | None = None,
               channels: Mapping[int, str] | None = None) -> str:
    """Discord markup → what a reader sees: ``<@id>`` → ``@Name``, ``<#id>`` → ``#name``;
    the bot's own mention is dropped (it only says who is addressed) and every other
    character is kept as sent: pasted code keeps its indentation."""

    def readable(match: re.Match[str]) -> str:
        kind, ident = match.group(1), int(match.group(2))
        if kind in ("@", "@!"):
            return "@" + (users or {}).get(ident, "someone")
        if kind == "@&":
            return "@" + (roles or {}).get(ident, "role")
        return "#" + (channels or {}).get(ident, "channel")

    text = without_mention(sanitized(content), rf"<@!?{bot_id}>")
    return sanitized(_MENTION.sub(readable, text))  # names may carry lone surrogates too


def thread_name(text: str, author_name: str) -> str:
    """A thread title from the prompt's first line, trimmed at a word boundary."""
    return title_from(text, THREAD_NAME_LIMIT) or f"Chat with {author_name}"[:THREAD_NAME_LIMIT]


CHAT_TYPES = (discord.MessageType.default, discord.MessageType.reply)


def place_of(channel: object) -> Place:
    if isinstance(channel, discord.Thread):
        return "thread"
    if isinstance(channel, discord.DMChannel | discord.GroupChannel):
        return "dm"
    return "channel"


def incoming(message: discord.Message, bot_id: int, *, channel: object | None = None) -> Incoming:
    """Read what the rules need from a discord.py message (``channel`` overrides a partial
    ``message.channel`` the adapter had to fetch)."""
    channel = channel if channel is not None else message.channel
    ref = message.reference
    resolved = ref.resolved if ref is not None else None
    guild = message.guild
    roles = {r.id: r.name for r in message.role_mentions}
    chans = {c: getattr(guild.get_channel_or_thread(c), "name", "channel")
             for c in message.raw_channel_mentions} if guild else {}
    return Incoming(
        id=message.id,
        channel_id=message.channel.id,
        guild_id=guild.id if guild else None,
        place=place_of(channel),
        author_id=message.author.id,
        author_name=message.author.display_name,
        author_is_bot=message.author.bot or message.webhook_id is not None,
        system=message.type not in CHAT_TYPES,
        text=clean_text(message.content, bot_id=bot_id,
                        users={u.id: u.display_name for u in message.mentions},
                        roles=roles, channels=chans),
        mentions_bot=any(u.id == bot_id for u in message.mentions),
        thread_owner_id=getattr(channel, "owner_id", None),
        reply_to=ref.message_id if ref is not None else None,
        reply_to_bot=isinstance(resolved, discord.Message) and resolved.author.id == bot_id,
        attachments=tuple(a.filename for a in message.attachments),
        files=tuple(SharedFile(a.filename, url=a.url, size=a.size,
                               html=(a.content_type or "").startswith("text/html"),
                               file_id=attachment_ref(message.channel.id, message.id, a.id))
                    for a in message.attachments),
        at=message.created_at,
        parent_id=channel.parent_id if isinstance(channel, discord.Thread) else None,
        standing=standing_of(message.author),
    )
