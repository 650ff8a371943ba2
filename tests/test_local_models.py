"""Local and proxied models: the fakes behave like llama.cpp's `llama-server` and a LiteLLM
proxy where it matters (typed Responses items, no previous_response_id, a small context
window with llama.cpp's refusal, a proxy that forgets), driven through the real SDKs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.app import open_engine
from bot.errors import ErrorKind
from bot.providers.errors import overflow_window
from bot.providers.factory import make_provider
from bot.types import ChatMessage, Request, ThreadKey, Turn
from tests.conftest import make_settings
from tests.helpers import RecordingSink, answering

KEY = ThreadKey("console", "", "", "local")
_ids = iter(range(1, 1_000_000))


async def ask(engine: Any, text: str) -> RecordingSink:
    sink = RecordingSink()
    await engine.handle(Turn(key=KEY, message_id=f"m{next(_ids)}", author_id="u",
                             author_name="Ada", text=text), sink)
    return sink


def local(tmp_path: Path, fake: Any, **values: Any) -> Any:
    """Settings for a model served by llama.cpp (or a proxy) at the fake's address."""
    return make_settings(tmp_path, **{"openai_base_url": fake.base_url,
                                      "model": "smollm2-135m", "chain_untrusted": False, **values})


async def test_the_responses_provider_answers_every_turn_on_llama_cpp(
    tmp_path: Path, fake_openai: Any
) -> None:
    fake_openai.mode = "llama.cpp"
    async with open_engine(local(tmp_path, fake_openai, provider="openai-responses")) as engine:
        first = await ask(engine, "My name is Ada.")
        second = await ask(engine, "What is my name?")
    assert first.error is None and second.error is None
    assert second.final == "Your name is Ada."  # the replayed turns were typed items


async def test_a_server_that_cannot_chain_is_answered_by_replay_at_once_and_remembered(
    tmp_path: Path, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.mode = "llama.cpp"
    settings = local(tmp_path, fake_openai, provider="openai-responses", history="chain",
                     chain_untrusted=True)
    async with open_engine(settings) as engine:
        replies = [await ask(engine, text) for text in
                   ("My name is Ada.", "What is my name?", "And again: what is my name?")]
    assert [r.error for r in replies] == [None, None, None]
    assert replies[1].final == replies[2].final == "Your name is Ada."
    chained = [r for r in fake_openai.requests if r.json.get("previous_response_id")]
    assert len(chained) == 1  # tried once, then never again in this process
    assert sum("rejects previous_response_id" in r.getMessage() for r in caplog.records) == 1


async def test_chain_is_replay_unless_the_server_is_known_to_keep_responses(
    tmp_path: Path, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = local(tmp_path, fake_openai, provider="openai-responses", history="chain")
    async with open_engine(settings) as engine:
        await ask(engine, "My name is Ada.")
        await ask(engine, "What is my name?")
    assert not any(r.json.get("previous_response_id") for r in fake_openai.requests)
    assert any("THREADBOT_CHAIN_UNTRUSTED" in r.getMessage() for r in caplog.records)


async def test_a_proxy_that_forgets_the_chain_is_caught_by_its_bill(
    tmp_path: Path, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_openai.mode = "forgetful-proxy"
    settings = local(tmp_path, fake_openai, provider="openai-responses", history="chain",
                     chain_untrusted=True)
    async with open_engine(settings) as engine:
        await ask(engine, "My name is Ada. " + "Here is some background about me. " * 20)
        forgot = await ask(engine, "What is my name?")  # chained: the proxy forgot
        after = await ask(engine, "What is my name, again?")
    assert forgot.final == "I don't know your name."  # what the user got, the one time
    assert after.final == "Your name is Ada."  # replayed from then on
    assert not fake_openai.requests[-1].json.get("previous_response_id")
    assert any("without the earlier conversation" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("This model's maximum context length is 128000 tokens. However, your messages "
         "resulted in 130000 tokens.", 128000),  # OpenAI (code context_length_exceeded)
        ("prompt is too long: 250000 tokens > 200000 maximum", None),  # Anthropic
        ("request (11972 tokens) exceeds the available context size (2048 tokens), try "
         "increasing it", 2048),  # llama.cpp, type exceed_context_size_error
        ("This model's maximum context length is 2048 tokens. However, you requested 4096 "
         "tokens (3072 in the messages, 1024 in the completion).", 2048),  # vLLM
        ("the input length exceeds the context length", None),  # Ollama
        ("litellm.ContextWindowExceededError: litellm.BadRequestError: ...", None),  # LiteLLM
    ],
)
def test_one_matcher_knows_every_servers_context_overflow(text: str, window: int | None) -> None:
    assert overflow_window(text) == (True, window)
    assert overflow_window("Invalid API key provided") == (False, None)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_llama_cpp_context_overflow_is_context_too_long_with_its_window(
    tmp_path: Path, fake_openai: Any, fake_anthropic: Any, provider: str
) -> None:
    fake = fake_anthropic if provider == "anthropic" else fake_openai
    fake.window = 50
    settings = local(tmp_path, fake_openai, provider=provider, anthropic_api_key="k",
                     anthropic_base_url=fake_anthropic.base_url)
    llm = make_provider(settings)
    request = Request(model="smollm2", system="", messages=(ChatMessage("user", "word " * 200),),
                      max_output_tokens=16)
    try:
        with pytest.raises(Exception) as caught:
            async for _ in llm.stream(request):
                pass
    finally:
        await llm.aclose()
    assert getattr(caught.value, "kind", None) is ErrorKind.CONTEXT_TOO_LONG
    assert getattr(caught.value, "window", None) == 50


async def test_a_huge_paste_on_a_small_window_is_answered_and_the_thread_goes_on(
    tmp_path: Path, fake_openai: Any
) -> None:
    fake_openai.window = 2048
    settings = local(tmp_path, fake_openai, context_tokens=2048, max_output_tokens=256)
    async with open_engine(settings) as engine:
        pasted = await ask(engine, "Please review this log:\n" + "error at line 42; " * 3000)
        after = await ask(engine, "My name is Ada.")
        named = await ask(engine, "What is my name?")
    assert pasted.error is None and pasted.final
    sent = answering(fake_openai)[-3].json["messages"][-1]["content"]
    assert "message truncated" in sent
    assert after.error is None and named.final == "Your name is Ada."


async def test_a_provider_failure_logs_a_short_line(
    tmp_path: Path, fake_openai: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    fake_openai.request_id = "litellm-" + "x" * 600
    fake_openai.fail_next(500, message="upstream said: " + "y" * 2000)
    async with open_engine(local(tmp_path, fake_openai)) as engine:
        failed = await ask(engine, "hello")
    assert failed.error
    lines = [r.getMessage() for r in caplog.records if "provider error" in r.getMessage()]
    assert lines and all(len(line) < 300 for line in lines)
