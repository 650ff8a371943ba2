"""Commands as people type them, the same on every platform: a name, and for the commands
that take one an argument (``!model gpt-4.1``, ``/config persona You are terse.``)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.types import Command, CommandName, Turn

# The commands that take an argument, and how help shows it. Every other command is only
# itself: "!reset everything" stays a message for the model, as it always was.
ARGUMENTS: dict[CommandName, str] = {
    CommandName.MODEL: "[name]",
    CommandName.CONFIG: "[key [value]]",
    CommandName.FORGET: "[all]",
}


@dataclass(frozen=True, slots=True)
class Invocation:
    """A command name and what followed it (stripped; "" for none)."""

    name: CommandName
    argument: str = ""


def invocation(name: str, argument: str = "") -> Invocation | None:
    """``name`` (any case) with ``argument`` → an Invocation; None when ``name`` is no
    command, or is one that takes no argument and got one."""
    try:
        command = CommandName(name.lower())
    except ValueError:
        return None
    argument = argument.strip()
    if argument and command not in ARGUMENTS:
        return None
    return Invocation(command, argument)


def as_turn(command: Command) -> Turn:
    """``command`` as the access rules look at a message (``Engine.refused``): who, where.
    Adapters ask before work done only for its answer (reading a channel to summarise it)."""
    return Turn(key=command.key, message_id=command.message_id, author_id=command.author_id,
                author_name="", text="", origin=command.origin)
