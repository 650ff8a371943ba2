"""Settings: read from the environment (and `.env`), nowhere else.

The core's own settings are here; each platform package keeps its settings class beside its
code (``adapters/<platform>/settings.py``) on the same base, so adding a platform touches no
core file. Names are part of the public contract (deployments depend on them), so fields
carry their exact environment names as aliases rather than a prefix rule.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any, Literal, TypeVar

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.errors import ConfigError

ProviderName = Literal["openai", "openai-responses", "anthropic"]
S = TypeVar("S", bound="EnvSettings")

# The `.env` files every setting is read from, a later file winning over an earlier one and
# the environment over all. The CLI sets them once, before anything is loaded (bot/cli_env.py:
# --env-file, or the working directory's and the database's); this default is what a library
# user or a test gets.
ENV_FILES: tuple[Path, ...] = (Path(".env"),)


def env(name: str) -> AliasChoices:
    """A field's environment variable name (the alias pydantic reads it by)."""
    return AliasChoices(name)


class EnvSettings(BaseSettings):
    """Environment + `.env`, where an empty `FOO=` means "not set"."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    @classmethod
    def load(cls: type[S], **overrides: Any) -> S:
        """Settings from the environment and `.env`; a bad value becomes one ConfigError
        line naming the variable to fix."""
        try:
            return cls(**{"_env_file": ENV_FILES, **overrides})  # a test may pass its own
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else "?"
            raise ConfigError(f"Invalid setting {cls.env_name(field)}: {first['msg']}") from None

    @classmethod
    def env_name(cls, field: str) -> str:
        info = cls.model_fields.get(field)
        alias = info.validation_alias if info else None
        return str(alias.choices[0]) if isinstance(alias, AliasChoices) else field.upper()


class Settings(EnvSettings):
    # --- LLM provider ---
    openai_api_key: SecretStr | None = Field(None, validation_alias=env("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(None, validation_alias=env("OPENAI_BASE_URL"))
    anthropic_api_key: SecretStr | None = Field(None, validation_alias=env("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(None, validation_alias=env("ANTHROPIC_BASE_URL"))
    provider: ProviderName = Field("openai", validation_alias=env("THREADBOT_PROVIDER"))
    model: str = Field("", validation_alias=env("THREADBOT_MODEL"))
    system_prompt: str = Field(
        "You are a helpful assistant in a team chat. Answer concisely; use Markdown sparingly.",
        validation_alias=env("THREADBOT_SYSTEM_PROMPT"),
    )
    history: Literal["replay", "chain"] = Field("replay", validation_alias=env("THREADBOT_HISTORY"))
    # chain with a server other than OpenAI's or Azure's (which keep responses): at your risk
    chain_untrusted: bool = Field(False, validation_alias=env("THREADBOT_CHAIN_UNTRUSTED"))
    context_tokens: int = Field(16_000, gt=0, validation_alias=env("THREADBOT_CONTEXT_TOKENS"))
    max_output_tokens: int = Field(1_024, gt=0, validation_alias=env("THREADBOT_MAX_OUTPUT_TOKENS"))
    # reasoning models' thinking effort (bot/providers/reasoning.py); off sends nothing
    reasoning: Literal["off", "low", "medium", "high"] = Field(
        "off", validation_alias=env("THREADBOT_REASONING")
    )
    # on: the oldest part of a long thread is summarised (bot/history/compaction.py) instead
    # of dropped; off: the oldest messages simply leave the context
    compaction: bool = Field(True, validation_alias=env("THREADBOT_COMPACTION"))
    # the model that writes the rolling summaries ("": the thread's model)
    compaction_model: str = Field("", validation_alias=env("THREADBOT_COMPACTION_MODEL"))
    # the deadline for a reply's first text (retries included), and the longest silence
    # between two streamed chunks after that
    provider_timeout: float = Field(60.0, gt=0, validation_alias=env("THREADBOT_PROVIDER_TIMEOUT"))
    provider_retries: int = Field(2, ge=0, validation_alias=env("THREADBOT_PROVIDER_RETRIES"))

    # --- store / process ---
    # a file path or sqlite:///path (storage.open_store picks the backend)
    db: str = Field("threadbot.db", validation_alias=env("THREADBOT_DB"))
    log_level: str = Field("INFO", validation_alias=env("THREADBOT_LOG_LEVEL"))
    # on start, answer messages left waiting by the last process if at most this old (s)
    resume_max_age: float = Field(3600.0, ge=0, validation_alias=env("THREADBOT_RESUME_MAX_AGE"))
    # how long a process's hold on a thread lasts unless renewed (renewed while it replies):
    # how soon another replica takes over the conversations of one that died
    lease_s: float = Field(30.0, gt=0, validation_alias=env("THREADBOT_LEASE_S"))
    # on SIGTERM, how long replies in flight may take to finish before they are interrupted
    shutdown_grace: float = Field(20.0, ge=0, validation_alias=env("THREADBOT_SHUTDOWN_GRACE"))
    # shared images are re-sent with the newest this-many turns that have any (each re-send
    # is billed); older turns keep only the image's name
    image_turns: int = Field(3, ge=0, validation_alias=env("THREADBOT_IMAGE_TURNS"))
    # models that take image input (comma-separated, * wildcards; bot/images.py)
    vision_models: str = Field(
        "gpt-4o*,gpt-4.1*,gpt-4.5*,gpt-5*,o1*,o3*,o4*,claude-*",
        validation_alias=env("THREADBOT_VISION_MODELS"),
    )
    # Prometheus /metrics and /healthz on their own small server (off when unset; Slack's
    # HTTP mode serves both on its own port, and alone when the two ports are the same)
    metrics_port: int | None = Field(None, ge=0, le=65535, validation_alias=env("THREADBOT_METRICS_PORT"))
    metrics_host: str = Field("0.0.0.0", validation_alias=env("THREADBOT_METRICS_HOST"))
    # "json": one JSON object per log line (bot/logs.py); "text" as always
    log_format: Literal["text", "json"] = Field("text", validation_alias=env("THREADBOT_LOG_FORMAT"))
    # a Socket Mode or gateway connection with no event or ping for this long is dead:
    # reconnected (adapters' watchdogs)
    watchdog_s: float = Field(60.0, gt=0, validation_alias=env("THREADBOT_WATCHDOG_S"))

    # the log goes to this file instead of stderr (in the console, stderr gets WARNING and
    # above only, so the chat stays readable; the file gets THREADBOT_LOG_LEVEL)
    log_file: str = Field("", validation_alias=env("THREADBOT_LOG_FILE"))

    # delete messages older than this many days (a background job, bot/upkeep.py); unset:
    # kept until deleted by hand (`threadbot purge`, forget)
    retention_days: float | None = Field(
        None, gt=0, validation_alias=env("THREADBOT_RETENTION_DAYS")
    )

    # connections the provider's SDK client keeps open to it at most (all kept alive): one
    # per reply being streamed (HTTP/1.1); more replies wait for a free one
    provider_connections: int = Field(
        1_000, gt=0, validation_alias=env("THREADBOT_PROVIDER_CONNECTIONS"))

    # log every event-loop stall longer than this many ms (0: off; bot/stalls.py)
    stall_warn_ms: float = Field(0.0, ge=0, validation_alias=env("THREADBOT_STALL_WARN_MS"))

    # replies this process generates at once at most; more wait, stored and pending, and
    # start in arrival order as slots free (their timeouts count from then; bot/slots.py)
    max_replies: int = Field(256, gt=0, validation_alias=env("THREADBOT_MAX_REPLIES"))

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


def env_file_values() -> dict[str, str]:
    """What the `.env` files in use set (empty values are "not set"), as settings see them:
    for readers outside pydantic (the admin configuration, the CLI's choice of files)."""
    values: dict[str, str] = {}
    for path in ENV_FILES:
        if path.is_file():
            values.update({k: v for k, v in dotenv_values(path).items() if v})
    return values


def load_settings(**overrides: Any) -> Settings:
    """The core settings (see ``EnvSettings.load``)."""
    return Settings.load(**overrides)


def secret(value: SecretStr | None) -> str:
    """A secret's text, "" when unset (tokens are SecretStr so they never print)."""
    return value.get_secret_value() if value is not None else ""


class FileSettings(EnvSettings):
    """Files shared with a message (``adapters/common/files.py``). Their own class because
    the platform adapters read them, not the engine: a file becomes text in the message
    before the message is stored."""

    # each file's text is cut to this many tokens; it counts in THREADBOT_CONTEXT_TOKENS
    file_tokens: int = Field(4_000, gt=0, validation_alias=env("THREADBOT_FILE_TOKENS"))
    # a larger file is not downloaded (declared size first, then as it streams in)
    file_bytes: int = Field(10_000_000, gt=0, validation_alias=env("THREADBOT_FILE_BYTES"))
    # how long one message's downloads may take together (Slack: at most 1.5 s, see
    # adapters/slack/handlers.py — the message must be stored before Slack's 3 s ack)
    file_seconds: float = Field(10.0, gt=0, validation_alias=env("THREADBOT_FILE_SECONDS"))
