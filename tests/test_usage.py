"""What each reply cost, end to end: the real `threadbot` command talks to a loopback fake
through the real SDK of each provider, the fake reports prompt-cache hits in that API's own
usage fields, and `export` (JSON and Markdown) and `stats` show the model and the input,
cached input and output tokens the store recorded — on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.process import threadbot

CACHED = 5
MODEL = "test-model-1"


def provider_env(name: str, fake: Any, db: str) -> dict[str, str]:
    env = {"THREADBOT_PROVIDER": name, "THREADBOT_MODEL": MODEL, "THREADBOT_DB": db,
           "THREADBOT_PROVIDER_RETRIES": "0"}
    if name == "anthropic":
        return env | {"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": fake.base_url}
    return env | {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": fake.base_url}


async def run(tmp_path: Path, env: dict[str, str], *args: str, stdin: str = "") -> str:
    code, out, err = await threadbot(*args, cwd=tmp_path, env=env, stdin=stdin)
    assert code == 0, err
    return out


@pytest.mark.parametrize("provider", ["openai", "openai-responses", "anthropic"])
async def test_each_reply_shows_its_model_and_input_cached_and_output_tokens(
    provider: str, database: str, tmp_path: Path, fake_openai: Any, fake_anthropic: Any
) -> None:
    fake = fake_anthropic if provider == "anthropic" else fake_openai
    env = provider_env(provider, fake, database)
    console = ("console", "--thread", "demo")
    await run(tmp_path, env, *console, stdin="hello there\n")  # no cache details reported
    fake.cached_tokens = CACHED
    await run(tmp_path, env, *console, stdin="hello again, it is me\n")

    exported = json.loads(await run(tmp_path, env, "export", "--thread", "demo", "--format", "json"))
    replies = [m for m in exported["messages"] if m["role"] == "assistant"]
    users = [m for m in exported["messages"] if m["role"] == "user"]
    assert [r["model"] for r in replies] == [MODEL, MODEL]
    assert [r["cached_input_tokens"] for r in replies] == [0, CACHED]
    first, second = replies
    assert second["input_tokens"] > first["input_tokens"] > CACHED  # all input, cached or not
    assert first["output_tokens"] > 0 and second["output_tokens"] > 0
    assert all("model" not in m and "input_tokens" not in m for m in users)

    markdown = await run(tmp_path, env, "export", "--thread", "demo")
    assert (f"Usage: {MODEL} · {second['input_tokens']} in ({CACHED} cached) · "
            f"{second['output_tokens']} out") in markdown.splitlines()

    stats = await run(tmp_path, env, "stats")
    header, row = stats.splitlines()[:2]
    assert header.split()[-2:] == ["cached", "in"]
    assert row.split()[0] == "console" and row.split()[-1] == str(CACHED)
