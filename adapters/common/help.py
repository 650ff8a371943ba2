"""The help text, from one list of commands: each platform only says how a command is typed
there (``!reset``, ``/reset``) and what else it offers (shortcuts, DM-only commands)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from adapters.common.commands import ARGUMENTS
from bot.types import CommandName

WHAT_IT_DOES: dict[CommandName, str] = {
    CommandName.RESET: "forget this conversation and start over",
    CommandName.SUMMARIZE: "summarize this conversation",
    CommandName.STOP: "stop the reply I'm writing",
    CommandName.HELP: "show this message",
    CommandName.USAGE: "what you've used so far, against your limits (only you see it)",
    CommandName.MODEL: "the models you can use here; with a name, switch this conversation to it",
    CommandName.CONFIG: "this channel's settings; admins set one with a key and a value, "
    "and clear it with the key alone",
    CommandName.FORGET: "delete your messages I've stored in this conversation; admins add "
    "`all` to delete the whole conversation",
}


def help_text(
    intro: str,
    typed: Callable[[CommandName], str],
    *,
    also: Mapping[CommandName, str] | None = None,
    footer: str = "",
) -> str:
    """``intro``, one line per command (``typed(name)``, its argument — what it does,
    ``also[name]``), and an optional footer."""
    lines = [intro]
    for name, does in WHAT_IT_DOES.items():
        argument = f" {ARGUMENTS[name]}" if name in ARGUMENTS else ""
        lines.append(f"• {typed(name)}{argument} — {does}{(also or {}).get(name, '')}")
    if footer:
        lines.append(footer)
    return "\n".join(lines)
