"""Leader-only work on real PostgreSQL: electors on one database, one lock between them.

Time is a gated clock: a sleep waits until the test moves time past it, so a takeover's
bound is read off the clock, never waited for.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from aiohttp import web

from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db.leadership import LEADER_LOCK_KEY, PgLeaderLock
from outage_voice.bootstrap import create_app
from outage_voice.config import Settings
from outage_voice.services.dialer import Dialer
from outage_voice.services.leadership import LEADER_RETRY_S, LeaderElector, LeaderJob
from outage_voice.web.keys import DIALER, LEADER
from tests.support import T0

T = TypeVar("T")

RETRY_S = 2.0
CHECK_S = 30.0  # no check comes unless a test moves time this far


class GatedClock(ManualClock):
    """Time moves only when the test says so; each sleep waits until then."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        due = self.now() + timedelta(seconds=max(0.0, seconds))
        heapq.heappush(self._sleepers, (due, next(self._order), woken))
        try:
            await woken
        finally:
            woken.cancel()  # a cancelled sleeper is dropped when its time comes

    def sleeping_s(self) -> list[float]:
        """Seconds until each sleeper wakes, soonest first."""
        waiting = sorted((due, n) for due, n, woken in self._sleepers if not woken.done())
        return [(due - self.now()).total_seconds() for due, _ in waiting]

    def advance(self, delta: timedelta) -> None:
        super().advance(delta)
        while self._sleepers and self._sleepers[0][0] <= self.now():
            _, _, woken = heapq.heappop(self._sleepers)
            if not woken.done():
                woken.set_result(None)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self, awaitable: Any) -> Any:
        return await awaitable


class CountingLock(PgLeaderLock):
    def __init__(self, dsn: str) -> None:
        super().__init__(dsn)
        self.tries = 0

    async def acquire(self, on_lost: Callable[[], None]) -> bool:
        self.tries += 1
        return await super().acquire(on_lost)


class DeafLock(CountingLock):
    """Never hears its connection drop, as with a half-open connection: only asking it
    tells."""

    def _terminated(self, connection: object) -> None:
        return None


class Job:
    """Runs until cancelled; fails on its first `failures` runs."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.starts = 0
        self.stops = 0
        self.running = False

    async def run(self) -> None:
        self.starts += 1
        if self.starts <= self.failures:
            raise RuntimeError(f"run {self.starts} failed")
        self.running = True
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False
            self.stops += 1


async def until(check: Callable[[], object]) -> None:
    """Waits for what the electors' own tasks bring about (the test's timeout bounds it)."""
    while True:
        done = check()
        if inspect.isawaitable(done):
            done = await done
        if done:
            return
        await asyncio.sleep(0.01)


@pytest.fixture
async def database(database_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_dsn)
    try:
        yield connection
    finally:
        await connection.close()


async def lock_holder(database: asyncpg.Connection) -> int | None:
    """The backend holding the leader lock in this database, if any."""
    pid: int | None = await database.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        LEADER_LOCK_KEY,
    )
    return pid


def elector(lock: PgLeaderLock, clock: GatedClock, **kwargs: float) -> LeaderElector:
    return LeaderElector(lock, clock, retry_s=RETRY_S, check_s=CHECK_S, **kwargs)


async def test_one_of_two_electors_runs_the_jobs_and_the_other_takes_over_when_it_drops(
    database_dsn: str, database: asyncpg.Connection
) -> None:
    clock = GatedClock(T0)
    first_lock, second_lock = CountingLock(database_dsn), CountingLock(database_dsn)
    first, second = elector(first_lock, clock), elector(second_lock, clock)
    first_job, second_job = Job(), Job()
    await first.add(LeaderJob(name="work", run=first_job.run))
    await second.add(LeaderJob(name="work", run=second_job.run))
    try:
        async with asyncio.timeout(10):
            first.start()
            await until(lambda: first_job.running)
            second.start()
            await until(lambda: second_lock.tries == 1 and RETRY_S in clock.sleeping_s())
            assert (first.leads(), second.leads()) == (True, False)
            assert second_job.starts == 0
            assert second.running() == frozenset()

            clock.advance(timedelta(seconds=1))
            dropped_at = clock.now()
            leader = await lock_holder(database)
            assert leader is not None
            await database.execute("SELECT pg_terminate_backend($1)", leader)
            # Stopped as soon as the connection drops: no time has passed.
            await until(lambda: first_job.stops == 1)
            assert not first.leads()
            assert first.running() == frozenset()
            assert clock.now() == dropped_at

            # The other was waiting longer: its next try, within one retry period, wins.
            clock.advance(timedelta(seconds=1))
            await until(lambda: second_job.running)
            assert second.leads()
            assert (clock.now() - dropped_at).total_seconds() <= RETRY_S
            assert await lock_holder(database) not in (None, leader)

            # The one that dropped tries again and follows.
            clock.advance(timedelta(seconds=1))
            await until(lambda: first_lock.tries == 2 and RETRY_S in clock.sleeping_s())
            assert not first.leads()
            assert (first_job.starts, second_job.starts) == (1, 1)
            assert second_job.running
    finally:
        await first.close()
        await second.close()


async def test_a_failing_job_starts_again_after_growing_pauses_and_leadership_is_kept(
    database_dsn: str, database: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    clock = GatedClock(T0)
    leader = elector(CountingLock(database_dsn), clock, restart_s=1.0, max_restart_s=60.0)
    job = Job(failures=2)
    await leader.add(LeaderJob(name="work", run=job.run))
    caplog.set_level(logging.INFO, logger="outage_voice.services.leadership")
    try:
        async with asyncio.timeout(10):
            leader.start()
            await until(lambda: job.starts == 1 and 1.0 in clock.sleeping_s())
            holder = await lock_holder(database)
            assert holder is not None
            assert leader.leads()
            assert "work" in leader.running()  # waiting to start again
            assert "leader job work failed" in caplog.text
            assert "run 1 failed" in caplog.text  # with its traceback

            clock.advance(timedelta(seconds=1))
            await until(lambda: job.starts == 2 and 2.0 in clock.sleeping_s())
            clock.advance(timedelta(seconds=1))
            assert 1.0 in clock.sleeping_s()  # half the pause still to wait
            assert job.starts == 2
            clock.advance(timedelta(seconds=1))
            await until(lambda: job.running)
            assert job.starts == 3
            assert leader.leads()
            assert await lock_holder(database) == holder  # the lock never changed hands
    finally:
        await leader.close()
    assert job.stops == 1


async def test_closing_stops_the_jobs_and_lets_another_instance_lead_at_once(
    database_dsn: str, database: asyncpg.Connection
) -> None:
    clock = GatedClock(T0)
    leader = elector(CountingLock(database_dsn), clock)
    job = Job()
    await leader.add(LeaderJob(name="work", run=job.run))
    after_lock = CountingLock(database_dsn)
    after = elector(after_lock, clock)
    after_job = Job()
    await after.add(LeaderJob(name="work", run=after_job.run))
    try:
        async with asyncio.timeout(10):
            leader.start()
            await until(lambda: job.running)
            await leader.close()
            assert (job.running, job.stops) == (False, 1)
            assert not leader.leads()
            assert await lock_holder(database) is None
            after.start()
            await until(lambda: after_job.running)
            assert after_lock.tries == 1
    finally:
        await leader.close()
        await after.close()


async def test_a_job_added_while_leading_starts_at_once_and_hears_its_channel(
    database_dsn: str, database: asyncpg.Connection
) -> None:
    clock = GatedClock(T0)
    leader = elector(CountingLock(database_dsn), clock)
    first = Job()
    await leader.add(LeaderJob(name="first", run=first.run))
    heard: list[str] = []
    woken = Job()
    try:
        async with asyncio.timeout(10):
            leader.start()
            await until(lambda: first.running)
            await leader.add(
                LeaderJob(
                    name="woken", run=woken.run, channel="ov_test_wake", on_notify=heard.append
                )
            )
            await until(lambda: woken.running)
            await database.execute("SELECT pg_notify('ov_test_wake', 'attempt')")
            await until(lambda: heard == ["attempt"])
            await leader.remove("woken")
            assert (woken.running, woken.stops) == (False, 1)
            assert first.running
            assert leader.running() == frozenset({"first"})
    finally:
        await leader.close()


async def test_a_leader_that_never_hears_its_connection_drop_finds_out_when_it_checks(
    database_dsn: str, database: asyncpg.Connection
) -> None:
    clock = GatedClock(T0)
    leader = elector(DeafLock(database_dsn), clock)
    job = Job()
    await leader.add(LeaderJob(name="work", run=job.run))
    try:
        async with asyncio.timeout(10):
            leader.start()
            await until(lambda: job.running)
            holder = await lock_holder(database)
            await database.execute("SELECT pg_terminate_backend($1)", holder)

            async def let_go() -> bool:
                return await lock_holder(database) is None

            await until(let_go)
            assert job.running  # nothing told it yet
            clock.advance(timedelta(seconds=CHECK_S))
            await until(lambda: not job.running)
            assert not leader.leads()
    finally:
        await leader.close()


# Every job the leader runs: the dialer, the OMS's changes, the schedule of planned work and
# surveys, and the fetching of survey comments' audio.
LEADER_JOBS = frozenset({"dialer", "automation", "schedule", "survey_comments"})


async def test_of_two_servers_on_one_database_one_runs_the_dialer_and_hands_it_over_on_stop(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    woken: list[tuple[Dialer, str]] = []

    def wake(dialer: Dialer, what: str = "") -> None:
        woken.append((dialer, what))

    monkeypatch.setattr(Dialer, "wake", wake)
    clock = GatedClock(T0)
    runners = [
        web.AppRunner(
            create_app(
                dataclasses.replace(settings, home=tmp_path / name),
                clock=clock,
                timer=clock,
                run_dialer=True,
            )
        )
        for name in ("first", "second")
    ]
    first, second = (runner.app for runner in runners)
    stopped: list[web.AppRunner] = []
    try:
        async with asyncio.timeout(20):
            await runners[0].setup()
            await until(lambda: first[LEADER].running() == LEADER_JOBS)
            await runners[1].setup()
            # The second tried the lock and waits to try again.
            await until(lambda: LEADER_RETRY_S in clock.sleeping_s())
            assert not second[LEADER].leads()
            assert second[LEADER].running() == frozenset()

            await notify_dialer(settings, "campaign")
            await until(lambda: (first[DIALER], "campaign") in woken)

            await runners[0].cleanup()
            stopped.append(runners[0])
            assert first[LEADER].running() == frozenset()
            clock.advance(timedelta(seconds=LEADER_RETRY_S))
            await until(lambda: second[LEADER].running() == LEADER_JOBS)
    finally:
        for runner in runners:
            if runner not in stopped:
                await runner.cleanup()


async def notify_dialer(settings: Settings, payload: str) -> None:
    assert settings.database_url is not None
    connection = await asyncpg.connect(settings.database_url)
    try:
        # The channel the campaign queries notify (sql/queries/).
        await connection.execute("SELECT pg_notify('outage_voice_dialer', $1)", payload)
    finally:
        await connection.close()


async def test_listens_racing_the_health_check_on_the_lock_connection_all_hear_their_channel(
    database_dsn: str, database: asyncpg.Connection
) -> None:
    """Jobs added while the elector checks its lock share that one connection: each listen
    waits its turn rather than being refused ("another operation is in progress") and
    leaving its job deaf to its wake-ups."""
    lock = PgLeaderLock(database_dsn)
    heard: dict[str, list[str]] = {}
    channels = [f"ov_test_race_{n}" for n in range(8)]
    try:
        async with asyncio.timeout(10):
            assert await lock.acquire(lambda: None)
            await asyncio.gather(
                *(lock.check() for _ in range(8)),
                *(lock.listen(c, heard.setdefault(c, []).append) for c in channels),
                *(lock.check() for _ in range(8)),
            )
            assert await lock.check()
            for channel in channels:
                await database.execute("SELECT pg_notify($1, 'wake')", channel)
            await until(lambda: all(heard[c] == ["wake"] for c in channels))
    finally:
        await lock.release()
