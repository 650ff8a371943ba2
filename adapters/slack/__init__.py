"""Slack, through slack-bolt (Socket Mode or HTTP).

    events.py    payloads → values (pure, no I/O)      handlers.py  what the bot does with them
    sink.py      post-then-update, ephemeral, status   stream.py    Slack's native streaming
    format.py    Markdown → mrkdwn                      users.py     display names (cached)
    app.py       the bolt app, its transports           settings.py  SLACK_* variables
    shape.py     malformed JSON → None / HTTP 400       replies.py   the newest messages of a thread
    startup.py   credentials checked before serving commands.py  !commands, /commands, shortcuts
    doctor.py    `threadbot doctor`'s Slack lines

This module is what the registry imports: it stays cheap, the SDK loads in ``run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.platform import PlatformCommand

if TYPE_CHECKING:
    from adapters.slack.settings import SlackSettings
    from bot.engine import Engine
    from bot.platform import Check


class SlackPlatform:
    name = "slack"
    how_to_enable = "SLACK_BOT_TOKEN with SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP)"
    sdk_loggers: tuple[str, ...] = ("slack_bolt", "slack_sdk")
    commands: Sequence[PlatformCommand[SlackSettings]] = ()

    def load_settings(self) -> SlackSettings:
        from adapters.slack.settings import SlackSettings

        return SlackSettings.load()

    def enabled(self, settings: SlackSettings) -> bool:
        return settings.bot_token is not None

    async def run(self, engine: Engine, settings: SlackSettings) -> None:
        from adapters.slack.app import run_slack

        await run_slack(engine, settings)

    async def doctor(self, settings: SlackSettings) -> Sequence[Check]:
        from adapters.slack.doctor import slack_checks

        return await slack_checks(settings)


platform = SlackPlatform()
