"""THREADBOT_STALL_WARN_MS: a callback that holds the event loop is reported with its length;
short waits are not; 0 watches nothing."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from bot.stalls import watching_stalls


async def test_a_blocked_loop_is_logged_with_how_long(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.stalls")
    async with watching_stalls(100):
        await asyncio.sleep(0.1)  # the ticker is running
        time.sleep(0.3)  # noqa: ASYNC251 - the blocking call a stall is made of
        await asyncio.sleep(0.1)
    [stall] = [r.getMessage() for r in caplog.records if "stalled" in r.getMessage()]
    assert 250 <= int(stall.split()[4]) < 1000 and "of it running" in stall
    assert "1 stall(s) over 100 ms" in caplog.text


async def test_waiting_is_not_a_stall_and_zero_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.stalls")
    async with watching_stalls(100):
        await asyncio.sleep(0.3)
    async with watching_stalls(0):
        time.sleep(0.2)  # noqa: ASYNC251 - a stall nobody watches
    assert "stalled" not in caplog.text
    assert "0 stall(s) over 100 ms" in caplog.text
