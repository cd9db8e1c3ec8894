"""Work that runs on one instance per database: the leader's.

Every instance serves webhooks; background work that must not run twice (the dialer today)
runs only on the instance holding the leader lock. Each instance has one elector: it tries
the lock every `retry_s`, starts every registered job once it holds it, and stops them all
(cancelled, then awaited) as soon as the lock's connection drops or the server stops. A job
that fails is logged and started again after a growing pause; leadership is kept meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from outage_voice.services.ports import Timer

logger = logging.getLogger(__name__)

LEADER_RETRY_S = 2.0  # a follower tries the lock this often: the longest a takeover waits
# The leader asks its lock's connection whether it still answers: one that went away unseen
# (a failover, a dropped route) holds no lock any more, while this instance would go on.
LEADER_CHECK_S = 5.0
JOB_RESTART_S = 2.0  # a failed job starts again after this, doubling each failure in a row
MAX_JOB_RESTART_S = 60.0
# A job that ran this long before failing starts again after JOB_RESTART_S: an outage hours
# later is not one more failure in a row.
JOB_HEALTHY_AFTER_S = 120.0


class LeaderLock(Protocol):
    """One lock per database, held while a connection of its own lives. That connection
    also carries the notifications the leader's jobs wake on."""

    async def acquire(self, on_lost: Callable[[], None]) -> bool:
        """Tries once; True when held. `on_lost` is called when the lock's connection drops."""
        ...

    async def check(self) -> bool:
        """Whether the lock is still held: its connection answers (a half-open connection
        drops no lock until the database notices, so it is asked)."""
        ...

    async def release(self) -> None: ...

    async def listen(self, channel: str, on_notify: Callable[[str], None]) -> None:
        """Notifications on `channel` go to `on_notify`, from now on, on every connection."""
        ...

    async def unlisten(self, channel: str) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class LeaderJob:
    """Runs until cancelled, on the leader only. `channel`: notifications that wake it."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]
    channel: str | None = None
    on_notify: Callable[[str], None] | None = None


class LeaderElector:
    def __init__(
        self,
        lock: LeaderLock,
        timer: Timer,
        *,
        retry_s: float = LEADER_RETRY_S,
        check_s: float = LEADER_CHECK_S,
        restart_s: float = JOB_RESTART_S,
        max_restart_s: float = MAX_JOB_RESTART_S,
    ) -> None:
        self._lock = lock
        self._timer = timer
        self._retry_s = retry_s
        self._check_s = check_s
        self._restart_s = restart_s
        self._max_restart_s = max_restart_s
        self._jobs: dict[str, LeaderJob] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._leads = False
        self._task: asyncio.Task[None] | None = None

    def leads(self) -> bool:
        return self._leads

    def running(self) -> frozenset[str]:
        """The jobs running now (a failed one waiting to start again included)."""
        return frozenset(name for name, task in self._running.items() if not task.done())

    async def add(self, job: LeaderJob) -> None:
        """Registers a job; started at once when this instance leads."""
        if job.name in self._jobs:
            raise ValueError(f"leader job {job.name!r} is registered already")
        self._jobs[job.name] = job
        if job.channel is not None and job.on_notify is not None:
            await self._lock.listen(job.channel, job.on_notify)
        if self._leads:
            self._start(job)

    async def remove(self, name: str) -> None:
        """Unregisters a job, stopping it first when it runs."""
        job = self._jobs.pop(name, None)
        if job is not None and job.channel is not None:
            await self._lock.unlisten(job.channel)
        await self._stop([name])

    def start(self) -> None:
        if self._task is None:
            self._task = self._timer.spawn(self._run())

    async def close(self) -> None:
        """Stops every job and lets the lock go: another instance may lead at once."""
        if self._task is not None:
            self._task.cancel()
            await self._timer.wait(asyncio.gather(self._task, return_exceptions=True))
            self._task = None
        await self._stop(list(self._running))
        self._leads = False
        await self._lock.release()

    async def _run(self) -> None:
        while True:
            lost = asyncio.Event()
            try:
                got = await self._lock.acquire(on_lost=lost.set)
            except Exception as exc:  # the database away: tried again like a held lock
                logger.warning("leader lock: %r; trying again in %.0f s", exc, self._retry_s)
                got = False
            if not got:
                await self._timer.sleep(self._retry_s)
                continue
            self._leads = True
            logger.info("this instance leads: starting %s", ", ".join(self._jobs) or "no jobs")
            try:
                for job in self._jobs.values():
                    self._start(job)
                await self._hold(lost)
            finally:
                self._leads = False
                await self._stop(list(self._running))
            logger.warning("leadership lost: leader-only work stopped")
            await self._lock.release()
            # Not at once: an instance that lost its connection is the one to leave the lock
            # to the others, which have been waiting longer.
            await self._timer.sleep(self._retry_s)

    async def _hold(self, lost: asyncio.Event) -> None:
        """Returns once the lock is lost: its connection dropped, or no longer answers."""
        while not lost.is_set():
            sleeper = asyncio.ensure_future(self._timer.sleep(self._check_s))
            dropped = asyncio.ensure_future(lost.wait())
            try:
                await self._timer.wait(
                    asyncio.wait({sleeper, dropped}, return_when=asyncio.FIRST_COMPLETED)
                )
            finally:
                sleeper.cancel()
                dropped.cancel()
            if lost.is_set():
                return
            try:
                if not await self._lock.check():
                    return
            except Exception as exc:
                logger.warning("leader lock: %r; letting it go", exc)
                return

    def _start(self, job: LeaderJob) -> None:
        if job.name not in self.running():
            self._running[job.name] = self._timer.spawn(self._supervise(job))

    async def _stop(self, names: list[str]) -> None:
        tasks = [task for name in names if (task := self._running.pop(name, None)) is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await self._timer.wait(asyncio.gather(*tasks, return_exceptions=True))

    async def _supervise(self, job: LeaderJob) -> None:
        pause_s = self._restart_s
        while True:
            started = self._timer.now()
            try:
                await job.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("leader job %s failed", job.name)
            else:
                logger.warning("leader job %s ended", job.name)
            if (self._timer.now() - started).total_seconds() >= JOB_HEALTHY_AFTER_S:
                pause_s = self._restart_s
            logger.info("leader job %s starts again in %.0f s", job.name, pause_s)
            await self._timer.sleep(pause_s)
            pause_s = min(pause_s * 2, self._max_restart_s)
