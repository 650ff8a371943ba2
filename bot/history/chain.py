"""Chain (OpenAI Responses): a request carries only the messages since the last answered
response, with ``previous_response_id``; the provider holds the rest (``store=true``).

``threads.last_response_id`` (the anchor) is the chain's only mutable pointer, and this
module its only writer. Every message is still stored locally, so whenever the chain breaks
(no anchor yet, a changed model, an expired response, a stop or failure) the request is
rebuilt by replay and the chain continues from the new response.
"""

from __future__ import annotations

import logging

from bot.errors import ErrorKind, ProviderError
from bot.history.replay import ReplayHistory, normalise
from bot.types import Completion, Request, ThreadState

log = logging.getLogger(__name__)


class ChainHistory(ReplayHistory):
    name = "chain"
    # Always named: a chained turn can't be re-labelled later when someone joins the thread.
    always_attribute = True

    async def request(self, thread: ThreadState, *, before: int | None = None) -> Request:
        if thread.last_response_id and thread.model == self.model:
            new = await self._store.since_response(thread, thread.last_response_id, before=before)
            if new:
                return self._request(
                    normalise(self._fit(new, attribute=True), attribute=True),
                    previous_response_id=thread.last_response_id,
                    store=True,
                )
        # No anchor yet, a changed model, or an anchor from before a reset: rebuild.
        return await self.replay(thread, store=True, before=before)

    async def retry(
        self, thread: ThreadState, request: Request, error: ProviderError, *, before: int | None = None
    ) -> Request | None:
        """The provider no longer knows the anchor (expired, deleted): replay invisibly."""
        if error.kind is not ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND or not request.previous_response_id:
            return None
        log.info("chain anchor expired in %s; replaying from the local history", thread.key)
        return await self.replay(thread, store=True, before=before)

    async def after_reply(self, thread: ThreadState, completion: Completion) -> None:
        await self._store.set_anchor(thread, completion.response_id, self.model)

    async def after_unfinished(self, thread: ThreadState) -> None:
        if thread.last_response_id:
            await self._store.set_anchor(thread, None, self.model)
