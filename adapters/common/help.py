"""The help text, from one list of commands: each platform only says how a command is typed
there (``!reset``, ``/reset``) and what else it offers (shortcuts, DM-only commands)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.types import CommandName

WHAT_IT_DOES: dict[CommandName, str] = {
    CommandName.RESET: "forget this conversation and start over",
    CommandName.SUMMARIZE: "summarize this conversation",
    CommandName.STOP: "stop the reply I'm writing",
    CommandName.HELP: "show this message",
}


def help_text(
    intro: str,
    typed: Callable[[CommandName], str],
    *,
    also: Mapping[CommandName, str] | None = None,
    footer: str = "",
) -> str:
    """``intro``, one line per command (``typed(name)`` — what it does, ``also[name]``), and
    an optional footer."""
    lines = [intro]
    for name, does in WHAT_IT_DOES.items():
        lines.append(f"• {typed(name)} — {does}{(also or {}).get(name, '')}")
    if footer:
        lines.append(footer)
    return "\n".join(lines)
