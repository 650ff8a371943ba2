"""Reading Slack JSON that may be malformed. Pure, like events.py.

Slack's signature proves who sent a request, not that its JSON has the documented shape, and
every ``payload.get(...)`` in bolt or in our code assumes that it does: an ``event`` that is a
list, a ``text`` that is a number or a ``channel`` that is a list used to end in an exception
(HTTP 500 and a retry storm from Slack). So values are read here by their documented type,
and a request whose fields have the wrong types is refused (400) before bolt sees it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeGuard

ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # channel, user, team, bot ids: no ":" nor spaces
TS = re.compile(r"\d{1,12}(?:\.\d{1,9})?")  # a message ts: "1700000001.000200"
_MISSING = ("", None)

# What the documented string fields of an envelope and of its event must be.
_ENVELOPE_STRINGS = ("type", "team_id", "api_app_id", "event_id", "enterprise_id", "token",
                     "user_id", "channel_id", "thread_ts", "response_url", "callback_id",
                     "command", "text", "trigger_id", "function_execution_id")
_EVENT_STRINGS = ("type", "subtype", "text", "user", "channel", "ts", "thread_ts", "event_ts",
                  "team", "user_team", "bot_id", "channel_type", "username", "user_id",
                  "function_execution_id", "bot_access_token")
_OBJECTS = ("message", "previous_message", "view", "item", "assistant_thread", "function_data",
            "user_profile", "bot_profile", "container")
_ID_HOLDERS = ("team", "user", "channel", "enterprise")  # a string id, or {"id": "..."}


def text_field(data: Mapping[str, Any], name: str) -> str | None:
    """A string field: "" when absent or null, None when it is anything but a string."""
    value = data.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else None


def id_field(data: Mapping[str, Any], name: str, pattern: re.Pattern[str] = ID) -> str | None:
    """An id field (``pattern``: Slack ids, or ``TS``): "" when absent, None when malformed."""
    value = text_field(data, name)
    if value is None or (value and not pattern.fullmatch(value)):
        return None
    return value


def object_field(data: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """A JSON object field: {} when absent or null, None when it is not an object."""
    value = data.get(name)
    if value is None:
        return {}
    return value if isinstance(value, Mapping) else None


def nested_id(data: Mapping[str, Any], name: str) -> str | None:
    """``{"name": {"id": "X"}}`` → "X" ("" when absent), None when malformed."""
    holder = object_field(data, name)
    return None if holder is None else id_field(holder, "id")


def is_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is an id ("" counts: absent)."""
    return value == "" or (isinstance(value, str) and ID.fullmatch(value) is not None)


def problem(body: object) -> str | None:
    """Why a request body cannot be a Slack request, or None when it has the right shape."""
    if not isinstance(body, Mapping):
        return f"the body is a {type(body).__name__}, not an object"
    found = _wrong_fields(body, _ENVELOPE_STRINGS)
    if found:
        return found
    event = body.get("event")
    if "event" in body:  # bolt reads body["event"] whenever the key is there, even if null
        if not isinstance(event, Mapping):
            return f"'event' is a {type(event).__name__}, not an object"
        return _wrong_fields(event, _EVENT_STRINGS)
    return None


def _wrong_fields(data: Mapping[str, Any], strings: tuple[str, ...]) -> str | None:
    for name in strings:
        if text_field(data, name) is None:
            return f"'{name}' is not a string"
    for name in _OBJECTS:
        if object_field(data, name) is None:
            return f"'{name}' is not an object"
    for name in _ID_HOLDERS:
        value = data.get(name)
        if not (value in _MISSING or isinstance(value, str) or _holds_id(value)):
            return f"'{name}' is neither an id nor an object with one"
    authorizations = data.get("authorizations")
    if authorizations is not None and not (
        isinstance(authorizations, list) and all(isinstance(a, Mapping) for a in authorizations)
    ):
        return "'authorizations' is not a list of objects"
    return None


def _holds_id(value: object) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("id", ""), str)
