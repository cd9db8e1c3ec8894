from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from outage_voice.carrier.clock import VirtualClock

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def test_time_moves_for_a_sleep_in_a_helper_task() -> None:
    """The dialer waits on helper tasks that sleep (a pause that a wake-up may end early):
    such a helper is not tracked, and its timer must still be seen, or time stands still."""
    clock = VirtualClock(T0)

    async def pause() -> None:
        helper = asyncio.ensure_future(clock.sleep(5))
        await clock.wait(helper)

    await asyncio.wait_for(clock.spawn(pause()), timeout=2)
    assert clock.now() == T0 + timedelta(seconds=5)


async def test_tracked_work_holds_time_until_it_waits() -> None:
    clock = VirtualClock(T0)
    seen: list[datetime] = []

    async def sleeper() -> None:
        await clock.sleep(10)
        seen.append(clock.now())

    async def worker() -> None:
        for _ in range(20):
            await asyncio.sleep(0)  # busy: no time may pass meanwhile
        seen.append(clock.now())

    await asyncio.wait_for(asyncio.gather(clock.spawn(sleeper()), clock.spawn(worker())), 2)
    assert seen == [T0, T0 + timedelta(seconds=10)]
