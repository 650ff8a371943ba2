"""``reset`` and ``forget``: a conversation starts over; a person deletes what the bot
stored of theirs in a conversation (GDPR-style erasure), and an admin a whole conversation
(``forget all``).

What goes and how the thread stays usable is the store's (``Store.purge``); this module
decides who may ask for what and words the confirmation, which the platforms show to the
author alone where they can. The bot's own replies stay with ``forget``: they are the bot's
messages, and an admin's ``forget all`` or ``threadbot purge`` removes them.
"""

from __future__ import annotations

import logging

from bot.admin.access import is_admin
from bot.admin.gate import Gate
from bot.ports import Store
from bot.types import Command, Purge, Purged, ThreadKey

log = logging.getLogger(__name__)

ADMINS_ONLY = ("Only an admin of this bot can delete a whole conversation. `forget` alone "
               "deletes your own messages here.")
BUSY = ("I'm writing a reply here right now, so nothing was deleted: try again once it has "
        "finished.")
USAGE = "Use `forget` to delete your messages here, or `forget all` (admins) for everything."


RESET = "Conversation reset: I've forgotten everything said here before."


async def reset(store: Store, key: ThreadKey) -> str:
    """``reset``: the conversation starts over (the history stays stored, out of context);
    what waited for an answer belonged to the old conversation, so it is settled."""
    thread = await store.get_thread(key)
    if thread is not None:
        await store.reset(thread.id)
        await store.settle(thread)
    return RESET


async def forget(gate: Gate, store: Store, command: Command) -> str:
    """Delete ``command``'s author's messages in its conversation (with ``all``, an admin:
    the conversation) and say how many went."""
    argument = command.argument.strip().lower()
    if argument not in ("", "all"):
        return USAGE
    everything = argument == "all"
    if everything:
        place = await gate.place(command.key, command.origin)
        if not is_admin(place, command.author_id, command.origin):
            return ADMINS_ONLY
    what = Purge(key=command.key) if everything else Purge(key=command.key,
                                                          author_id=command.author_id)
    purged = await store.purge(what)
    if purged.skipped:
        return BUSY
    log.info("forget%s in %s: %d message(s) deleted", " all" if everything else "",
             command.key, purged.messages)
    return _confirmation(purged, everything=everything)


def _confirmation(purged: Purged, *, everything: bool) -> str:
    count = f"{purged.messages} message{'' if purged.messages == 1 else 's'}"
    if everything:
        return (f"Deleted this conversation ({count}). I've forgotten everything said here."
                if purged.threads else "I had nothing stored from this conversation.")
    if not purged.messages:
        return "I had no messages of yours stored in this conversation."
    return (f"Deleted {count} of yours from this conversation. My replies to them stay "
            "(an admin can delete the whole conversation).")
