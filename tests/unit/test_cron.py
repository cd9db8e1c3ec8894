"""When the schedule ticks: a cron expression on the utility's local clock, on the injected
timer (virtual time) or on real time through aiocron."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from outage_voice.adapters.cron import BadCron, CronTicker, TimerTicker, check_cron
from outage_voice.carrier.clock import VirtualClock


def test_fire_times_keep_the_local_clock_across_the_fall_back() -> None:
    clock = VirtualClock(datetime(2026, 10, 30, 12, tzinfo=UTC))
    ticker = TimerTicker("0 9 * * *", clock, timezone="America/Chicago")
    saturday = ticker.following(datetime(2026, 10, 30, 15, tzinfo=UTC))
    sunday = ticker.following(saturday)
    # 09:00 in Chicago: 14:00 UTC before the change (CDT), 15:00 UTC after it (CST).
    assert saturday == datetime(2026, 10, 31, 14, tzinfo=UTC)
    assert sunday == datetime(2026, 11, 1, 15, tzinfo=UTC)


async def test_the_timer_ticker_sleeps_on_virtual_time_to_each_minute() -> None:
    clock = VirtualClock(datetime(2026, 11, 30, 15, 0, 30, tzinfo=UTC))
    ticker = TimerTicker("* * * * *", clock, timezone="America/Chicago")
    fired: list[datetime] = []

    async def three() -> None:
        for _ in range(3):
            await ticker.next()
            fired.append(clock.now())

    async with asyncio.timeout(5):
        await clock.spawn(three())
    start = datetime(2026, 11, 30, 15, 1, tzinfo=UTC)
    assert fired == [start + timedelta(minutes=n) for n in range(3)]


async def test_a_fire_time_passed_during_a_tick_is_not_fired_twice() -> None:
    clock = VirtualClock(datetime(2026, 11, 30, 15, 0, tzinfo=UTC))
    ticker = TimerTicker("* * * * *", clock, timezone="UTC")
    fired: list[datetime] = []

    async def slow_ticks() -> None:
        for _ in range(2):
            await ticker.next()
            fired.append(clock.now())
            await clock.sleep(150)  # a tick that took two and a half minutes

    async with asyncio.timeout(5):
        await clock.spawn(slow_ticks())
    assert fired == [
        datetime(2026, 11, 30, 15, 1, tzinfo=UTC),
        datetime(2026, 11, 30, 15, 4, tzinfo=UTC),
    ]


async def test_the_cron_ticker_waits_on_real_time_and_leaves_nothing_behind_when_cancelled() -> (
    None
):
    ticker = CronTicker("* * * * *", timezone="America/Chicago")
    waiting = asyncio.ensure_future(ticker.next())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the next minute is up to 60 s away
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


def test_bad_expressions_are_refused() -> None:
    assert check_cron("*/5 * * * *") == "*/5 * * * *"
    with pytest.raises(BadCron):
        check_cron("every minute")
