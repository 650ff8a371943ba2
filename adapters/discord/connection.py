"""Running the Discord client: connect, stay connected, and turn what the admin must fix into
one ConfigError line.

``run_discord(engine, settings)`` connects and answers until cancelled; only a configuration
error (token, intents, shards) ends it. Bad data does not: an event discord.py cannot parse,
or a message the adapter cannot read, is logged and skipped (client.py), and a gateway
connection that breaks in a way discord.py does not handle itself is opened again with
backoff, so one odd payload never takes the process (and Slack with it) down.

With THREADBOT_DISCORD_SHARDS the client is discord.py's AutoShardedClient, which closes
itself when one shard's connection breaks that way: Discord is then started anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import aiohttp
import discord

from adapters.discord.client import ShardedThreadbotClient, ThreadbotClient
from adapters.discord.settings import DiscordSettings
from adapters.discord.setup import (
    BAD_TOKEN_HELP,
    NO_TOKEN_HELP,
    PRIVILEGED_INTENT_HELP,
    closed_help,
    discord_endpoints,
)
from bot.config import secret
from bot.engine import Engine
from bot.errors import ConfigError

__all__ = ["run_discord", "serve"]

log = logging.getLogger(__name__)

RECONNECT_MAX = 60.0  # seconds between gateway reconnects at most; also "stayed up long enough"


async def run_discord(engine: Engine, settings: DiscordSettings) -> None:
    """Connect to Discord and answer until cancelled. Raises ConfigError with one line for
    the admin when the token or the Message Content intent is refused."""
    if settings.bot_token is None:
        raise ConfigError(NO_TOKEN_HELP)
    with discord_endpoints(settings.api_url, settings.gateway_url):
        kind = ShardedThreadbotClient if settings.shards else ThreadbotClient
        await serve(kind(settings, engine), secret(settings.bot_token))


async def serve(client: ThreadbotClient, token: str) -> None:
    """Run ``client`` until cancelled or closed, turning set-up refusals into ConfigError."""
    try:
        async with client:
            await client.login(token)
            await _stay_connected(client)
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(PRIVILEGED_INTENT_HELP) from None
    except discord.LoginFailure:
        raise ConfigError(BAD_TOKEN_HELP) from None
    except discord.NotFound:  # at login: whatever answers there is not Discord's REST API
        raise ConfigError(
            f"Discord at {client.settings.api_url} answered HTTP 404 to GET /users/@me: check "
            "DISCORD_API_URL (it is the REST API's base, e.g. https://discord.com/api/v10)."
        ) from None
    except discord.ConnectionClosed as exc:  # only the codes discord.py will not reconnect
        raise ConfigError(closed_help(exc.code)) from None
    except aiohttp.ClientConnectorError as exc:  # at login; later drops discord.py reconnects
        raise ConfigError(
            f"Could not reach Discord at {client.settings.api_url} "
            f"({type(exc).__name__}); check the network or DISCORD_API_URL."
        ) from None


async def _stay_connected(client: ThreadbotClient) -> None:
    """discord.py reconnects after network trouble by itself, but anything else that breaks
    its gateway loop (a frame that is not JSON, not an object) ends ``connect()``: connect
    again after a pause that doubles up to RECONNECT_MAX. An AutoShardedClient closes itself
    then, and a closed client cannot be opened again: this returns, and the platform's
    supervisor (bot/serving.py) starts Discord anew. Refusals of the token or intents
    (ConnectionClosed, PrivilegedIntentsRequired) go up to ``serve``."""
    delay = client.reconnect_delay
    while not client.is_closed():
        began = time.monotonic()
        try:
            await client.connect(reconnect=True)
            return  # closed
        except (discord.ConnectionClosed, discord.ClientException):
            raise
        except Exception as exc:
            if time.monotonic() - began >= RECONNECT_MAX:
                delay = client.reconnect_delay  # it had been fine for a while: start over
            again = "starting anew" if client.is_closed() else f"reconnecting in {delay:.1f} s"
            log.warning("the Discord gateway connection broke (%s: %.200s); %s",
                        type(exc).__name__, exc, again)
            log.debug("what broke the gateway connection", exc_info=True)
        if client.is_closed():
            return
        if client.ws is not None:
            with contextlib.suppress(Exception):
                await client.ws.close(code=4000)  # and its heartbeat thread
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX)
