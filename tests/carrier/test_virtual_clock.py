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


async def test_a_jump_skips_a_quiet_stretch_and_wakes_every_sleeper_due_in_it_once() -> None:
    clock = VirtualClock(T0)
    woke: list[tuple[str, datetime]] = []
    gate = asyncio.Event()

    async def poller(name: str, every_s: float) -> None:
        await clock.wait(gate.wait())
        for _ in range(2):
            await clock.sleep(every_s)
            woke.append((name, clock.now()))

    tasks = [clock.spawn(poller("often", 1)), clock.spawn(poller("rarely", 3600))]
    later = T0 + timedelta(days=3)
    clock.jump(later)
    clock.jump(T0)  # never backwards
    assert clock.now() == later
    gate.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=2)
    # Each sleeper woke after its own sleep from the new time: nothing ran for three days.
    assert woke == [
        ("often", later + timedelta(seconds=1)),
        ("often", later + timedelta(seconds=2)),
        ("rarely", later + timedelta(hours=1)),
        ("rarely", later + timedelta(hours=2)),
    ]


async def test_a_jump_fires_timers_due_in_between_at_the_new_time() -> None:
    clock = VirtualClock(T0)
    woke: list[datetime] = []
    started = asyncio.Event()

    async def sleeper() -> None:
        started.set()
        await clock.sleep(60)
        woke.append(clock.now())

    with clock.hold():
        task = clock.spawn(sleeper())
        await started.wait()
        await asyncio.sleep(0)
        clock.jump(T0 + timedelta(hours=5))
    await asyncio.wait_for(task, timeout=2)
    assert woke == [T0 + timedelta(hours=5)]
