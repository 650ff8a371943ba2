"""Slack Web API failures and rate limits counted by method, for ``threadbot_platform_*``.

A retry handler because slack_sdk shows every response (and every connection error) to its
retry handlers, 200s with ``ok: false`` included: one hook sees all calls without wrapping
any. Placed first, it never asks for a retry, so the handlers after it decide as before.
"""

from __future__ import annotations

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.metrics import Metrics


class CountFailures(AsyncRetryHandler):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self._metrics = metrics

    async def can_retry_async(
        self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.split("?", 1)[0].rsplit("/", 1)[-1]  # e.g. chat.postMessage
        status = response.status_code if response is not None else 0
        if status == 429:
            self._metrics.platform_error("slack", method, rate_limited=True)
        elif error is not None or status >= 400 or _refused(response):
            self._metrics.platform_error("slack", method)
        return False


def _refused(response: HttpResponse | None) -> bool:
    """A 200 whose body says ``ok: false`` (Slack's usual way to fail a call)."""
    body = response.body if response is not None else None
    return isinstance(body, dict) and body.get("ok") is False
