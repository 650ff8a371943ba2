"""EditingSink's promise under refusals, on an in-memory platform whose refusals are scripted
deterministically (the Discord tests show the same against discord.py and the fake server):
whatever the platform refuses, the reply never fails and no text is shown twice."""

from __future__ import annotations

from adapters.common.editing import EditingSink


class Refused(Exception):
    """What the platform raises for a write it will not do."""


class Channel(EditingSink[int]):
    """Messages in a list; ``gone`` ids refuse edits, ``closed`` refuses posts."""

    limit = 60
    interval = 100.0  # only the final write edits a message that was already written

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[int, str] = {}
        self.gone: set[int] = set()
        self.closed = False
        self.calls = 0

    async def _post(self, text: str) -> int:
        self.calls += 1
        if self.closed:
            raise Refused
        self.shown[len(self.shown)] = text
        return len(self.shown) - 1

    async def _edit(self, handle: int, text: str) -> None:
        self.calls += 1
        if handle in self.gone:
            raise Refused
        self.shown[handle] = text

    def words(self) -> list[str]:
        return " ".join(self.shown[h] for h in sorted(self.shown)).split()


WORDS = [f"word{i}" for i in range(40)]


async def test_an_earlier_message_refused_late_hands_its_missing_text_to_the_next() -> None:
    sink = Channel()
    await sink.append(" ".join(WORDS[:3]) + " ")  # message 0 shows three words
    await sink.append(" ".join(WORDS[3:12]) + " ")  # message 1 posted; 0 not updated yet
    assert len(sink.shown) == 2 and sink.shown[0] == "word0 word1 word2 "
    sink.gone.add(0)  # deleted, or the permission went away
    await sink.finish(" ".join(WORDS))

    assert sink.shown[0] == "word0 word1 word2 "  # left as it was
    assert sink.words() == WORDS  # every word once, in order


async def test_nothing_is_raised_and_nothing_called_after_a_refused_post() -> None:
    sink = Channel()
    await sink.append(" ".join(WORDS[:5]))
    sink.gone.add(0)
    sink.closed = True
    await sink.append(" " + " ".join(WORDS[5:20]))  # overflows: the second post is refused
    await sink.finish(" ".join(WORDS))
    await sink.fail("late failure")
    assert sink.calls == 2  # the first post and the refused one, nothing after
    assert sink.words() == WORDS[:5]
