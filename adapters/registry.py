"""The chat platforms `threadbot run` can serve, by name. A new platform is one package
under ``adapters/`` exposing a ``platform`` object (``bot.ports.Platform``) and one line
here; nothing in the core changes. Each package imports its SDK only when it runs."""

from __future__ import annotations

from typing import Any

from adapters import discord, slack
from bot.platform import Platform

PLATFORMS: dict[str, Platform[Any]] = {
    slack.platform.name: slack.platform,
    discord.platform.name: discord.platform,
}
