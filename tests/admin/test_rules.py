"""The admin rules on their own (no I/O): configuration, effective settings per place,
access, quotas and prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.admin import quotas
from bot.admin.access import NOT_FOR_YOU, NOT_HERE, refusal
from bot.admin.config import AdminConfig, load_admin
from bot.admin.gate import Gate
from bot.admin.ledger import Charge, Limit, Metric, PlaceSetting, Spender, Spent, Subject, Verdict
from bot.admin.places import channel_place, resolve, thread_place
from bot.admin.prices import Prices
from bot.config import Settings
from bot.errors import ConfigError
from bot.types import Origin, ThreadKey, Usage

KEY = ThreadKey("slack", "T1", "C1", "100.1")
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]
MINI = Settings(_env_file=None, model="gpt-4o-mini")  # type: ignore[call-arg]
NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)


def config(tmp_path: Path, text: str, **env: str) -> AdminConfig:
    path = tmp_path / "threadbot.toml"
    path.write_text(text)
    return load_admin({"THREADBOT_CONFIG": str(path), **env})


def test_without_a_file_the_environment_sets_the_defaults(tmp_path: Path) -> None:
    admin = load_admin({"THREADBOT_DENIED_USERS": "U1, U2,", "THREADBOT_USER_DAILY_TOKENS": "500",
                        "THREADBOT_MONTHLY_SPEND_CAP": "$25"})
    place = resolve(SETTINGS, admin, KEY)
    assert place["denied_users"] == ["U1", "U2"]
    assert place["user_daily_tokens"] == 500
    assert place.sources["user_daily_tokens"] == "THREADBOT_USER_DAILY_TOKENS"
    assert admin.monthly_spend_cap == 25.0


@pytest.mark.parametrize(("env", "line"), [
    ({"THREADBOT_USER_DAILY_TOKENS": "lots"}, "Invalid setting THREADBOT_USER_DAILY_TOKENS"),
    ({"THREADBOT_MONTHLY_SPEND_CAP": "ten"}, "Invalid setting THREADBOT_MONTHLY_SPEND_CAP"),
    ({"THREADBOT_USER_MESSAGES_PER_MINUTE": "-3"}, "Invalid setting THREADBOT_USER_MESSAGES_PER_MINUTE"),
])
def test_a_bad_variable_is_one_line_naming_it(env: dict[str, str], line: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_admin(env)
    assert str(raised.value).startswith(line) and "\n" not in str(raised.value)


def test_each_mistake_in_the_file_is_one_line_saying_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        config(tmp_path, '[defaults]\nmodle = "x"\n[channels.C1]\ncontext_tokens = -1\n'
                         '[prices."m"]\ninput = 1\n')
    lines = str(raised.value).splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "defaults.modle: unknown key",
        "channels.C1.context_tokens: Input should be greater than 0",
        "prices.m.output: Field required",
    ]


def test_broken_toml_and_a_missing_named_file_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        config(tmp_path, "[defaults\n")
    with pytest.raises(ConfigError, match="cannot read THREADBOT_CONFIG"):
        load_admin({"THREADBOT_CONFIG": str(tmp_path / "nope.toml")})


def test_the_most_specific_scope_wins_and_says_where_it_came_from(tmp_path: Path) -> None:
    admin = config(tmp_path, """
[defaults]
model = "gpt-4.1-mini"
system_prompt = "default persona"
[workspaces.T1]
model = "gpt-4o"
max_output_tokens = 300
[channels.C1]
system_prompt = "support persona"
[threads."slack:T1:C1:100.1"]
model = "gpt-4.1"
""", THREADBOT_USER_DAILY_TOKENS="10")
    place = resolve(MINI, admin, KEY)
    assert (place.model, place["system_prompt"], place["max_output_tokens"]) == (
        "gpt-4.1", "support persona", 300)
    assert place.sources["model"].endswith('[threads."slack:T1:C1:100.1"]')
    assert place.sources["system_prompt"].endswith('[channels."C1"]')
    other = resolve(MINI, admin, ThreadKey("slack", "T2", "C9", "1"))
    assert (other.model, other["system_prompt"]) == ("gpt-4.1-mini", "default persona")
    assert other.sources["user_daily_tokens"] == "THREADBOT_USER_DAILY_TOKENS"


def test_chat_settings_beat_the_file_at_their_scope(tmp_path: Path) -> None:
    admin = config(tmp_path, '[channels.C1]\nmodel = "gpt-4o"\n')
    at = NOW
    rows = [PlaceSetting(channel_place("slack", "C1"), "model", "gpt-4.1", "U9", at)]
    assert resolve(SETTINGS, admin, KEY, chat=rows).model == "gpt-4.1"
    rows.append(PlaceSetting(thread_place(KEY), "model", "gpt-5", "U2", at))
    place = resolve(SETTINGS, admin, KEY, chat=rows)
    assert place.model == "gpt-5" and "by U2" in place.sources["model"]


def test_deny_and_admin_lists_add_up_across_scopes(tmp_path: Path) -> None:
    admin = config(tmp_path, '[defaults]\ndenied_users = ["U1"]\nadmins = ["A1"]\n'
                             '[channels.C1]\ndenied_users = ["U2"]\nallowed_users = ["U3"]\n')
    place = resolve(SETTINGS, admin, KEY)
    assert place["denied_users"] == ["U1", "U2"] and place["admins"] == ["A1"]


def test_a_provider_set_for_a_place_brings_its_own_default_model(tmp_path: Path) -> None:
    admin = config(tmp_path, '[channels.C1]\nprovider = "anthropic"\n')
    assert resolve(SETTINGS, admin, KEY).model.startswith("claude-")


ANYONE = Origin()


def access(admin: AdminConfig, user: str, origin: Origin = ANYONE, key: ThreadKey = KEY) -> str | None:
    return refusal(resolve(SETTINGS, admin, key, origin.channel), user, origin)


def test_open_by_default() -> None:
    assert access(load_admin({}), "U1") is None


def test_deny_and_allow_lists_by_user_role_channel_and_workspace(tmp_path: Path) -> None:
    admin = config(tmp_path, """
[defaults]
denied_users = ["U6"]
denied_roles = ["R6"]
allowed_users = ["U1", "U6"]
allowed_roles = ["R1"]
allowed_channels = ["C1", "T9C"]
admins = ["A1"]
""")
    assert access(admin, "U1") is None
    assert access(admin, "U2") == NOT_FOR_YOU
    assert access(admin, "U2", Origin(roles=("R1",))) is None
    assert access(admin, "U6") == NOT_FOR_YOU  # denied wins over allowed
    assert access(admin, "U1", Origin(roles=("R6",))) == NOT_FOR_YOU
    assert access(admin, "U1", key=ThreadKey("slack", "T1", "C2", "")) == NOT_HERE
    assert access(admin, "U1", Origin(direct=True), ThreadKey("slack", "T1", "D1", "")) == NOT_HERE
    assert access(admin, "A1", key=ThreadKey("slack", "T1", "C2", "")) is None  # admins may


def test_a_discord_thread_follows_its_parent_channel(tmp_path: Path) -> None:
    admin = config(tmp_path, '[defaults]\nallowed_channels = ["500"]\n')
    thread = ThreadKey("discord", "9", "777", "")
    assert access(admin, "1", Origin(channel="500"), thread) is None
    assert access(admin, "1", Origin(channel="501"), thread) == NOT_HERE


def test_dm_is_a_channel_name_for_allow_lists(tmp_path: Path) -> None:
    admin = config(tmp_path, '[defaults]\nallowed_channels = ["dm"]\n')
    assert access(admin, "U1", Origin(direct=True), ThreadKey("slack", "T1", "D1", "")) is None
    assert access(admin, "U1") == NOT_HERE


def test_discord_server_managers_are_admins_unless_turned_off(tmp_path: Path) -> None:
    closed = '[defaults]\nallowed_users = ["nobody"]\n'
    assert access(config(tmp_path, closed), "5", Origin(manager=True)) is None
    off = closed + "managers_are_admins = false\n"
    assert access(config(tmp_path, off), "5", Origin(manager=True)) == NOT_FOR_YOU


# --- quotas ---
SPENDER = Spender("slack", "T1", "C1", "U1")


def limits_for(
    tmp_path: Path, text: str, *, exempt: bool = False, cap: float | None = None
) -> list[Limit]:
    return quotas.limits(resolve(SETTINGS, config(tmp_path, text), KEY), exempt=exempt, cap=cap, now=NOW)


def test_limits_have_utc_calendar_windows(tmp_path: Path) -> None:
    found = limits_for(tmp_path, "[defaults]\nuser_daily_tokens = 100\nchannel_monthly_cost = 5\n"
                                 "user_messages_per_minute = 3\n", cap=50)
    by_name = {limit.name: limit for limit in found}
    daily = by_name["user_daily_tokens"]
    assert (daily.subject, daily.metric, daily.amount) == (Subject.USER, Metric.TOKENS, 100)
    assert daily.since == datetime(2026, 12, 2, tzinfo=UTC)
    assert daily.resets == datetime(2026, 12, 3, tzinfo=UTC)
    monthly = by_name["channel_monthly_cost"]
    assert (monthly.since, monthly.resets) == (datetime(2026, 12, 1, tzinfo=UTC),
                                               datetime(2027, 1, 1, tzinfo=UTC))
    assert by_name["user_messages_per_minute"].since == NOW - timedelta(minutes=1)
    assert by_name["monthly_spend_cap"].subject is Subject.ALL


def test_exempt_admins_skip_quotas_but_not_the_spend_cap(tmp_path: Path) -> None:
    found = limits_for(tmp_path, "[defaults]\nuser_daily_tokens = 100\n", exempt=True, cap=9)
    assert [limit.name for limit in found] == ["monthly_spend_cap"]


def decide(limit_text: str, tmp_path: Path, spent: list[Spent], tokens: int = 50) -> Verdict:
    found = limits_for(tmp_path, limit_text)
    charge = Charge(SPENDER, 1, "gpt-4.1-mini", tokens, 0.0)
    return quotas.rule(charge, found)(spent)


def test_the_admission_rule(tmp_path: Path) -> None:
    tokens = "[defaults]\nuser_daily_tokens = 100\n"
    assert decide(tokens, tmp_path, [Spent(0, 0)]).admitted
    assert decide(tokens, tmp_path, [Spent(40, 0)]).admitted  # 90 fits
    # over by this reply with nothing in flight: the one reply a limit may be passed by
    assert decide(tokens, tmp_path, [Spent(60, 0)]).admitted
    # over with calls in flight: wait for them rather than pass the limit together
    waiting = decide(tokens, tmp_path, [Spent(10, 50)])
    assert not waiting.admitted and waiting.wait
    reached = decide(tokens, tmp_path, [Spent(100, 0)])
    assert not reached.admitted and not reached.wait and reached.limit is not None
    rate = "[defaults]\nuser_messages_per_minute = 3\n"
    assert decide(rate, tmp_path, [Spent(2, 0)]).admitted
    assert not decide(rate, tmp_path, [Spent(2, 1)]).admitted


def test_the_message_says_which_limit_and_when_it_resets(tmp_path: Path) -> None:
    (daily,) = limits_for(tmp_path, "[defaults]\nuser_daily_tokens = 20000\n")
    text = quotas.message(daily, NOW)
    assert "daily token limit (20,000 tokens)" in text and "00:00 UTC tomorrow" in text
    (rate,) = limits_for(tmp_path, "[defaults]\nuser_messages_per_minute = 3\n")
    assert "3 messages a minute" in quotas.message(rate, NOW)
    (cap,) = quotas.limits(resolve(SETTINGS, load_admin({}), KEY), exempt=False, cap=5, now=NOW)
    assert "monthly spending cap" in quotas.message(cap, NOW) and "January 1" in quotas.message(cap, NOW)


def test_prices_turn_usage_into_dollars() -> None:
    prices = Prices.with_overrides({})
    cost = prices.cost("gpt-4.1-mini-2025-04-14", Usage(1_000_000, 1_000_000, cached_input_tokens=500_000))
    assert cost == pytest.approx(0.5 * 0.40 + 0.5 * 0.10 + 1.60)
    assert prices.cost("my-local-model", Usage(10, 10)) == 0.0
    assert "claude-sonnet-4-6" in prices.family("anthropic")
    assert "gpt-4.1" in prices.family("openai") and "claude-sonnet-4-6" not in prices.family("openai")


@pytest.mark.parametrize(("env", "line"), [
    ({}, "access: open to everyone who can reach the bot"),
    ({"THREADBOT_DENIED_USERS": "U1"}, "access: limited by denied_users"),
    ({"THREADBOT_ALLOWED_USERS": "U1", "THREADBOT_ALLOWED_CHANNELS": "C1"},
     "access: limited by allowed_users, allowed_channels"),
])
def test_the_startup_line_says_who_may_use_the_bot(env: dict[str, str], line: str) -> None:
    text = Gate(SETTINGS, load_admin(env), None).describe_access()  # type: ignore[arg-type]
    assert text.startswith(line)
