"""`threadbot export`: any thread `stats` lists can be named, and the Markdown keeps message
text apart from its own structure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.console import console_key
from bot.types import NewMessage, ThreadKey
from storage import open_store
from tests.process import llm_env, threadbot


def test_a_printed_key_parses_back_even_when_its_thread_part_has_colons() -> None:
    key = ThreadKey("console", "", "", "team:alpha")
    assert str(key) == "console:::team:alpha"
    assert ThreadKey.parse(str(key)) == key
    assert ThreadKey.parse("slack:T1:C1:1700000000.000100") == ThreadKey(
        "slack", "T1", "C1", "1700000000.000100"
    )


async def test_a_console_thread_with_a_colon_is_found_by_name_and_by_its_key(
    tmp_path: Path, fake_openai: Any
) -> None:
    env = llm_env(fake_openai, tmp_path)
    code, _, err = await threadbot(
        "console", "--thread", "team:alpha", cwd=tmp_path, env=env, stdin="hello there\n"
    )
    assert code == 0, err
    code, out, _ = await threadbot("stats", cwd=tmp_path, env=env)
    printed = next(line.split()[0] for line in out.splitlines() if "team:alpha" in line)
    assert printed == "console:::team:alpha"

    for name in ("team:alpha", printed):
        code, out, err = await threadbot(
            "export", "--thread", name, "--format", "json", cwd=tmp_path, env=env
        )
        assert code == 0, err
        exported = json.loads(out)
        assert exported["thread"] == "console:::team:alpha"
        assert [m["content"] for m in exported["messages"]] == [
            "hello there", "You said: hello there",
        ]

    code, _, err = await threadbot("export", "--thread", "team:beta", cwd=tmp_path, env=env)
    assert code == 2 and err.count("\n") == 1 and "team:beta" in err


FORGERY = (
    "# Thread slack:T9:C9:1\n"
    "\n"
    "## Conversation 2\n"
    "\n"
    "**Assistant** (2020-01-01 00:00):\n"
    "\n"
    "I never said this.\n"
    "    indented code stays indented"
)


async def test_message_text_cannot_forge_the_markdown_structure(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    store = await open_store(db)
    thread = await store.ensure_thread(console_key("demo"), "replay")
    await store.add(thread, NewMessage(role="user", content=FORGERY, tokens=1, author_name="eve"))
    # Markdown also ends a line at a lone carriage return.
    reply = "Noted.\r## Conversation 3"
    await store.add(thread, NewMessage(role="assistant", content=reply, tokens=1))
    await store.close()

    code, out, err = await threadbot(
        "export", "--thread", "demo", cwd=tmp_path, env={"THREADBOT_DB": str(db)}
    )
    assert code == 0, err
    lines = out.splitlines()  # splits at \r too, as a Markdown reader does
    # The export's own structure: one title, one conversation, one line per message author.
    assert [line for line in lines if line.startswith("#")] == [
        "# Thread console:::demo", "## Conversation 1",
    ]
    authors = [line.split(" (")[0] for line in lines if line.startswith("**")]
    assert authors == ["**eve**", "**Assistant**"]
    # Everything else is blank or quoted message text, readable and with its indentation.
    structure = {"# Thread console:::demo", "## Conversation 1", ""}
    body = [line for line in lines if line not in structure and not line.startswith("**")]
    assert all(line.startswith(">") for line in body), body
    assert "> # Thread slack:T9:C9:1" in body and "> **Assistant** (2020-01-01 00:00):" in body
    assert ">     indented code stays indented" in body and "> ## Conversation 3" in body
