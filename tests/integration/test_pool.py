from __future__ import annotations

import asyncio

from outage_voice.adapters.db.pool import open_pool, pool_use


async def test_a_transaction_left_open_is_rolled_back_on_release(database_dsn: str) -> None:
    async with open_pool(database_dsn, min_size=1, max_size=1) as pool:
        async with pool.acquire() as connection:
            await connection.execute("BEGIN")
            await connection.execute(
                "INSERT INTO premises (premise_id, service_address, timezone)"
                " VALUES ('PX', '1 Test Road', 'America/Chicago')"
            )
        async with pool.acquire() as connection:
            assert not connection.is_in_transaction()
            assert await connection.fetchval("SELECT count(*) FROM premises") == 0


async def test_acquires_that_wait_for_a_connection_are_counted_with_their_time(
    database_dsn: str,
) -> None:
    async with open_pool(database_dsn, min_size=1, max_size=2) as pool:
        assert (pool_use(pool).waits, pool_use(pool).waiting) == (0, 0)
        # Connections free: nobody waits, whichever way the pool is used.
        assert await pool.fetchval("SELECT 1") == 1
        async with pool.acquire():
            connection = await pool.acquire()
            await pool.release(connection)
        assert pool_use(pool).waits == 0

        # Both connections lent: the next two wait until one comes back.
        first = await pool.acquire()
        second = await pool.acquire()
        waiting = [asyncio.create_task(pool.fetchval("SELECT 2")) for _ in range(2)]
        for _ in range(100):
            if pool_use(pool).waiting == 2:
                break
            await asyncio.sleep(0)
        assert pool_use(pool).waiting == 2
        await pool.release(first)
        await pool.release(second)
        assert await asyncio.gather(*waiting) == [2, 2]
        use = pool_use(pool)
        assert (use.waits, use.waiting) == (2, 0)
        assert use.wait_s > 0
        # And an acquire after that finds a connection free again.
        async with pool.acquire() as connection:
            assert await connection.fetchval("SELECT 3") == 3
        assert pool_use(pool).waits == 2
