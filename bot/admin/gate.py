"""What the engine asks the admin controls: may this person use the bot here, which
settings apply, may this model call go ahead, and what did it cost.

The configuration is swapped whole on a reload (``reload``): a reply in flight keeps the
Place it started with, the next one sees the new file.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from bot.admin import quotas
from bot.admin.access import is_admin, refusal
from bot.admin.config import AdminConfig, load_admin
from bot.admin.ledger import Charge, Limit, PlaceSetting, Spender, Spending
from bot.admin.places import Place, resolve
from bot.admin.prices import Prices
from bot.admin.remembered import ChatSettings
from bot.config import Settings
from bot.errors import ConfigError
from bot.ports import Store
from bot.types import Completion, Origin, Request, ThreadKey, Usage, utcnow

log = logging.getLogger("threadbot")
K = TypeVar("K")
V = TypeVar("V")

WAIT_POLL_S = 0.2  # a call waiting for calls in flight to leave room asks again this often
WAIT_MAX_S = 120.0  # then it is refused with the limit it waited for
STALE_AFTER_S = 600.0  # an open charge this old was left by a process that died
REMEMBERED = 4096  # askers and parent channels kept in memory


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asked last in a conversation, as far as this process saw it."""

    user_id: str
    origin: Origin = Origin()


class Gate:
    def __init__(self, settings: Settings, config: AdminConfig, store: Store) -> None:
        self.settings = settings
        self._store = store
        self._set(config)
        self.chat = ChatSettings(store)
        self._askers: OrderedDict[ThreadKey, Asker] = OrderedDict()
        self._parents: OrderedDict[ThreadKey, str] = OrderedDict()
        self._capped_month: str = ""

    def _set(self, config: AdminConfig) -> None:
        check_providers(self.settings, config)
        self.config = config
        self._resolved: OrderedDict[tuple[object, ...], Place] = OrderedDict()
        self.prices = Prices.with_overrides(config.file.prices)

    def reload(self) -> bool:
        """Read the configuration again; a broken file keeps the one in use (logged)."""
        try:
            self._set(load_admin())
        except ConfigError as exc:
            log.error("configuration not reloaded, the one in use stays: %s", exc)
            return False
        config = self.config
        log.info("configuration reloaded%s", f" from {config.path}" if config.path else "")
        return True

    def describe_access(self) -> str:
        """One startup line saying who may use the bot."""
        place = resolve(self.settings, self.config, ThreadKey("*"))
        allowed = ("allowed_users", "allowed_roles", "allowed_channels", "allowed_workspaces")
        denied = ("denied_users", "denied_roles", "denied_channels", "denied_workspaces")
        limited = [k for k in allowed if place[k] is not None] + [k for k in denied if place[k]]
        scoped = self.config.file.workspaces or self.config.file.channels
        if not limited and not scoped:
            return ("access: open to everyone who can reach the bot (set THREADBOT_ALLOWED_USERS "
                    "or threadbot.toml to limit it)")
        return f"access: limited by {', '.join(limited) or 'per-place rules'}"

    # --- who asks, where ---
    def note(self, key: ThreadKey, user_id: str, origin: Origin) -> None:
        """Remember who asked last in ``key`` (roles and all) for its next reply's checks."""
        _put(self._askers, key, Asker(user_id, origin))
        if origin.channel and origin.channel != key.channel:
            _put(self._parents, key, origin.channel)

    def asker(self, key: ThreadKey) -> Asker | None:
        return self._askers.get(key)

    def refused(self, key: ThreadKey, user_id: str, origin: Origin) -> str | None:
        """What to tell ``user_id`` if they may not use the bot in ``key`` (no I/O: access
        rules live only in the configuration)."""
        return refusal(self.place_now(key, origin), user_id, origin)

    def place_now(self, key: ThreadKey, origin: Origin) -> Place:
        """The settings for ``key`` from the configuration alone (no chat-set ones)."""
        parent = origin.channel or self._parents.get(key, "") or self.chat.known_parent(key)
        return self._resolve(key, parent, [])

    async def place(self, key: ThreadKey, origin: Origin | None = None) -> Place:
        """The effective settings for ``key``, with what was set from chat
        (``remembered.py``: no query where nothing was)."""
        known = (origin.channel if origin else "") or self._parents.get(key, "")
        channel, rows = await self.chat.of(key, known, seen=origin is not None or key in self._askers)
        return self._resolve(key, channel, rows)

    def _resolve(self, key: ThreadKey, channel: str, rows: list[PlaceSetting]) -> Place:
        """``resolve``, remembered until the configuration changes: a turn asks for its
        place up to three times (access, strategy, reply) and the answer only changes with
        the file or a chat-set setting (part of the key)."""
        memo = (key, channel, *rows)
        place = self._resolved.get(memo)
        if place is None:
            place = resolve(self.settings, self.config, key, channel, rows)
            _put(self._resolved, memo, place)
        return place

    # --- model calls ---
    def meter(self, place: Place, thread_id: int | None, asker: Asker,
              count: Callable[[str], int]) -> Meter:
        exempt = bool(place["admins_exempt"]) and is_admin(place, asker.user_id, asker.origin)
        return Meter(self, place, self.spender(place, asker.user_id), thread_id, exempt, count)

    def spender(self, place: Place, user_id: str) -> Spender:
        return Spender(place.key.platform, place.key.scope, place.channel, user_id)

    def capped(self, limit: Limit) -> None:
        """The spend cap stopped a call: say so in the log once a month (admins read it)."""
        month = f"{limit.since:%Y-%m}"
        if month != self._capped_month:
            self._capped_month = month
            log.error("the monthly spend cap ($%.2f, threadbot.toml monthly_spend_cap / "
                      "THREADBOT_MONTHLY_SPEND_CAP) is reached: no model calls until %s",
                      limit.amount, f"{limit.resets:%Y-%m-%d}")


class Meter:
    """One model call's admission and bill (``bot.replying.Meter``)."""

    def __init__(self, gate: Gate, place: Place, spender: Spender, thread_id: int | None,
                 exempt: bool, count: Callable[[str], int]) -> None:
        self._gate, self.place, self._spender = gate, place, spender
        self._thread_id, self._exempt, self._count = thread_id, exempt, count
        self._charge_id: int | None = None
        self._input = 0

    async def admit(self, request: Request) -> str | None:
        """None when the call may go ahead, else the one line to show instead."""
        gate = self._gate
        now = utcnow()
        limits = quotas.limits(self.place, exempt=self._exempt, cap=gate.config.monthly_spend_cap, now=now)
        if not limits:
            return None  # nothing to check: the tokens are counted only if needed (spent)
        self._input = self._input_tokens(request)
        tokens = self._input + request.max_output_tokens
        cost = gate.prices.cost(request.model, Usage(self._input, request.max_output_tokens))
        charge = Charge(self._spender, self._thread_id, request.model, tokens, cost)
        waited = 0.0
        while True:
            verdict, self._charge_id = await gate._store.admit(
                charge, limits, quotas.rule(charge, limits), stale_after=STALE_AFTER_S)
            if verdict.admitted:
                return None
            assert verdict.limit is not None
            if not verdict.wait or waited >= WAIT_MAX_S:
                if verdict.limit.name == "monthly_spend_cap":
                    gate.capped(verdict.limit)
                log.info("quota %s stops a message from %s in %s", verdict.limit.name,
                         self._spender.user_id, self.place.key)
                return quotas.message(verdict.limit, now)
            await asyncio.sleep(WAIT_POLL_S)
            waited += WAIT_POLL_S

    def again(self) -> Meter:
        """A fresh meter for the same spender, place and thread: its charge is its own."""
        return Meter(self._gate, self.place, self._spender, self._thread_id, self._exempt,
                     self._count)

    def _input_tokens(self, request: Request) -> int:
        return self._count(request.system) + sum(self._count(m.content) for m in request.messages)

    async def spent(self, request: Request, completion: Completion | None, shown: str) -> str:
        """Record what the call cost (the provider's usage; without one, an estimate from
        the text) and return the usage footer to show under the reply ("" when off)."""
        usage = completion.usage if completion is not None else None
        model = completion.model if completion is not None and completion.model else request.model
        estimated = usage is None
        if usage is None:  # not reported (cut short, or a server that does not say)
            usage = (Usage(self._input or _rough_tokens(request), self._count(shown))
                     if shown.strip() else Usage(0, 0))
        cost = self._gate.prices.cost(model, usage)
        await self._gate._store.spend(self._charge_id, Spending(
            self._spender, self._thread_id, model, usage.input_tokens,
            usage.cached_input_tokens, usage.output_tokens, cost, estimated,
            usage.reasoning_tokens))
        if not self.place["usage_footer"] or completion is None:
            return ""
        tokens = usage.input_tokens + usage.output_tokens
        return f"\n\n_{tokens:,} tokens · est. ${cost:.4f}_"


def _rough_tokens(request: Request) -> int:
    """An estimate of a request's input tokens (~4 characters each) for a reply whose usage
    the provider did not report: counting hundreds of messages exactly would cost more
    than the estimate is worth (it is recorded as one)."""
    chars = len(request.system) + sum(len(m.content) for m in request.messages)
    return chars // 4 + len(request.messages) * 4


def check_providers(settings: Settings, config: AdminConfig) -> None:
    """Every provider a scope names can be reached (its credentials are set): a ConfigError
    now rather than a failed reply in that channel later."""
    scopes = {"[defaults]": config.file.defaults, **{
        f"[{kind}.\"{name}\"]": scope
        for kind, table in (("workspaces", config.file.workspaces),
                            ("channels", config.file.channels), ("threads", config.file.threads))
        for name, scope in table.items()}}
    for where, scope in scopes.items():
        if scope.provider and scope.provider != settings.provider:
            problem = settings.model_copy(update={"provider": scope.provider}).llm_problem()
            if problem:
                raise ConfigError(f"{config.path} {where} provider = {scope.provider}: {problem}")


def _put(cache: OrderedDict[K, V], key: K, value: V) -> None:
    cache[key] = value
    cache.move_to_end(key)
    if len(cache) > REMEMBERED:
        cache.popitem(last=False)
