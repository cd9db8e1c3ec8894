"""Connection pools and the database the settings point at."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

from outage_voice.adapters.db.embedded import start_embedded
from outage_voice.config import DEFAULT_POOL_MIN_SIZE, DEFAULT_POOL_SIZE, Settings
from outage_voice.services.instruments import PoolUse

POOL_MIN_SIZE = DEFAULT_POOL_MIN_SIZE
POOL_MAX_SIZE = DEFAULT_POOL_SIZE
# asyncpg names the statements it prepares and keeps them on the connection. Behind a pooler
# in transaction mode the next transaction may run on another server connection, which
# never saw the name ("prepared statement ... does not exist") or has one of the same name
# from another client ("... already exists"). Without the cache asyncpg prepares unnamed
# statements, each parsed and run within one round trip: they survive the pooler.
TRANSACTION_POOLER_STATEMENT_CACHE = 0
STATEMENT_CACHE_SIZE = 100  # asyncpg's default
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
    dedicated connections to DATABASE_LEADER_URL), so only a transaction left open needs
    undoing. That is also what lets the pool run through a transaction pooler."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


@dataclass(frozen=True, kw_only=True, slots=True)
class DatabaseUrls:
    pool: str  # what the connection pool opens (through a pooler, maybe)
    leader: str  # what needs a session: the leader lock, LISTEN/NOTIFY, migrations


@asynccontextmanager
async def database_urls(settings: Settings) -> AsyncIterator[DatabaseUrls]:
    """The pool's URL and the leader's: DATABASE_LEADER_URL when set, else the pool's."""
    async with database_url(settings) as pool_url:
        yield DatabaseUrls(pool=pool_url, leader=settings.database_leader_url or pool_url)


def statement_cache_size(settings: Settings) -> int:
    if settings.database_pooler == "transaction":
        return TRANSACTION_POOLER_STATEMENT_CACHE
    return STATEMENT_CACHE_SIZE


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
    dsn: str,
    *,
    min_size: int = POOL_MIN_SIZE,
    max_size: int = POOL_MAX_SIZE,
    statement_cache_size: int = STATEMENT_CACHE_SIZE,
) -> AsyncIterator[MeteredPool]:
    # What asyncpg.create_pool does, with the metered pool class and its defaults.
    pool = MeteredPool(
        dsn,
        statement_cache_size=statement_cache_size,
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
