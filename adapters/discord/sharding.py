"""Which part of Discord this process serves (THREADBOT_DISCORD_SHARDS / _SHARD_IDS).

A bot in many servers splits its gateway traffic into shards: Discord sends a server's
events only to shard ``(guild_id >> 22) % shards``, and DMs only to shard 0. Several
processes can share the shards (and one database), each running some of them through
discord.py's ``AutoShardedClient``. What one process does for all of them happens only in
the process that runs shard 0 (registering slash commands); what concerns one conversation
(answering what a dead process left waiting) only in the process that gets its events.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.discord.settings import DiscordSettings


def shard_of(guild_id: int | None, shards: int) -> int:
    """The shard Discord sends ``guild_id``'s events to; None (a DM) → shard 0."""
    return (guild_id >> 22) % shards if guild_id else 0


@dataclass(frozen=True, slots=True)
class Sharding:
    count: int
    ids: tuple[int, ...]  # the shards this process runs

    @classmethod
    def of(cls, settings: DiscordSettings) -> Sharding | None:
        """The process's shards; None without THREADBOT_DISCORD_SHARDS (one plain
        connection that gets every event)."""
        if settings.shards is None:
            return None
        return cls(settings.shards, settings.shard_ids or tuple(range(settings.shards)))

    @property
    def registers_commands(self) -> bool:
        return 0 in self.ids

    def runs(self, guild_id: int | None) -> bool:
        """Whether this process gets the events of ``guild_id`` (None: DMs)."""
        return shard_of(guild_id, self.count) in self.ids

    def __str__(self) -> str:
        return f"shard{'s' * (len(self.ids) > 1)} {', '.join(map(str, self.ids))} of {self.count}"
