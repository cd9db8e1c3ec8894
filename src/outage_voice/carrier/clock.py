"""Time for the simulator: real, or virtual and auto-advancing.

The virtual clock jumps straight to the next timer whenever every task it tracks is waiting
on it, so a 40-second ring or a 15-second gather timeout costs no real time, while real I/O
(webhooks over loopback HTTP) still takes the time it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from outage_voice.adapters.clock import SystemClock

T = TypeVar("T")


class SimClock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]: ...

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await something that is not the clock (a slot, a queue) without stalling time."""
        ...


# Real time for the simulator is the application's real clock: one implementation.
RealClock = SystemClock


class VirtualClock:
    """Simulated time. Tracked tasks (started with `spawn`) are "busy" unless they are in
    `sleep` or `wait`; when none is busy, time jumps to the earliest timer."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._timers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()
        self._busy = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._driver: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return self._now

    def _set_busy(self, delta: int) -> None:
        self._busy += delta
        self._changed.set()

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        due = self._now + timedelta(seconds=max(0.0, seconds))
        heapq.heappush(self._timers, (due, next(self._sequence), future))
        # The driver may be waiting for a timer to exist: a sleeper that is not tracked (a
        # helper task) would otherwise add one unseen and time would never move again.
        self._changed.set()
        await self.wait(future)

    async def wait(self, awaitable: Awaitable[T]) -> T:
        tracked = asyncio.current_task() in self._tasks
        if tracked:
            self._set_busy(-1)
        try:
            return await awaitable
        finally:
            if tracked:
                self._set_busy(+1)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        loop = asyncio.get_running_loop()
        self._set_busy(+1)
        task = loop.create_task(coroutine)
        self._tasks.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self._set_busy(-1)

        task.add_done_callback(finished)
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        return task

    async def _drive(self) -> None:
        while self._tasks or self._timers:
            if self._busy > 0 or not self._timers:
                self._changed.clear()
                await self._changed.wait()
                continue
            # Let anything that just became runnable run before deciding nobody is busy.
            for _ in range(3):
                await asyncio.sleep(0)
            if self._busy > 0 or not self._timers:
                continue
            due, _, future = heapq.heappop(self._timers)
            if due > self._now:
                self._now = due
            if not future.done():
                future.set_result(None)

    def jump(self, to: datetime) -> None:
        """Moves time forward to `to` at once, as if every process on this clock had been
        suspended meanwhile: timers due in between fire at `to`, in order. Simulating days
        (planned work) runs only the minutes that matter: an idle server still polls every
        second or so, hours of which cost real seconds."""
        if to.utcoffset() is None:
            raise ValueError("jump needs a timezone-aware time")
        if to > self._now:
            self._now = to
        self._changed.set()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Keep time still while something outside the tracked tasks (a test, a dialer under
        test) acts, e.g. places a burst of calls that must all be queued at one instant."""
        self._set_busy(+1)
        try:
            yield
        finally:
            self._set_busy(-1)

    async def settle(self) -> None:
        """Wait until every tracked task has finished (time advancing as needed)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
