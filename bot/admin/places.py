"""The effective settings for one place: every scope that applies, most specific last.

Layers, each over the one before: the core settings (``THREADBOT_MODEL`` …, or built-in
defaults) → the admin variables → ``[defaults]`` → ``[workspaces.<id>]`` →
``[channels.<id>]`` → what an admin set for the channel from chat → ``[threads."<key>"]`` →
what was set for the thread from chat (``model NAME``). A later layer replaces a value,
except deny lists and admin lists, which add up: someone denied or made an admin in a wider
scope stays so in a narrower one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from bot.admin.config import ENV_KEYS, AdminConfig, Scope
from bot.admin.ledger import PlaceSetting
from bot.config import Settings
from bot.types import ThreadKey

ADDITIVE = frozenset({"denied_users", "denied_roles", "denied_channels", "denied_workspaces",
                      "admins", "admin_roles"})
# What the core settings give each key before any admin layer.
CORE_KEYS = {"provider": "THREADBOT_PROVIDER", "model": "THREADBOT_MODEL",
             "system_prompt": "THREADBOT_SYSTEM_PROMPT", "history": "THREADBOT_HISTORY",
             "context_tokens": "THREADBOT_CONTEXT_TOKENS",
             "max_output_tokens": "THREADBOT_MAX_OUTPUT_TOKENS"}
BUILT_IN: dict[str, Any] = {"managers_are_admins": True, "admins_exempt": False,
                            "usage_footer": False}
# What can be set from chat, per place (the rest only in the file: access and quotas are
# an operator's decision, kept under version control).
CHAT_KEYS = ("model", "models", "system_prompt", "history", "context_tokens",
             "max_output_tokens", "usage_footer")


def channel_place(platform: str, channel: str) -> str:
    return f"channel:{platform}:{channel}"


def thread_place(key: ThreadKey) -> str:
    return f"thread:{key}"


@dataclass(frozen=True, slots=True)
class Place:
    """A conversation's effective settings and where each came from (`config show`)."""

    key: ThreadKey
    channel: str  # the channel it is in (a Discord thread's parent)
    values: Mapping[str, Any]
    sources: Mapping[str, str]

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)

    @property
    def model(self) -> str:
        return str(self.values["model"])

    def models(self, priced: Sequence[str]) -> list[str]:
        """The models ``model NAME`` may pick here: the configured list, else the ``priced``
        models of the place's provider; the place's own model always."""
        listed = list(self.values.get("models") or priced)
        return listed if self.model in listed else [self.model, *listed]


def resolve(
    settings: Settings, config: AdminConfig, key: ThreadKey, channel: str = "",
    chat: Sequence[PlaceSetting] = (),
) -> Place:
    """The settings for ``key`` (in ``channel``, default the key's own channel)."""
    channel = channel or key.channel
    values: dict[str, Any] = dict(BUILT_IN)
    sources: dict[str, str] = dict.fromkeys(BUILT_IN, "built-in default")
    for name, value, source in _layers(settings, config, key, channel, chat):
        if name in ADDITIVE and values.get(name):
            values[name] = [*values[name], *(v for v in value if v not in values[name])]
            sources[name] = f"{sources[name]} + {source}"
        else:
            values[name], sources[name] = value, source
    if sources["model"] == "built-in default":  # the provider's own default model
        values["model"] = settings.model_copy(update={"provider": values["provider"]}).model_name
    return Place(key=key, channel=channel, values=values, sources=sources)


def _layers(
    settings: Settings, config: AdminConfig, key: ThreadKey, channel: str,
    chat: Sequence[PlaceSetting],
) -> Iterator[tuple[str, Any, str]]:
    given = settings.model_fields_set
    core = {"provider": settings.provider, "model": settings.model_name,
            "system_prompt": settings.system_prompt, "history": settings.history,
            "context_tokens": settings.context_tokens,
            "max_output_tokens": settings.max_output_tokens}
    for name, value in core.items():
        yield name, value, CORE_KEYS[name] if name in given else "built-in default"
    env_names = {key_: name for name, key_ in ENV_KEYS.items()}
    for name, value in config.env.given().items():
        yield name, value, env_names[name]
    where = config.path or "threadbot.toml"
    scopes = [(config.file.defaults, f"{where} [defaults]")]
    if key.scope in config.file.workspaces:
        scopes.append((config.file.workspaces[key.scope], f'{where} [workspaces."{key.scope}"]'))
    if channel in config.file.channels:
        scopes.append((config.file.channels[channel], f'{where} [channels."{channel}"]'))
    for scope, source in scopes:
        yield from ((n, v, source) for n, v in scope.given().items())
    yield from _chat(chat, channel_place(key.platform, channel))
    thread_scope = config.file.threads.get(str(key))
    if thread_scope is not None:
        yield from ((n, v, f'{where} [threads."{key}"]') for n, v in thread_scope.given().items())
    yield from _chat(chat, thread_place(key))


def _chat(rows: Sequence[PlaceSetting], place: str) -> Iterator[tuple[str, Any, str]]:
    for row in rows:
        if row.place != place or row.name not in CHAT_KEYS:
            continue
        parsed = chat_value(row.name, row.value)
        if parsed is not None:
            who = f" by {row.set_by}" if row.set_by else ""
            yield row.name, parsed, f"set from chat{who} ({row.set_at:%Y-%m-%d %H:%M} UTC)"


def chat_value(name: str, text: str) -> Any:
    """A chat-set value as the setting's type; None if it does not fit (never stored: the
    command checks first)."""
    raw: Any = [p.strip() for p in text.split(",")] if name == "models" else text
    try:
        return Scope.model_validate({name: raw}).given().get(name)
    except ValidationError:
        return None
