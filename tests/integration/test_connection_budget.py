"""An instance's connection budget as the settings give it: the pool's sizes, and the
connections a campaign plan builds its targets on side by side."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import asyncpg

from outage_voice.adapters.clock import ManualClock
from outage_voice.bootstrap import open_services
from outage_voice.config import load_settings
from tests.integration.test_campaign_plan import CUSTOMERS, WAIT_LIMIT_S, spec
from tests.support import T0


async def test_the_pool_and_a_plan_take_the_connections_the_settings_allow(
    database_dsn: str, tmp_path: Path
) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": database_dsn,
            "OUTAGE_VOICE_HOME": str(tmp_path / "home"),
            "OUTAGE_VOICE_POOL_SIZE": "5",
            "OUTAGE_VOICE_POOL_MIN_SIZE": "1",
            "OUTAGE_VOICE_PLAN_SHARDS": "3",
        }
    )
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    async with open_services(settings, clock=ManualClock(T0), migrate=False) as services:
        pool = services.pool
        assert (pool.get_min_size(), pool.get_max_size()) == (1, 5)
        await services.customers.import_file(customers)
        # Connections opened while the test holds its lock would wait on it as they start.
        async with contextlib.AsyncExitStack() as warm:
            for _ in range(4):
                await warm.enter_async_context(pool.acquire())
        holder = await asyncpg.connect(database_dsn)
        try:
            # The shards wait on the phone links while the test holds them: count them.
            await holder.execute("BEGIN; LOCK TABLE account_phones IN ACCESS EXCLUSIVE MODE")
            plan = asyncio.create_task(services.campaigns.create(spec(), actor="test"))
            async with asyncio.timeout(WAIT_LIMIT_S):
                while True:
                    waiting = await holder.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE $1 = ANY(pg_blocking_pids(pid))",
                        holder.get_server_pid(),
                    )
                    if waiting >= 3:
                        break
                    assert not plan.done(), plan
                    await asyncio.sleep(0.01)  # polls the database's view of the plan
            await holder.execute("COMMIT")
            planned = await asyncio.wait_for(plan, WAIT_LIMIT_S)
        finally:
            await holder.close()
    assert waiting == 3
    assert planned["id"]
