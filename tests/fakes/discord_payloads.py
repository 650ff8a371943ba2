"""Discord JSON as Discord sends it (users, guilds, channels, messages, interactions, threads,
errors), for the fake Discord in discord_server.py. Pure builders: the server keeps the state.

Facts this relies on (discord.py 2.7): READY must carry ``resume_gateway_url`` (and, for a
session that identified with a shard, ``shard``: AutoShardedClient reads it); members need
``flags``; interactions need ``attachment_size_limit``; the bot must be in a message's
``mentions`` to count as mentioned.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

ALL = str((1 << 51) - 1)  # every permission bit
ADMINISTRATOR, MANAGE_GUILD = 1 << 3, 1 << 5
# What @everyone may do in a new server: talk, react, read history, use threads and app
# commands; none of the moderation or server-management bits.
EVERYONE = str(sum(1 << bit for bit in (0, 6, 10, 11, 14, 15, 16, 18, 20, 21, 25, 26, 31,
                                        35, 36, 38)))
_ids = itertools.count(1)


def snowflake() -> int:
    """Increasing ids shaped like Discord's (creation time in the high bits)."""
    return ((int(time.time() * 1000) - 1420070400000) << 22) | (next(_ids) % (1 << 22))


def now() -> str:
    return datetime.now(UTC).isoformat()


def user(name: str, *, bot: bool = False, id: int | None = None) -> dict[str, Any]:
    """A person (or another bot); ``name`` is their display name."""
    return {"id": str(id or snowflake()), "username": name.lower(), "global_name": name,
            "discriminator": "0", "avatar": None, "bot": bot}


def text_channel(name: str, guild_id: int) -> dict[str, Any]:
    return {"id": str(snowflake()), "type": 0, "name": name, "position": 0,
            "parent_id": None, "nsfw": False, "topic": None, "last_message_id": None,
            "rate_limit_per_user": 0, "permission_overwrites": [], "guild_id": str(guild_id)}


def dm_channel(recipient: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(snowflake()), "type": 1, "recipients": [recipient],
            "last_message_id": None}


def thread(starter: dict[str, Any], owner: dict[str, Any], name: str,
           guild_id: int) -> dict[str, Any]:
    """A public thread started from ``starter`` (its id is the message's)."""
    return {"id": starter["id"], "guild_id": str(guild_id), "parent_id": starter["channel_id"],
            "owner_id": owner["id"], "name": name, "type": 11, "message_count": 0,
            "member_count": 1, "rate_limit_per_user": 0, "last_message_id": None, "flags": 0,
            "thread_metadata": {"archived": False, "locked": False,
                                "auto_archive_duration": 1440, "archive_timestamp": now()}}


def member(of: dict[str, Any], roles: list[str] | None = None) -> dict[str, Any]:
    """A guild member as in GUILD_CREATE; ``roles`` are role ids (@everyone is implied)."""
    return {"roles": roles or [], "joined_at": now(), "deaf": False, "mute": False,
            "flags": 0, "nick": None, "user": of}


def role(role_id: int, name: str, permissions: int, *, position: int = 1) -> dict[str, Any]:
    """A role; the @everyone role's id is the guild's."""
    return {"id": str(role_id), "name": name, "permissions": str(permissions),
            "position": position, "color": 0, "hoist": False, "managed": False,
            "mentionable": False, "flags": 0}


def permissions(roles: list[dict[str, Any]]) -> str:
    """What a member with ``roles`` (@everyone's included) may do, as an interaction's
    ``member.permissions`` says: Administrator implies everything."""
    value = 0
    for item in roles:
        value |= int(item["permissions"])
    return ALL if value & ADMINISTRATOR else str(value)


def guild(guild_id: int, channels: list[dict[str, Any]], bot: dict[str, Any], *,
          name: str = "Test Server", roles: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """GUILD_CREATE for a test guild: its channels, threads and roles, the bot as a member."""
    everyone = role(guild_id, "@everyone", int(EVERYONE), position=0)
    return {"id": str(guild_id), "name": name, "owner_id": "1", "roles": [everyone, *(roles or [])],
            "emojis": [], "stickers": [], "features": [],
            "channels": [c for c in channels if c["type"] != 11],
            "threads": [c for c in channels if c["type"] == 11],
            "members": [member(bot)], "member_count": 2, "unavailable": False, "large": False,
            "joined_at": now(), "voice_states": [], "presences": []}


def message(channel: dict[str, Any], author: dict[str, Any], content: str, *, type: int = 0,
            mentions: list[dict[str, Any]] | None = None,
            replied: dict[str, Any] | None = None, reply_to: int | None = None,
            roles: list[str] | None = None) -> dict[str, Any]:
    """A message in ``channel``; with ``reply_to`` a reply, ``replied`` being that message
    if known (resolved one level deep, like Discord). In a server it carries the author's
    member (their ``roles``; no ``permissions``, which only interactions carry)."""
    msg: dict[str, Any] = {
        "id": str(snowflake()), "channel_id": channel["id"], "author": author,
        "content": content, "timestamp": now(), "edited_timestamp": None, "tts": False,
        "mention_everyone": False, "mentions": mentions or [], "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": False, "type": type, "flags": 0,
        "components": [],
    }
    if channel.get("guild_id"):
        msg["guild_id"] = channel["guild_id"]
        msg["member"] = {k: v for k, v in member(author, roles).items() if k != "user"}
    if reply_to is not None:
        msg["type"] = 19
        msg["message_reference"] = {"message_id": str(reply_to), "channel_id": channel["id"],
                                    "guild_id": channel.get("guild_id")}
        msg["referenced_message"] = replied and {k: v for k, v in replied.items()
                                                 if k != "referenced_message"}
    return msg


def interaction(id: int, token: str, name: str, app_id: int, channel: dict[str, Any],
                by: dict[str, Any], *, options: dict[str, str] | None = None,
                roles: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """INTERACTION_CREATE for the app command ``/name`` run by ``by`` in ``channel``, with
    the string ``options`` given; in a server ``by`` is a member with ``roles`` (their
    role objects, @everyone's first) and the permissions those grant."""
    command: dict[str, Any] = {"id": str(snowflake()), "name": name, "type": 1}
    if options:
        command["options"] = [{"name": k, "type": 3, "value": v} for k, v in options.items()]
    data: dict[str, Any] = {
        "id": str(id), "application_id": str(app_id), "type": 2,
        "data": command,
        "channel_id": channel["id"], "channel": channel, "token": token, "version": 1,
        "app_permissions": ALL, "locale": "en-US",
        "attachment_size_limit": 8388608, "entitlements": [],
    }
    if channel.get("guild_id"):
        held = roles or [role(int(channel["guild_id"]), "@everyone", int(EVERYONE), position=0)]
        data.update(guild_id=channel["guild_id"], context=0, guild_locale="en-US",
                    member={**member(by, [r["id"] for r in held if r["id"] != channel["guild_id"]]),
                            "permissions": permissions(held)})
    else:
        data.update(user=by, context=1)
    return data


def interaction_callback(id: int, kind: int, resource: dict[str, Any]) -> dict[str, Any]:
    """The answer to an interaction callback (``with_response``)."""
    return {"interaction": {"id": str(id), "type": 2, "response_message_loading": kind == 5},
            "resource": resource}


def ready(bot: dict[str, Any], guild_ids: list[int], app_id: int, session_id: str,
          gateway_url: str, *, shard: tuple[int, int] | None = None) -> dict[str, Any]:
    """READY: the guilds this session gets (each followed by its GUILD_CREATE) and, for a
    session that identified with a shard, that shard (AutoShardedClient requires it)."""
    data = {"v": 10, "user": bot, "guilds": [{"id": str(g), "unavailable": True}
                                              for g in guild_ids],
            "session_id": session_id, "resume_gateway_url": gateway_url,
            "application": {"id": str(app_id), "flags": 0}, "private_channels": []}
    if shard is not None:
        data["shard"] = list(shard)
    return data


def gateway_bot(url: str, shards: int) -> dict[str, Any]:
    """GET /gateway/bot: where to connect and how many shards Discord advises."""
    return {"url": url, "shards": shards,
            "session_start_limit": {"total": 1000, "remaining": 999,
                                    "reset_after": 14_400_000, "max_concurrency": 1}}


def application(app_id: int, bot: dict[str, Any], flags: int = 0) -> dict[str, Any]:
    """GET /oauth2/applications/@me; ``flags`` as Discord's ApplicationFlags (the privileged
    intents the developer portal switched on show there)."""
    return {"id": str(app_id), "name": "threadbot", "description": "", "icon": None,
            "bot_public": True, "bot_require_code_grant": False, "owner": user("Owner"),
            "verify_key": "00", "flags": flags, "bot": bot}


def synced_commands(body: list[dict[str, Any]], app_id: int) -> list[dict[str, Any]]:
    """What a bulk overwrite of app commands returns."""
    return [{**c, "id": str(snowflake()), "application_id": str(app_id), "version": "1",
             "type": c.get("type", 1)} for c in body]


# --- errors ---
def error(message: str, code: int = 0) -> dict[str, Any]:
    return {"message": message, "code": code}


def rate_limited(retry_after: float) -> dict[str, Any]:
    return {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}


def too_long() -> dict[str, Any]:
    """50035 for content over 2,000 characters."""
    return {"message": "Invalid Form Body", "code": 50035,
            "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                                "message": "Must be 2000 or fewer in length."}]}}}
