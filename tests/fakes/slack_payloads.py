"""Slack payloads as Slack sends them (events, slash commands, message shortcuts), and
request signing with slack_sdk's SignatureVerifier, for driving the bot in tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0TEAM"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"


def message_event(
    text: str,
    *,
    ts: str,
    user: str = "U0ALICE",
    channel: str = "C0GENERAL",
    thread_ts: str | None = None,
    kind: str = "message",
    **extra: Any,
) -> dict[str, Any]:
    """A ``message`` (or ``app_mention``) event as Slack sends it."""
    event: dict[str, Any] = {
        "type": kind,
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        "team": TEAM_ID,
    }
    if kind == "message":
        event["channel_type"] = "im" if channel.startswith("D") else "channel"
    if thread_ts:
        event["thread_ts"] = thread_ts
    event.update(extra)
    return event


def event_callback(event: dict[str, Any], *, team_id: str = TEAM_ID) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": "A0APP",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": team_id, "user_id": BOT_USER_ID, "is_bot": True, "is_enterprise_install": False}
        ],
    }


def slash_command(
    command: str,
    *,
    channel: str,
    user: str = "U0ALICE",
    text: str = "",
    team_id: str = TEAM_ID,
    response_url: str = "https://hooks.slack.invalid/commands/1",
) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "team_domain": "test",
        "channel_id": channel,
        "channel_name": "directmessage" if channel.startswith("D") else "general",
        "user_id": user,
        "user_name": "alice",
        "command": command,
        "text": text,
        "api_app_id": "A0APP",
        "response_url": response_url,
        "trigger_id": "1.2.3",
    }


def message_shortcut(
    callback_id: str, *, channel: str, message: dict[str, Any], user: str = "U0ALICE"
) -> dict[str, Any]:
    return {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": "1.2.3",
        "action_ts": str(time.time()),
        "team": {"id": TEAM_ID, "domain": "test"},
        "user": {"id": user, "name": "alice", "team_id": TEAM_ID},
        "channel": {"id": channel, "name": "general"},
        "message": message,
        "message_ts": message.get("ts"),
        "response_url": "https://hooks.slack.invalid/actions/1",
        "token": "legacy-verification-token",
    }


def form_body(payload: dict[str, Any]) -> str:
    """How Slack POSTs commands (form fields) and interactivity (a ``payload`` field)."""
    if "command" in payload:
        return urlencode(payload)
    return urlencode({"payload": json.dumps(payload)})


def signed_headers(
    secret: str, body: str | bytes, *, timestamp: int | None = None, content_type: str = "application/json"
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    if isinstance(body, bytes):  # Slack signs the raw bytes, UTF-8 or not
        mac = hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
        signature: str | None = "v0=" + mac.hexdigest()
    else:
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "Content-Type": content_type,
    }
