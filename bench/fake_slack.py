"""The fake Slack Web API in a child process (bench/scale_bench.py), answering questions
about what the bot did through a pipe: how many threads got a finished reply, and at the
end the full picture (replies per thread, calls per method, connections, per-message pacing).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections import Counter, defaultdict
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

STREAM_CALLS = ("chat.startStream", "chat.appendStream", "chat.stopStream", "chat.update")


def report(fake: Any, full: bool) -> dict[str, Any]:
    """What the bot did, as the fake saw it; ``full`` adds the per-thread texts."""
    finished = [p for p in fake.posts if p.kind in ("message", "stream") and not p.open]
    out: dict[str, Any] = {"finished": len({(p.channel, p.thread_ts) for p in finished})}
    if not full:
        return out
    replies: dict[str, list[str]] = defaultdict(list)
    for post in fake.posts:
        if post.kind in ("message", "stream"):
            replies[f"{post.channel}/{post.thread_ts}"].append(post.text)
    out.update(replies=dict(replies), connections=fake.connections.accepted,
               calls=dict(Counter(c.method for c in fake.calls)), **pacing(fake.calls))
    return out


def pacing(calls: list[Any]) -> dict[str, float]:
    """Calls on one message that overlapped, and the shortest gap between the starts of
    two calls on one message (what Slack's per-message pace sees)."""
    by_message: dict[str, list[Any]] = defaultdict(list)
    for call in calls:
        if call.method in STREAM_CALLS and call.ts:
            by_message[f"{call.args.get('channel')}/{call.ts}"].append(call)
    overlaps, gap = 0, float("inf")
    for group in by_message.values():
        group.sort(key=lambda c: c.started)
        for before, after in zip(group, group[1:], strict=False):
            overlaps += after.started < before.ended
            gap = min(gap, after.started - before.started)
    return {"overlaps": overlaps, "min_gap": gap if gap != float("inf") else -1.0}


def _serve(conn: Connection) -> None:
    from tests.fakes.slack_server import FakeSlack

    async def serve() -> None:
        async with FakeSlack() as fake:
            fake.add_user("U0ALICE", "Alice")
            conn.send((fake.base_url, fake.bot_token))
            loop = asyncio.get_running_loop()
            while True:
                question = await loop.run_in_executor(None, conn.recv)
                conn.send(report(fake, full=question == "full"))

    asyncio.run(serve())


class SlackProcess:
    def __init__(self, conn: Connection, base_url: str, token: str) -> None:
        self._conn = conn
        self.base_url = base_url
        self.token = token

    async def ask(self, question: str) -> dict[str, Any]:
        """``"count"`` (threads with a finished reply) or ``"full"``."""
        self._conn.send(question)
        answer: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(
            None, self._conn.recv)
        return answer


@contextlib.contextmanager
def fake_slack() -> Iterator[SlackProcess]:
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(theirs,), daemon=True)
    server.start()
    try:
        if not ours.poll(30):
            raise RuntimeError("the fake Slack did not start")
        base_url, token = ours.recv()
        yield SlackProcess(ours, base_url, token)
    finally:
        server.terminate()
