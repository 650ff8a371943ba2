"""Slack's settings (docs/slack.md), read from the same variables as always."""

from __future__ import annotations

from pydantic import Field, SecretStr

from bot.config import EnvSettings, env


class SlackSettings(EnvSettings):
    bot_token: SecretStr | None = Field(None, validation_alias=env("SLACK_BOT_TOKEN"))
    app_token: SecretStr | None = Field(None, validation_alias=env("SLACK_APP_TOKEN"))
    signing_secret: SecretStr | None = Field(None, validation_alias=env("SLACK_SIGNING_SECRET"))
    api_url: str | None = Field(None, validation_alias=env("SLACK_API_URL"))
    follow_threads: bool = Field(True, validation_alias=env("THREADBOT_SLACK_FOLLOW_THREADS"))
    allow_bots: bool = Field(False, validation_alias=env("THREADBOT_SLACK_ALLOW_BOTS"))
    reset_command: str = Field("/reset", validation_alias=env("THREADBOT_SLACK_RESET_COMMAND"))
    summarize_command: str = Field(
        "/summarize", validation_alias=env("THREADBOT_SLACK_SUMMARIZE_COMMAND")
    )
    usage_command: str = Field("/usage", validation_alias=env("THREADBOT_SLACK_USAGE_COMMAND"))
    model_command: str = Field("/model", validation_alias=env("THREADBOT_SLACK_MODEL_COMMAND"))
    suggested_prompts: str = Field(
        "Summarize this channel|What can you do?",
        validation_alias=env("THREADBOT_SLACK_SUGGESTED_PROMPTS"),
    )
    # the newest messages read once when joining a thread (replies.py pages to them), and
    # for a channel /summarize
    context_messages: int = Field(
        100, gt=0, le=1000, validation_alias=env("THREADBOT_SLACK_CONTEXT_MESSAGES")
    )
    greeting: str = Field(
        "Hi! Ask me anything — I'll answer here, and remember this thread.",
        validation_alias=env("THREADBOT_SLACK_GREETING"),
    )
    http_host: str = Field("0.0.0.0", validation_alias=env("THREADBOT_HTTP_HOST"))
    http_port: int = Field(3000, ge=0, le=65535, validation_alias=env("THREADBOT_HTTP_PORT"))
    forget_command: str = Field("/forget", validation_alias=env("THREADBOT_SLACK_FORGET_COMMAND"))
