"""Planning a campaign's targets on several connections at once: the same targets as on one,
all or nothing when a connection dies, and what a dead plan leaves removed by the next."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from outage_voice.adapters.db.campaign_admin import PLAN_LOCK_CLASS, PgCampaignAdminStore
from outage_voice.bootstrap import Services
from outage_voice.domain.campaigns import CampaignSpec
from outage_voice.web.campaign_json import parse_campaign_spec
from tests.support import T0, csv_text

# 60 accounts sharing 25 numbers: households with one, two and three accounts, on two
# feeders, one number opted out.
CUSTOMERS = csv_text(
    *(
        f"{3000 + n},Customer {n},512-555-{1000 + n % 25},,P{n},{n} Oak St,F{1 + n % 2},,"
        for n in range(60)
    )
)
OPTED_OUT = "+15125551003"
# Statements of a plan that wait on a lock the test holds, bounded so a regression fails
# rather than hangs.
WAIT_LIMIT_S = 20.0


def spec(name: str = "plan") -> CampaignSpec:
    return parse_campaign_spec(
        {
            "name": name,
            "kind": "custom",
            "message": {"text": "Test."},
            "audience": {"feeders": ["F1", "F2"]},
        }
    )


async def plan(store: PgCampaignAdminStore) -> int:
    planned = await store.create(
        spec(), outage_pk=None, actor="test", default_timezone="America/Chicago", now=T0
    )
    # What the shards say they wrote is what reading the targets back counts.
    progress = await store.progress(planned.campaign_id, T0)
    assert progress is not None
    assert sorted(planned.targets, key=repr) == sorted(progress.targets, key=repr)
    return planned.campaign_id


async def targets_of(pool: asyncpg.Pool, campaign_id: int) -> set[tuple[object, ...]]:
    rows = await pool.fetch(
        "SELECT phone, account_numbers, state, outcome FROM campaign_targets"
        " WHERE campaign_id = $1",
        campaign_id,
    )
    return {
        (row["phone"], tuple(sorted(row["account_numbers"])), row["state"], row["outcome"])
        for row in rows
    }


async def campaign_count(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM campaigns")
    return count


async def target_campaigns(pool: asyncpg.Pool) -> set[int]:
    return {row[0] for row in await pool.fetch("SELECT DISTINCT campaign_id FROM campaign_targets")}


@pytest.fixture
async def customers(services: Services, pool: asyncpg.Pool, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS)
    await services.customers.import_file(path)
    await pool.execute("UPDATE phones SET opted_out_at = $2 WHERE e164 = $1", OPTED_OUT, T0)


async def plan_losing(
    store: PgCampaignAdminStore, pool: asyncpg.Pool, dsn: str, backend: str
) -> BaseException:
    """Plans while the phone links are locked, terminates the backend of one of the plan's
    shards (`backend="shard"`) or of the connection that writes the campaign
    (`"coordinator"`) once the shards wait, then lets them go; returns the plan's error."""
    holder = await asyncpg.connect(dsn)
    try:
        await holder.execute("BEGIN; LOCK TABLE account_phones IN ACCESS EXCLUSIVE MODE")
        task = asyncio.create_task(plan(store))
        async with asyncio.timeout(WAIT_LIMIT_S):
            while True:
                # Polls the database's own view of the plan until its shards are waiting.
                shards = [
                    row["pid"]
                    for row in await pool.fetch(
                        "SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                        holder.get_server_pid(),
                    )
                ]
                if len(shards) == 2:
                    break
                await asyncio.sleep(0.01)
        coordinator: int = await pool.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1"
            " AND objsubid = 2 AND granted",
            PLAN_LOCK_CLASS,
        )
        victim = shards[0] if backend == "shard" else coordinator
        await pool.execute("SELECT pg_terminate_backend($1)", victim)
        await holder.execute("COMMIT")
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, OSError)) as raised:
            await asyncio.wait_for(task, WAIT_LIMIT_S)
        return raised.value
    finally:
        await holder.close()


async def test_shards_build_the_same_targets_as_one_connection(
    customers: None, pool: asyncpg.Pool
) -> None:
    single = await targets_of(pool, await plan(PgCampaignAdminStore(pool, plan_shards=1)))
    sharded = await targets_of(pool, await plan(PgCampaignAdminStore(pool, plan_shards=3)))

    assert sharded == single
    assert len(sharded) == 25  # one per number
    by_phone = {target[0]: target for target in sharded}
    assert by_phone["+15125551000"][1] == ("3000", "3025", "3050")  # a three-account household
    assert by_phone[OPTED_OUT][2:] == ("excluded", "opted_out")


async def test_a_shard_that_dies_leaves_no_campaign_and_no_targets(
    customers: None, pool: asyncpg.Pool, database_dsn: str
) -> None:
    store = PgCampaignAdminStore(pool, plan_shards=2)

    error = await plan_losing(store, pool, database_dsn, "shard")

    assert isinstance(error, asyncpg.PostgresError)  # the shard's failure, as the server said
    assert await campaign_count(pool) == 0
    assert await target_campaigns(pool) == set()
    # and the store plans again on the connections it has left
    assert len(await targets_of(pool, await plan(store))) == 25


async def test_targets_of_a_plan_that_died_before_its_campaign_are_removed_by_the_next(
    customers: None, pool: asyncpg.Pool, database_dsn: str
) -> None:
    store = PgCampaignAdminStore(pool, plan_shards=2)
    # The connection that would commit the campaign goes; its shards still commit.
    await plan_losing(store, pool, database_dsn, "coordinator")
    assert await campaign_count(pool) == 0
    (orphan,) = await target_campaigns(pool)

    campaign_id = await plan(store)

    assert await target_campaigns(pool) == {campaign_id} != {orphan}
    assert len(await targets_of(pool, campaign_id)) == 25


async def test_targets_of_a_plan_still_committing_are_left_alone(
    customers: None, pool: asyncpg.Pool, database_dsn: str
) -> None:
    """Targets with no campaign row yet, whose plan holds its lock: another plan must not
    take them for a dead one's."""
    store = PgCampaignAdminStore(pool, plan_shards=2)
    ours = await plan(store)
    await pool.execute("DELETE FROM campaigns WHERE id = $1", ours)  # as if not yet committed
    other = await asyncpg.connect(database_dsn)
    try:
        await other.execute("BEGIN")
        await other.execute("SELECT pg_advisory_xact_lock($1, $2)", PLAN_LOCK_CLASS, ours)

        later = await plan(store)

        assert await target_campaigns(pool) == {ours, later}
        await other.execute("ROLLBACK")  # the plan is gone: the next one clears its targets
        last = await plan(store)
        assert await target_campaigns(pool) == {later, last}
    finally:
        await other.close()


async def test_starting_a_campaign_gives_the_planner_its_targets_count(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Statistics taken before a campaign existed say it has no targets; its claim, planned
    on them, read every target per batch (1.2 s at a million, against 5 ms by the due
    index). Starting it counts them."""
    path = tmp_path / "many.csv"
    path.write_text(
        csv_text(*(f"{5000 + n},C {n},512-556-{1000 + n},,Q{n},x,F1,," for n in range(4000)))
    )
    await services.customers.import_file(path)
    store = PgCampaignAdminStore(pool)
    await plan(store)
    await pool.execute("ANALYZE campaign_targets")  # statistics that know the first only
    campaign_id = await plan(store)

    assert await store.set_state(campaign_id, "running", ["draft"], T0)

    explained = await pool.fetchval(
        "EXPLAIN (FORMAT JSON) SELECT FROM campaign_targets WHERE campaign_id = $1", campaign_id
    )
    estimated_targets = json.loads(explained)[0]["Plan"]["Plan Rows"]
    assert estimated_targets > 3000  # 4,000 planned
