"""Checks before serving Slack, so wrong credentials are one line at start-up.

Without them a refused bot token went unnoticed in HTTP mode until the first event (bolt's
auth.test, an error log per request), and a refused app token made Socket Mode log a 30-line
traceback every 10 s forever. Each message names the variable to fix, never its value.
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.settings import SlackSettings
from adapters.slack.sink import SLACK_ERRORS, error_code
from bot.errors import ConfigError

log = logging.getLogger(__name__)

# Slack's answers meaning "this token will never work", as opposed to a passing failure.
REFUSED = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
           "not_allowed_token_type"}


def require_transport(settings: SlackSettings) -> None:
    """A bot token alone cannot receive anything: Socket Mode or HTTP must be configured."""
    if settings.app_token is None and settings.signing_secret is None:
        raise ConfigError(
            "Slack needs SLACK_APP_TOKEN (Socket Mode: an xapp- app-level token) or "
            "SLACK_SIGNING_SECRET (HTTP mode) besides SLACK_BOT_TOKEN."
        )


async def check_bot_token(client: AsyncWebClient) -> None:
    """auth.test with SLACK_BOT_TOKEN: a refused token is a ConfigError; Slack being
    unreachable is only logged (HTTP mode can still start and recover)."""
    try:
        await client.auth_test()
    except SlackApiError as exc:
        code = error_code(exc)
        if code in REFUSED:
            raise ConfigError(
                f"Slack refused SLACK_BOT_TOKEN ({code}): set it to the Bot User OAuth Token "
                "(xoxb-) under OAuth & Permissions."
            ) from None
        log.warning("Slack auth.test failed at start-up: %s", code)
    except SLACK_ERRORS as exc:
        log.warning("Slack auth.test failed at start-up: %s", error_code(exc))


async def socket_url(client: AsyncWebClient, app_token: str) -> str | None:
    """A Socket Mode URL from apps.connections.open with SLACK_APP_TOKEN — the call the
    handler would make first, made here so a refused token is a ConfigError. None when Slack
    could not be asked (the handler then asks, and retries, itself)."""
    try:
        response = await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        code = error_code(exc)
        if code in REFUSED:
            raise ConfigError(
                f"Slack refused SLACK_APP_TOKEN ({code}): set it to an app-level token (xapp-) "
                "with the connections:write scope (Basic Information → App-Level Tokens)."
            ) from None
        log.warning("Slack apps.connections.open failed at start-up: %s", code)
        return None
    except SLACK_ERRORS as exc:
        log.warning("Slack apps.connections.open failed at start-up: %s", error_code(exc))
        return None
    url = response.get("url")
    return url if isinstance(url, str) and url else None
