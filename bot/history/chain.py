"""Chain (OpenAI Responses): a request carries only the messages since the last answered
response, with ``previous_response_id``; the provider holds the rest (``store=true``).

``threads.last_response_id`` (the anchor) is the chain's only mutable pointer, and this
module its only writer. Every message is still stored locally, so whenever the chain breaks
(no anchor yet, a changed model, an expired response, a stop or failure) the request is
rebuilt by replay and the chain continues from the new response.

Chaining needs a server that really keeps responses. One that rejects
``previous_response_id`` (llama.cpp) is recognised and replayed at once, for the rest of the
process; one that accepts it but forgets (a proxy translating to Chat Completions without its
database) is caught by its bill: a chained reply's reported input must at least cover what
the previous reply was sent and said.
"""

from __future__ import annotations

import logging

from bot.errors import ErrorKind, ProviderError
from bot.history.replay import ReplayHistory, normalise
from bot.types import Completion, Request, ThreadState

log = logging.getLogger(__name__)

# A chained request is billed for the whole conversation. Far less than the previous
# reply's input + output means the server did not see the earlier turns.
FORGOTTEN_SHARE = 0.5
FORGOTTEN_MINIMUM = 64  # tokens: below this a conversation is too short to tell


class ChainHistory(ReplayHistory):
    name = "chain"
    # Always named: a chained turn can't be re-labelled later when someone joins the thread.
    always_attribute = True
    chaining = True  # False once the server showed it cannot keep a chain (per process)

    async def request(self, thread: ThreadState, *, before: int | None = None) -> Request:
        if self.chaining and thread.last_response_id and thread.model == self.model:
            new = await self._store.since_response(thread, thread.last_response_id, before=before)
            if new:
                # Instructions are not carried along a chain: the summary a replay sent
                # (the newest one) goes with every chained call too.
                summary, _ = await self._summary(thread, self.budget)
                return self._request(
                    normalise(self._fit(new, attribute=True), attribute=True), thread=thread,
                    previous_response_id=thread.last_response_id,
                    store=True, summary=summary,
                )
        # No anchor yet, a changed model, an anchor from before a reset: rebuild.
        return await self.replay(thread, store=self.chaining, before=before)

    async def retry(
        self, thread: ThreadState, request: Request, error: ProviderError, *, before: int | None = None
    ) -> Request | None:
        """The anchor is unknown (expired, deleted) or the server cannot chain at all:
        replay invisibly. Anything else is the replay strategy's to retry."""
        if request.previous_response_id and error.kind is ErrorKind.CHAIN_UNSUPPORTED:
            self._stop_chaining("rejects previous_response_id")
            return await self.replay(thread, store=False, before=before)
        if request.previous_response_id and error.kind is ErrorKind.PREVIOUS_RESPONSE_NOT_FOUND:
            log.info("chain anchor expired in %s; replaying from the local history", thread.key)
            return await self.replay(thread, store=True, before=before)
        return await super().retry(thread, request, error, before=before)

    async def after_reply(
        self, thread: ThreadState, request: Request, completion: Completion
    ) -> None:
        if request.previous_response_id and await self._forgotten(thread, request, completion):
            self._stop_chaining("answered a chained request without the earlier conversation")
        anchor = completion.response_id if self.chaining else None
        await self._store.set_anchor(thread, anchor, self.model)

    async def after_unfinished(self, thread: ThreadState) -> None:
        if thread.last_response_id:
            await self._store.set_anchor(thread, None, self.model)

    async def _forgotten(self, thread: ThreadState, request: Request, completion: Completion) -> bool:
        if completion.usage is None or request.previous_response_id is None:
            return False
        before = await self._store.reply_usage(thread, request.previous_response_id)
        if before is None:
            return False
        conversation = before.input_tokens + before.output_tokens
        return (conversation >= FORGOTTEN_MINIMUM
                and completion.usage.input_tokens < conversation * FORGOTTEN_SHARE)

    def _stop_chaining(self, why: str) -> None:
        if self.chaining:
            log.warning("the provider %s; replaying the stored history on every turn from "
                        "now on (THREADBOT_HISTORY=replay says so for good)", why)
        self.chaining = False
