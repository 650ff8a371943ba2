"""Hypothesis strategies for hostile Slack input: payloads shaped almost like Slack's, with
any field missing, of the wrong JSON type, or full of odd unicode; bodies that are not JSON
objects; form bodies whose ``payload`` is not JSON. Shared by the HTTP fuzz test and the
property tests of the pure event functions."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

from tests.fakes.slack_payloads import BOT_USER_ID, event_callback, message_event, slash_command
from tests.strategies import json_values, odd_text

MESSAGE_FIELDS = ("type", "subtype", "text", "user", "channel", "ts", "thread_ts", "channel_type",
                  "bot_id", "user_profile", "files", "hidden", "team", "user_team", "username",
                  "bot_profile", "event_ts")
ENVELOPE_FIELDS = ("type", "event", "team_id", "authorizations", "api_app_id", "event_id",
                   "enterprise_id", "is_enterprise_install", "challenge", "token")
SHORTCUT_FIELDS = ("type", "callback_id", "channel", "message", "team", "user", "team_id",
                   "message_ts", "response_url", "trigger_id")
_DROP = object()


def _mutated(base: dict[str, Any], fields: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """``base`` with some of ``fields`` dropped or replaced by any JSON value."""
    change = st.sampled_from([_DROP]) | json_values
    return st.dictionaries(st.sampled_from(fields), change, max_size=4).map(
        lambda edits: {k: v for k, v in (base | edits).items() if v is not _DROP}
    )


def _base_message(text: str, mention: bool, thread: bool, files: list[Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {"thread_ts": "1700000000.000001"} if thread else {}
    if files:
        extra |= {"files": files, "subtype": "file_share"}
    body = f"<@{BOT_USER_ID}> {text}" if mention else text
    return message_event(body, ts="1700000001.000002", kind="app_mention" if mention else "message",
                         **extra)


files = st.lists(st.fixed_dictionaries({"name": odd_text}) | json_values, max_size=3)
message_events = st.builds(_base_message, odd_text, st.booleans(), st.booleans(), files).flatmap(
    lambda base: _mutated(base, MESSAGE_FIELDS)
)
"""A message/app_mention event close to Slack's, with some fields broken."""

shortcut_payloads = _mutated(
    {"type": "message_action", "callback_id": "threadbot_reset", "team": {"id": "T0TEAM"},
     "user": {"id": "U0ALICE"}, "channel": {"id": "C0GENERAL"},
     "message": {"ts": "1.1", "text": "x"}},
    SHORTCUT_FIELDS,
)
slash_payloads = _mutated(dict(slash_command("/reset", channel="C0GENERAL")),
                          ("channel_id", "channel_name", "team_id", "user_id", "text", "command"))


def _envelope(event: Any) -> dict[str, Any]:
    return event_callback(message_event("x", ts="1.1")) | {"event": event}


envelopes = (
    st.builds(_envelope, message_events | json_values).flatmap(lambda e: _mutated(e, ENVELOPE_FIELDS))
    | _mutated({"type": "url_verification", "challenge": "c", "token": "t"}, ENVELOPE_FIELDS)
)
"""Events API bodies: an event_callback or url_verification with broken parts."""


def _form(fields: dict[str, Any]) -> str:
    """Form-encoded as Slack would, lone surrogates passed through as (invalid) UTF-8 bytes."""
    return urlencode({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()},
                     errors="surrogatepass")


FORM = "application/x-www-form-urlencoded"
# (body, content type) pairs as they would be POSTed to /slack/events.
bodies = st.one_of(
    envelopes.map(lambda e: (json.dumps(e), "application/json")),
    json_values.map(lambda v: (json.dumps(v), "application/json")),  # lists, numbers, null...
    odd_text.map(lambda t: (t, "application/json")),  # not JSON at all
    shortcut_payloads.map(lambda p: (_form({"payload": p}), FORM)),
    odd_text.map(lambda t: (_form({"payload": t}), FORM)),  # not JSON
    json_values.map(lambda v: (_form({"payload": v}), FORM)),  # JSON, but not an object
    slash_payloads.map(lambda p: (_form(p), FORM)),
)
