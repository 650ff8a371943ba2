"""Connecting to Discord: endpoints, intents, the invite URL, and the admin's error lines.

Endpoints: discord.py has no constructor option for its API or gateway URL; it reads the
class attributes ``discord.http.Route.BASE`` (whenever a request is built) and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (on every fresh connect; a resume uses
the ``resume_gateway_url`` Discord sent in READY). ``discord_endpoints()`` sets both from
DISCORD_API_URL / DISCORD_GATEWAY_URL (proxies, tests) and restores the previous values on
exit, so one test's fake server never leaks into the next test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import aiohttp
import discord
import yarl

from adapters.discord.settings import DiscordSettings
from bot.config import secret
from bot.errors import ConfigError

PRIVILEGED_INTENT_HELP = (
    "Discord refused the Message Content intent: enable it at "
    "https://discord.com/developers/applications → your application → Bot → "
    "Privileged Gateway Intents → Message Content Intent, then restart threadbot."
)
BAD_TOKEN_HELP = (
    "Discord rejected DISCORD_BOT_TOKEN: copy a fresh token from "
    "https://discord.com/developers/applications → your application → Bot → Reset Token."
)
NO_TOKEN_HELP = "Set DISCORD_BOT_TOKEN to the bot token of your Discord application."
# Gateway close codes discord.py does not reconnect after (4014 is PRIVILEGED_INTENT_HELP).
CLOSE_CODES = {
    4010: "an invalid shard: check THREADBOT_DISCORD_SHARDS and THREADBOT_DISCORD_SHARD_IDS",
    4011: "sharding required: the bot is in too many servers for one connection; set "
    "THREADBOT_DISCORD_SHARDS, one shard per 2,500 servers at least",
    4012: "an invalid API version", 4013: "invalid intents",
}
# What the bot does in a server: read and answer messages, open threads and write in them,
# read a thread's earlier messages when first mentioned there.
PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, send_messages_in_threads=True,
    create_public_threads=True, read_message_history=True,
)
SCOPES = ("bot", "applications.commands")


def closed_help(code: int) -> str:
    """The admin's line for a gateway connection Discord closed for good."""
    if code == 4004:
        return BAD_TOKEN_HELP
    reason = CLOSE_CODES.get(code, "a reason it did not give")
    return (f"Discord closed the gateway connection (code {code}: {reason}); threadbot cannot "
            "go on without a change of its set-up.")


def intents() -> discord.Intents:
    result = discord.Intents.default()  # guilds, guild + DM messages; no members/presences
    result.message_content = True  # privileged: without it messages arrive with empty text
    return result


@contextlib.contextmanager
def discord_endpoints(api_url: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py at these URLs for the duration (see the module docstring)."""
    gateway = discord.gateway.DiscordWebSocket
    saved = discord.http.Route.BASE, gateway.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_url.rstrip("/")
    gateway.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, gateway.DEFAULT_GATEWAY = saved


def invite_url(application_id: int) -> str:
    """The OAuth2 URL that adds the bot to a server with the scopes and permissions it uses."""
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


async def fetch_application_id(settings: DiscordSettings) -> int:
    """The application id behind DISCORD_BOT_TOKEN (GET /oauth2/applications/@me)."""
    if settings.bot_token is None:
        raise ConfigError(NO_TOKEN_HELP)
    headers = {"Authorization": f"Bot {secret(settings.bot_token)}"}
    url = settings.api_url.rstrip("/") + "/oauth2/applications/@me"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session, \
                session.get(url, headers=headers) as resp:
            if resp.status == 401:
                raise ConfigError(BAD_TOKEN_HELP)
            if resp.status != 200:
                raise ConfigError(f"Discord answered HTTP {resp.status} when asked for the "
                                  "application behind DISCORD_BOT_TOKEN; try again later.")
            return int((await resp.json(content_type=None))["id"])
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConfigError(f"Could not reach Discord at {settings.api_url} "
                          f"({type(exc).__name__}); check the network or DISCORD_API_URL.") from None


async def print_invite(settings: DiscordSettings) -> None:
    """`threadbot discord-invite`: print the URL an admin opens to add the bot."""
    print(invite_url(await fetch_application_id(settings)))
