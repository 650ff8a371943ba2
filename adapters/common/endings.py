"""How the end of a reply reads on a chat platform: one wording for every platform."""

from __future__ import annotations

from bot.types import Ending

STOPPED_NOTE = "_(stopped)_"
INTERRUPTED_NOTE = "_(interrupted: the bot restarted)_"
# shown on a reply a crash cut off, when the bot is back and answers again
RESUMED_NOTE = "_(interrupted — answering again)_"
NO_REPLY = "(no reply)"


_NOTES = {Ending.STOPPED: STOPPED_NOTE, Ending.INTERRUPTED: INTERRUPTED_NOTE}


def final_text(text: str, ending: Ending) -> str:
    """The text a finished reply shows: a stopped one ends with a note (or is just the note)."""
    note = _NOTES.get(ending)
    if note is not None:
        return f"{text.rstrip()}\n\n{note}" if text.strip() else note
    return text if text.strip() else NO_REPLY


def failed_text(shown: str, message: str) -> str:
    """What a failed reply shows: the short failure message in italics, like the stop note,
    so it reads as the bot's own note and not as model output; after any text shown."""
    note = f"_{message}_"
    return f"{shown.rstrip()}\n\n{note}" if shown.strip() else note
