"""The pieces every adapter shares: bounded caches, titles, help text, reply endings."""

from __future__ import annotations

import time

import pytest

from adapters.common.caches import BoundedCache, BoundedSet
from adapters.common.commands import Invocation, invocation
from adapters.common.endings import failed_text, final_text
from adapters.common.help import help_text
from adapters.common.titles import title_from
from bot.types import CommandName, Ending


def test_bounded_cache_forgets_the_least_recently_used_first() -> None:
    chains: BoundedCache[int, int] = BoundedCache(size=2)
    chains.put(1, 1)
    chains.put(2, 1)
    assert chains.get(1) == 1  # used: now the newest
    chains.put(3, 1)
    assert chains.get(2) is None and chains.get(1) == 1 and chains.get(3) == 1
    assert len(chains) == 2


def test_bounded_cache_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    names: BoundedCache[str, str] = BoundedCache(size=10, ttl=60)
    names.put("U1", "Alice")
    names.put("U2", "U2", ttl=5)  # a failed lookup: retried sooner
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now + 30)
    assert names.get("U1") == "Alice" and names.get("U2") is None
    monkeypatch.setattr(time, "monotonic", lambda: now + 61)
    assert "U1" not in names


def test_bounded_set_says_whether_a_key_is_new() -> None:
    seen: BoundedSet[tuple[str, str]] = BoundedSet(size=2)
    assert seen.add(("C1", "1")) and not seen.add(("C1", "1"))
    seen.add(("C1", "2"))
    seen.add(("C1", "3"))
    assert ("C1", "1") not in seen and seen.add(("C1", "1"))  # forgotten, so new again


def test_titles_are_the_first_line_without_markup_cut_at_a_word() -> None:
    assert title_from("\n  **Deploy** plan?\nmore", 60) == "Deploy plan?"
    long = title_from("word " * 40, 30)
    assert len(long) <= 30 and long.endswith("word…")
    assert title_from(" \n ", 30) == ""
    assert len(title_from("x" * 100, 30)) == 30  # no space to cut at: a hard cut


def test_help_lists_every_command_the_platforms_way() -> None:
    text = help_text("Intro.", lambda name: f"!{name}", also={CommandName.RESET: " (or X)"},
                     footer="Footer.")
    lines = text.splitlines()
    assert lines[0] == "Intro." and lines[-1] == "Footer."
    assert [line.split()[1] for line in lines[1:-1]] == [f"!{n}" for n in CommandName]
    assert lines[1].endswith("(or X)")


def test_help_shows_which_commands_take_an_argument() -> None:
    lines = help_text("Intro.", lambda name: f"/{name}").splitlines()
    model = next(line for line in lines if "/model" in line)
    config = next(line for line in lines if "/config" in line)
    usage = next(line for line in lines if "/usage" in line)
    assert model.startswith("• /model [name] — ") and "switch" in model
    assert config.startswith("• /config [key [value]] — ") and "admins" in config
    assert usage.startswith("• /usage — ")


def test_a_command_takes_an_argument_only_if_it_has_one() -> None:
    assert invocation("Model", "  gpt-4.1 ") == Invocation(CommandName.MODEL, "gpt-4.1")
    assert invocation("config", "persona Be brief.") == Invocation(CommandName.CONFIG,
                                                                  "persona Be brief.")
    assert invocation("usage") == Invocation(CommandName.USAGE)
    assert invocation("reset", "everything") is None  # "!reset everything" is a message
    assert invocation("deploy") is None


def test_reply_endings_read_the_same_everywhere() -> None:
    assert final_text("Half a story", Ending.STOPPED) == "Half a story\n\n_(stopped)_"
    assert final_text("", Ending.STOPPED) == "_(stopped)_"
    assert final_text("", Ending.ANSWERED) == "(no reply)"
    assert failed_text("Half", "Try again.") == "Half\n\n_Try again._"
    assert failed_text("", "Try again.") == "_Try again._"
