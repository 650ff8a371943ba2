"""Slack payloads → threadbot values. Pure: no I/O, no SDK imports, tested on dicts alone.

Keys: ``ThreadKey("slack", team_id, channel_id, thread)`` where thread is the ts of the thread
root — for a top-level mention in a channel that is the mention itself (the bot answers in a
thread under it); for a top-level DM message it is "" (one conversation per DM); a thread
inside a DM uses its own ``thread_ts``. The message ``ts`` is the Turn's message_id, so the
engine's duplicate check catches retries and ``app_mention`` + ``message`` doubles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.common.routing import Action
from bot.types import CommandName, ThreadKey, Turn

PLATFORM = "slack"
# Human messages arrive without a subtype; these two are human messages too.
_HUMAN_SUBTYPES = {None, "", "thread_broadcast", "file_share"}
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_LINK = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto|tel):[^|>]+)(?:\|([^>]*))?>")
_COMMAND = re.compile(r"^\s*!(\w+)\s*$")
_BARE_COMMAND = re.compile(r"^\s*/?(\w+)[.!]?\s*$")


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
    command: CommandName | None
    at: datetime
    author_name: str = ""  # from the event's user_profile when present

    def turn(self, author_name: str, text: str, *, addressed: bool) -> Turn:
        return Turn(
            key=self.key,
            message_id=self.ts,
            author_id=self.author_id,
            author_name=author_name,
            text=text,
            addressed=addressed,
            at=self.at,
        )


def ts_time(ts: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def is_direct(channel: str, channel_type: str | None = None) -> bool:
    return channel_type == "im" if channel_type else channel.startswith("D")


def parse_message(
    event: Mapping[str, Any], ident: Identity, *, team_id: str, allow_bots: bool = False
) -> Incoming | None:
    """An ``app_mention`` or ``message`` event → Incoming, or None when it is never ours:
    our own messages, other bots (unless allowed), edits/deletes/joins and other subtypes."""
    subtype = event.get("subtype")
    if event.get("hidden") or (subtype not in _HUMAN_SUBTYPES and subtype != "bot_message"):
        return None
    user = event.get("user") or ""
    bot_id = event.get("bot_id") or ""
    if (user and user == ident.user_id) or (bot_id and bot_id == ident.bot_id):
        return None
    if (bot_id or subtype == "bot_message") and not allow_bots:
        return None
    channel, ts = event.get("channel") or "", event.get("ts") or ""
    if not channel or not ts:
        return None
    direct = is_direct(channel, event.get("channel_type"))
    thread_ts = event.get("thread_ts") or ""
    in_thread = bool(thread_ts) and thread_ts != ts
    raw = event.get("text") or ""
    mention = f"<@{ident.user_id}>"
    mentioned = event.get("type") == "app_mention" or (bool(ident.user_id) and mention in raw)
    text = _strip_mention(raw, ident.user_id)
    if direct:
        thread = thread_ts  # "" for top-level DM messages: one conversation per DM
    else:
        thread = thread_ts or ts
    profile = event.get("user_profile") or {}
    return Incoming(
        key=ThreadKey(PLATFORM, team_id, channel, thread),
        ts=ts,
        channel=channel,
        reply_thread_ts=thread,
        author_id=user or bot_id,
        author_team=event.get("user_team") or event.get("team") or team_id,
        text=text,
        mentioned=mentioned,
        direct=direct,
        in_thread=in_thread,
        command=parse_command(text, mentioned=mentioned),
        at=ts_time(ts),
        author_name=display_name(profile) if profile else (event.get("username") or ""),
    )


def decide(incoming: Incoming, *, follows: bool, follow_threads: bool = True) -> Action:
    """What to do with a message, given whether the bot already has this conversation."""
    if incoming.direct:
        return Action.ANSWER
    if incoming.mentioned:
        return Action.JOIN if incoming.in_thread and not follows else Action.ANSWER
    if incoming.in_thread and follows:
        return Action.ANSWER if follow_threads else Action.CONTEXT
    return Action.IGNORE


def parse_command(text: str, *, mentioned: bool) -> CommandName | None:
    """``!reset`` anywhere the bot listens; a bare ``reset`` right after a mention."""
    match = _COMMAND.match(text) or (_BARE_COMMAND.match(text) if mentioned else None)
    if not match:
        return None
    try:
        return CommandName(match.group(1).lower())
    except ValueError:
        return None


def _strip_mention(text: str, bot_user_id: str) -> str:
    if not bot_user_id:
        return text.strip()
    stripped = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return re.sub(r"[ \t]{2,}", " ", stripped).strip()


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
    profile = user_or_profile.get("profile") or user_or_profile
    for value in (
        profile.get("display_name"),
        profile.get("real_name"),
        user_or_profile.get("real_name"),
        user_or_profile.get("name"),
    ):
        if value and str(value).strip():
            return str(value).strip()
    return ""


def history_turn(
    message: Mapping[str, Any], key: ThreadKey, names: Mapping[str, str], ident: Identity
) -> Turn | None:
    """A message read with conversations.replies / .history → a context Turn (or None for
    joins, edits and empty messages). The bot's own messages keep its user id so the engine
    stores them as assistant messages."""
    subtype = message.get("subtype")
    if subtype not in _HUMAN_SUBTYPES and subtype != "bot_message":
        return None
    ts, raw = message.get("ts") or "", message.get("text") or ""
    if not ts or not raw.strip():
        return None
    bot_id = message.get("bot_id") or ""
    own = bot_id and bot_id == ident.bot_id
    author = ident.user_id if own else (message.get("user") or bot_id)
    name = names.get(author, "")
    if not name:
        name = (message.get("bot_profile") or {}).get("name") or message.get("username") or author
    return Turn(
        key=key,
        message_id=ts,
        author_id=author,
        author_name=name,
        text=readable(_strip_mention(raw, ident.user_id), names),
        addressed=False,
        at=ts_time(ts),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a slash command or shortcut acts, and where its answer goes."""

    key: ThreadKey
    channel: str
    reply_thread_ts: str
    user_id: str
    direct: bool


def slash_target(payload: Mapping[str, Any]) -> Target:
    """A slash command: in a DM it acts on the DM conversation (thread "")."""
    channel = payload.get("channel_id") or ""
    direct = channel.startswith("D") or payload.get("channel_name") == "directmessage"
    return Target(
        key=ThreadKey(PLATFORM, payload.get("team_id") or "", channel, ""),
        channel=channel,
        reply_thread_ts="",
        user_id=payload.get("user_id") or "",
        direct=direct,
    )


def shortcut_target(payload: Mapping[str, Any]) -> Target:
    """A message shortcut acts on the conversation the message belongs to."""
    channel = (payload.get("channel") or {}).get("id") or ""
    message = payload.get("message") or {}
    team = (payload.get("team") or {}).get("id") or payload.get("team_id") or ""
    direct = is_direct(channel)
    ts = message.get("ts") or ""
    thread = message.get("thread_ts") or ("" if direct else ts)
    return Target(
        key=ThreadKey(PLATFORM, team, channel, thread),
        channel=channel,
        reply_thread_ts=thread,
        user_id=(payload.get("user") or {}).get("id") or "",
        direct=direct,
    )


def prompts(setting: str) -> list[dict[str, str]]:
    """THREADBOT_SLACK_SUGGESTED_PROMPTS ("A|B|C") → assistant.threads.setSuggestedPrompts."""
    items = [p.strip() for p in setting.split("|") if p.strip()]
    return [{"title": p[:75], "message": p} for p in items[:4]]
