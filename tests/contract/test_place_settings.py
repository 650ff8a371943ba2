"""Settings changed from chat (``Store.place_settings``, ``set_place_setting``), as every
backend keeps them: set, replaced, cleared, per place, and still there after a restart."""

from __future__ import annotations

from datetime import timedelta

from bot.admin.ledger import PlaceSetting
from bot.ports import Store
from bot.types import utcnow
from tests.contract.conftest import Backend

CHANNEL = "channel:slack:C1"
THREAD = "thread:slack:T1:C1:1700000000.000100"
OTHER = "channel:discord:C9"


def said(settings: list[PlaceSetting]) -> list[tuple[str, str, str, str]]:
    return [(s.place, s.name, s.value, s.set_by) for s in settings]


async def test_a_setting_is_set_replaced_and_cleared(store: Store) -> None:
    assert await store.place_settings([CHANNEL]) == []
    before = utcnow()
    await store.set_place_setting(CHANNEL, "model", "gpt-a", "U1")
    [setting] = await store.place_settings([CHANNEL])
    assert said([setting]) == [(CHANNEL, "model", "gpt-a", "U1")]
    assert before - timedelta(seconds=5) <= setting.set_at <= utcnow() + timedelta(seconds=5)

    await store.set_place_setting(CHANNEL, "model", "gpt-b", "U2")
    [replaced] = await store.place_settings([CHANNEL])
    assert said([replaced]) == [(CHANNEL, "model", "gpt-b", "U2")]
    assert replaced.set_at >= setting.set_at

    await store.set_place_setting(CHANNEL, "model", None, "U2")
    assert await store.place_settings([CHANNEL]) == []
    await store.set_place_setting(CHANNEL, "model", None, "U2")  # clearing twice is fine


async def test_each_place_keeps_its_own_settings(store: Store) -> None:
    await store.set_place_setting(CHANNEL, "model", "gpt-a", "U1")
    await store.set_place_setting(CHANNEL, "history", "replay", "U1")
    await store.set_place_setting(THREAD, "model", "gpt-b", "U2")
    await store.set_place_setting(OTHER, "model", "claude", "U9")

    # in the order the places are asked for, then by name
    assert said(await store.place_settings([THREAD, CHANNEL, "channel:slack:nowhere"])) == [
        (THREAD, "model", "gpt-b", "U2"),
        (CHANNEL, "history", "replay", "U1"),
        (CHANNEL, "model", "gpt-a", "U1"),
    ]
    assert said(await store.place_settings([OTHER])) == [(OTHER, "model", "claude", "U9")]
    assert await store.place_settings([]) == []
    await store.set_place_setting(CHANNEL, "model", None, "U1")
    assert said(await store.place_settings([THREAD, CHANNEL])) == [
        (THREAD, "model", "gpt-b", "U2"), (CHANNEL, "history", "replay", "U1"),
    ]


async def test_settings_survive_a_restart(backend: Backend) -> None:
    first = await backend.open()
    try:
        await first.set_place_setting(CHANNEL, "model", "gpt-a", "U1")
        await first.set_place_setting(THREAD, "model", "gpt-b", "U2")
        await first.set_place_setting(THREAD, "model", None, "U2")
    finally:
        await first.close()
    again = await backend.open()
    try:
        assert said(await again.place_settings([THREAD, CHANNEL])) == [
            (CHANNEL, "model", "gpt-a", "U1"),
        ]
    finally:
        await again.close()


async def test_places_with_names_the_places_that_have_one_of_the_settings(store: Store) -> None:
    assert await store.places_with(["model"]) == set()
    await store.set_place_setting(CHANNEL, "model", "gpt-a", "U1")
    await store.set_place_setting(THREAD, "channel", "C1", "")
    await store.set_place_setting(OTHER, "system_prompt", "Be brief.", "U1")
    assert await store.places_with(["model", "system_prompt"]) == {CHANNEL, OTHER}
    assert await store.places_with(["channel"]) == {THREAD}
    await store.set_place_setting(CHANNEL, "model", None, "U1")
    assert await store.places_with(["model", "system_prompt"]) == {OTHER}
