"""`threadbot doctor` for Discord: the token (GET /users/@me), the Message Content intent
from the application's flags (GET /oauth2/applications/@me: the intent is a switch in the
developer portal, and without it the bot reads empty messages), and the invite URL.
Plain REST calls: no gateway connection, nothing posted."""

from __future__ import annotations

from typing import Any

import aiohttp
import discord

from adapters.discord.settings import DiscordSettings
from adapters.discord.setup import BAD_TOKEN_HELP, invite_url
from bot.config import secret
from bot.platform import Check, failed, passed

INTENT_HELP = (
    "the Message Content intent is off: enable it at https://discord.com/developers/"
    "applications → your application → Bot → Privileged Gateway Intents"
)


class _Refused(Exception):
    """A check that cannot go on; its text is the line."""


async def discord_checks(settings: DiscordSettings) -> list[Check]:
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=15),
            headers={"Authorization": f"Bot {secret(settings.bot_token)}"},
        ) as session:
            me = await _get(session, settings, "/users/@me")
            app = await _get(session, settings, "/oauth2/applications/@me")
    except _Refused as exc:
        return [failed("Discord token", str(exc))]
    flags = discord.ApplicationFlags._from_value(int(app.get("flags") or 0))
    content = flags.gateway_message_content or flags.gateway_message_content_limited
    return [
        passed("Discord token", f"accepted (bot {me.get('username')}, id {me.get('id')})"),
        passed("Discord intents", "Message Content enabled") if content
        else failed("Discord intents", INTENT_HELP),
        passed("Discord invite", invite_url(int(app["id"]))),
    ]


async def _get(session: aiohttp.ClientSession, settings: DiscordSettings,
               path: str) -> dict[str, Any]:
    url = settings.api_url.rstrip("/") + path
    try:
        async with session.get(url) as resp:
            if resp.status == 401:
                raise _Refused(BAD_TOKEN_HELP)
            if resp.status != 200:
                raise _Refused(f"Discord at {settings.api_url} answered HTTP {resp.status} "
                               f"to GET {path}")
            body: dict[str, Any] = await resp.json(content_type=None)
            return body
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _Refused(f"could not reach Discord at {settings.api_url} "
                       f"({type(exc).__name__})") from None
