"""The admin commands in `threadbot console` (a real process, through a pipe): /model lists
and switches the thread's model, /usage reports, /config is for admins; a denied user is
told once. Admin settings come from the environment, as `threadbot run` reads them."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

from tests.process import llm_env, threadbot

ME = f"console:{getpass.getuser()}"


async def console(tmp_path: Path, fake_openai: Any, lines: str, **env: str) -> list[str]:
    code, out, err = await threadbot("console", "--thread", "t", cwd=tmp_path,
                                     env={**llm_env(fake_openai, tmp_path), **env}, stdin=lines)
    assert code == 0, err
    return out.splitlines()


async def test_model_lists_and_switches_the_threads_model(tmp_path: Path, fake_openai: Any) -> None:
    out = await console(tmp_path, fake_openai, "hi\n/model\n/model  gpt-4.1\nagain\n",
                        THREADBOT_MODEL="gpt-4o-mini", THREADBOT_MODELS="gpt-4o-mini,gpt-4.1")
    assert out[1] == ("bot> This conversation uses gpt-4o-mini. Models you can switch it to: "
                      "gpt-4o-mini, gpt-4.1.")
    assert out[2] == "bot> Switched this conversation to gpt-4.1."
    assert [r.json["model"] for r in fake_openai.requests] == ["gpt-4o-mini", "gpt-4.1"]


async def test_usage_and_config(tmp_path: Path, fake_openai: Any) -> None:
    out = "\n".join(await console(tmp_path, fake_openai, "hi\n/usage\n/config\n"))
    assert "Your usage" in out and "1 reply" in out
    assert "Only an admin" in out
    out = "\n".join(await console(tmp_path, fake_openai, "/config\n", THREADBOT_ADMINS=ME))
    assert "Settings here" in out


async def test_a_denied_user_is_told_once_and_the_model_never_asked(
    tmp_path: Path, fake_openai: Any
) -> None:
    out = await console(tmp_path, fake_openai, "hi\nhello?\n/model gpt-4.1\n",
                        THREADBOT_DENIED_USERS=ME)
    refusal = "bot> Sorry, I'm not available to you here."
    assert len(out) == 2 and all(line.startswith(refusal) for line in out)  # a command: each time
    assert fake_openai.requests == []


async def test_the_usage_footer_follows_a_streamed_reply(tmp_path: Path, fake_openai: Any) -> None:
    out = await console(tmp_path, fake_openai, "hi\n", THREADBOT_USAGE_FOOTER="true")
    assert out[0] == "bot> You said: hi"
    assert out[-1].startswith("_") and " tokens · est. $" in out[-1]


async def test_forget_deletes_your_messages_and_forget_all_the_conversation(
    tmp_path: Path, fake_openai: Any
) -> None:
    out = await console(tmp_path, fake_openai, "my PIN is 4321\n/forget\n/forget all\nhi\n")
    assert out[1].startswith("bot> Deleted 1 message of yours from this conversation.")
    assert out[2].startswith("bot> Only an admin of this bot can delete a whole conversation")
    assert [m["content"] for m in fake_openai.requests[-1].json["messages"]
            if m["role"] == "user"] == ["hi"]
    out = await console(tmp_path, fake_openai, "/forget all\n", THREADBOT_ADMINS=ME)
    assert out[0] == ("bot> Deleted this conversation (3 messages). I've forgotten everything "
                      "said here.")
