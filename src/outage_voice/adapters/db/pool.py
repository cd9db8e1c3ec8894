"""Connection pools and the database the settings point at."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from outage_voice.adapters.db.embedded import start_embedded
from outage_voice.config import Settings
from outage_voice.services.instruments import PoolUse

POOL_MIN_SIZE = 2
POOL_MAX_SIZE = 20
COMMAND_TIMEOUT_S = 30.0

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


@asynccontextmanager
async def open_pool(
    dsn: str, *, min_size: int = POOL_MIN_SIZE, max_size: int = POOL_MAX_SIZE
) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=init_connection,
        reset=release_cheaply,
        command_timeout=COMMAND_TIMEOUT_S,
    )
    try:
        yield pool
    finally:
        await pool.close()


def pool_use(pool: asyncpg.Pool) -> PoolUse:
    """How the pool is used right now, for the metrics. asyncpg keeps no count of waiting
    acquires; its queue's waiters are read where they are (0 should that ever change)."""
    size = pool.get_size()
    waiters = getattr(getattr(pool, "_queue", None), "_getters", None)
    return PoolUse(
        size=size,
        idle=pool.get_idle_size(),
        max_size=pool.get_max_size(),
        waiting=sum(1 for waiter in waiters or () if not waiter.done()),
    )
