"""The leader lock: a PostgreSQL advisory lock on a connection of its own.

The connection stays open while the instance follows too, so trying the lock is one query,
and the leader's jobs hear their notifications on it whoever leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

logger = logging.getLogger(__name__)

# The same key the dialer's lock always had: an instance of an older release and a newer
# one never lead at once.
LEADER_LOCK_KEY = 0x6F76_6469  # "ovdi"
CHECK_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 10.0


class PgLeaderLock:
    """Held while its connection lives: PostgreSQL drops a session's advisory lock with it."""

    def __init__(self, dsn: str, *, key: int = LEADER_LOCK_KEY) -> None:
        self._dsn = dsn
        self._key = key
        self._connection: asyncpg.Connection | None = None
        self._held = False
        self._on_lost: Callable[[], None] | None = None
        self._listeners: dict[str, Callable[[str], None]] = {}
        # One operation at a time on the connection: the health check, a job's listen and the
        # lock's own query race otherwise (asyncpg refuses a second: "another operation is in
        # progress"), and a refused listen leaves its job deaf to its wake-ups.
        self._busy = asyncio.Lock()

    async def acquire(self, on_lost: Callable[[], None]) -> bool:
        if self._held and self._alive():
            return True
        self._held = False
        try:
            async with self._busy:
                connection = await self._connect()
                got = bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", self._key))
        except BaseException:
            await self.release()
            raise
        if got:
            self._held = True
            self._on_lost = on_lost
        return got

    async def check(self) -> bool:
        if not (self._held and self._alive()):
            return False
        try:
            async with self._busy:
                assert self._connection is not None
                await self._connection.fetchval("SELECT 1", timeout=CHECK_TIMEOUT_S)
        except Exception as exc:
            # No answer: the database may drop the lock any moment, if it has not already.
            logger.warning("leader lock: its connection does not answer (%r)", exc)
            await self.release()
            return False
        return True

    async def release(self) -> None:
        self._held = False
        self._on_lost = None
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # aborted instead when it cannot close
                await connection.close(timeout=CHECK_TIMEOUT_S)

    async def listen(self, channel: str, on_notify: Callable[[str], None]) -> None:
        fresh = channel not in self._listeners
        self._listeners[channel] = on_notify
        if not fresh:
            return
        try:
            async with self._busy:
                if self._alive():
                    assert self._connection is not None
                    await self._connection.add_listener(channel, self._notified)
        except Exception as exc:  # a broken connection: the next one listens
            logger.warning("leader lock: cannot listen on %s (%r)", channel, exc)

    async def unlisten(self, channel: str) -> None:
        if self._listeners.pop(channel, None) is None:
            return
        with contextlib.suppress(Exception):
            async with self._busy:
                if self._alive():
                    assert self._connection is not None
                    await self._connection.remove_listener(channel, self._notified)

    def _alive(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        await self.release()
        connection = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_S)
        try:
            for channel in self._listeners:
                await connection.add_listener(channel, self._notified)
        except BaseException:
            connection.terminate()
            raise
        connection.add_termination_listener(self._terminated)
        self._connection = connection
        return connection

    def _notified(self, _connection: object, _pid: int, channel: str, payload: object) -> None:
        on_notify = self._listeners.get(channel)
        if on_notify is not None:
            on_notify(str(payload))

    def _terminated(self, connection: object) -> None:
        # Called soon after any close, ours included: only a drop of the lock's live
        # connection is a loss.
        if connection is self._connection and self._held:
            self._held = False
            on_lost, self._on_lost = self._on_lost, None
            logger.warning("leader lock: its connection dropped")
            if on_lost is not None:
                on_lost()
