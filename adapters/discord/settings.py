"""Discord's settings (docs/discord.md), read from the same variables as always."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from bot.config import EnvSettings, env


class DiscordSettings(EnvSettings):
    bot_token: SecretStr | None = Field(None, validation_alias=env("DISCORD_BOT_TOKEN"))
    api_url: str = Field("https://discord.com/api/v10", validation_alias=env("DISCORD_API_URL"))
    gateway_url: str = Field("wss://gateway.discord.gg/", validation_alias=env("DISCORD_GATEWAY_URL"))
    # auto: open a thread per conversation · never: reply to the message (reply chains)
    threads: Literal["auto", "never"] = Field("auto", validation_alias=env("THREADBOT_DISCORD_THREADS"))
    allow_bots: bool = Field(False, validation_alias=env("THREADBOT_DISCORD_ALLOW_BOTS"))
    guild_id: int | None = Field(None, validation_alias=env("THREADBOT_DISCORD_GUILD_ID"))
