"""`threadbot doctor` for Slack: the bot token (auth.test), its scopes against the app
manifest, and the transport — Socket Mode's app token (apps.connections.open, which opens
nothing until the returned URL is used) or HTTP mode's signing secret. Read-only calls."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.settings import SlackSettings
from adapters.slack.sink import SLACK_ERRORS, error_code
from adapters.slack.startup import REFUSED, require_transport, socket_url
from bot.config import secret
from bot.errors import ConfigError
from bot.platform import Check, failed, passed

SLACK_URL = "https://slack.com/api/"
# oauth_config.scopes.bot of slack-manifest.yaml (tests/test_doctor.py keeps the two equal):
# the installed package has no manifest file to read.
MANIFEST_SCOPES = frozenset({
    "app_mentions:read", "assistant:write", "channels:history", "groups:history", "im:history",
    "mpim:history", "chat:write", "commands", "users:read", "files:read",
})


async def slack_checks(settings: SlackSettings) -> list[Check]:
    url = settings.api_url or SLACK_URL
    client = AsyncWebClient(token=secret(settings.bot_token), base_url=url)
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        code = error_code(exc)
        fix = ": set it to the Bot User OAuth Token (xoxb-) under OAuth & Permissions" \
            if code in REFUSED else ""
        return [failed("Slack bot token", f"Slack at {url} refused SLACK_BOT_TOKEN ({code}){fix}")]
    except SLACK_ERRORS as exc:
        return [failed("Slack bot token", f"could not reach Slack at {url} ({error_code(exc)})")]
    who = f"bot {response.get('user')} in workspace {response.get('team')}"
    headers = {k.lower(): v for k, v in response.headers.items()}
    granted = {s.strip() for s in str(headers.get("x-oauth-scopes", "")).split(",") if s.strip()}
    return [passed("Slack bot token", f"accepted by auth.test ({who})"), _scopes(granted),
            await _transport(client, settings)]


def _scopes(granted: set[str]) -> Check:
    missing = sorted(MANIFEST_SCOPES - granted)
    if missing:
        return failed("Slack scopes", f"the token lacks {', '.join(missing)}: add them under "
                      "OAuth & Permissions (slack-manifest.yaml lists them) and reinstall the app")
    return passed("Slack scopes", f"all {len(MANIFEST_SCOPES)} the manifest asks for")


async def _transport(client: AsyncWebClient, settings: SlackSettings) -> Check:
    try:
        require_transport(settings)
        if settings.app_token is None:
            return passed("Slack mode", "HTTP (SLACK_SIGNING_SECRET set; Slack must reach "
                          "/slack/events on THREADBOT_HTTP_PORT)")
        if await socket_url(client, secret(settings.app_token)) is None:
            return failed("Slack mode", "Socket Mode: apps.connections.open failed (see the "
                          f"warning above) at {client.base_url}")
    except ConfigError as exc:
        return failed("Slack mode", str(exc))
    return passed("Slack mode", "Socket Mode (SLACK_APP_TOKEN accepted by apps.connections.open)")
