"""Reading the newest messages of a Slack thread (when the bot joins it, or summarises it).

``conversations.replies`` returns a thread oldest first, one page at a time, so the newest
messages are on the last page: one call with ``limit=N`` gives the OLDEST N, and a model that
joins a 998-message thread would never see messages 100–997. So the pages are followed with
``response_metadata.next_cursor``, keeping only a window of the newest ``keep`` messages.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.sink import SLACK_ERRORS, error_code

log = logging.getLogger(__name__)

PAGE_SIZE = 200  # what Slack recommends per page ("no more than 200")
MAX_PAGES = 50  # 10,000 messages


async def newest_replies(
    client: AsyncWebClient, channel: str, thread_ts: str, *, before: str, keep: int
) -> list[dict[str, Any]]:
    """The newest ``keep`` messages of the thread older than ``before`` ("" = all), oldest
    first. Paging stops at the first message not older than ``before``; a page that fails
    ends the read with what was read so far.

    Bounded to MAX_PAGES pages of PAGE_SIZE because every page is one request against the
    method's rate limit (Tier 3, about 50 a minute, for internal apps; far less for apps
    distributed outside the Marketplace) while the user waits for the answer: a join must
    not spend minutes, or a minute's worth of calls, on one thread. 10,000 messages is
    longer than any thread people read; beyond it the read keeps the newest of the first
    10,000 and says so in the log.
    """
    window: deque[dict[str, Any]] = deque(maxlen=keep)
    seen: set[str] = set()  # a message met twice (the thread's root may open every page)
    cursor = ""
    for _ in range(MAX_PAGES):
        try:
            response = await client.conversations_replies(
                channel=channel, ts=thread_ts, limit=PAGE_SIZE, cursor=cursor or None
            )
        except SLACK_ERRORS as exc:
            log.warning("could not read thread %s/%s: %s", channel, thread_ts, error_code(exc))
            break
        messages = response.get("messages")
        reached = _keep_older(messages if isinstance(messages, list) else [], before, window, seen)
        cursor = _next_cursor(response.get("response_metadata"))
        if reached or not cursor:
            break
    else:
        log.warning("thread %s/%s is longer than %d messages: read its first %d",
                    channel, thread_ts, MAX_PAGES * PAGE_SIZE, MAX_PAGES * PAGE_SIZE)
    return list(window)


def _keep_older(messages: list[Any], before: str, window: deque[dict[str, Any]], seen: set[str]) -> bool:
    """Add the page's messages older than ``before`` to ``window``; True once a message not
    older than it shows up (the rest of the thread is newer still)."""
    for message in messages:
        if not isinstance(message, dict):
            continue
        ts = message.get("ts")
        if not isinstance(ts, str) or ts in seen:
            continue
        if not older(ts, before):
            return True
        seen.add(ts)
        window.append(message)
    return False


def _next_cursor(metadata: object) -> str:
    cursor = metadata.get("next_cursor") if isinstance(metadata, Mapping) else None
    return cursor if isinstance(cursor, str) else ""


def older(ts: object, before: str) -> bool:
    """Whether message ``ts`` is older than ``before`` ("" = no bound)."""
    if not before:
        return True
    try:
        return float(str(ts)) < float(before)
    except ValueError:
        return False
