"""The OpenAI providers hand the conversation to the SDK through ``extra_body`` (no
per-message transform: most of a long turn's CPU). What reaches the server must be exactly
what the SDK's typed arguments would have sent: these tests send both ways to the fake and
compare the JSON bodies it received."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from openai import AsyncOpenAI

from bot.providers.openai_chat import _message
from bot.providers.openai_responses import input_items
from bot.types import ChatMessage, Image
from tests.providers.conftest import KEY, Backend, collect, make_request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _conversation() -> tuple[ChatMessage, ...]:
    """Text with unicode, indentation and newlines, and an image part."""
    image = Image(name="chart.png", media_type="image/png", sha256="0" * 64, data=PNG)
    return (
        ChatMessage("user", "Grüße — what's in this chart? 📈", (image,)),
        ChatMessage("assistant", "A rising line.\n\n    indented code\n\"quoted\""),
        ChatMessage("user", "Ada: and the next quarter?"),
    )


async def _typed_body(backend: Backend, call: str, **arguments: Any) -> dict[str, Any]:
    """The body the SDK sends when every field goes through its typed arguments."""
    client = AsyncOpenAI(api_key=KEY, base_url=backend.fake.base_url, max_retries=0)
    try:
        create = client.chat.completions.create if call == "chat" else client.responses.create
        stream = await create(stream=True, **arguments)
        async for _event in stream:
            pass
    finally:
        await client.close()
    return backend.fake.requests[-1].json  # type: ignore[no-any-return]


async def test_chat_sends_the_same_body_as_the_typed_arguments(chat: Backend) -> None:
    request = replace(make_request(system="Be brief."), messages=_conversation())
    await collect(chat.provider(), request)
    sent = chat.fake.requests[-1].json

    typed = await _typed_body(
        chat, "chat", model=request.model,
        messages=[{"role": "system", "content": "Be brief."},
                  *[_message(m) for m in request.messages]],
        stream_options={"include_usage": True}, max_tokens=request.max_output_tokens,
    )

    assert sent == typed
    assert sent["messages"][1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_responses_sends_the_same_body_as_the_typed_arguments(responses: Backend) -> None:
    request = replace(make_request(system="Be brief.", store=True), messages=_conversation())
    await collect(responses.provider(), request)
    sent = responses.fake.requests[-1].json

    typed = await _typed_body(
        responses, "responses", model=request.model, input=input_items(request.messages),
        instructions="Be brief.", store=True, max_output_tokens=request.max_output_tokens,
    )

    assert sent == typed
    assert sent["input"][0]["content"][0]["type"] == "input_image"
