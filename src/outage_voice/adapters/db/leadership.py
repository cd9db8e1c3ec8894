"""The dialer's leadership: a PostgreSQL advisory lock on a connection of its own."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import asyncpg

from outage_voice.adapters.db.campaigns import DIALER_CHANNEL


class PgLeadership:
    """An advisory lock on a connection of its own: held while that connection lives."""

    LOCK_KEY = 0x6F76_6469  # "ovdi"

    def __init__(self, dsn: str, on_notify: Callable[[str], None]) -> None:
        self._dsn = dsn
        self._on_notify = on_notify
        self._connection: asyncpg.Connection | None = None

    async def acquire(self) -> bool:
        if self.held():
            return True
        await self.release()
        connection = await asyncpg.connect(self._dsn)
        try:
            got = await connection.fetchval("SELECT pg_try_advisory_lock($1)", self.LOCK_KEY)
            if not got:
                await connection.close()
                return False
            await connection.add_listener(
                DIALER_CHANNEL, lambda _conn, _pid, _channel, payload: self._on_notify(payload)
            )
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        return True

    def held(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    async def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None
