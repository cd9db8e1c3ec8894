"""What watching campaigns costs the database: open supervisor consoles against the JSON API
polled the way a dashboard did before the console.

The real server (no dialer: the campaigns' counts are what is read, not calls) on an
embedded PostgreSQL with pg_stat_statements loaded, a synthetic utility and a few campaigns
of thousands of numbers each, three of them running. For each way of watching, the
statements the database ran (pg_stat_statements, every statement of the server's database)
and its committed transactions (pg_stat_database.xact_commit) are counted over the same
number of seconds, once the watchers are all connected:

- baseline: one client polling the API every 2 s, the list and then each campaign
  (GET /api/v1/campaigns, GET /api/v1/campaigns/{id}), as a dashboard script did;
- 1 console on one running campaign's page (/dashboard/stream?campaign=ID: the list and
  that campaign's chart and waiting numbers);
- 100 consoles on that same page (a wall of screens);
- 100 consoles spread over the campaigns-now page and the three running campaigns' pages.

The ratios are statements per second against the baseline's.

    .venv/bin/python -m bench.console_watch [--seconds 20] [--customers 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg

from bench._common import command_line, import_synthetic, machine_line
from bench.dialer import with_server
from outage_voice.adapters.clock import SystemClock
from outage_voice.adapters.db.admin import recreate_database
from outage_voice.adapters.db.embedded import start_embedded
from outage_voice.adapters.db.migrations import apply_migrations
from outage_voice.adapters.db.pool import open_pool
from outage_voice.adapters.db.tokens import PgTokenStore
from outage_voice.config import load_settings
from outage_voice.domain.auth import Role
from outage_voice.event_loop import new_event_loop
from outage_voice.services import console_feed
from outage_voice.services.tokens import TokenService
from outage_voice.synthetic import SyntheticUtility
from outage_voice.web import keys

DATABASE = "ov_bench_console"
FEEDERS = 12
CAMPAIGNS = 6
RUNNING = 3
POLL_S = 2.0
WALL = 100
PASSWORD = "bench watch password"
# The wall's consoles share one signed-in session here, which would otherwise hold at most
# MAX_STREAMS_PER_SESSION streams (a new one ends the oldest); the server runs in this
# process, so the bound is raised for the measurement.
console_feed.MAX_STREAMS_PER_SESSION = WALL


@dataclasses.dataclass(frozen=True)
class Counts:
    statements: int
    transactions: int


@contextlib.asynccontextmanager
async def embedded_with_statements() -> AsyncIterator[str]:
    """An embedded PostgreSQL restarted once with pg_stat_statements preloaded; its admin DSN."""
    with tempfile.TemporaryDirectory(prefix="ov-bench-watch-") as folder:
        pgdata = Path(folder) / "pgdata"
        server = await asyncio.to_thread(start_embedded, pgdata)
        connection = await asyncpg.connect(server.uri)
        try:
            await connection.execute(
                "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
            )
            await connection.execute("ALTER SYSTEM SET pg_stat_statements.track = 'top'")
        finally:
            await connection.close()
        await asyncio.to_thread(server.stop)
        server = await asyncio.to_thread(start_embedded, pgdata)
        try:
            yield server.uri
        finally:
            await asyncio.to_thread(server.stop)


async def counts(admin: asyncpg.Connection, dsn_db: str) -> Counts:
    row = await admin.fetchrow(
        """SELECT (SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s
                   JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1) AS statements,
                  (SELECT xact_commit FROM pg_stat_database WHERE datname = $1) AS transactions""",
        dsn_db,
    )
    assert row is not None
    return Counts(statements=int(row["statements"]), transactions=int(row["transactions"]))


async def prepare(dsn: str, customers: int) -> str:
    """The synthetic utility's customers; a supervisor's API token."""
    async with open_pool(dsn) as pool:
        await import_synthetic(pool, SyntheticUtility(customers=customers, feeders=FEEDERS))
        token = await TokenService(PgTokenStore(pool), SystemClock()).create(
            role=Role.SUPERVISOR, name="bench"
        )
    return token


async def make_campaigns(session: aiohttp.ClientSession, url: str, token: str) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}
    made = []
    for number in range(CAMPAIGNS):
        body = {
            "name": f"Feeders {number}",
            "kind": "custom",
            "audience": {"feeders": [f"FDR-{number * 2 + 1:03d}", f"FDR-{number * 2 + 2:03d}"]},
            "message": {"text": "Crews are working in your area tonight."},
            "pacing": {"cps": 20, "max_concurrent": 100},
            "urgent": True,
        }
        async with session.post(f"{url}/api/v1/campaigns", json=body, headers=headers) as answer:
            assert answer.status == 201, await answer.text()
            made.append((await answer.json())["id"])
    for campaign_id in made[:RUNNING]:
        path = f"{url}/api/v1/campaigns/{campaign_id}/start"
        async with session.post(path, headers=headers) as answer:
            assert answer.status == 200, await answer.text()
    return made


async def poll_api(
    session: aiohttp.ClientSession, url: str, token: str, stop: asyncio.Event
) -> int:
    """The baseline watcher: the list then each campaign, every POLL_S."""
    headers = {"Authorization": f"Bearer {token}"}
    rounds = 0
    while not stop.is_set():
        began = time.monotonic()
        async with session.get(f"{url}/api/v1/campaigns", headers=headers) as answer:
            listed = (await answer.json())["campaigns"]
        for campaign in listed:
            async with session.get(
                f"{url}/api/v1/campaigns/{campaign['id']}", headers=headers
            ) as one:
                assert one.status == 200
                await one.read()
        rounds += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, POLL_S - (time.monotonic() - began)))
    return rounds


async def console(
    session: aiohttp.ClientSession,
    url: str,
    query: str,
    connected: asyncio.Event,
    stop: asyncio.Event,
    updates: list[int],
) -> int:
    """One open console: its stream, read until told to stop; `updates[0]` counts the
    updates it is sent."""
    async with session.get(f"{url}/dashboard/stream{query}") as stream:
        assert stream.status == 200, await stream.text()
        reading = asyncio.ensure_future(_read_events(stream, connected, updates))
        await stop.wait()
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
    return updates[0]


async def _read_events(
    stream: aiohttp.ClientResponse, connected: asyncio.Event, updates: list[int]
) -> None:
    while True:
        block = await stream.content.readuntil(b"\n\n")
        if block.startswith(b"event: update"):
            updates[0] += 1
            connected.set()


async def run(seconds: float, customers: int) -> None:
    async with embedded_with_statements() as admin_dsn:
        dsn = await recreate_database(admin_dsn, DATABASE)
        connection = await asyncpg.connect(dsn)
        try:
            await apply_migrations(connection)
            await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        finally:
            await connection.close()
        token = await prepare(dsn, customers)
        settings = dataclasses.replace(load_settings({}), database_url=dsn)
        admin = await asyncpg.connect(admin_dsn)
        try:
            # The view is per database, what it counts the whole server's.
            await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            async with with_server(settings, None, dialer=False) as (url, app):
                await app[keys.USERS].create(username="wall", password=PASSWORD, role="viewer")
                jar = aiohttp.CookieJar(unsafe=True)
                limits = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(cookie_jar=jar, connector=limits) as session:
                    made = await make_campaigns(session, url, token)
                    signin = f"{url}/dashboard/signin"
                    form = {"username": "wall", "password": PASSWORD}
                    async with session.post(signin, data=form, allow_redirects=False) as answer:
                        assert answer.status == 303, await answer.text()
                    watched = made[0]
                    pages = ["", *(f"?campaign={c}" for c in made[:RUNNING])]
                    ways: list[tuple[str, list[str] | None]] = [
                        ("API polled every 2 s by 1 client (baseline)", None),
                        ("1 console, one campaign's page", [f"?campaign={watched}"]),
                        (f"{WALL} consoles, that same page", [f"?campaign={watched}"] * WALL),
                        (
                            f"{WALL} consoles over the list and {RUNNING} campaigns' pages",
                            [pages[i % len(pages)] for i in range(WALL)],
                        ),
                    ]
                    results = []
                    for label, queries in ways:
                        results.append(
                            await watch(session, url, token, admin, queries, seconds, label)
                        )
                    feed = app[keys.CONSOLE_FEED]
        finally:
            await admin.close()
    report(results, seconds, customers, feed.reads)


async def watch(
    session: aiohttp.ClientSession,
    url: str,
    token: str,
    admin: asyncpg.Connection,
    queries: list[str] | None,
    seconds: float,
    label: str,
) -> tuple[str, float, float, float]:
    stop = asyncio.Event()
    received: list[list[int]] = []
    if queries is None:
        tasks = [asyncio.ensure_future(poll_api(session, url, token, stop))]
        await asyncio.sleep(POLL_S)  # its first round done: steady state
    else:
        flags = [asyncio.Event() for _ in queries]
        received = [[0] for _ in queries]
        tasks = [
            asyncio.ensure_future(console(session, url, query, flag, stop, count))
            for query, flag, count in zip(queries, flags, received, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(flag.wait() for flag in flags)), 60)
        await asyncio.sleep(POLL_S)
    before = await counts(admin, DATABASE)
    sent_before = sum(count[0] for count in received)
    began = time.monotonic()
    await asyncio.sleep(seconds)
    after = await counts(admin, DATABASE)
    elapsed = time.monotonic() - began
    sent = sum(count[0] for count in received) - sent_before
    stop.set()
    await asyncio.gather(*tasks)
    # The counting statements run in another database (the admin connection's): not counted.
    statements = (after.statements - before.statements) / elapsed
    transactions = (after.transactions - before.transactions) / elapsed
    per_watcher = sent / len(received) / elapsed if received else 0.0
    return label, statements, transactions, per_watcher


def report(
    results: list[tuple[str, float, float, float]], seconds: float, customers: int, reads: int
) -> None:
    print(machine_line(command_line()))
    print(
        f"{customers:,} customers, {CAMPAIGNS} campaigns ({RUNNING} running), "
        f"{seconds:g} s measured per way of watching; database statements from "
        "pg_stat_statements, transactions from pg_stat_database"
    )
    base = results[0][1]
    print(
        f"{'watchers':<58} {'statements/s':>12} {'xacts/s':>8} {'ratio':>6} {'updates/s each':>14}"
    )
    for label, statements, transactions, per_watcher in results:
        ratio = statements / base if base else float("nan")
        each = "(polls)" if label.endswith("(baseline)") else f"{per_watcher:.2f}"
        print(f"{label:<58} {statements:>12.1f} {transactions:>8.1f} {ratio:>6.2f} {each:>14}")
    print(f"feed reads in all: {reads}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    loop = new_event_loop()
    try:
        loop.run_until_complete(run(args.seconds, args.customers))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
