"""How much of each request a prefix cache can serve, over a long thread.

Replays a 300-turn, two-person thread through the real engine and OpenAI SDK against the
fake server, with the default budget (THREADBOT_CONTEXT_TOKENS=16000, 1024 for the reply),
once with compaction (the default) and once with THREADBOT_COMPACTION=off. For each turn it
measures the share of the request's input tokens (tiktoken, as the model sees system prompt,
summary and messages) that is an exact prefix of the previous turn's request: what a
provider's prompt cache can hit. The fake emulates OpenAI's prefix cache (1,024-token
minimum, 128-token steps) and reports cached tokens in the usage, which the store records.

    .venv/bin/python bench/prefix_bench.py [--turns 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import SecretStr  # noqa: E402

from bot.app import open_engine  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.encodings import load_encoding  # noqa: E402
from bot.history.compaction import COMPACTION_SYSTEM  # noqa: E402
from bot.tokens import encoding_name_for  # noqa: E402
from bot.types import ThreadKey, Turn  # noqa: E402
from storage import open_store  # noqa: E402
from tests.fakes.brain import PrefixCache  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402
from tests.helpers import RecordingSink  # noqa: E402

KEY = ThreadKey("slack", "T1", "C1", "1700000000.000100")
FROM, TO = 50, 300  # the turns averaged (1-based, inclusive)
LATE = 150  # from here on the default budget is full without compaction
TOPICS = ("the release plan", "the flaky login test", "the database migration",
          "the on-call rota", "the pricing page", "the customer escalation")


def user_text(i: int) -> str:
    topic = TOPICS[i % len(TOPICS)]
    decided = f" We decided item {i} goes to {('Ada', 'Bob')[i % 2]}." if i % 7 == 0 else ""
    return (f"Turn {i}: about {topic}, what do you think we should do next, and what are the "
            f"risks if we wait another week before shipping it?{decided}")


def model(messages: list[dict[str, str]]) -> str:
    """The fake model: a summariser that keeps decisions, otherwise a ~60-word answer."""
    if messages[0]["content"] == COMPACTION_SYSTEM:
        prompt = messages[-1]["content"]
        earlier, new = prompt.split("\nNew messages:\n", 1)
        kept = [line for line in earlier.splitlines()[1:] if line and line != "(none yet)"]
        kept += [line for line in new.splitlines() if "decided" in line]
        return "\n".join(kept) or "Nothing decided yet."
    latest = messages[-1]["content"]
    return ("Here is my take on " + latest[:60] + ". First, ship the smallest safe change; "
            "second, write down who owns the follow-up; third, keep the rollback ready and "
            "tell the team in the channel before Friday so nobody is surprised. " * 2)


def shared_prefix(a: list[int], b: list[int]) -> int:
    return len(os.path.commonprefix([a, b]))  # works on any sequences, not only strings


async def run(turns: int, *, compaction: bool) -> dict[str, Any]:
    async with FakeOpenAI() as fake:
        fake.reply_with(model)
        fake.prefix_cache = PrefixCache()
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, provider="openai", openai_api_key=SecretStr("bench"),
                openai_base_url=fake.base_url, db=str(Path(tmp) / "bench.db"),
                compaction=compaction, provider_retries=0,
            )
            async with open_engine(settings) as engine:
                for i in range(1, turns + 1):
                    author = ("Ada", "Bob")[i % 2]
                    await engine.handle(Turn(key=KEY, message_id=f"m{i}", author_id=f"U{author}",
                                             author_name=author, text=user_text(i)),
                                        RecordingSink())
            store = await open_store(settings.db)
            try:
                replies = [m for _, m in await store.history(KEY) if m.role == "assistant"]
            finally:
                await store.close()
        encoding = load_encoding(encoding_name_for(settings.model_name))
        assert encoding is not None, "the bundled encodings are missing"
        answered = [r.json["messages"] for r in fake.requests
                    if r.json["messages"][0]["content"] != COMPACTION_SYSTEM]
    tokens = [encoding.encode_ordinary("".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in ms))
              for ms in answered]
    reuse = [shared_prefix(prev, cur) / len(cur) for prev, cur in zip(tokens, tokens[1:], strict=False)]
    window = reuse[FROM - 2:TO - 1]  # reuse[k] is turn k + 2
    usage = [r.usage for r in replies[FROM - 1:TO] if r.usage]
    cached = sum(u.cached_input_tokens for u in usage) / max(1, sum(u.input_tokens for u in usage))
    return {
        "reuse": statistics.mean(window), "worst": min(window),
        "late": statistics.mean(reuse[LATE - 2:TO - 1]),
        "compactions": len(fake.requests) - len(answered),
        "input": statistics.mean(len(t) for t in tokens[FROM - 1:TO]), "cached": cached,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=TO)
    turns = parser.parse_args().turns
    print(f"{turns}-turn thread, default budget; turns {FROM}-{min(TO, turns)}:")
    for compaction in (True, False):
        r = await run(turns, compaction=compaction)
        label = "compaction on " if compaction else "compaction off"
        print(f"  {label}: {r['reuse']:6.1%} of input tokens an exact prefix of the previous "
              f"request (turns {LATE}-{TO}: {r['late']:.1%}; worst turn {r['worst']:.1%}); "
              f"{r['compactions']} summaries; "
              f"{r['input']:.0f} input tokens per request; the fake's prefix cache served "
              f"{r['cached']:.1%}")


if __name__ == "__main__":
    asyncio.run(main())
