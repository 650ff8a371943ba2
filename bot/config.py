"""Settings: the only module that reads the environment (and `.env`).

Names are part of the public contract (deployments depend on them), so fields carry their
exact environment names as aliases rather than a prefix rule.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

ProviderName = Literal["openai", "openai-responses", "anthropic"]


def _env(name: str, *more: str) -> AliasChoices:
    return AliasChoices(name, *more)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `FOO=` in .env means "not set"
        extra="ignore",
        populate_by_name=True,
    )

    # --- LLM provider ---
    openai_api_key: SecretStr | None = Field(None, validation_alias=_env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL"))
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=_env("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=_env("ANTHROPIC_BASE_URL"))
    provider: ProviderName = Field("openai", validation_alias=_env("THREADBOT_PROVIDER"))
    model: str = Field("", validation_alias=_env("THREADBOT_MODEL"))
    system_prompt: str = Field(
        "You are a helpful assistant in a team chat. Answer concisely; use Markdown sparingly.",
        validation_alias=_env("THREADBOT_SYSTEM_PROMPT"),
    )
    history: Literal["replay", "chain"] = Field("replay", validation_alias=_env("THREADBOT_HISTORY"))
    context_tokens: int = Field(16_000, gt=0, validation_alias=_env("THREADBOT_CONTEXT_TOKENS"))
    max_output_tokens: int = Field(1_024, gt=0, validation_alias=_env("THREADBOT_MAX_OUTPUT_TOKENS"))
    provider_timeout: float = Field(60.0, gt=0, validation_alias=_env("THREADBOT_PROVIDER_TIMEOUT"))
    provider_retries: int = Field(2, ge=0, validation_alias=_env("THREADBOT_PROVIDER_RETRIES"))

    # --- store / process ---
    # a file path or sqlite:///path (storage.open_store picks the backend)
    db: str = Field("threadbot.db", validation_alias=_env("THREADBOT_DB"))
    log_level: str = Field("INFO", validation_alias=_env("THREADBOT_LOG_LEVEL"))

    # --- Slack ---
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_api_url: str | None = Field(None, validation_alias=_env("SLACK_API_URL"))
    slack_follow_threads: bool = Field(True, validation_alias=_env("THREADBOT_SLACK_FOLLOW_THREADS"))
    slack_allow_bots: bool = Field(False, validation_alias=_env("THREADBOT_SLACK_ALLOW_BOTS"))
    slack_reset_command: str = Field("/reset", validation_alias=_env("THREADBOT_SLACK_RESET_COMMAND"))
    slack_summarize_command: str = Field(
        "/summarize", validation_alias=_env("THREADBOT_SLACK_SUMMARIZE_COMMAND")
    )
    slack_suggested_prompts: str = Field(
        "Summarize this channel|What can you do?",
        validation_alias=_env("THREADBOT_SLACK_SUGGESTED_PROMPTS"),
    )
    slack_context_messages: int = Field(
        100, gt=0, le=1000, validation_alias=_env("THREADBOT_SLACK_CONTEXT_MESSAGES")
    )
    slack_greeting: str = Field(
        "Hi! Ask me anything — I'll answer here, and remember this thread.",
        validation_alias=_env("THREADBOT_SLACK_GREETING"),
    )
    http_host: str = Field("0.0.0.0", validation_alias=_env("THREADBOT_HTTP_HOST"))
    http_port: int = Field(3000, ge=0, le=65535, validation_alias=_env("THREADBOT_HTTP_PORT"))

    # --- Discord ---
    discord_bot_token: SecretStr | None = Field(None, validation_alias=_env("DISCORD_BOT_TOKEN"))
    discord_api_url: str = Field(
        "https://discord.com/api/v10", validation_alias=_env("DISCORD_API_URL")
    )
    discord_gateway_url: str = Field(
        "wss://gateway.discord.gg/", validation_alias=_env("DISCORD_GATEWAY_URL")
    )
    discord_threads: Literal["auto", "never"] = Field(
        "auto", validation_alias=_env("THREADBOT_DISCORD_THREADS")
    )
    discord_allow_bots: bool = Field(False, validation_alias=_env("THREADBOT_DISCORD_ALLOW_BOTS"))
    discord_guild_id: int | None = Field(None, validation_alias=_env("THREADBOT_DISCORD_GUILD_ID"))

    @field_validator("db", mode="before")
    @classmethod
    def _db_text(cls, value: object) -> object:
        return str(value) if isinstance(value, PurePath) else value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @property
    def model_name(self) -> str:
        """The configured model, or a sensible default for the provider."""
        if self.model:
            return self.model
        return "claude-sonnet-4-6" if self.provider == "anthropic" else "gpt-4.1-mini"

    def llm_problem(self) -> str | None:
        """One line saying what to set when no LLM can be reached, else None."""
        if self.provider == "anthropic":
            if self.anthropic_api_key is None:
                return (
                    "No LLM credentials: set ANTHROPIC_API_KEY "
                    "(or THREADBOT_PROVIDER=openai with OPENAI_API_KEY)."
                )
            return None
        if self.openai_api_key is None and self.openai_base_url is None:
            return (
                "No LLM credentials: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local "
                "OpenAI-compatible server such as Ollama (http://localhost:11434/v1)."
            )
        return None

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def discord_enabled(self) -> bool:
        return self.discord_bot_token is not None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and `.env`; a bad value becomes one ConfigError line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        env_name = _ENV_NAMES.get(field, field)
        raise ConfigError(f"Invalid setting {env_name}: {first['msg']}") from None


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else field.upper()


_ENV_NAMES = {name: _env_name(name) for name in Settings.model_fields}
