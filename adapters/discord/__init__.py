"""Discord, through discord.py's gateway client.

    events.py    messages → values, and the routing rules (pure but for reading a Message)
    client.py    the gateway client: what the bot does with each message (sharded too)
    connection.py  running it: connect, reconnect, the admin's error lines
    sharding.py  which shards this process runs
    sink.py      post-then-edit replies, app-command responses
    commands.py  /reset /summarize /stop /help /usage /model /config
    setup.py     endpoints, intents, invite URL
    doctor.py    `threadbot doctor`'s Discord lines
    settings.py  DISCORD_* variables

This module is what the registry imports: it stays cheap, discord.py loads in ``run``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.platform import PlatformCommand

if TYPE_CHECKING:
    from adapters.discord.settings import DiscordSettings
    from bot.engine import Engine
    from bot.platform import Check


async def _print_invite(settings: DiscordSettings) -> None:
    from adapters.discord.setup import print_invite

    await print_invite(settings)


def _quiet_voice_warning(record: logging.LogRecord) -> bool:
    """discord.py warns at every start that voice needs extra packages; threadbot has none."""
    return "voice will NOT be supported" not in record.getMessage()


class DiscordPlatform:
    name = "discord"
    how_to_enable = "DISCORD_BOT_TOKEN"
    sdk_loggers: tuple[str, ...] = ("discord",)
    commands: Sequence[PlatformCommand[DiscordSettings]] = (
        PlatformCommand(
            "discord-invite", "print the URL that adds the bot to a Discord server", _print_invite
        ),
    )

    def load_settings(self) -> DiscordSettings:
        from adapters.discord.settings import DiscordSettings

        return DiscordSettings.load()

    def enabled(self, settings: DiscordSettings) -> bool:
        return settings.bot_token is not None

    async def run(self, engine: Engine, settings: DiscordSettings) -> None:
        from adapters.discord.connection import run_discord

        logging.getLogger("discord.client").addFilter(_quiet_voice_warning)
        await run_discord(engine, settings)

    async def doctor(self, settings: DiscordSettings) -> Sequence[Check]:
        from adapters.discord.doctor import discord_checks

        return await discord_checks(settings)


platform = DiscordPlatform()
