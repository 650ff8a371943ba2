"""Slack: slack-bolt's AsyncApp wired to the engine, served by Socket Mode or over HTTP.

    await run_slack(engine, settings)        # until cancelled (threadbot run)
    bot = SlackBot(settings, engine)         # tests: bot.web_app() / bot.socket_handler()

Listeners return at once (commands and shortcuts ack() first thing): the work itself runs
in tracked tasks, so every request is answered well within Slack's 3 s, and shutdown (and
tests) can wait for the work.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.common.commands import Invocation
from adapters.common.ops_http import add_ops_routes, listen
from adapters.common.tasks import Tracker
from adapters.slack.events import Identity, shortcut_target, slash_target
from adapters.slack.files import SlackImages
from adapters.slack.handlers import SlackHandlers
from adapters.slack.metered import CountFailures
from adapters.slack.recovery import SlackResumer
from adapters.slack.settings import SlackSettings
from adapters.slack.shape import problem
from adapters.slack.sink import SlackCaps
from adapters.slack.startup import check_bot_token, require_transport, socket_url
from bot.config import FileSettings, secret
from bot.engine import Engine
from bot.errors import ConfigError
from bot.types import CommandName

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
SOCKET_PING_S = 10.0  # slack_sdk's default ping interval (stale after 4 without a pong)
SLACK_CONNECTIONS = 100  # Web API connections kept open at most (aiohttp's default limit)
SHORTCUTS = {"threadbot_reset": CommandName.RESET, "threadbot_summarize": CommandName.SUMMARIZE}
RESET_HINT = (
    "Slack doesn't allow slash commands in threads. To reset a thread's conversation, type "
    "`!reset` in the thread (or mention me with `reset`), or use the *Reset conversation* "
    "shortcut on any message of the thread (⋮ → More message shortcuts)."
)


_BOLT_LOG = logging.getLogger("threadbot.slack.bolt")
# Bolt reads SLACK_BOT_TOKEN from the environment itself and warns that our client wins.
_BOLT_LOG.addFilter(lambda record: "token` will be unused" not in record.getMessage())


def make_client(token: str, api_url: str | None,
                session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """The Web API client: 429s retried after Retry-After, connection errors retried.
    ``session``: the keep-alive session its calls share (``web_session``)."""
    # slack_sdk builds a redacted copy of every request for its debug log whenever its
    # logger's own level is unset (it checks ``logger.level``, not the effective level):
    # ~0.1 ms per call. Pin the level the logging set-up gave it.
    sdk_log = logging.getLogger("slack_sdk.web.async_client")
    sdk_log.setLevel(sdk_log.getEffectiveLevel())
    kwargs: dict[str, Any] = {}
    if api_url:
        kwargs["base_url"] = api_url if api_url.endswith("/") else api_url + "/"
    return AsyncWebClient(
        token=token,
        session=session,
        logger=sdk_log,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
        **kwargs,
    )


def web_session() -> aiohttp.ClientSession:
    """One keep-alive HTTP session for every Web API call (create it in the running loop).
    Without it slack_sdk opens a new connection per call — against Slack a TLS handshake
    each, 39 % of the CPU at 10,000 replies in flight. The timeout is slack_sdk's own
    per-call default (30 s); at most ``SLACK_CONNECTIONS`` connections at once, the rest
    of the calls wait for one."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30),
        connector=aiohttp.TCPConnector(limit=SLACK_CONNECTIONS),
    )


class SlackBot:
    """The bolt app plus our handlers; one per process (or per test), created inside the
    running event loop (its HTTP session belongs to it); ``aclose`` closes it."""

    def __init__(self, settings: SlackSettings, engine: Engine, *, caps: SlackCaps | None = None,
                 files: FileSettings | None = None):
        token = secret(settings.bot_token)
        if not token:
            raise ConfigError("Slack needs SLACK_BOT_TOKEN (the xoxb- token from OAuth & Permissions).")
        self.settings = settings
        self.caps = caps or SlackCaps()
        self.session = web_session()
        self.client = make_client(token, settings.api_url, self.session)
        self.client.retry_handlers.insert(0, CountFailures(engine.metrics))
        self.signing_secret = secret(settings.signing_secret)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=self.signing_secret,  # "" never validates: no secret, no HTTP
            name="threadbot",
            logger=_BOLT_LOG,
            # Listeners only hand the work to tracked tasks and return, so bolt may run them
            # before it answers: the ack is still immediate, and once Slack has its ack the
            # work is already tracked (clean shutdown; tests wait on it without races).
            process_before_response=True,
        )
        self.app.error(_on_error)
        self.handlers = SlackHandlers(settings, engine, self.client, self.caps,
                                      files or FileSettings.load())
        self.commands = self.handlers.commands
        # an image's bytes once they are gone from memory: fetched again from Slack
        engine.images.fetch_from("slack", SlackImages(self.client, self.handlers.files,
                                                      self.handlers.files.settings))
        self.tasks = Tracker("Slack")
        self._register()

    # --- listeners (bolt injects arguments by name) ---
    def _register(self) -> None:
        app = self.app
        app.event("app_mention")(self._on_message)
        app.event("message")(self._on_message)
        app.event("assistant_thread_started")(self._on_thread_started)
        app.event("assistant_thread_context_changed")(self._on_ignored)
        app.command(self.settings.reset_command)(self._on_reset)
        app.command(self.settings.summarize_command)(self._on_summarize)
        app.command(self.settings.usage_command)(self._on_usage)
        app.command(self.settings.model_command)(self._on_model)
        app.command(self.settings.forget_command)(self._on_forget)
        for callback_id in SHORTCUTS:
            app.shortcut(callback_id)(self._on_shortcut)

    async def _on_message(
        self, body: dict[str, Any], event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        ident = _identity(body, context)
        incoming = self.handlers.accept(event, ident)
        if incoming is None:
            return
        # Stored before bolt acknowledges (process_before_response); answered after it. If
        # storing fails, the error reaches bolt, Slack gets no ack and delivers it again.
        later = await self.handlers.take(incoming, ident)
        if later is not None:
            self.spawn(later())

    async def _on_thread_started(self, event: dict[str, Any]) -> None:
        self.spawn(self.handlers.assistant_thread_started(event))

    async def _on_ignored(self) -> None:
        pass

    async def _on_reset(self, ack: Any, command: dict[str, Any]) -> None:
        target = slash_target(command)
        if target is None:  # malformed: nothing to act on
            await ack()
            return
        if not target.direct:
            await ack(text=RESET_HINT)
            return
        await ack()
        self.spawn(self.commands.command(Invocation(CommandName.RESET), target))

    async def _on_summarize(
        self,
        ack: Any,
        command: dict[str, Any],
        body: dict[str, Any],
        context: AsyncBoltContext,
        respond: Any,
    ) -> None:
        target = slash_target(command)
        if target is None:  # malformed: nothing to act on
            await ack()
            return
        if target.direct:
            await ack()
            self.spawn(self.commands.command(Invocation(CommandName.SUMMARIZE), target))
            return
        await ack(text="" if self.commands.refuses(target) else "Catching up on this channel for you…")
        self.spawn(self.commands.channel_summary(target, _identity(body, context), respond))

    async def _on_usage(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        """/usage: answered to the caller alone, in a DM too."""
        await self._slash(ack, command, respond, CommandName.USAGE, private_in_dm=True)

    async def _on_model(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        """/model [name]: in a DM it acts on the DM conversation and answers there; in a
        channel on the channel's conversation (as /reset would), answered to the caller."""
        await self._slash(ack, command, respond, CommandName.MODEL, private_in_dm=False)

    async def _on_forget(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        """/forget [all]: in a DM deletes from the DM's conversation; the confirmation goes
        to the caller alone (in a channel: how to forget in a thread)."""
        await self._slash(ack, command, respond, CommandName.FORGET, private_in_dm=True)

    async def _slash(self, ack: Any, command: dict[str, Any], respond: Any, name: CommandName,
                     *, private_in_dm: bool) -> None:
        await ack()
        target = slash_target(command)
        if target is not None:  # None: malformed, nothing to act on
            private = private_in_dm or not target.direct
            self.spawn(self.commands.slash(name, target, respond, private=private))

    async def _on_shortcut(
        self, ack: Any, shortcut: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        name, target = SHORTCUTS[shortcut.get("callback_id", "")], shortcut_target(shortcut)
        if target is not None:  # None: malformed, nothing to act on
            self.spawn(self.commands.shortcut(name, target, _identity(body, context)))

    async def resume(self) -> None:
        """Tidy up and answer what a previous process left (call once connected)."""
        await self.handlers.engine.resume("slack", SlackResumer(self.handlers))

    # --- task tracking ---
    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.spawn(work)

    async def drain(self, within: float = 10.0) -> None:
        """Wait for all work started so far (and any it starts) to finish."""
        await self.tasks.drain(within)

    async def aclose(self) -> None:
        await self.tasks.aclose()
        await self.handlers.files.aclose()
        await self.session.close()

    # --- transports ---
    def web_app(self) -> web.Application:
        """HTTP mode: POST /slack/events (events, commands, shortcuts), GET /healthz and
        GET /metrics (``adapters/common/ops_http.py``)."""
        if not self.signing_secret:
            raise ConfigError("HTTP mode needs SLACK_SIGNING_SECRET (Basic Information → App Credentials).")
        web_app = web.Application()  # bodies over 1 MiB get aiohttp's 413
        verifier = SignatureVerifier(self.signing_secret)
        link = self.handlers.engine.health.link("slack", "http")
        link.up()  # its server answers as long as this app is served

        async def events(request: web.Request) -> web.Response:
            link.event()
            bolt_request = await self._bolt_request(request, verifier)
            if isinstance(bolt_request, web.Response):
                return bolt_request
            return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

        web_app.router.add_post(EVENTS_PATH, events)
        add_ops_routes(web_app, self.handlers.engine)
        return web_app

    async def _bolt_request(
        self, request: web.Request, verifier: SignatureVerifier
    ) -> AsyncBoltRequest | web.Response:
        """The request for bolt, or the answer to a request bolt must not see: 401 unless
        signed by Slack (a timestamp that is not a number included), 400 when the body is not
        UTF-8, not a JSON object (or a form whose ``payload`` is one), or has fields of the
        wrong type. Bolt would answer those with an exception and a 500, which Slack retries."""
        raw = await request.read()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _refused(400, "its body is not UTF-8")
        stamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        try:
            signed = verifier.is_valid(body=body, timestamp=stamp, signature=signature)
        except ValueError:  # a timestamp that is not a number
            signed = False
        if not signed:
            return web.Response(status=401)
        try:
            bolt_request = AsyncBoltRequest(
                body=body, query=request.query_string, headers=dict(request.headers)
            )
        except Exception as exc:  # bolt parses and reads the body here: any shape may raise
            return _refused(400, f"bolt cannot read it ({type(exc).__name__})")
        reason = problem(bolt_request.body)
        return _refused(400, reason) if reason else bolt_request

    def socket_handler(self) -> AsyncSocketModeHandler:
        """Socket Mode (needs SLACK_APP_TOKEN, an xapp- token with connections:write)."""
        app_token = secret(self.settings.app_token)
        if not app_token:
            raise ConfigError("Socket Mode needs SLACK_APP_TOKEN (an xapp- app-level token).")
        # slack_sdk's own watchdog: it pings every ping_interval and reconnects a connection
        # whose pongs stopped for 4 intervals (THREADBOT_WATCHDOG_S in all)
        health = self.handlers.engine.health
        ping_interval = min(SOCKET_PING_S, health.watchdog_s / 4)
        handler = AsyncSocketModeHandler(self.app, app_token, web_client=self.client,
                                         ping_interval=ping_interval)
        link = health.link("slack", "socket")

        async def received(*_: Any) -> None:
            link.event()

        handler.client.message_listeners.append(received)
        return handler

    async def watch_socket(self, handler: AsyncSocketModeHandler) -> None:
        """Keep /healthz's view of the Socket Mode connection current (the SDK reconnects;
        this only reports), until cancelled."""
        link = self.handlers.engine.health.link("slack", "socket")
        client = handler.client
        while True:
            if await client.is_connected():
                link.up()
            else:
                link.down("Socket Mode is not connected; reconnecting")
            await asyncio.sleep(client.ping_interval)


def _refused(status: int, reason: str) -> web.Response:
    log.warning("refused a Slack request (HTTP %s): %s", status, reason)
    return web.Response(status=status, text=reason)


async def _on_error(error: Exception) -> BoltResponse:
    """Bolt's last resort for an exception in a middleware or listener: answered 400, not
    bolt's 500 (which Slack retries three times), and logged in full — it means a malformed
    request got past ``_bolt_request`` or a bug."""
    log.error("a Slack request failed (answered 400)", exc_info=error)
    return BoltResponse(status=400, body="")


def _identity(body: dict[str, Any], context: AsyncBoltContext) -> Identity:
    return Identity(
        team_id=body.get("team_id") or context.team_id or "",
        user_id=context.bot_user_id or "",
        bot_id=context.bot_id or "",
    )


async def run_slack(engine: Engine, settings: SlackSettings) -> None:
    """Serve Slack until cancelled: Socket Mode when SLACK_APP_TOKEN is set, else HTTP.
    Missing or refused credentials end here, before serving, in one ConfigError line."""
    require_transport(settings)
    # /healthz: Slack "not connected yet" (not absent) while the checks below wait on Slack
    engine.health.link("slack", "socket" if settings.app_token is not None else "http")
    bot = SlackBot(settings, engine)
    try:
        await check_bot_token(bot.client)
        # The app token is checked before the handler exists (closing one logs) and before
        # anything else is logged: a refusal must be the only line on stderr.
        app_token = secret(settings.app_token)
        url = await socket_url(bot.client, app_token) if app_token else None
        # The SDKs loaded just now (bolt, slack_sdk, aiohttp) live as long as the process, like
        # what start-up loaded (bot/cli.py): frozen too, so the collector's full passes under
        # load stop walking them (each pass took 100-450 ms with them at 10,000 in flight).
        gc.collect()
        gc.freeze()
        # What a previous process left is tidied up before new events come in, so a new
        # message in the same thread cannot start a reply first.
        await bot.resume()
        if settings.app_token is not None:
            await _serve_socket_mode(bot, url)
        else:
            await _serve_http(bot, settings)
    finally:
        await bot.aclose()


async def _serve_socket_mode(bot: SlackBot, url: str | None) -> None:
    handler = bot.socket_handler()
    if url is not None:
        handler.client.wss_uri = url  # the handler connects there instead of asking again
    try:
        await handler.connect_async()
        log.info("Slack: connected in Socket Mode")
        await bot.watch_socket(handler)
    finally:
        bot.handlers.engine.health.link("slack", "socket").down("Socket Mode stopped")
        await handler.close_async()


async def _serve_http(bot: SlackBot, settings: SlackSettings) -> None:
    runner = web.AppRunner(bot.web_app(), access_log=None)
    await runner.setup()
    try:
        await listen(runner, settings.http_host, settings.http_port, "THREADBOT_HTTP_PORT")
        log.info("Slack: HTTP mode on %s:%s%s", settings.http_host, settings.http_port, EVENTS_PATH)
        await asyncio.Event().wait()
    finally:
        bot.handlers.engine.health.link("slack", "http").down("HTTP mode stopped")
        await runner.cleanup()
