"""Reasoning models through the whole bot: thinking is never shown, never stored and never
sent back as history; a long thinking is not taken for a silent server; the reasoning tokens
a provider reports reach `export` (JSON and Markdown) on both stores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_engine
from bot.tokens import TokenCounter
from bot.types import ThreadKey, Turn
from tests.conftest import make_settings
from tests.helpers import RecordingSink
from tests.test_usage import MODEL, provider_env, run

KEY = ThreadKey("console", "", "", "thinking")
SECRET = "The user's name is Ada; I must not reveal how I decided. "


async def ask(engine: Any, text: str, n: int) -> RecordingSink:
    sink = RecordingSink()
    await engine.handle(Turn(key=KEY, message_id=f"m{n}", author_id="u", author_name="Ada",
                             text=text), sink)
    return sink


@pytest.mark.parametrize(("thinking_as", "model"), [
    ("tags", "qwen3:8b"), ("open-in-prompt", "deepseek-r1:8b"), ("reasoning_content", "qwen3:8b"),
])
async def test_a_local_models_thinking_is_never_shown_stored_or_replayed(
    tmp_path: Path, fake_openai: Any, thinking_as: str, model: str
) -> None:
    """The thinking streams for ~1.5 s, three times the idle timeout: it keeps the reply alive
    (no "no text within" failure) and none of it reaches the user, the store or the next
    request."""
    fake_openai.thinking, fake_openai.thinking_as = SECRET * 4, thinking_as
    fake_openai.chunk_size, fake_openai.delay = 8, 0.05
    settings = make_settings(tmp_path, openai_base_url=fake_openai.base_url, model=model,
                             provider_timeout=0.5)
    async with open_engine(settings) as engine:
        first = await ask(engine, "My name is Ada.", 1)
        second = await ask(engine, "What is my name?", 2)
        stored = await engine._store.history(KEY)  # noqa: SLF001 - what was stored
    assert first.error is None and second.error is None
    assert first.final == "You said: My name is Ada." and second.final == "Your name is Ada."
    assert "".join(first.deltas) == first.final
    assert not any("decided" in m.content for _, m in stored)
    replayed = fake_openai.requests[-1].json["messages"]
    assert not any("decided" in m["content"] for m in replayed)


@pytest.mark.parametrize("provider", ["openai", "openai-responses"])
async def test_reasoning_tokens_are_shown_in_export(
    provider: str, database: str, tmp_path: Path, fake_openai: Any
) -> None:
    fake_openai.reasoning_tokens = 42
    env = provider_env(provider, fake_openai, database) | {"THREADBOT_REASONING": "high"}
    await run(tmp_path, env, "console", "--thread", "demo", stdin="think hard\n")

    exported = json.loads(await run(tmp_path, env, "export", "--thread", "demo", "--format", "json"))
    [reply] = [m for m in exported["messages"] if m["role"] == "assistant"]
    assert reply["reasoning_tokens"] == 42 and reply["output_tokens"] > 42
    markdown = await run(tmp_path, env, "export", "--thread", "demo")
    assert (f"Usage: {MODEL} · {reply['input_tokens']} in (0 cached) · "
            f"{reply['output_tokens']} out (42 reasoning)") in markdown.splitlines()
    assert fake_openai.requests[-1].json.get("reasoning_effort" if provider == "openai"
                                             else "reasoning") in ("high", {"effort": "high"})


def _texts(value: Any) -> list[str]:
    """Every text a request's system / messages carry (strings, or blocks with "text")."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    if isinstance(value, dict):
        return _texts(value.get("text", "")) + _texts(value.get("content", ""))
    return []


@pytest.mark.parametrize(("provider", "model", "cap"), [
    ("anthropic", "claude-sonnet-4-5", "max_tokens"),
    ("openai", "o4-mini", "max_completion_tokens"),
])
async def test_the_history_leaves_room_for_the_thinking_budget(
    tmp_path: Path, fake_openai: Any, fake_anthropic: Any, provider: str, model: str, cap: str
) -> None:
    """THREADBOT_REASONING=high adds 16,384 tokens of thinking to the output cap: a long
    thread's replayed history shrinks by as much, so input + cap stays in the window."""
    window, answer = 24_000, 1_024
    fake = fake_anthropic if provider == "anthropic" else fake_openai
    settings = make_settings(
        tmp_path, provider=provider, model=model, reasoning="high", compaction=False,
        context_tokens=window, max_output_tokens=answer, anthropic_api_key="test-key",
        anthropic_base_url=fake_anthropic.base_url, openai_base_url=fake_openai.base_url)
    said = [Turn(key=KEY, message_id=f"old{i}", author_id="u", author_name="Ada",
                 text=f"note {i}: " + "we keep talking about the quarterly plan " * 12)
            for i in range(300)]
    async with open_engine(settings) as engine:
        await engine.remember(said)
        sink = await ask(engine, "So what did we decide?", 1)
    assert sink.final and sink.error is None
    body = fake.requests[-1].json
    counter = TokenCounter(model)
    sent = sum(counter.count(t) + 4 for t in _texts(body.get("system", "")) +
               _texts(body["messages"]))
    assert body[cap] == answer + 16_384
    assert sent + body[cap] <= window
    assert sent > (window - answer - 16_384) // 2  # and the history still fills what is left
