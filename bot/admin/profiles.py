"""The history strategies and provider client for each combination of per-place settings.

Places that share provider, model, prompt, strategy and budgets share one ``Histories``;
each provider has one SDK client for the process (credentials are global). Built on first
use, so a place whose settings nobody uses costs nothing, and a reload that brings new
settings builds what they need on the next reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.admin.places import Place
from bot.config import Settings
from bot.history import Histories, make_histories
from bot.ports import Provider, Store
from bot.replying import Replier, Timeouts
from bot.slots import Slots

PROFILE_KEYS = ("provider", "model", "system_prompt", "history", "context_tokens",
                "max_output_tokens")
ProviderFactory = Callable[[Settings], Provider]


@dataclass(frozen=True, slots=True)
class Profile:
    histories: Histories
    replier: Replier  # one per provider client


class Profiles:
    def __init__(self, settings: Settings, store: Store, make_provider: ProviderFactory,
                 timeouts: Timeouts, provider: Provider | None = None,
                 slots: Slots | None = None) -> None:
        self._settings = settings
        self._store = store
        self._make_provider = make_provider
        self._timeouts = timeouts
        # one cap on replies generated at once for the whole process, whichever the provider
        self._slots = slots or Slots(settings.max_replies)
        self._providers: dict[str, Provider] = {}
        self._repliers: dict[str, Replier] = {}
        if provider is not None:  # injected (benchmarks): it serves every place
            self._providers[settings.provider] = provider
            self._repliers[settings.provider] = Replier(store, provider, timeouts, self._slots)
        self._fixed = provider is not None
        self._profiles: dict[tuple[object, ...], Profile] = {}
        self.default = self.of_settings(settings)

    def of(self, place: Place) -> Profile:
        update = {name: place[name] for name in PROFILE_KEYS}
        key = tuple(update.values())
        profile = self._profiles.get(key)
        if profile is None:
            profile = self.of_settings(self._settings.model_copy(update=update))
        return profile

    def of_settings(self, settings: Settings) -> Profile:
        key = tuple(getattr(settings, "model_name" if n == "model" else n) for n in PROFILE_KEYS)
        if key not in self._profiles:
            name = next(iter(self._providers)) if self._fixed else settings.provider
            if name not in self._providers:
                self._providers[name] = self._make_provider(settings)
                self._repliers[name] = Replier(
                    self._store, self._providers[name], self._timeouts, self._slots)
            histories = make_histories(settings, self._store, self._providers[name])
            self._profiles[key] = Profile(histories, self._repliers[name])
        return self._profiles[key]

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()
