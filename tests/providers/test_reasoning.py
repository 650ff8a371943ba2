"""Reasoning models through the real SDKs: what each level sends to each API and model family,
a server refusing the reasoning field, the reasoning tokens reported, and thinking that is
never shown as the answer (``<think>`` in local models' text, Anthropic's thinking blocks,
OpenAI's reasoning summaries)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.ports import Provider
from bot.types import Completion, Request, Thinking
from tests.providers.conftest import Backend, _backend, failure, make_request

ANSWER = "Hello there, Ada!"
BUDGET = {"low": 1_024, "medium": 4_096, "high": 16_384}


async def items_of(provider: Provider, request: Request) -> tuple[list[str | Thinking], Completion]:
    """Every item before the Completion (deltas and thinking markers), and the Completion."""
    items = [item async for item in provider.stream(request)]
    *before, last = items
    assert isinstance(last, Completion), items
    assert all(isinstance(i, Thinking) or (isinstance(i, str) and i) for i in before), items
    return [i for i in before if isinstance(i, str | Thinking)], last


def shown(items: list[str | Thinking]) -> str:
    return "".join(i for i in items if isinstance(i, str))


@pytest.mark.parametrize("level", ["low", "medium", "high"])
async def test_chat_sends_reasoning_effort_and_max_completion_tokens_to_o_series(
    chat: Backend, level: str
) -> None:
    """On any server (here a compatible URL, where max_tokens is the default), an o-series
    model gets max_completion_tokens (it refuses max_tokens) with room for the thinking on
    top of the answer's cap, and never a temperature."""
    await items_of(chat.provider(reasoning=level), make_request("hi", model="o4-mini"))
    body = chat.fake.requests[-1].json
    assert body["reasoning_effort"] == level
    assert body["max_completion_tokens"] == 64 + BUDGET[level]
    assert "max_tokens" not in body and "temperature" not in body


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini", "o3", "o1"])
async def test_reasoning_models_get_max_completion_tokens_even_with_reasoning_off(
    chat: Backend, model: str
) -> None:
    _, completion = await items_of(chat.provider(), make_request("hi", model=model))
    body = chat.fake.requests[-1].json
    assert body["max_completion_tokens"] == 64 and "max_tokens" not in body
    assert "reasoning_effort" not in body and completion.text


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "gpt-4o", "gpt-5-chat-latest", "o1-mini"])
async def test_models_that_refuse_the_effort_never_get_it(chat: Backend, model: str) -> None:
    chat.fake.rejects_reasoning = True  # as these models do
    _, completion = await items_of(chat.provider(reasoning="high"), make_request("hi", model=model))
    assert [("reasoning_effort" in r.json) for r in chat.fake.requests] == [False]
    assert completion.text


async def test_a_local_model_keeps_max_tokens_and_gets_the_effort(chat: Backend) -> None:
    await items_of(chat.provider(reasoning="low"), make_request("hi", model="qwen3:8b"))
    body = chat.fake.requests[-1].json
    assert body["reasoning_effort"] == "low" and body["max_tokens"] == 64 + 1_024
    assert "max_completion_tokens" not in body


@pytest.mark.parametrize(("model", "sent"), [("gpt-5", True), ("o3-mini", True), ("gpt-4.1", False)])
async def test_responses_sends_reasoning_effort_by_family(
    responses: Backend, model: str, sent: bool
) -> None:
    await items_of(responses.provider(reasoning="medium"), make_request("hi", model=model))
    body = responses.fake.requests[-1].json
    assert body.get("reasoning") == ({"effort": "medium"} if sent else None)
    assert body["max_output_tokens"] == 64 + (4_096 if sent else 0)
    assert "temperature" not in body


@pytest.mark.parametrize("level", ["low", "medium", "high"])
async def test_claude_thinks_within_a_budget_below_max_tokens(claude: Backend, level: str) -> None:
    """The fake refuses what Anthropic refuses: a budget under 1,024 or not below max_tokens,
    and a temperature with thinking. The thinking block is never part of the answer."""
    claude.fake.reply_with(ANSWER)
    claude.fake.thinking = "The user is Ada; greet her."
    items, completion = await items_of(
        claude.provider(reasoning=level), make_request("hi", model="claude-sonnet-4-6")
    )
    body = claude.fake.requests[-1].json
    assert body["thinking"] == {"type": "enabled", "budget_tokens": BUDGET[level]}
    assert body["max_tokens"] == 64 + BUDGET[level] and "temperature" not in body
    assert items[0] == Thinking() and shown(items) == completion.text == ANSWER


async def test_older_claude_models_get_no_thinking(claude: Backend) -> None:
    await items_of(claude.provider(reasoning="high"), make_request("hi", model="claude-3-5-haiku-latest"))
    body = claude.fake.requests[-1].json
    assert "thinking" not in body and body["max_tokens"] == 64


async def test_reasoning_off_sends_no_reasoning_field(backend: Backend) -> None:
    await items_of(backend.provider(), make_request("hi", model="some-model"))
    body = backend.fake.requests[-1].json
    assert not {"reasoning_effort", "reasoning", "thinking"} & body.keys()


async def test_a_server_refusing_the_reasoning_field_is_asked_again_without_it_and_remembered(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    backend.fake.rejects_reasoning = True
    backend.fake.reply_with(ANSWER)
    provider = backend.provider(reasoning="medium")
    with caplog.at_level(logging.WARNING):
        first = await items_of(provider, make_request("hi", model="my-model"))
        second = await items_of(provider, make_request("hi", "hey", "again", model="my-model"))
    assert first[1].text == second[1].text == ANSWER
    fields = ("reasoning_effort", "reasoning", "thinking")
    sent = [any(f in r.json for f in fields) for r in backend.fake.requests]
    assert sent == [True, False, False]  # once refused, never sent again
    warnings = [r for r in caplog.records if "does not take the reasoning" in r.getMessage()]
    assert len(warnings) == 1


async def test_other_400s_are_not_retried(backend: Backend) -> None:
    backend.fake.fail_next(400, message="Something else is wrong.")
    _, error = await failure(backend.provider(reasoning="high"), make_request("hi", model="my-model"))
    assert error.kind.value and len(backend.fake.requests) == 1


@pytest.mark.parametrize("name", ["openai", "openai-responses"])
async def test_reasoning_tokens_are_reported(name: str, tmp_path: Path) -> None:
    async for backend in _backend(name, tmp_path):
        backend.fake.reasoning_tokens = 30
        _, completion = await items_of(backend.provider(reasoning="high"), make_request("hi", model="o3"))
        assert completion.usage is not None and completion.usage.reasoning_tokens == 30
        assert completion.usage.output_tokens > 30  # the thinking is part of the output


async def test_a_server_without_details_reports_zero_reasoning(backend: Backend) -> None:
    _, completion = await items_of(backend.provider(), make_request("hi"))
    assert completion.usage is not None and completion.usage.reasoning_tokens == 0


@pytest.mark.parametrize("size", [1, 3, 5, 8])
@pytest.mark.parametrize(("thinking_as", "model"), [
    ("tags", "qwen3:8b"), ("open-in-prompt", "deepseek-r1:7b"), ("reasoning_content", "qwen3:8b"),
])
async def test_local_models_thinking_is_never_the_answer(
    chat: Backend, size: int, thinking_as: str, model: str
) -> None:
    """Whether the server writes ``<think>…</think>`` into the text (split anywhere across
    chunks), only the closing tag (the template opened it), or a separate field."""
    chat.fake.reply_with(ANSWER)
    chat.fake.thinking, chat.fake.thinking_as = "I must not say <b>this</b>.", thinking_as
    chat.fake.chunk_size = size
    items, completion = await items_of(chat.provider(), make_request("hi", model=model))
    assert shown(items) == completion.text == ANSWER
    first_text = next(i for i, item in enumerate(items) if isinstance(item, str))
    assert first_text > 0 and set(items[:first_text]) == {Thinking()}  # a heartbeat per chunk


async def test_text_without_thinking_is_untouched(chat: Backend) -> None:
    text = "  indented code\n\nand a < b, x <thin y, </b>"
    chat.fake.reply_with(text)
    chat.fake.chunk_size = 2
    items, completion = await items_of(chat.provider(), make_request("hi", model="llama3.2"))
    assert shown(items) == completion.text == text and Thinking() not in items


async def test_an_unclosed_think_shows_nothing_of_it(chat: Backend) -> None:
    chat.fake.reply_with("<think>still going when the output cap hit")
    items, completion = await items_of(chat.provider(), make_request("hi", model="qwen3:8b"))
    assert shown(items) == completion.text == "" and set(items) == {Thinking()}


async def test_a_thinking_model_that_did_not_think_is_answered_at_the_end(chat: Backend) -> None:
    chat.fake.reply_with(ANSWER)
    items, completion = await items_of(chat.provider(), make_request("hi", model="deepseek-r1:7b"))
    assert shown(items) == completion.text == ANSWER


async def test_responses_reasoning_summaries_are_never_the_answer(responses: Backend) -> None:
    responses.fake.reply_with(ANSWER)
    responses.fake.thinking, responses.fake.thinking_as = "Summary of my reasoning.", "reasoning_content"
    items, completion = await items_of(
        responses.provider(reasoning="high"), make_request("hi", model="o3")
    )
    assert shown(items) == completion.text == ANSWER and items[0] == Thinking()
