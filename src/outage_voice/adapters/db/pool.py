"""Connection pools and the database the settings point at."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

from outage_voice.adapters.db.embedded import start_embedded
from outage_voice.config import Settings
from outage_voice.services.instruments import PoolUse

POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 20
COMMAND_TIMEOUT_S = 30.0
# asyncpg.create_pool's own defaults.
POOL_MAX_QUERIES = 50000
POOL_MAX_INACTIVE_S = 300.0

# What pool.acquire() hands out; both forward the whole Connection API.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )


async def release_cheaply(connection: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset on release, which sends RESET ALL, UNLISTEN, CLOSE ALL and an
    advisory unlock every time: a second round trip for every one-query webhook. Pool users
    change no session state (SET LOCAL only; LISTEN and session advisory locks live on
    dedicated connections), so only a transaction left open needs undoing."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


@asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """DATABASE_URL when set; otherwise the embedded server, released when the block ends."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    server = await asyncio.to_thread(start_embedded, settings.pgdata)
    try:
        yield server.uri
    finally:
        await asyncio.to_thread(server.stop)


if TYPE_CHECKING:
    _Pool = asyncpg.Pool[asyncpg.Record]
    _AcquireContext = PoolAcquireContext[asyncpg.Record]
else:  # not generic at run time
    _Pool = asyncpg.Pool
    _AcquireContext = PoolAcquireContext


class MeteredPool(_Pool):
    """asyncpg's pool, counting the acquires that had to wait for a connection (every
    connection lent or already asked for) and how long they waited. Every way of using the
    pool (`acquire()`, `fetch()`, `execute()` ...) goes through `acquire` and `release`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lent = 0
        self._asking = 0
        self.waiting = 0  # acquires waiting now
        self.waits = 0  # acquires that waited, since the pool opened
        self.wait_s = 0.0  # and the seconds they waited, all together

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext[asyncpg.Record]:
        return _MeteredAcquire(self, timeout)

    async def release(
        self,
        connection: PoolConnectionProxy[asyncpg.Record],
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (asyncpg's own signature)
    ) -> None:
        try:
            await super().release(connection, timeout=timeout)
        finally:
            self._lent = max(0, self._lent - 1)

    def _begin(self) -> tuple[float, bool]:
        full = self._lent + self._asking >= self.get_max_size()
        self._asking += 1
        if full:
            self.waiting += 1
        return time.monotonic(), full

    def _end(self, began: tuple[float, bool], *, acquired: bool) -> None:
        self._asking -= 1
        if acquired:
            self._lent += 1
        at, full = began
        if full:
            self.waiting -= 1
            self.waits += 1
            self.wait_s += time.monotonic() - at


class _MeteredAcquire(_AcquireContext):
    __slots__ = ("_metered",)

    def __init__(self, pool: MeteredPool, timeout: float | None) -> None:
        super().__init__(pool, timeout)
        self._metered = pool

    async def __aenter__(self) -> PoolConnectionProxy[asyncpg.Record]:
        began = self._metered._begin()
        acquired = False
        try:
            connection = await super().__aenter__()
            acquired = True
            return connection
        finally:
            self._metered._end(began, acquired=acquired)

    def __await__(self) -> Generator[Any, None, PoolConnectionProxy[asyncpg.Record]]:
        began = self._metered._begin()
        acquired = False
        try:
            connection = yield from super().__await__()
            acquired = True
            return connection
        finally:
            self._metered._end(began, acquired=acquired)


@asynccontextmanager
async def open_pool(
    dsn: str, *, min_size: int = POOL_MIN_SIZE, max_size: int = POOL_MAX_SIZE
) -> AsyncIterator[MeteredPool]:
    # What asyncpg.create_pool does, with the metered pool class and its defaults.
    pool = MeteredPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_queries=POOL_MAX_QUERIES,
        max_inactive_connection_lifetime=POOL_MAX_INACTIVE_S,
        init=init_connection,
        reset=release_cheaply,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        command_timeout=COMMAND_TIMEOUT_S,
    )
    await pool
    try:
        yield pool
    finally:
        await pool.close()


def pool_use(pool: asyncpg.Pool) -> PoolUse:
    """How the pool is used, for the metrics: connections now, and the waits counted (none
    for a pool not opened by open_pool)."""
    metered = pool if isinstance(pool, MeteredPool) else None
    return PoolUse(
        size=pool.get_size(),
        idle=pool.get_idle_size(),
        max_size=pool.get_max_size(),
        waiting=metered.waiting if metered else 0,
        waits=metered.waits if metered else 0,
        wait_s=metered.wait_s if metered else 0.0,
    )
