"""How the end of a reply reads on a chat platform: one wording for every platform."""

from __future__ import annotations

from bot.types import Ending

STOPPED_NOTE = "_(stopped)_"
NO_REPLY = "(no reply)"


def final_text(text: str, ending: Ending) -> str:
    """The text a finished reply shows: a stopped one ends with a note (or is just the note)."""
    if ending is Ending.STOPPED:
        return f"{text.rstrip()}\n\n{STOPPED_NOTE}" if text.strip() else STOPPED_NOTE
    return text if text.strip() else NO_REPLY


def failed_text(shown: str, message: str) -> str:
    """What a failed reply shows: the short failure message in italics, like the stop note,
    so it reads as the bot's own note and not as model output; after any text shown."""
    note = f"_{message}_"
    return f"{shown.rstrip()}\n\n{note}" if shown.strip() else note
