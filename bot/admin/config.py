"""The admin configuration: ``threadbot.toml`` (optional) over the ``THREADBOT_*`` admin
variables, validated with one line per mistake.

Scopes, most specific wins: ``[defaults]`` → ``[workspaces.<id>]`` (a Slack workspace or a
Discord server) → ``[channels.<id>]`` → ``[threads."<thread key>"]``. Every scope takes the
same keys (``Scope``); the environment variables set the defaults scope, under the file's
keys. ``[prices.<model>]`` and ``monthly_spend_cap`` are global.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config import env_file_values
from bot.errors import ConfigError

DEFAULT_PATH = "threadbot.toml"
ProviderName = Literal["openai", "openai-responses", "anthropic"]
Ids = list[str]
Amount = float


class Scope(BaseModel):
    """What one scope can set; None = not set here (a wider scope's value applies)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- what answers here ---
    provider: ProviderName | None = None
    model: str | None = None
    models: Ids | None = None  # what `model NAME` may switch a thread to
    system_prompt: str | None = None
    history: Literal["replay", "chain"] | None = None
    context_tokens: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    usage_footer: bool | None = None
    # --- who may use it ---
    allowed_users: Ids | None = None
    denied_users: Ids | None = None
    allowed_roles: Ids | None = None
    denied_roles: Ids | None = None
    allowed_channels: Ids | None = None  # "dm" allows direct messages
    denied_channels: Ids | None = None
    allowed_workspaces: Ids | None = None
    denied_workspaces: Ids | None = None
    admins: Ids | None = None
    admin_roles: Ids | None = None
    managers_are_admins: bool | None = None  # Discord "Manage Server" makes an admin
    admins_exempt: bool | None = None  # admins skip the quotas (not the spend cap)
    # --- quotas: tokens (input + output), cost (US dollars), messages (model calls) ---
    user_daily_tokens: int | None = Field(default=None, ge=0)
    user_monthly_tokens: int | None = Field(default=None, ge=0)
    user_daily_cost: Amount | None = Field(default=None, ge=0)
    user_monthly_cost: Amount | None = Field(default=None, ge=0)
    user_messages_per_minute: int | None = Field(default=None, ge=0)
    channel_daily_tokens: int | None = Field(default=None, ge=0)
    channel_monthly_tokens: int | None = Field(default=None, ge=0)
    channel_daily_cost: Amount | None = Field(default=None, ge=0)
    channel_monthly_cost: Amount | None = Field(default=None, ge=0)
    channel_messages_per_minute: int | None = Field(default=None, ge=0)
    workspace_daily_tokens: int | None = Field(default=None, ge=0)
    workspace_monthly_tokens: int | None = Field(default=None, ge=0)
    workspace_daily_cost: Amount | None = Field(default=None, ge=0)
    workspace_monthly_cost: Amount | None = Field(default=None, ge=0)
    workspace_messages_per_minute: int | None = Field(default=None, ge=0)

    @field_validator(
        "models", "allowed_users", "denied_users", "allowed_roles", "denied_roles",
        "allowed_channels", "denied_channels", "allowed_workspaces", "denied_workspaces",
        "admins", "admin_roles",
    )
    @classmethod
    def _clean_ids(cls, value: Ids | None) -> Ids | None:
        return None if value is None else [str(v).strip() for v in value if str(v).strip()]

    def given(self) -> dict[str, Any]:
        """The keys this scope sets."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)  # default: the input price


class FileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: Scope = Scope()
    workspaces: dict[str, Scope] = {}
    channels: dict[str, Scope] = {}
    threads: dict[str, Scope] = {}
    prices: dict[str, Price] = {}
    monthly_spend_cap: float | None = Field(default=None, ge=0)


# The variables that set the defaults scope: kept by name, deployments depend on them.
ENV_KEYS: dict[str, str] = {
    "THREADBOT_ALLOWED_USERS": "allowed_users",
    "THREADBOT_ALLOWED_CHANNELS": "allowed_channels",
    "THREADBOT_DENIED_USERS": "denied_users",
    "THREADBOT_ADMINS": "admins",
    "THREADBOT_USER_DAILY_TOKENS": "user_daily_tokens",
    "THREADBOT_USER_MONTHLY_TOKENS": "user_monthly_tokens",
    "THREADBOT_USER_MESSAGES_PER_MINUTE": "user_messages_per_minute",
    "THREADBOT_MODELS": "models",
    "THREADBOT_USAGE_FOOTER": "usage_footer",
    "THREADBOT_ADMINS_EXEMPT": "admins_exempt",
}
CAP_ENV = "THREADBOT_MONTHLY_SPEND_CAP"


class AdminConfig(BaseModel):
    """The validated configuration: the defaults from the environment, the file's scopes
    over them, and where the file was (for `config show` and reloads)."""

    model_config = ConfigDict(frozen=True)

    env: Scope = Scope()
    file: FileConfig = FileConfig()
    path: str | None = None  # the file read, None without one
    env_cap: float | None = None

    @property
    def monthly_spend_cap(self) -> float | None:
        cap = self.file.monthly_spend_cap
        return cap if cap is not None else self.env_cap


def load_admin(environ: Mapping[str, str] | None = None) -> AdminConfig:
    """The admin configuration from the environment (and `.env` values already in it) and
    the file THREADBOT_CONFIG names (default ./threadbot.toml when present). ConfigError
    with one line per mistake."""
    if environ is None:  # `.env` too, as the other settings read it; the environment wins
        environ = {**env_file_values(), **os.environ}
    env, cap = _from_env(environ)
    named = environ.get("THREADBOT_CONFIG", "").strip()
    path = Path(named or DEFAULT_PATH)
    if not named and not path.exists():
        return AdminConfig(env=env, env_cap=cap)
    return AdminConfig(env=env, env_cap=cap, file=read_file(path), path=str(path))


def read_file(path: Path) -> FileConfig:
    """The file, parsed and validated; ConfigError naming each mistake by its place."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read THREADBOT_CONFIG {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        return FileConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(f"{path}: {line}" for line in _lines(exc))) from None


def _from_env(environ: Mapping[str, str]) -> tuple[Scope, float | None]:
    values: dict[str, Any] = {}
    for name, key in ENV_KEYS.items():
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        field = Scope.model_fields[key]
        is_list = "list" in str(field.annotation)
        values[key] = [part.strip() for part in raw.split(",")] if is_list else raw
    try:
        scope = Scope.model_validate(values)
    except ValidationError as exc:
        lines = (_env_line(error) for error in exc.errors())
        raise ConfigError("\n".join(lines)) from None
    cap_text = environ.get(CAP_ENV, "").strip()
    if not cap_text:
        return scope, None
    try:
        cap = float(cap_text.removeprefix("$"))
    except ValueError:
        raise ConfigError(f"Invalid setting {CAP_ENV}: a number of US dollars, e.g. 50") from None
    if cap < 0:
        raise ConfigError(f"Invalid setting {CAP_ENV}: must be 0 or more")
    return scope, cap


def _env_line(error: Any) -> str:
    key = str(error["loc"][0]) if error["loc"] else "?"
    name = next((n for n, k in ENV_KEYS.items() if k == key), key)
    return f"Invalid setting {name}: {error['msg']}"


def _lines(exc: ValidationError) -> list[str]:
    """``channels.C123.model_x: unknown key``: where in the file, then what is wrong."""
    out = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        what = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        out.append(f"{where}: {what}")
    return out
