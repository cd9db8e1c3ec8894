from __future__ import annotations

from outage_voice.adapters.db.pool import open_pool


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
