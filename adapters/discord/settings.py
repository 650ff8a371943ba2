"""Discord's settings (docs/discord.md), read from the same variables as always."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import NoDecode

from bot.config import EnvSettings, env

IDS_HELP = "list whole numbers separated by commas, e.g. 0,1"


class DiscordSettings(EnvSettings):
    bot_token: SecretStr | None = Field(None, validation_alias=env("DISCORD_BOT_TOKEN"))
    api_url: str = Field("https://discord.com/api/v10", validation_alias=env("DISCORD_API_URL"))
    gateway_url: str = Field("wss://gateway.discord.gg/", validation_alias=env("DISCORD_GATEWAY_URL"))
    # auto: open a thread per conversation · never: reply to the message (reply chains)
    threads: Literal["auto", "never"] = Field("auto", validation_alias=env("THREADBOT_DISCORD_THREADS"))
    allow_bots: bool = Field(False, validation_alias=env("THREADBOT_DISCORD_ALLOW_BOTS"))
    guild_id: int | None = Field(None, validation_alias=env("THREADBOT_DISCORD_GUILD_ID"))
    # sharding (adapters/discord/sharding.py): unset means one plain gateway connection
    shards: int | None = Field(None, gt=0, validation_alias=env("THREADBOT_DISCORD_SHARDS"))
    # NoDecode: the variable is "0,1", not the JSON pydantic-settings expects for a tuple
    shard_ids: Annotated[tuple[int, ...] | None, NoDecode] = Field(
        None, validation_alias=env("THREADBOT_DISCORD_SHARD_IDS"))

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return parse_ids(value) if isinstance(value, str) else value

    @field_validator("shard_ids")
    @classmethod
    def _known_shards(cls, ids: tuple[int, ...] | None,
                      info: ValidationInfo) -> tuple[int, ...] | None:
        if ids is None or "shards" not in info.data:  # a bad SHARDS is reported by itself
            return ids
        problem = ids_problem(ids, info.data["shards"])
        if problem:
            raise PydanticCustomError("shard_ids", problem)
        return ids


def parse_ids(text: str) -> tuple[int, ...]:
    """``"0, 1"`` → ``(0, 1)``; anything else is the admin's one-line error."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise PydanticCustomError("shard_ids", f"no shard ids given; {IDS_HELP}")
    ids = []
    for item in items:
        if not item:
            raise PydanticCustomError("shard_ids", f"an empty entry in {text.strip()!r}; {IDS_HELP}")
        try:
            ids.append(int(item))
        except ValueError:
            raise PydanticCustomError(
                "shard_ids", f"{item!r} is not a shard id; {IDS_HELP}") from None
    return tuple(ids)


def ids_problem(ids: tuple[int, ...], shards: int | None) -> str | None:
    """What is wrong with running shards ``ids`` of ``shards``; None when nothing is."""
    if shards is None:
        return "set THREADBOT_DISCORD_SHARDS (the total number of shards) too"
    if not ids:
        return f"no shard ids given; {IDS_HELP}"
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        return f"shard {twice[0]} is listed twice"
    outside = [i for i in ids if not 0 <= i < shards]
    if outside:
        return (f"there is no shard {outside[0]}: with THREADBOT_DISCORD_SHARDS={shards} the "
                f"ids run from 0 to {shards - 1}")
    return None
