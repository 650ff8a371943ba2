"""Slack payloads → threadbot values. Pure: no I/O, no SDK imports, tested on dicts alone.

Keys: ``ThreadKey("slack", team_id, channel_id, thread)`` where thread is the ts of the thread
root — for a top-level mention in a channel that is the mention itself (the bot answers in a
thread under it); for a top-level DM message it is "" (one conversation per DM); a thread
inside a DM uses its own ``thread_ts``. The message ``ts`` is the Turn's message_id, so the
engine's duplicate check catches retries and ``app_mention`` + ``message`` doubles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.common.commands import Invocation, invocation
from adapters.common.extract import FileRead
from adapters.common.files import SharedFile
from adapters.common.routing import Action
from adapters.common.text import sanitized, with_attachments, with_blocks, without_mention
from adapters.slack.shape import TS, id_field, is_id, nested_id, object_field, text_field
from bot.types import Origin, ThreadKey, Turn

PLATFORM = "slack"
# Human messages arrive without a subtype; these two are human messages too.
_HUMAN_SUBTYPES = {"", "thread_broadcast", "file_share"}
_TEXTS = ("type", "subtype", "text", "channel_type", "username")
_IDS = ("user", "bot_id", "channel", "team", "user_team")
# Slack escapes "<" and ">" in text, so markup never contains them: "[^<>]" keeps every match
# from scanning past the next "<" (with "[^>]*", 8,000 unclosed "<@U1|" took seconds).
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")
_CHANNEL_LINK = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^<>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^<>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^<>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto|tel):[^|<>]+)(?:\|([^<>]*))?>")
# "!name", then what follows it: any text, over several lines too (a persona prompt).
_COMMAND = re.compile(r"\s*!(\w+)(?:\s+(.*?))?\s*", re.DOTALL)
# Right after a mention: the name alone, or with one word (``@threadbot model gpt-4.1``); a
# sentence that starts with a command's name ("model the data for me") is a message.
_BARE_COMMAND = re.compile(r"\s*/?(\w+)(?:[.!]?|[ \t]+(\S+))\s*")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the bot is in this workspace (from auth.test, via bolt's context)."""

    team_id: str
    user_id: str
    bot_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Incoming:
    """A message event the bot may react to, before deciding whether it does."""

    key: ThreadKey
    ts: str
    channel: str
    reply_thread_ts: str  # where the answer goes; "" = top level (a DM)
    author_id: str
    author_team: str
    text: str  # Slack-encoded text, bot mention removed
    mentioned: bool
    direct: bool
    in_thread: bool  # a reply inside an existing thread (not its root)
    command: Invocation | None
    at: datetime
    author_name: str = ""  # from the event's user_profile when present
    attachments: tuple[str, ...] = ()  # names of the files shared with the message
    files: tuple[SharedFile, ...] = ()  # the same files, where to download them

    @property
    def target(self) -> Target:
        """Where a text command (``!reset``) acts and answers: its own conversation."""
        return Target(key=self.key, channel=self.channel, reply_thread_ts=self.reply_thread_ts,
                      user_id=self.author_id, direct=self.direct)

    @property
    def place_key(self) -> ThreadKey:
        """The channel or DM the message was written in, as a conversation: where someone
        the bot will not answer is told so, once, however many threads they start there."""
        return ThreadKey(self.key.platform, self.key.scope, self.key.channel, "")

    def turn(self, author_name: str, text: str, *, addressed: bool,
             files: Sequence[FileRead] | None = None) -> Turn:
        """The Turn for this message; ``text`` is its readable form, followed by what was
        read of its ``files``, or their names when they were not downloaded."""
        return Turn(
            key=self.key,
            message_id=self.ts,
            author_id=self.author_id,
            author_name=sanitized(author_name),
            text=with_attachments(text, self.attachments) if files is None
            else with_blocks(text, [f.text for f in files]),
            addressed=addressed,
            at=self.at,
            origin=Origin(direct=self.direct),
            images=tuple(f.image for f in files or () if f.image is not None),
        )


def ts_time(ts: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)


def is_direct(channel: str, channel_type: str | None = None) -> bool:
    return channel_type == "im" if channel_type else channel.startswith("D")


def parse_message(
    event: Mapping[str, Any], ident: Identity, *, team_id: str, allow_bots: bool = False
) -> Incoming | None:
    """An ``app_mention`` or ``message`` event → Incoming, or None when it is never ours:
    our own messages, other bots (unless allowed), edits/deletes/joins and other subtypes,
    and events whose fields do not have Slack's types (see shape.py)."""
    fields = _fields(event)
    if fields is None or not is_id(team_id) or not _candidate(event, fields, ident, allow_bots):
        return None
    channel, ts, user = fields["channel"], fields["ts"], fields["user"]
    if not channel or not ts:
        return None
    direct = is_direct(channel, fields["channel_type"] or None)
    thread_ts = fields["thread_ts"]
    raw = sanitized(fields["text"])
    mentioned = fields["type"] == "app_mention" or (
        bool(ident.user_id) and re.search(_mention(ident.user_id), raw) is not None
    )
    text = _strip_mention(raw, ident.user_id)
    # A top-level DM message has thread "": one conversation per DM.
    thread = thread_ts if direct else (thread_ts or ts)
    profile = object_field(event, "user_profile") or {}
    return Incoming(
        key=ThreadKey(PLATFORM, team_id, channel, thread),
        ts=ts,
        channel=channel,
        reply_thread_ts=thread,
        author_id=user or fields["bot_id"],
        author_team=fields["user_team"] or fields["team"] or team_id,
        text=text,
        mentioned=mentioned,
        direct=direct,
        in_thread=bool(thread_ts) and thread_ts != ts,
        command=parse_command(text, mentioned=mentioned),
        at=ts_time(ts),
        author_name=display_name(profile) if profile else sanitized(fields["username"]),
        attachments=file_names(event),
        files=shared_files(event),
    )


def _fields(event: object) -> dict[str, str] | None:
    """The event's string fields ("" when absent), or None if any has the wrong type or an
    id is not an id: such an event is ignored, never half-read."""
    if not isinstance(event, Mapping):
        return None
    fields = {name: text_field(event, name) for name in _TEXTS}
    fields |= {name: id_field(event, name) for name in _IDS}
    fields |= {name: id_field(event, name, TS) for name in ("ts", "thread_ts")}
    values = {name: value for name, value in fields.items() if value is not None}
    return values if len(values) == len(fields) else None


def _candidate(event: Mapping[str, Any], fields: Mapping[str, str], ident: Identity,
               allow_bots: bool) -> bool:
    """Whether a message is from someone the bot may answer: not itself, not a bot (unless
    allowed), not an edit, delete, join or other non-human subtype."""
    subtype = fields["subtype"]
    if event.get("hidden") or (subtype not in _HUMAN_SUBTYPES and subtype != "bot_message"):
        return False
    user, bot_id = fields["user"], fields["bot_id"]
    if (user and user == ident.user_id) or (bot_id and bot_id == ident.bot_id):
        return False
    return allow_bots or not (bot_id or subtype == "bot_message")


def file_names(message: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of the files shared with a message (deleted files left out)."""
    files = message.get("files")
    if not isinstance(files, list):
        return ()
    names = []
    for item in files:
        if not isinstance(item, Mapping) or item.get("mode") == "tombstone":
            continue
        name = next((v for v in (item.get("name"), item.get("title")) if isinstance(v, str) and v.strip()),
                    "unnamed file")
        names.append(name)
    return tuple(names)


def shared_files(message: Mapping[str, Any]) -> tuple[SharedFile, ...]:
    """The files shared with a message, as ``file_names`` names them, with their
    ``url_private`` (downloaded with the bot token: scope ``files:read``)."""
    files = message.get("files")
    if not isinstance(files, list):
        return ()
    live = [f for f in files if isinstance(f, Mapping) and f.get("mode") != "tombstone"]
    return tuple(
        SharedFile(name, url=_text(f.get("url_private")), size=_size(f.get("size")),
                   html=f.get("filetype") == "html" or f.get("mimetype") == "text/html",
                   file_id=_text(f.get("id")))
        for name, f in zip(file_names(message), live, strict=True)
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _size(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def decide(incoming: Incoming, *, follows: bool, follow_threads: bool = True) -> Action:
    """What to do with a message, given whether the bot already has this conversation."""
    if incoming.direct:
        return Action.ANSWER
    if incoming.mentioned:
        return Action.JOIN if incoming.in_thread and not follows else Action.ANSWER
    if incoming.in_thread and follows:
        return Action.ANSWER if follow_threads else Action.CONTEXT
    return Action.IGNORE


def parse_command(text: str, *, mentioned: bool) -> Invocation | None:
    """``!reset``, ``!model gpt-4.1`` anywhere the bot listens; a bare ``reset`` or ``model
    gpt-4.1`` right after a mention."""
    match = _COMMAND.fullmatch(text) or (_BARE_COMMAND.fullmatch(text) if mentioned else None)
    if not match:
        return None
    return invocation(match.group(1), match.group(2) or "")


def _mention(user_id: str) -> str:
    """The regex of a mention of ``user_id``: ``<@U123>`` or ``<@U123|name>``."""
    return rf"<@{re.escape(user_id)}(?:\|[^<>]*)?>"


def _strip_mention(text: str, bot_user_id: str) -> str:
    return without_mention(text, _mention(bot_user_id)) if bot_user_id else text


def mentioned_users(text: str) -> list[str]:
    """User ids mentioned in Slack-encoded text, in order, without repeats."""
    return list(dict.fromkeys(_USER_MENTION.findall(text)))


def readable(text: str, names: Mapping[str, str]) -> str:
    """Slack-encoded text → what a person reads (and the model should see)."""
    text = _USER_MENTION.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    text = _CHANNEL_LINK.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _SPECIAL.sub(lambda m: "@" + m.group(1), text)
    text = _SUBTEAM.sub(lambda m: m.group(1) or "@team", text)
    text = _LINK.sub(_link_text, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _link_text(match: re.Match[str]) -> str:
    url, label = match.group(1), match.group(2)
    if url.startswith(("mailto:", "tel:")):
        return label or url.split(":", 1)[1]
    return f"{label} ({url})" if label and label != url else url


def display_name(user_or_profile: Mapping[str, Any]) -> str:
    """Display name from a users.info ``user`` or an event's ``user_profile``."""
    profile = user_or_profile.get("profile")
    if not isinstance(profile, Mapping):
        profile = user_or_profile
    for value in (
        profile.get("display_name"),
        profile.get("real_name"),
        user_or_profile.get("real_name"),
        user_or_profile.get("name"),
    ):
        if isinstance(value, str) and value.strip():
            return sanitized(value.strip())
    return ""


def history_turn(
    message: Mapping[str, Any], key: ThreadKey, names: Mapping[str, str], ident: Identity,
    *, files: Sequence[FileRead] | None = None,
) -> Turn | None:
    """A message read with conversations.replies / .history → a context Turn (or None for
    joins, edits, empty and malformed messages). The bot's own messages keep its user id so
    the engine stores them as assistant messages; shared files are named in the text, or
    followed by what was read of them (``files``, as for a live message)."""
    fields = _fields(message)
    if fields is None or (fields["subtype"] not in _HUMAN_SUBTYPES and fields["subtype"] != "bot_message"):
        return None
    text = readable(_strip_mention(sanitized(fields["text"]), ident.user_id), names)
    text = (with_attachments(text, file_names(message)) if files is None
            else with_blocks(text, [f.text for f in files]))
    ts, bot_id = fields["ts"], fields["bot_id"]
    if not ts or not text.strip():
        return None
    own = bool(bot_id) and bot_id == ident.bot_id
    author = ident.user_id if own else (fields["user"] or bot_id)
    bot_profile = object_field(message, "bot_profile") or {}
    bot_name = bot_profile.get("name")
    name = names.get(author) or (bot_name if isinstance(bot_name, str) else "") or fields["username"]
    return Turn(
        key=key,
        message_id=ts,
        author_id=author,
        author_name=sanitized(name or author),
        text=text,
        addressed=False,
        at=ts_time(ts),
        images=tuple(f.image for f in files or () if f.image is not None),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a slash command or shortcut acts, and where its answer goes."""

    key: ThreadKey
    channel: str
    reply_thread_ts: str
    user_id: str
    direct: bool
    argument: str = ""  # a slash command's text, stripped

    @property
    def origin(self) -> Origin:
        return Origin(direct=self.direct)


def slash_target(payload: Mapping[str, Any]) -> Target | None:
    """A slash command: in a DM it acts on the DM conversation (thread ""); its text is the
    command's argument. None when the payload names no channel or has malformed ids."""
    if not isinstance(payload, Mapping):
        return None
    channel, team, user = (id_field(payload, n) for n in ("channel_id", "team_id", "user_id"))
    channel_name = text_field(payload, "channel_name")
    if not channel or team is None or user is None or channel_name is None:
        return None
    return Target(
        key=ThreadKey(PLATFORM, team, channel, ""),
        channel=channel,
        reply_thread_ts="",
        user_id=user,
        direct=channel.startswith("D") or channel_name == "directmessage",
        # Slack escapes & < > in it; mentions stay as typed (should_escape: false)
        argument=readable(sanitized(text_field(payload, "text") or ""), {}).strip(),
    )


def shortcut_target(payload: Mapping[str, Any]) -> Target | None:
    """A message shortcut acts on the conversation the message belongs to. None when the
    payload names no channel or has malformed parts."""
    if not isinstance(payload, Mapping):
        return None
    channel, team, user = (nested_id(payload, n) for n in ("channel", "team", "user"))
    team_id, message = id_field(payload, "team_id"), object_field(payload, "message")
    if not channel or team is None or team_id is None or user is None or message is None:
        return None
    ts, thread_ts = id_field(message, "ts", TS), id_field(message, "thread_ts", TS)
    if ts is None or thread_ts is None:
        return None
    direct = is_direct(channel)
    thread = thread_ts or ("" if direct else ts)
    return Target(
        key=ThreadKey(PLATFORM, team or team_id, channel, thread),
        channel=channel,
        reply_thread_ts=thread,
        user_id=user,
        direct=direct,
    )


def prompts(setting: str) -> list[dict[str, str]]:
    """THREADBOT_SLACK_SUGGESTED_PROMPTS ("A|B|C") → assistant.threads.setSuggestedPrompts."""
    items = [p.strip() for p in setting.split("|") if p.strip()]
    return [{"title": p[:75], "message": p} for p in items[:4]]
