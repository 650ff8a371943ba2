"""``<think>…</think>``: what local reasoning models (DeepSeek-R1, QwQ, Qwen3 on Ollama, vLLM,
llama.cpp) write before their answer, in the answer's own text when the server does not
separate it. It is never the answer: it is taken out of what is streamed, the final text and
so what is stored — also when a tag is split across chunks.

Some chat templates (DeepSeek-R1's, QwQ's, the "-Thinking" Qwen3 models') put ``<think>`` in
the prompt, so the reply *starts* inside the thinking and only ``</think>`` shows up. For those
model names the text is held back until ``</think>`` arrives (dropping what came before) or
the reply ends without one (then it was all answer). For other models a stray ``</think>``
still drops what preceded it from the final text (the platforms' final edit shows that).
"""

from __future__ import annotations

import re

from bot.types import THINKING, Thinking

OPEN, CLOSE = "<think>", "</think>"
_STARTS_INSIDE = re.compile(r"(?:^|[-_/:.])r1(?:$|[-_:.])|qwq|thinking", re.IGNORECASE)


def starts_inside(model: str) -> bool:
    """Whether the model's template opens the thinking in the prompt (see the module)."""
    return bool(_STARTS_INSIDE.search(model))


def _partial(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that could begin ``tag`` (split chunks)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkFilter:
    """Fed the streamed text chunk by chunk: gives back the part to show now."""

    def __init__(self, *, assume_inside: bool = False) -> None:
        self._inside = False  # within <think>…
        self._assumed = assume_inside  # maybe within a thinking whose <think> was the prompt's
        self._held = ""  # text not decided yet: a possible tag's start, or (assumed) all of it
        self._shown: list[str] = []  # the answer so far
        self._after = False  # a thinking just ended: the blank lines after it are not answer

    @property
    def thinking(self) -> bool:
        """Thinking is under way (as far as can be told: an assumed start counts)."""
        return self._inside or (self._assumed and bool(self._held.strip()))

    @property
    def text(self) -> str:
        """The answer as it stands: what was shown, minus anything a stray ``</think>``
        revealed to be thinking."""
        return "".join(self._shown)

    def separated(self) -> str:
        """The server reports thinking apart from the text (``reasoning_content``): the text is
        all answer. Returns what was held back on the assumption, to show now."""
        if not self._assumed:
            return ""
        self._assumed = False
        return self.feed("")

    def feed(self, delta: str) -> str:
        buffer, out = self._held + delta, list[str]()
        while buffer:
            if self._inside:
                end = buffer.find(CLOSE)
                if end < 0:
                    keep = _partial(buffer, CLOSE)
                    buffer = buffer[len(buffer) - keep:] if keep else ""
                    break
                buffer, self._inside, self._after = buffer[end + len(CLOSE):], False, True
                continue
            start, end = buffer.find(OPEN), buffer.find(CLOSE)
            if end >= 0 and (start < 0 or end < start):  # a close with no open: all before was thinking
                out.clear()
                self._shown.clear()
                self._assumed, self._after = False, True
                buffer = buffer[end + len(CLOSE):]
                continue
            if start >= 0:
                out.append(buffer[:start])
                buffer, self._inside, self._assumed = buffer[start + len(OPEN):], True, False
                continue
            if self._assumed:
                break  # hold everything until </think> or the end
            keep = max(_partial(buffer, OPEN), _partial(buffer, CLOSE))
            out.append(buffer[: len(buffer) - keep])
            buffer = buffer[len(buffer) - keep:]
            break
        self._held = buffer
        return self._show("".join(out))

    def flush(self) -> str:
        """The end of the text: what is still held is answer, unless inside a thinking."""
        held, self._held = self._held, ""
        if self._inside:
            return ""
        return self._show(held)

    def _show(self, text: str) -> str:
        if self._after:
            text = text.lstrip()  # the blank lines after </think>
        if text:
            self._shown.append(text)
            self._after = False
        return text


class Relay:
    """A provider's text on its way out: the answer's deltas, and a THINKING item for every
    chunk of thinking (a ``<think>`` in the text, or reasoning the server reports apart) — a
    heartbeat, so a long thinking is not taken for a silent server (``Timeouts.idle``).
    ``text`` is the final answer for the Completion."""

    def __init__(self, model: str) -> None:
        self._filter = ThinkFilter(assume_inside=starts_inside(model))
        self.received = False  # any text at all came (shown or thinking)

    @property
    def text(self) -> str:
        return self._filter.text

    def delta(self, delta: str) -> list[str | Thinking]:
        self.received = self.received or bool(delta)
        return self._out(self._filter.feed(delta))

    def thought(self) -> list[str | Thinking]:
        """The server reported reasoning apart from the text (vLLM's ``reasoning_content``,
        Ollama's ``reasoning``, Anthropic's thinking blocks, OpenAI's reasoning items)."""
        return self._out(self._filter.separated(), thinking=True)

    def end(self) -> list[str | Thinking]:
        return self._out(self._filter.flush())

    def _out(self, shown: str, *, thinking: bool = False) -> list[str | Thinking]:
        items: list[str | Thinking] = []
        if thinking or self._filter.thinking:
            items.append(THINKING)
        if shown:
            items.append(shown)
        return items
