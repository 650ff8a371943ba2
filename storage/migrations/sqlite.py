"""Ordered, named schema migrations, recorded in the database they were applied to.

A later release appends to MIGRATIONS; opening an older file applies only what it lacks, in
order, each in its own transaction (the simonw/llm approach). Never edit an applied entry.
"""

from __future__ import annotations

import aiosqlite

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_threads_and_messages",
        """
        CREATE TABLE threads (
            id               INTEGER PRIMARY KEY,
            platform         TEXT NOT NULL,
            scope            TEXT NOT NULL DEFAULT '',
            channel          TEXT NOT NULL DEFAULT '',
            thread           TEXT NOT NULL DEFAULT '',
            strategy         TEXT NOT NULL CHECK (strategy IN ('replay', 'chain')),
            epoch            INTEGER NOT NULL DEFAULT 0,
            last_response_id TEXT,
            model            TEXT,
            created_at       TEXT NOT NULL,
            updated_at       TEXT NOT NULL,
            UNIQUE (platform, scope, channel, thread)
        );
        CREATE TABLE messages (
            id              INTEGER PRIMARY KEY,
            thread_id       INTEGER NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
            epoch           INTEGER NOT NULL,
            role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'summary')),
            author_id       TEXT NOT NULL DEFAULT '',
            author_name     TEXT NOT NULL DEFAULT '',
            content         TEXT NOT NULL,
            tokens          INTEGER NOT NULL,
            -- tokens of this and every earlier context message of the same thread and epoch:
            -- "newest messages within N tokens" becomes one index range scan.
            running_tokens  INTEGER NOT NULL,
            platform_msg_id TEXT,
            response_id     TEXT,
            model           TEXT,
            input_tokens    INTEGER,
            output_tokens   INTEGER,
            stopped         INTEGER NOT NULL DEFAULT 0,
            created_at      TEXT NOT NULL,
            UNIQUE (thread_id, platform_msg_id)
        );
        CREATE INDEX messages_budget ON messages (thread_id, epoch, running_tokens);
        CREATE INDEX messages_response ON messages (thread_id, response_id)
            WHERE response_id IS NOT NULL;
        """,
    ),
    (
        "002_pending_replies_and_handled_events",
        """
        -- 1: a user message that wants an answer and has none yet; 0: none wanted or given;
        -- 2: it waited longer than THREADBOT_RESUME_MAX_AGE when the bot restarted (left).
        ALTER TABLE messages ADD COLUMN awaits_answer INTEGER NOT NULL DEFAULT 0;
        -- how an assistant reply ended (answered, stopped, failed, interrupted); NULL while it
        -- is being written, so a reply row with no ending after a crash was cut short.
        ALTER TABLE messages ADD COLUMN ending TEXT;
        -- the platform messages showing a reply being written (JSON list), to tidy them up
        -- after a crash
        ALTER TABLE messages ADD COLUMN refs TEXT NOT NULL DEFAULT '[]';
        UPDATE messages SET ending = CASE WHEN stopped = 1 THEN 'stopped' ELSE 'answered' END
            WHERE role = 'assistant' AND content != '';
        -- reserved rows a crash left behind before this migration: nothing to resume from
        DELETE FROM messages WHERE role = 'assistant' AND content = '';
        CREATE INDEX messages_pending ON messages (thread_id, id) WHERE awaits_answer = 1;
        CREATE INDEX messages_open_replies ON messages (id)
            WHERE role = 'assistant' AND ending IS NULL;
        -- commands and hints answered, by platform message id: a redelivery is not answered
        -- again, also after a restart
        -- (keyed by the conversation's key, not its row: a command in a place the bot has
        -- no conversation must not start one)
        CREATE TABLE handled (
            platform   TEXT NOT NULL,
            scope      TEXT NOT NULL,
            channel    TEXT NOT NULL,
            thread     TEXT NOT NULL,
            event_id   TEXT NOT NULL,
            kind       TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (platform, scope, channel, thread, event_id)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "003_thread_leases",
        """
        -- which process answers a thread right now (several processes on one store): the
        -- holder renews it while replying; an expired lease may be taken by another
        CREATE TABLE leases (
            thread_id      INTEGER PRIMARY KEY REFERENCES threads(id) ON DELETE CASCADE,
            holder         TEXT NOT NULL,
            expires_at     REAL NOT NULL,  -- unix seconds
            -- /stop typed where another process holds the lease: it stops between chunks
            stop_requested INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX leases_stops ON leases (holder) WHERE stop_requested = 1;
        """,
    ),
    (
        "004_cached_input_tokens",
        """
        -- of a reply's input_tokens, those the provider served from its prompt cache; NULL
        -- where unknown (replies stored before this migration, rows with no usage)
        ALTER TABLE messages ADD COLUMN cached_input_tokens INTEGER;
        """,
    ),
    (
        "005_charges_and_place_settings",
        """
        -- one row per model call: what it cost, or while it runs (open) the upper bound it
        -- reserved; quotas add these up by subject since a window's start
        CREATE TABLE charges (
            id                  INTEGER PRIMARY KEY,
            -- when the call started, UTC, ISO 8601 with microseconds always written out:
            -- the text compares (and its first 10 characters group by day) as the time does
            at                  TEXT NOT NULL,
            platform            TEXT NOT NULL,
            scope               TEXT NOT NULL,
            channel             TEXT NOT NULL,
            user_id             TEXT NOT NULL,
            thread_id           INTEGER,  -- threads.id; no foreign key: spending outlives it
            model               TEXT NOT NULL,
            input_tokens        INTEGER NOT NULL DEFAULT 0,
            cached_input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens       INTEGER NOT NULL DEFAULT 0,
            tokens              INTEGER NOT NULL,  -- input + output (open: the reserved bound)
            cost                REAL NOT NULL,  -- US dollars
            open                INTEGER NOT NULL,  -- 1: the call is in flight
            estimated           INTEGER NOT NULL DEFAULT 0  -- 1: no usage from the provider
        );
        CREATE INDEX charges_user ON charges (platform, user_id, at);
        CREATE INDEX charges_channel ON charges (platform, channel, at);
        CREATE INDEX charges_workspace ON charges (platform, scope, at);
        CREATE INDEX charges_at ON charges (at);

        -- settings changed from chat, per place ("channel:<platform>:<id>", "thread:<key>")
        CREATE TABLE place_settings (
            place  TEXT NOT NULL,
            name   TEXT NOT NULL,
            value  TEXT NOT NULL,
            set_by TEXT NOT NULL,
            set_at TEXT NOT NULL,
            PRIMARY KEY (place, name)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "006_place_settings_by_name",
        """
        -- which places have a given setting (Store.places_with, read every few seconds)
        CREATE INDEX place_settings_by_name ON place_settings (name, place);
        """,
    ),
    (
        "007_reasoning_tokens",
        """
        -- of a reply's output_tokens, those a reasoning model spent thinking; NULL where
        -- unknown (replies stored before this migration, rows with no usage)
        ALTER TABLE messages ADD COLUMN reasoning_tokens INTEGER;
        """,
    ),
    (
        "008_compaction",
        """
        -- a rolling summary (role 'summary'): the epoch's running token total through the
        -- last message it covers, and how many messages that is (NULL: not a rolling summary)
        ALTER TABLE messages ADD COLUMN covers_tokens INTEGER;
        ALTER TABLE messages ADD COLUMN covers_messages INTEGER;
        CREATE INDEX messages_rolling_summary ON messages (thread_id, epoch, id)
            WHERE covers_tokens IS NOT NULL;
        """,
    ),
    (
        "009_attachments",
        """
        -- images shared with a message, by reference: JSON [{name, media_type, sha256,
        -- file_id}] (bot/images.py); NULL for none. Their text is in content.
        ALTER TABLE messages ADD COLUMN images TEXT;
        """,
    ),
    (
        "010_charge_reasoning",
        """
        -- of a call's output_tokens, those a reasoning model spent thinking (0: none, or the
        -- provider did not say; calls recorded before this migration)
        ALTER TABLE charges ADD COLUMN reasoning_tokens INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        "011_retention",
        """
        -- retention (THREADBOT_RETENTION_DAYS, `threadbot purge --older-than`): the old
        -- messages are one index range, not a scan of every message inside the purge's
        -- write transaction
        CREATE INDEX messages_created ON messages (created_at);
        """,
    ),
]


async def migrate(db: aiosqlite.Connection) -> list[str]:
    """Apply the migrations this database lacks; returns their names.

    Several processes may open one file at once (replicas, shards): each migration runs in
    a ``BEGIN IMMEDIATE`` transaction — the write lock first — and checks again inside it
    whether another process applied it meanwhile."""
    await db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    applied = []
    for name, sql in MIGRATIONS:
        if name in await _done(db):
            continue
        # executescript would COMMIT first and run each statement on its own; an explicit
        # transaction keeps a migration all-or-nothing.
        await db.execute("BEGIN IMMEDIATE")
        try:
            if name not in await _done(db):
                for statement in _statements(sql):
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?, datetime('now'))", (name,)
                )
                applied.append(name)
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
    return applied


async def _done(db: aiosqlite.Connection) -> set[str]:
    async with db.execute("SELECT name FROM _migrations") as cursor:
        return {row[0] for row in await cursor.fetchall()}


def _statements(sql: str) -> list[str]:
    """Split a migration on ';' at line ends (migrations contain no string literals with ';')."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";")]
