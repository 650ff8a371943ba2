"""The Discord adapter: discord.py gateway client → Engine.

``run_discord(settings, engine)`` connects and runs until cancelled. Conversations:
a thread (the one the bot opens from a mention, or one it was mentioned in), a DM channel, or
— with THREADBOT_DISCORD_THREADS=never, or when thread creation is not permitted — a reply
chain in a text channel keyed by its first message. The rules live in discord_events, the
streaming display in discord_sink; this module wires them to discord.py.

Endpoints: discord.py has no constructor option for its API or gateway URL; it reads the
class attributes ``discord.http.Route.BASE`` (on every request) and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (on every connect).
``discord_endpoints()`` sets them from DISCORD_API_URL / DISCORD_GATEWAY_URL (proxies,
tests) and puts the previous values back on exit, so one test's fake never leaks into
another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import aiohttp
import discord
import yarl
from discord import app_commands

from adapters import discord_events as ev
from adapters.discord_sink import DiscordSink, InteractionSink
from bot.config import Settings
from bot.engine import Engine
from bot.errors import ConfigError
from bot.types import Command, CommandName, ThreadKey, Turn

log = logging.getLogger(__name__)

PRIVILEGED_INTENT_HELP = (
    "Discord refused the Message Content intent: enable it at "
    "https://discord.com/developers/applications → your application → Bot → "
    "Privileged Gateway Intents → Message Content Intent, then restart threadbot."
)
BAD_TOKEN_HELP = (
    "Discord rejected DISCORD_BOT_TOKEN: copy a fresh token from "
    "https://discord.com/developers/applications → your application → Bot → Reset Token."
)
HELP_TEXT = (
    "**threadbot** answers when you mention it. In a server channel it opens a thread and "
    "every message there continues the conversation; in DMs just write.\n"
    "`/reset` forget this conversation · `/summarize` summarise it · "
    "`/stop` stop the reply being written · `/help` this message"
)
CHANNEL_RESET_TEXT = (
    "Conversations here live in threads (or reply chains): use /reset inside the thread. "
    "Mentioning me in a new message always starts a fresh conversation."
)
COMMANDS = {
    CommandName.RESET: "Forget this conversation and start over",
    CommandName.SUMMARIZE: "Summarise this conversation (or this channel's recent messages)",
    CommandName.STOP: "Stop the reply being written here",
    CommandName.HELP: "How to talk to threadbot",
}
PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, send_messages_in_threads=True,
    create_public_threads=True, read_message_history=True,
)
CONTEXT_MESSAGES = 20  # earlier messages read when first mentioned in an existing thread
CHAIN_HOPS = 25  # how far a reply chain is walked through the API after a restart


def intents() -> discord.Intents:
    result = discord.Intents.default()  # guilds, guild + DM messages; no members/presences
    result.message_content = True  # privileged: without it mentions arrive with empty text
    return result


@contextlib.contextmanager
def discord_endpoints(api_url: str, gateway_url: str) -> Iterator[None]:
    """Point discord.py at these URLs for the duration (see the module docstring)."""
    gateway = discord.gateway.DiscordWebSocket
    saved = discord.http.Route.BASE, gateway.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_url.rstrip("/")
    gateway.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, gateway.DEFAULT_GATEWAY = saved


def invite_url(application_id: int) -> str:
    """The OAuth2 URL that adds the bot to a server with the scopes and permissions it uses."""
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS,
                                   scopes=("bot", "applications.commands"))


async def fetch_application_id(settings: Settings) -> int:
    """The application id behind DISCORD_BOT_TOKEN (GET /oauth2/applications/@me)."""
    if settings.discord_bot_token is None:
        raise ConfigError("Set DISCORD_BOT_TOKEN to the bot token of your Discord application.")
    headers = {"Authorization": f"Bot {settings.discord_bot_token.get_secret_value()}"}
    url = settings.discord_api_url.rstrip("/") + "/oauth2/applications/@me"
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        if resp.status == 401:
            raise ConfigError(BAD_TOKEN_HELP)
        resp.raise_for_status()
        return int((await resp.json(content_type=None))["id"])


async def run_discord(settings: Settings, engine: Engine) -> None:
    """Connect to Discord and answer until cancelled. Raises ConfigError with one line for
    the admin when the token or the Message Content intent is refused."""
    if settings.discord_bot_token is None:
        raise ConfigError("Set DISCORD_BOT_TOKEN to run the Discord bot.")
    with discord_endpoints(settings.discord_api_url, settings.discord_gateway_url):
        client = ThreadbotClient(settings, engine)
        await serve(client, settings.discord_bot_token.get_secret_value())


async def serve(client: ThreadbotClient, token: str) -> None:
    """Run ``client`` until cancelled or closed, translating set-up failures to ConfigError."""
    try:
        async with client:
            await client.start(token)
    except discord.PrivilegedIntentsRequired:
        raise ConfigError(PRIVILEGED_INTENT_HELP) from None
    except discord.LoginFailure:
        raise ConfigError(BAD_TOKEN_HELP) from None


class ThreadbotClient(discord.Client):
    def __init__(self, settings: Settings, engine: Engine, *, edit_interval: float = 1.0,
                 guild_ready_timeout: float = 2.0, command_deadline: float = 2.0) -> None:
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none(),
                         guild_ready_timeout=guild_ready_timeout)
        self.settings = settings
        self.engine = engine
        self.edit_interval = edit_interval
        self.command_deadline = command_deadline  # defer a command not answered by then
        self.chains = ev.ReplyChains()
        self.ready_event = asyncio.Event()
        self.busy = 0  # messages being handled (tests wait for 0; shutdown could too)
        self._running: set[ThreadKey] = set()
        self._warned: set[int] = set()
        self.tree = app_commands.CommandTree(self)
        for name, description in COMMANDS.items():
            self.tree.add_command(app_commands.Command(
                name=name.value, description=description, callback=self._command_callback(name)))

    # --- lifecycle ---
    async def setup_hook(self) -> None:
        guild_id = self.settings.discord_guild_id
        try:
            if guild_id:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
            else:
                synced = await self.tree.sync()
        except discord.HTTPException as exc:
            log.warning("could not register slash commands (%s); re-invite the bot with "
                        "`threadbot discord-invite` (it needs applications.commands)", exc)
            return
        log.info("registered %d slash commands %s", len(synced),
                 f"in server {guild_id}" if guild_id else "globally (may take an hour to show)")

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%d servers)", self.user, len(self.guilds))
        self.ready_event.set()

    # --- messages ---
    async def on_message(self, message: discord.Message) -> None:
        self.busy += 1
        try:
            await self._on_message(message)
        finally:
            self.busy -= 1

    async def _on_message(self, message: discord.Message) -> None:
        assert self.user is not None
        bot_id = self.user.id
        channel: object = message.channel
        if isinstance(channel, discord.PartialMessageable) and message.guild is not None:
            channel = await self.fetch_channel(channel.id)  # not cached: learn if it's a thread
        msg = ev.incoming(message, bot_id, channel=channel)
        decision = ev.route(msg, bot_id=bot_id, threads=self.settings.discord_threads,
                            allow_bots=self.settings.discord_allow_bots)
        if decision is None:
            return
        target: discord.abc.Messageable = message.channel
        key, reply_to = decision.key, None
        if decision.action == "answer_if_following":
            if not await self.engine.follows(key):
                return
        elif decision.action == "answer" and msg.place == "thread":
            if msg.thread_owner_id != bot_id and not await self.engine.follows(key):
                await self._catch_up(message, key)
        elif decision.action == "open_thread":
            target, key, reply_to = await self._open_thread(message, msg)
        elif decision.action == "continue_chain":
            root = await self._chain_root(message)
            key = ThreadKey(key.platform, key.scope, key.channel, str(root))
            reply_to = message
        elif decision.reply_to is not None:
            reply_to = message
        await self._answer(ev.to_turn(msg, key), target, reply_to)

    async def _answer(self, turn: Turn, target: discord.abc.Messageable,
                      reply_to: discord.Message | None) -> None:
        on_post = None
        if turn.key.thread:  # a reply chain: remember which chain each message belongs to
            root = int(turn.key.thread)
            self.chains.add(int(turn.message_id), root)

            def on_post(posted: discord.Message) -> None:
                self.chains.add(posted.id, root)

        sink = DiscordSink(target, reply_to=reply_to, interval=self.edit_interval,
                           on_post=on_post)
        self._running.add(turn.key)
        try:
            await self.engine.handle(turn, sink)
        finally:
            self._running.discard(turn.key)
            await sink.close()

    async def _open_thread(
        self, message: discord.Message, msg: ev.Incoming
    ) -> tuple[discord.abc.Messageable, ThreadKey, discord.Message | None]:
        try:
            thread = await message.create_thread(name=ev.thread_name(msg.text, msg.author_name))
        except discord.HTTPException as exc:
            if exc.code == 160004:  # already started (a redelivered event): continue in it
                existing = message.guild.get_thread(message.id) if message.guild else None
                thread = existing or await self.fetch_channel(message.id)  # type: ignore[assignment]
            else:
                self._warn_once(message.channel, exc)
                fallback = ev.chain_route(msg)
                return message.channel, fallback.key, message
        key = ThreadKey(ev.PLATFORM, str(msg.guild_id or ""), str(thread.id), "")
        return thread, key, None

    def _warn_once(self, channel: object, exc: discord.HTTPException) -> None:
        channel_id = getattr(channel, "id", 0)
        if channel_id in self._warned:
            return
        self._warned.add(channel_id)
        log.warning("cannot create a thread in #%s (Discord error %s: %s); replying in the "
                    "channel instead. Give the bot 'Create Public Threads' and 'Send Messages "
                    "in Threads' there, or set THREADBOT_DISCORD_THREADS=never",
                    getattr(channel, "name", channel_id), exc.code, exc.text)

    async def _chain_root(self, message: discord.Message) -> int:
        """The first message of the reply chain ``message`` continues."""
        current: discord.Message = message
        for _ in range(CHAIN_HOPS):
            ref = current.reference
            if ref is None or ref.message_id is None:
                return current.id
            known = self.chains.root_of(ref.message_id)
            if known is not None:
                return known
            parent = ref.resolved if isinstance(ref.resolved, discord.Message) else None
            if parent is None:
                try:
                    parent = await message.channel.fetch_message(ref.message_id)
                except discord.HTTPException:
                    return current.id
            if current.author != self.user and parent.author != self.user:
                return current.id  # a person replying to a person: the chain starts here
            current = parent
        return current.id

    async def _catch_up(self, message: discord.Message, key: ThreadKey) -> None:
        """First mention in a thread the bot wasn't in: store its recent messages as context."""
        assert self.user is not None
        try:
            earlier = [m async for m in message.channel.history(limit=CONTEXT_MESSAGES,
                                                                 before=message)]
        except discord.HTTPException as exc:
            log.info("could not read earlier messages of thread %s: %s", key, exc)
            return
        turns = [ev.to_turn(ev.incoming(m, self.user.id), key, addressed=False)
                 for m in reversed(earlier) if m.type in (discord.MessageType.default,
                                                          discord.MessageType.reply)]
        await self.engine.remember(turns, bot_user_id=str(self.user.id))

    # --- app commands ---
    def _command_callback(self, name: CommandName):  # type: ignore[no-untyped-def]
        async def callback(interaction: discord.Interaction) -> None:
            await self._command(interaction, name)

        callback.__name__ = name.value
        return callback

    async def _command(self, interaction: discord.Interaction, name: CommandName) -> None:
        channel = interaction.channel
        place = ev.place_of(channel) if interaction.guild_id else "dm"
        channel_id = interaction.channel_id or 0
        scope = str(interaction.guild_id or "")
        if name is CommandName.HELP:
            await interaction.response.send_message(HELP_TEXT, ephemeral=True)
            return
        sink = InteractionSink(interaction, interval=self.edit_interval,
                               ephemeral=name is CommandName.RESET and place == "channel")
        try:
            if place != "channel":
                key = ThreadKey(ev.PLATFORM, scope, str(channel_id), "")
                await self._engine_command(Command(key=key, name=name,
                                                   author_id=str(interaction.user.id)), sink)
            elif name is CommandName.SUMMARIZE:
                await sink.defer()
                turns = await self._recent(channel)
                await self.engine.summarize_transcript(turns, sink)
            elif name is CommandName.STOP:
                await self._stop_channel(channel_id, interaction, sink)
            else:
                await sink.finish(CHANNEL_RESET_TEXT)
        finally:
            await sink.close()

    async def _engine_command(self, command: Command, sink: InteractionSink) -> None:
        if command.name is CommandName.SUMMARIZE:
            await sink.defer()  # the model is involved: acknowledge now, edit when done
        else:
            sink.guard(self.command_deadline)
        await self.engine.command(command, sink)

    async def _stop_channel(self, channel_id: int, interaction: discord.Interaction,
                            sink: InteractionSink) -> None:
        """/stop in a channel: stop the reply chains answering there."""
        keys = [k for k in self._running if k.channel == str(channel_id) and k.thread]
        for key in keys:
            await self.engine.command(Command(key=key, name=CommandName.STOP,
                                              author_id=str(interaction.user.id)), _Quiet())
        await sink.finish("Stopped." if keys else "Nothing to stop.")

    async def _recent(self, channel: object) -> list[Turn]:
        assert self.user is not None
        if not isinstance(channel, discord.abc.Messageable):
            return []
        messages = [m async for m in channel.history(limit=50)]
        key = ThreadKey(ev.PLATFORM, "", str(getattr(channel, "id", "")), "")
        return [ev.to_turn(ev.incoming(m, self.user.id), key) for m in reversed(messages)
                if m.type in (discord.MessageType.default, discord.MessageType.reply)]


class _Quiet:
    """A sink for engine answers nobody needs to see (per-chain stop confirmations)."""

    async def start(self) -> None: ...
    async def append(self, delta: str) -> None: ...
    async def finish(self, text: str) -> None: ...
    async def fail(self, message: str) -> None: ...
