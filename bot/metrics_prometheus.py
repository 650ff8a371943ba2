"""``Metrics`` recorded with prometheus-client, in a registry of their own per engine.

Not the library's global registry: a process serves one engine, but the tests run many side
by side, and each must read its own counts. The names and labels are the public contract
(dashboards and alerts depend on them): listed in docs/operations.md.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from bot.types import Ending, Usage

# Seconds a user waits: from a tenth of a second to the provider timeout's order.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0)
# A store call: sub-millisecond on SQLite, milliseconds on a server.
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


class PrometheusMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self._turns = Counter("threadbot_turns", "Messages addressed to the bot, stored to be "
                              "answered.", ["platform"], registry=registry)
        self._commands = Counter("threadbot_commands", "Commands handled.", ["command"],
                                 registry=registry)
        self._replies = Counter("threadbot_replies", "Replies by how they ended (error_kind: "
                                "why a failed one failed).", ["outcome", "error_kind"],
                                registry=registry)
        self._first_text = Histogram(
            "threadbot_reply_first_text_seconds", "From a reply's start to its first text shown.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self._final_text = Histogram(
            "threadbot_reply_final_text_seconds", "From a reply's start to its final text shown.",
            buckets=LATENCY_BUCKETS, registry=registry)
        self._provider = Histogram(
            "threadbot_provider_seconds", "One model call, to its completion or failure.",
            ["provider", "model"], buckets=LATENCY_BUCKETS, registry=registry)
        self._tokens = Counter("threadbot_tokens", "Tokens the provider reported (kind: input, "
                               "output, cached — part of input —, reasoning — part of output).",
                               ["model", "kind"], registry=registry)
        self._errors = Counter("threadbot_platform_errors", "Failed platform API calls.",
                               ["platform", "method"], registry=registry)
        self._limited = Counter("threadbot_platform_rate_limited", "Platform API calls answered "
                                "429.", ["platform", "method"], registry=registry)
        self._store = Histogram("threadbot_store_seconds", "One store operation.", ["operation"],
                                buckets=STORE_BUCKETS, registry=registry)
        self._in_flight = Gauge("threadbot_replies_in_flight", "Replies being written.",
                                registry=registry)
        # a store call is the hot path (a dozen per turn): its children looked up once
        self._store_children: dict[str, Histogram] = {}
        self._pending = Gauge("threadbot_pending_messages", "Messages stored and waiting for a "
                              "reply that has not started yet.", registry=registry)

    def turn(self, platform: str) -> None:
        self._turns.labels(platform).inc()

    def command(self, name: str) -> None:
        self._commands.labels(name).inc()

    def reply(self, ending: Ending, error_kind: str, first_text_s: float | None,
              final_text_s: float | None) -> None:
        self._replies.labels(ending.value, error_kind).inc()
        if first_text_s is not None:
            self._first_text.observe(first_text_s)
        if final_text_s is not None:
            self._final_text.observe(final_text_s)

    def provider_call(self, provider: str, model: str, seconds: float, usage: Usage | None) -> None:
        self._provider.labels(provider, model).observe(seconds)
        if usage is not None:
            for kind, count in (("input", usage.input_tokens), ("output", usage.output_tokens),
                                ("cached", usage.cached_input_tokens),
                                ("reasoning", usage.reasoning_tokens)):
                self._tokens.labels(model, kind).inc(count)

    def platform_error(self, platform: str, method: str, *, rate_limited: bool = False) -> None:
        (self._limited if rate_limited else self._errors).labels(platform, method).inc()

    def store_call(self, operation: str, seconds: float) -> None:
        child = self._store_children.get(operation)
        if child is None:
            child = self._store_children[operation] = self._store.labels(operation)
        child.observe(seconds)

    def watch(self, in_flight: Callable[[], int], pending: Callable[[], int]) -> None:
        self._in_flight.set_function(in_flight)
        self._pending.set_function(pending)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
