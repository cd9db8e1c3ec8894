"""The product behind Debian's PgBouncer in transaction pooling mode, as a utility runs it:
the pool through the pooler without named prepared statements, the leader lock, its
notifications and migrations on DATABASE_LEADER_URL, straight to PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from outage_voice import bootstrap
from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db import migrations
from outage_voice.adapters.db.leadership import PgLeaderLock
from outage_voice.adapters.db.pool import statement_cache_size
from outage_voice.bootstrap import Services, create_app
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Persona, PersonaBook
from outage_voice.config import Settings, load_settings
from outage_voice.domain.outages import parse_outage_state
from outage_voice.services.dialer import Dialer
from outage_voice.services.leadership import LEADER_RETRY_S
from outage_voice.services.metrics import metric_total
from outage_voice.web.campaign_json import parse_campaign_spec
from outage_voice.web.keys import CAMPAIGNS, DIALER, LEADER, METRICS, SETTINGS
from tests.integration.test_leadership import (
    LEADER_JOBS,
    GatedClock,
    lock_holder,
    notify_dialer,
    until,
)
from tests.integration.test_server import free_port
from tests.pgbouncer import running_pgbouncer
from tests.support import T0, cli, cli_env, csv_text

OUTAGE_LINE = "+15125550000"
# Two households on each of 15 premises, on feeders F1 and F2, each with a number of its own.
HOUSEHOLDS = 30
CUSTOMERS = csv_text(
    *(
        f"{5000 + n},Customer {n},512-555-{2000 + n},,P{n // 2},{n // 2} Oak Street,"
        f"F{1 + n // 2 % 2},,"
        for n in range(HOUSEHOLDS)
    )
)
# Server connections PgBouncer opens to PostgreSQL for the database: a campaign plan holds
# 1 + OUTAGE_VOICE_PLAN_SHARDS (2) of them for a whole transaction, and webhooks want one more.
PGBOUNCER_POOL = 4


@contextlib.contextmanager
def pgbouncer(database_dsn: str, tmp_path: Path, *, pool_size: int) -> Iterator[str]:
    with running_pgbouncer(database_dsn, tmp_path / "pgbouncer", pool_size=pool_size) as dsn:
        yield dsn


def pooled_settings(pooled: str, direct: str, home: Path, **variables: str) -> Settings:
    """The settings a utility sets for PgBouncer in transaction mode, read as serve reads them."""
    return load_settings(
        {
            "DATABASE_URL": pooled,
            "DATABASE_LEADER_URL": direct,
            "OUTAGE_VOICE_DATABASE_POOLER": "transaction",
            "OUTAGE_VOICE_HOME": str(home),
            **variables,
        }
    )


async def test_named_statements_break_behind_the_pooler_and_the_setting_leaves_them_out(
    database_dsn: str, tmp_path: Path
) -> None:
    """Why OUTAGE_VOICE_DATABASE_POOLER exists: asyncpg's cache of named statements, on by
    default, points at a statement another server connection never saw."""

    async def take_turns(cache_size: int) -> None:
        first = await asyncpg.connect(pooled, statement_cache_size=cache_size)
        second = await asyncpg.connect(pooled, statement_cache_size=cache_size)
        try:
            assert await first.fetchval("SELECT $1::int + 1", 1) == 2  # on server connection A
            async with second.transaction():  # holds A until it ends
                await second.fetchval("SELECT 1")
                # PgBouncer lends `first` server connection B for this one.
                assert await first.fetchval("SELECT $1::int + 1", 2) == 3
        finally:
            await first.close()
            await second.close()

    with pgbouncer(database_dsn, tmp_path, pool_size=2) as pooled:
        with pytest.raises(asyncpg.InvalidSQLStatementNameError):
            await take_turns(cache_size=100)  # asyncpg's default
        settings = pooled_settings(pooled, database_dsn, tmp_path / "home")
        assert statement_cache_size(settings) == 0
        await take_turns(cache_size=statement_cache_size(settings))


@dataclasses.dataclass
class Line:
    app: web.Application
    carrier: VirtualCarrier
    clock: VirtualClock
    url: str


@contextlib.asynccontextmanager
async def outage_line(settings: Settings) -> AsyncIterator[Line]:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    app = create_app(dataclasses.replace(settings, public_url=public), clock=ManualClock(T0))
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    virtual = VirtualClock(T0)
    carrier = VirtualCarrier(CarrierSettings(cps=None), virtual)
    try:
        yield Line(app=app, carrier=carrier, clock=virtual, url=public)
    finally:
        await carrier.close()
        await server.close()


@pytest.fixture
async def storm(services: Services, tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    state = {"status": "confirmed", "cause": "storm damage", "feeder_ids": ["F1", "F2"]}
    await services.outages.put("STORM-1", parse_outage_state(state, now=T0), actor="test")


RESTORED = {
    "name": "restored",
    "kind": "custom",
    "message": {"text": "Power is back."},
    "audience": {"feeders": ["F1", "F2"]},
}


async def targets_of(pool: asyncpg.Pool, campaign_id: int) -> list[tuple[object, ...]]:
    rows = await pool.fetch(
        "SELECT phone, account_numbers, state FROM campaign_targets WHERE campaign_id = $1"
        " ORDER BY phone",
        campaign_id,
    )
    return [(row["phone"], sorted(row["account_numbers"]), row["state"]) for row in rows]


@pytest.mark.usefixtures("storm")
async def test_a_crowd_of_callers_and_a_campaign_plan_at_once_through_the_pooler(
    database_dsn: str, tmp_path: Path, services: Services, pool: asyncpg.Pool
) -> None:
    """Callers hear their status and report once per premise while a campaign is planned:
    its shards share the coordinator's snapshot, each in a transaction of its own with a
    temporary table and a COPY, all of which PgBouncer keeps on one server connection."""
    direct = await services.campaigns.create(parse_campaign_spec(RESTORED), actor="test")
    callers = [f"+1512555{2000 + n}" for n in range(HOUSEHOLDS)]
    with pgbouncer(database_dsn, tmp_path, pool_size=PGBOUNCER_POOL) as pooled:
        settings = pooled_settings(
            pooled, database_dsn, tmp_path / "home", OUTAGE_VOICE_PLAN_SHARDS="2"
        )
        async with outage_line(settings) as line:
            line.carrier.settings.personas = PersonaBook(
                exact={caller: Persona(digits=("1",)) for caller in callers}
            )
            with line.clock.hold():
                calls = line.carrier.dial_in(
                    voice_url=f"{line.url}/twilio/voice",
                    to=OUTAGE_LINE,
                    callers=callers,
                    arrivals_per_s=1000,  # all at once
                    status_callback=f"{line.url}/twilio/status",
                )
            plan = line.app[CAMPAIGNS].create(parse_campaign_spec(RESTORED), actor="test")
            async with asyncio.timeout(60):
                planned, _ = await asyncio.gather(plan, line.clock.settle())
            # Every answer came from the database, none from the line's degraded mode.
            assert metric_total(line.app[METRICS].degraded_answers) == 0
    assert len(calls) == HOUSEHOLDS
    for n, call in enumerate(calls):
        heard = call.spoken_text()
        assert call.error_code is None, heard
        assert heard.startswith(f"We know about the outage at {n // 2} Oak Street."), heard
        assert (
            f"We recorded your outage report for {n // 2} Oak Street." in heard
            or f"We already have a report for {n // 2} Oak Street." in heard
        ), heard
    # Two households of a premise raced to report: one report each, none lost.
    premises = await pool.fetch("SELECT premise_id FROM outage_reports")
    assert sorted(row["premise_id"] for row in premises) == sorted(
        f"P{n}" for n in range(HOUSEHOLDS // 2)
    )
    # What the calls were is written too (at the latest when the server stopped).
    assert await pool.fetchval("SELECT count(*) FROM inbound_calls") == HOUSEHOLDS
    # The plan wrote what the same plan straight to PostgreSQL did.
    assert len(await targets_of(pool, direct["id"])) == HOUSEHOLDS
    assert await targets_of(pool, planned["id"]) == await targets_of(pool, direct["id"])


async def test_the_leader_lock_and_its_wake_ups_go_past_the_pooler_to_the_leader_url(
    database_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances through one PgBouncer server connection: one leads, hears NOTIFY, and
    hands over when it stops; the lock is held by a session of the leader URL's."""
    woken: list[tuple[Dialer, str]] = []

    def wake(dialer: Dialer, what: str = "") -> None:
        woken.append((dialer, what))

    monkeypatch.setattr(Dialer, "wake", wake)
    clock = GatedClock(T0)
    direct = await asyncpg.connect(database_dsn)
    with pgbouncer(database_dsn, tmp_path, pool_size=1) as pooled:
        runners = [
            web.AppRunner(
                create_app(
                    pooled_settings(pooled, database_dsn, tmp_path / name),
                    clock=clock,
                    timer=clock,
                    run_dialer=True,
                )
            )
            for name in ("first", "second")
        ]
        first, second = (runner.app for runner in runners)
        stopped: list[web.AppRunner] = []
        try:
            async with asyncio.timeout(20):
                await runners[0].setup()
                await until(lambda: first[LEADER].running() == LEADER_JOBS)
                await runners[1].setup()
                # It tried the lock: it leads too, or it waits to try again.
                await until(lambda: second[LEADER].leads() or LEADER_RETRY_S in clock.sleeping_s())
                assert not second[LEADER].leads()
                holder = await lock_holder(direct)
                assert holder is not None
                # PgBouncer's one server connection is not the one holding the lock.
                async with asyncpg.create_pool(pooled, min_size=1, max_size=1) as through:
                    assert await through.fetchval("SELECT pg_backend_pid()") != holder

                # Sent through the pooler, as the product's queries send theirs.
                await notify_dialer(first[SETTINGS], "campaign")
                await until(lambda: (first[DIALER], "campaign") in woken)

                await runners[0].cleanup()
                stopped.append(runners[0])
                clock.advance(timedelta(seconds=LEADER_RETRY_S))
                await until(lambda: second[LEADER].running() == LEADER_JOBS)
        finally:
            for runner in runners:
                if runner not in stopped:
                    await runner.cleanup()
            await direct.close()


async def test_through_the_pooler_a_session_lock_is_no_lock(
    database_dsn: str, tmp_path: Path
) -> None:
    """Why the leader needs DATABASE_LEADER_URL: through a transaction pooler, the advisory
    lock stays on a server connection the next client is lent, and both think they lead."""
    with pgbouncer(database_dsn, tmp_path, pool_size=1) as pooled:
        locks = [PgLeaderLock(pooled), PgLeaderLock(pooled)]
        try:
            got = [await lock.acquire(lambda: None) for lock in locks]
        finally:
            for lock in locks:
                await lock.release()
    assert got == [True, True]
    locks = [PgLeaderLock(database_dsn), PgLeaderLock(database_dsn)]
    try:
        got = [await lock.acquire(lambda: None) for lock in locks]
    finally:
        for lock in locks:
            await lock.release()
    assert got == [True, False]


def named(dsn: str, application_name: str) -> str:
    """`dsn` with an application_name, which PgBouncer passes on to the server it lends."""
    return f"{dsn}{'&' if '?' in dsn else '?'}application_name={application_name}"


async def test_migrations_on_the_leader_url_and_a_customer_import_through_the_pooler(
    database_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations run under a session advisory lock: on DATABASE_LEADER_URL. A customer
    import (a temporary table and COPY in one transaction) goes through the pooler."""
    migrated_by: list[str] = []

    async def apply_migrations(connection: asyncpg.Connection) -> object:
        migrated_by.append(await connection.fetchval("SELECT current_setting('application_name')"))
        return await migrations.apply_migrations(connection)

    monkeypatch.setattr(bootstrap, "apply_migrations", apply_migrations)
    with pgbouncer(database_dsn, tmp_path, pool_size=2) as pooled:
        settings = pooled_settings(
            named(pooled, "pooled"), named(database_dsn, "leader"), tmp_path / "home"
        )
        customers = tmp_path / "customers.csv"
        customers.write_text(CUSTOMERS)
        async with bootstrap.open_services(settings, clock=ManualClock(T0)) as services:
            name = await services.pool.fetchval("SELECT current_setting('application_name')")
            report = await services.customers.import_file(customers)
            again = await services.customers.import_file(customers)
    assert migrated_by == ["leader"]
    assert name == "pooled"
    assert (report.counts.imported, report.counts.updated, report.rejections) == (
        HOUSEHOLDS,
        0,
        [],
    )
    assert (again.counts.imported, again.counts.unchanged) == (0, HOUSEHOLDS)


def test_migrate_runs_on_the_leader_url(database_dsn: str) -> None:
    # Nothing listens at DATABASE_URL: migrate never needs it.
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/outage_voice"
    result = subprocess.run(
        cli("migrate"),
        env=cli_env(
            DATABASE_URL=unreachable,
            DATABASE_LEADER_URL=database_dsn,
            OUTAGE_VOICE_DATABASE_POOLER="transaction",
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "database is up to date\n"
