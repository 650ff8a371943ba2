"""What a process killed mid-reply leaves in the store, built directly: a question waiting
for its answer and the reply row it was writing, with the platform messages it had shown."""

from __future__ import annotations

from collections.abc import Sequence

from bot.tokens import TokenCounter
from bot.types import NewMessage, ThreadKey
from storage import open_store


async def left_by_a_crash(
    db: str, key: ThreadKey, questions: Sequence[str], *, author_id: str, author_name: str,
    message_ids: Sequence[str], refs: Sequence[str],
) -> None:
    counter = TokenCounter("gpt-4o-mini")
    store = await open_store(db)
    try:
        thread = await store.ensure_thread(key, "replay")
        for text, message_id in zip(questions, message_ids, strict=True):
            await store.add(thread, NewMessage(
                role="user", content=text, tokens=counter.count(text), author_id=author_id,
                author_name=author_name, platform_message_id=message_id, awaits_answer=True))
        row = await store.begin_reply(thread)
        await store.set_refs(row, refs)
    finally:
        await store.close()
