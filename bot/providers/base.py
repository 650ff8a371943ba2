"""The Provider protocol: one streaming call, text deltas then a Completion.

Every provider maps its SDK's exceptions (and in-stream error events) to
``bot.errors.ProviderError`` with an ``ErrorKind``; nothing else escapes ``stream``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from bot.types import Completion, Request


class Provider(Protocol):
    name: str
    supports_chain: bool  # True only where previous_response_id exists (OpenAI Responses)

    def stream(self, request: Request) -> AsyncGenerator[str | Completion, None]:
        """Yield text deltas (str) as they arrive, then exactly one Completion.

        Raises ProviderError. With ``request.previous_response_id`` set and the id unknown
        or expired, raises ProviderError(ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND) before
        yielding any text, so the caller can fall back to replay invisibly.
        """
        ...

    async def aclose(self) -> None:
        """Close the SDK client (one per process, reused across turns)."""
        ...
