"""Summaries on request: of a stored conversation (stored back as a summary row, never part
of the context), or of messages the platform has that the store does not (a channel
catch-up). One model call each, under the same access rules and quotas as a reply."""

from __future__ import annotations

from collections.abc import Sequence

from bot.admin.gate import Asker, Gate, Meter
from bot.admin.profiles import Profile, Profiles
from bot.ports import ReplySink, Store
from bot.types import Command, CommandName, NewMessage, ThreadKey, ThreadState, Turn

NOTHING_TO_SUMMARIZE = "There's nothing to summarize yet."


class Summaries:
    def __init__(self, store: Store, profiles: Profiles, gate: Gate) -> None:
        self._store = store
        self._profiles = profiles
        self._gate = gate

    async def thread(self, command: Command, sink: ReplySink) -> None:
        """Summarise ``command``'s conversation and store the summary."""
        thread = await self._store.get_thread(command.key)
        profile, meter = await self._for(command, thread)
        request = await profile.histories.of(thread).summary_request(thread) if thread else None
        if request is None or thread is None:
            await sink.finish(NOTHING_TO_SUMMARIZE)
            return
        text = await profile.replier.one_shot(request, sink, meter)
        if text is not None:
            summary = NewMessage(role="summary", content=text, tokens=0, model=request.model)
            await self._store.add(thread, summary)

    async def transcript(
        self, turns: Sequence[Turn], sink: ReplySink, command: Command | None
    ) -> str | None:
        by = command or Command(key=ThreadKey("?"), name=CommandName.SUMMARIZE)
        refusal = self._gate.refused(by.key, by.author_id, by.origin)
        lines = [(t.author_name, t.text) for t in turns if t.text.strip()]
        if refusal is not None or not lines:
            await sink.finish(refusal or NOTHING_TO_SUMMARIZE)
            return None
        profile, meter = await self._for(by)
        request = profile.histories.default.transcript_request(lines)
        return await profile.replier.one_shot(request, sink, meter)

    async def _for(
        self, command: Command, thread: ThreadState | None = None
    ) -> tuple[Profile, Meter]:
        place = await self._gate.place(command.key, command.origin)
        profile = self._profiles.of(place)
        asker = Asker(command.author_id, command.origin)
        meter = self._gate.meter(place, thread.id if thread else None, asker,
                                 profile.histories.count)
        return profile, meter
