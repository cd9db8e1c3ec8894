"""What one outage-line call and one placed campaign call cost: database statements, rows,
WAL, and CPU seconds of the server and of PostgreSQL, per operation. The inputs of the
capacity model in docs/PERFORMANCE.md.

`outage-voice serve` runs as its own process (dialer on, as in production) against an
embedded PostgreSQL restarted with pg_stat_statements loaded; the virtual carrier runs in
this process on real time and plays both sides of the network:

- idle: the server with nothing to do, for IDLE_S (its background: leadership, the dialer's
  and the automation worker's polls, instance status);
- baseline: GET /healthz, HEALTHZ_REQUESTS times (one small statement each);
- inbound: `--calls` customers of out feeders dial the outage line (`carrier.dial_in`): each
  call is the carrier's /twilio/voice (caller looked up, status and menu), the caller
  pressing 1 to report the outage (/twilio/menu), hanging up during the menu that follows,
  and the completed status callback; the carrier fetches every <Play> audio as Twilio does.
  These callers' audio (their address and status) is made for them on this first call;
- inbound, again: the same callers call again (their status audio made, their report
  already taken), as most calls of a storm day are;
- GET /audio again: every audio URL the two inbound rounds fetched, fetched once more (the
  files made): what serving one costs, a part of each call above;
- outbound: a custom campaign of about `--calls` numbers on other feeders, started: the
  dialer claims and places every call through the carrier's REST API; the far ends are a
  mix (PERSONA_MIX: most listen and hang up, some press 1 "still out", voicemail, busy),
  each call's TwiML webhooks and status callbacks (initiated, ringing, answered, completed,
  and AMD's) handled. Planning the campaign is not counted (it is per campaign, see
  bench/dialer.py); a busy number's retry comes minutes later, after the measurement. The
  automation rules are switched off, so no automatic campaign for the out feeders mixes in.

Each figure is the difference of two snapshots taken STATS_SETTLE_S after the phase's last
callback (PostgreSQL publishes table and transaction counters at most every 10 s per
backend): pg_stat_statements calls and WAL bytes in the server's database (BEGIN/COMMIT
included, the snapshot's own statement left out), pg_stat_database commits, pg_stat_user_tables
rows inserted/updated/deleted per table, and /proc CPU time (utime + stime, plus reaped
children's) of the `serve` process and of PostgreSQL (the postmaster and all its processes;
the server's own backends also apart). CPU seconds per operation, not latency: the machine
is shared, and CPU per operation is what sizes it. "net" removes the idle rate over the
phase's duration.

    .venv/bin/python -m bench.capacity [--customers 20000] [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from bench._common import command_line, machine_line
from bench.console_watch import embedded_with_statements
from bench.inbound import FEEDERS, cli, free_port, prepare, start, stop, wait_ready
from outage_voice.adapters.clock import SystemClock
from outage_voice.adapters.db.admin import recreate_database
from outage_voice.adapters.db.migrations import apply_migrations
from outage_voice.adapters.db.pool import open_pool
from outage_voice.adapters.db.tokens import PgTokenStore
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.clock import RealClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.carrier.rest import create_carrier_app
from outage_voice.domain.auth import Role
from outage_voice.domain.phones import normalize_phone
from outage_voice.event_loop import new_event_loop
from outage_voice.services.tokens import TokenService
from outage_voice.synthetic import SyntheticUtility

DATABASE = "ov_bench_capacity"
CARRIER_SID = "AC" + "3" * 32
CARRIER_TOKEN = "bench-capacity-carrier"
OUTAGE_LINE = "+15125550000"
IDLE_S = 20.0
HEALTHZ_REQUESTS = 3000
FETCH_CONCURRENCY = 8
STATS_SETTLE_S = 11.0  # a backend publishes its counters at most every 10 s when idle
INBOUND_ARRIVALS_PER_S = 10.0
OUTBOUND_CPS = 25
PHASE_TIMEOUT_S = 600.0
# Out feeders are FDR-001..FDR-040 (bench.inbound.prepare): callers come from the first
# half, the campaign's audience from the second, so no number is both.
INBOUND_FEEDERS = 20
# An outage-line caller: hears the status and the menu, presses 1 (report), hears the
# report taken and hangs up during the menu that follows.
CALLER = Persona(behaviour=Behaviour.HANGUP, digits=("1",), hangup_after_s=40.0)
PERSONA_MIX: tuple[tuple[float, Persona], ...] = (
    (0.65, Persona(behaviour=Behaviour.HANGUP, ring_s=3.0, hangup_after_s=25.0)),
    (0.10, Persona(behaviour=Behaviour.HANGUP, ring_s=3.0, digits=("1",), hangup_after_s=35.0)),
    (0.15, Persona(behaviour=Behaviour.MACHINE, ring_s=3.0, greeting_s=4.0)),
    (0.10, Persona(behaviour=Behaviour.BUSY, ring_s=1.0)),
)
AUTOMATIC_RULES = ("acknowledge", "etr_update", "all_clear")
MONITOR = "/* capacity-bench monitor */"
SNAPSHOT_SQL = f"""{MONITOR}
SELECT (SELECT coalesce(json_agg(json_build_object('id', s.queryid::text, 'calls', s.calls,
                'wal', s.wal_bytes, 'query', left(regexp_replace(s.query, '\\s+', ' ', 'g'), 90)
               )), '[]'::json)
          FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = current_database() AND s.toplevel
           AND s.query NOT LIKE '%capacity-bench monitor%') AS statements,
       (SELECT json_build_object('commits', xact_commit, 'ins', tup_inserted,
                                 'upd', tup_updated, 'del', tup_deleted)
          FROM pg_stat_database WHERE datname = current_database()) AS database,
       (SELECT coalesce(json_object_agg(relname, json_build_array(n_tup_ins, n_tup_upd,
                                                                  n_tup_del)), '{{}}'::json)
          FROM pg_stat_user_tables) AS tables,
       pg_backend_pid() AS pid"""
ROW_SIZE_TABLES = (
    "inbound_calls", "outage_reports", "call_attempts", "campaign_targets", "audit_log",
    "audio_cache", "callback_requests",
)  # fmt: skip


# --- CPU from /proc --------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _ticks(fields: list[str], *, reaped: bool) -> int:
    own = int(fields[11]) + int(fields[12])
    return own + (int(fields[13]) + int(fields[14]) if reaped else 0)


def process_cpu_s(pid: int) -> float:
    """CPU seconds of a process (all threads) and of its children it has reaped."""
    fields = _stat(pid)
    return 0.0 if fields is None else _ticks(fields, reaped=True) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class PostgresCpu:
    total_s: float  # the postmaster, every live child, and every child that has exited
    backends_s: dict[int, float]  # the server database's backends, by pid


def postgres_cpu(postmaster: int, database: str, monitor_pid: int) -> PostgresCpu:
    tick = os.sysconf("SC_CLK_TCK")
    head = _stat(postmaster)
    total = 0 if head is None else _ticks(head, reaped=True)
    backends: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None or int(fields[1]) != postmaster:
            continue
        ticks = _ticks(fields, reaped=False)
        total += ticks
        try:
            title = Path(f"/proc/{entry.name}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if f" {database} " in title and int(entry.name) != monitor_pid:
            backends[int(entry.name)] = ticks / tick
    return PostgresCpu(total_s=total / tick, backends_s=backends)


# --- snapshots -------------------------------------------------------------------------


@dataclass
class Snapshot:
    at: float
    serve_cpu_s: float
    postgres: PostgresCpu
    statements: dict[str, tuple[int, int, str]]  # queryid: (calls, WAL bytes, text)
    database: dict[str, int]
    tables: dict[str, list[int]]
    audio: tuple[int, int]  # WAV files in the audio folder, their bytes


def audio_files(folder: Path) -> tuple[int, int]:
    """How many WAV files the server's audio folder holds, and their bytes."""
    sizes = [path.stat().st_size for path in folder.rglob("*.wav")] if folder.is_dir() else []
    return len(sizes), sum(sizes)


@dataclass
class Monitor:
    connection: asyncpg.Connection
    postmaster: int
    monitor_pid: int
    serve_pid: int
    audio: Path

    async def snapshot(self) -> Snapshot:
        row = await self.connection.fetchrow(SNAPSHOT_SQL)
        assert row is not None
        statements = {
            s["id"]: (int(s["calls"]), int(s["wal"]), s["query"])
            for s in json.loads(row["statements"])
        }
        return Snapshot(
            at=time.monotonic(),
            serve_cpu_s=process_cpu_s(self.serve_pid),
            postgres=postgres_cpu(self.postmaster, DATABASE, self.monitor_pid),
            statements=statements,
            database={k: int(v) for k, v in json.loads(row["database"]).items()},
            tables=json.loads(row["tables"]),
            audio=audio_files(self.audio),
        )


@dataclass
class Phase:
    """What happened between two snapshots."""

    name: str
    operations: int
    unit: str
    seconds: float
    serve_cpu_s: float
    postgres_cpu_s: float
    backends_cpu_s: float
    statements: int
    wal_bytes: int
    commits: int
    rows: dict[str, int]  # inserted, updated, deleted
    tables: dict[str, tuple[int, int, int]]
    top: list[tuple[int, str]]
    audio: tuple[int, int]  # WAV files made, their bytes
    counts: dict[str, float] = field(default_factory=dict)  # webhooks, callbacks... per op


def difference(name: str, before: Snapshot, after: Snapshot, operations: int, unit: str) -> Phase:
    calls: dict[str, int] = {}
    wal = 0
    text: dict[str, str] = {}
    for key, (count, wal_bytes, query) in after.statements.items():
        was = before.statements.get(key, (0, 0, ""))
        if count - was[0]:
            calls[key] = count - was[0]
            wal += wal_bytes - was[1]
            text[key] = query
    backends = sum(
        cpu - before.postgres.backends_s.get(pid, 0.0)
        for pid, cpu in after.postgres.backends_s.items()
    )
    tables = {}
    for table, (ins, upd, dele) in after.tables.items():
        old = before.tables.get(table, [0, 0, 0])
        moved = (ins - old[0], upd - old[1], dele - old[2])
        if any(moved):
            tables[table] = moved
    return Phase(
        name=name,
        operations=operations,
        unit=unit,
        seconds=after.at - before.at,
        serve_cpu_s=after.serve_cpu_s - before.serve_cpu_s,
        postgres_cpu_s=after.postgres.total_s - before.postgres.total_s,
        backends_cpu_s=backends,
        statements=sum(calls.values()),
        wal_bytes=wal,
        # The monitor's own earlier snapshot is one committed transaction in the database.
        commits=after.database["commits"] - before.database["commits"] - 1,
        rows={k: after.database[k] - before.database[k] for k in ("ins", "upd", "del")},
        tables=tables,
        top=sorted(((n, text[k]) for k, n in calls.items()), reverse=True)[:12],
        audio=(after.audio[0] - before.audio[0], after.audio[1] - before.audio[1]),
    )


# --- the carrier in this process -------------------------------------------------------


def settled(calls: Iterable[CallRecord]) -> bool:
    """Every call over and every status callback it sent answered (or failed)."""
    for call in calls:
        if not call.status.is_final:
            return False
        if call.status_callback and not any(e["event"] == "completed" for e in call.callbacks):
            return False
        for entry in call.callbacks:
            if any("latency_ms" not in d for d in entry["deliveries"]):
                return False
    return True


def carrier_counts(calls: list[CallRecord]) -> dict[str, float]:
    """What the carrier sent the server, per call."""
    n = max(1, len(calls))
    webhooks = sum(len(c.webhooks) for c in calls)
    callbacks = sum(len(e["deliveries"]) for c in calls for e in c.callbacks)
    audio = sum(1 for c in calls for t in c.transcript if t.get("verb") == "Play" and "url" in t)
    failed = sum(
        1
        for c in calls
        for e in c.callbacks
        for d in e["deliveries"]
        if d.get("error") or d.get("http_status", 200) >= 400
    )
    failed += sum(
        1 for c in calls for w in c.webhooks if w.get("error") or w.get("status", 200) >= 400
    )
    return {
        "TwiML webhooks": webhooks / n,
        "status callbacks": callbacks / n,
        "audio fetches": audio / n,
        "answered": sum(1 for c in calls if c.answered_at is not None) / n,
        "failed requests (all calls)": float(failed),
    }


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.5)


# --- the run ---------------------------------------------------------------------------


def inbound_callers(utility: SyntheticUtility, customers: int, calls: int) -> list[str]:
    """Distinct numbers of customers on the first INBOUND_FEEDERS out feeders."""
    numbers: list[str] = []
    seen: set[str] = set()
    for index in range(customers):
        if index % FEEDERS >= INBOUND_FEEDERS:
            continue
        number = normalize_phone(utility.primary_phone_of(index), "US")
        if number not in seen:
            seen.add(number)
            numbers.append(number)
        if len(numbers) == calls:
            return numbers
    raise SystemExit(f"only {len(numbers)} callers on {INBOUND_FEEDERS} feeders: more --customers")


def outbound_feeders(customers: int, calls: int) -> list[str]:
    per_feeder = customers / FEEDERS
    needed = math.ceil(calls / per_feeder)
    if needed > FEEDERS // 10 - INBOUND_FEEDERS:
        raise SystemExit("too few customers for that many campaign calls: more --customers")
    return [f"FDR-{INBOUND_FEEDERS + 1 + n:03d}" for n in range(needed)]


async def fetch_all(urls: list[str]) -> None:
    """Each URL once, FETCH_CONCURRENCY at a time; every answer must be a 200."""
    left = list(reversed(urls))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while left:
                url = left.pop()
                async with session.get(url) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise SystemExit(f"{url} answered {answer.status}")

        await asyncio.gather(*(worker() for _ in range(FETCH_CONCURRENCY)))


async def run(customers: int, calls: int) -> None:
    print(machine_line(command_line()))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    async with embedded_with_statements() as admin_dsn:
        dsn = await recreate_database(admin_dsn, DATABASE)
        connection = await asyncpg.connect(dsn)
        try:
            await apply_migrations(connection)
            await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        finally:
            await connection.close()
        with tempfile.TemporaryDirectory(prefix="ov-capacity-") as folder:
            await measure(dsn, Path(folder), customers, calls)


async def measure(dsn: str, folder: Path, customers: int, calls: int) -> None:
    carrier_port, app_port = free_port(), free_port()
    carrier_url = f"http://127.0.0.1:{carrier_port}"
    app_url = f"http://127.0.0.1:{app_port}"
    env = os.environ | {
        "DATABASE_URL": dsn,
        "OUTAGE_VOICE_HOME": str(folder / "home"),
        "OUTAGE_VOICE_PUBLIC_URL": app_url,
        "TWILIO_ACCOUNT_SID": CARRIER_SID,
        "TWILIO_AUTH_TOKEN": CARRIER_TOKEN,
        "TWILIO_FROM_NUMBER": OUTAGE_LINE,
        "OUTAGE_VOICE_TWILIO_API_URL": carrier_url,
    }
    started = time.perf_counter()
    utility = await prepare(dsn, customers, env)
    # The out feeders' automatic calls would mix with the campaign measured: rules off.
    cli(["automation", "set", *(f"{rule}.enabled=false" for rule in AUTOMATIC_RULES)], env)
    print(f"  (prepared in {time.perf_counter() - started:.0f} s; automatic calls off)")
    async with open_pool(dsn) as pool:
        token = await TokenService(PgTokenStore(pool), SystemClock()).create(
            role=Role.SUPERVISOR, name="capacity bench"
        )
    callers = inbound_callers(utility, customers, calls)
    personas = PersonaBook(exact=dict.fromkeys(callers, CALLER), mix=PERSONA_MIX, seed=3)
    carrier = VirtualCarrier(
        CarrierSettings(
            account_sid=CARRIER_SID,
            auth_token=CARRIER_TOKEN,
            cps=None,
            personas=personas,
            api_url=carrier_url,
        ),
        RealClock(),
    )
    runner = web.AppRunner(create_carrier_app(carrier), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", carrier_port).start()
    serve = start(
        ["-m", "outage_voice", "serve", "--host", "127.0.0.1", "--port", str(app_port)], env
    )
    monitor_connection = await asyncpg.connect(dsn)
    try:
        await wait_ready(app_url, "/healthz", serve)
        backend = await monitor_connection.fetchval("SELECT pg_backend_pid()")
        fields = _stat(int(backend))
        assert fields is not None
        monitor = Monitor(
            monitor_connection, int(fields[1]), int(backend), serve.pid, folder / "home" / "audio"
        )
        await asyncio.sleep(STATS_SETTLE_S)
        phases = await phases_of(monitor, carrier, app_url, token, callers, customers, calls)
        sizes = await row_sizes(monitor_connection)
        connections = await monitor_connection.fetchval(
            f"{MONITOR} SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await monitor_connection.close()
        stop(serve)
        await carrier.close()
        await runner.cleanup()
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    report(phases, sizes, int(connections), customers)


async def phases_of(
    monitor: Monitor,
    carrier: VirtualCarrier,
    app_url: str,
    token: str,
    callers: list[str],
    customers: int,
    calls: int,
) -> list[Phase]:
    phases = []
    first = await monitor.snapshot()
    await asyncio.sleep(IDLE_S)
    idle_end = await monitor.snapshot()
    phases.append(difference("idle", first, idle_end, round(IDLE_S), "second"))

    await fetch_all([f"{app_url}/healthz"] * HEALTHZ_REQUESTS)
    await asyncio.sleep(STATS_SETTLE_S)
    health_end = await monitor.snapshot()
    phases.append(difference("GET /healthz", idle_end, health_end, HEALTHZ_REQUESTS, "request"))

    calls_made: list[CallRecord] = []
    last = health_end
    for name in ("inbound call", "inbound, again"):
        inbound = carrier.dial_in(
            voice_url=f"{app_url}/twilio/voice",
            to=OUTAGE_LINE,
            callers=callers,
            arrivals_per_s=INBOUND_ARRIVALS_PER_S,
            status_callback=f"{app_url}/twilio/status",
        )
        await until(functools.partial(settled, inbound), "the inbound calls")
        await asyncio.sleep(STATS_SETTLE_S)
        inbound_end = await monitor.snapshot()
        phase = difference(name, last, inbound_end, len(inbound), "call")
        last = inbound_end
        phase.counts = carrier_counts(inbound)
        phases.append(phase)
        calls_made += inbound

    audio = [
        t["url"]
        for c in calls_made
        for t in c.transcript
        if t.get("verb") == "Play" and "url" in t and "error" not in t
    ]
    await fetch_all(audio)
    await asyncio.sleep(STATS_SETTLE_S)
    audio_end = await monitor.snapshot()
    phases.append(difference("GET /audio again", last, audio_end, len(audio), "fetch"))

    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "name": "Capacity",
        "kind": "custom",
        "audience": {"feeders": outbound_feeders(customers, calls)},
        "message": {"text": "Crews are working in your area tonight. Thank you for your patience."},
        "pacing": {"cps": OUTBOUND_CPS, "max_concurrent": 1000},
        "urgent": True,
        "window": "24h",  # the server runs on the real clock, whatever the hour
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{app_url}/api/v1/campaigns", json=body, headers=headers) as r:
            view: dict[str, Any] = await r.json()
            assert r.status == 201, view
        targets = int(view["progress"]["targets"])
        print(f"campaign: {targets} numbers, cps {OUTBOUND_CPS}")
        await asyncio.sleep(STATS_SETTLE_S)  # the plan's counters published before the start
        before = await monitor.snapshot()
        campaign = f"{app_url}/api/v1/campaigns/{view['id']}"
        async with session.post(f"{campaign}/start", headers=headers) as r:
            assert r.status == 200, await r.text()

        def placed() -> list[CallRecord]:
            return [c for c in carrier.calls.values() if c.direction != "inbound"]

        await until(lambda: len(placed()) >= targets and settled(placed()), "the campaign calls")
        await asyncio.sleep(STATS_SETTLE_S)
        after = await monitor.snapshot()
        async with session.post(f"{campaign}/cancel", headers=headers) as r:
            assert r.status == 200, await r.text()
    outbound = placed()
    phase = difference("placed call", before, after, len(outbound), "call")
    phase.counts = carrier_counts(outbound)
    phases.append(phase)
    return phases


async def row_sizes(connection: asyncpg.Connection) -> dict[str, tuple[int, int, float, int]]:
    """Per table calls write: rows, bytes (table, indexes and TOAST: whole pages, so a few
    hundred rows overstate it), the mean row's own bytes, and how many indexes it has."""
    sizes = {}
    for table in ROW_SIZE_TABLES:
        row = await connection.fetchrow(
            f"""{MONITOR} SELECT count(*) AS n, pg_total_relation_size($1::regclass) AS bytes,
                   coalesce(avg(pg_column_size(t.*)), 0) AS width,
                   (SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass) AS indexes
                FROM {table} t""",
            table,
        )
        assert row is not None
        sizes[table] = (int(row["n"]), int(row["bytes"]), float(row["width"]), int(row["indexes"]))
    return sizes


def report(
    phases: list[Phase],
    sizes: dict[str, tuple[int, int, float, int]],
    connections: int,
    customers: int,
) -> None:
    idle = phases[0]
    per_s = {
        "serve": idle.serve_cpu_s / idle.seconds,
        "postgres": idle.postgres_cpu_s / idle.seconds,
        "statements": idle.statements / idle.seconds,
        "backends": idle.backends_cpu_s / idle.seconds,
    }
    print(
        f"{customers:,} customers, {FEEDERS // 10} of {FEEDERS} feeders out; serve (dialer on) "
        f"held {connections} connections to its database at the end"
    )
    print(
        f"idle: serve {per_s['serve'] * 1000:.1f} ms CPU/s, PostgreSQL "
        f"{per_s['postgres'] * 1000:.1f} ms CPU/s, {per_s['statements']:.2f} statements/s "
        f"(over {idle.seconds:.0f} s; subtracted below as 'net')"
    )
    base = phases[1]
    base_serve = (base.serve_cpu_s - per_s["serve"] * base.seconds) / base.operations
    header = (
        f"{'per operation':<16}{'ops':>5}{'secs':>6}{'serve CPU ms':>13}{'net':>7}"
        f"{'PG CPU ms':>10}{'net':>7}{'backends net':>13}{'stmts':>7}{'net':>7}{'commits':>8}"
        f"{'rows i/u/d':>14}{'WAL KB':>8}{'serve CPU ratio':>16}"
    )
    print(header)
    for phase in phases[1:]:
        n = phase.operations
        serve_net = (phase.serve_cpu_s - per_s["serve"] * phase.seconds) / n
        pg_net = (phase.postgres_cpu_s - per_s["postgres"] * phase.seconds) / n
        backends_net = (phase.backends_cpu_s - per_s["backends"] * phase.seconds) / n
        stmts_net = (phase.statements - per_s["statements"] * phase.seconds) / n
        rows = "/".join(f"{phase.rows[k] / n:.1f}" for k in ("ins", "upd", "del"))
        print(
            f"{phase.name:<16}{n:>5}{phase.seconds:>6.0f}{phase.serve_cpu_s / n * 1000:>13.3f}"
            f"{serve_net * 1000:>7.3f}{phase.postgres_cpu_s / n * 1000:>10.3f}"
            f"{pg_net * 1000:>7.3f}{backends_net * 1000:>13.3f}"
            f"{phase.statements / n:>7.1f}{stmts_net:>7.1f}{phase.commits / n:>8.1f}"
            f"{rows:>14}{phase.wal_bytes / n / 1024:>8.1f}{serve_net / base_serve:>16.1f}"
        )
    for phase in phases[2:]:
        if not phase.counts:
            continue
        print(f"{phase.name}: what the carrier sent per {phase.unit}: " + ", ".join(
            f"{k} {v:.2f}" if k != "failed requests (all calls)" else f"{k} {v:.0f}"
            for k, v in phase.counts.items()
        ))  # fmt: skip
        webhooks = phase.counts["TwiML webhooks"] + phase.counts["status callbacks"]
        n = phase.operations
        serve_net = (phase.serve_cpu_s - per_s["serve"] * phase.seconds) / n
        stmts_net = (phase.statements - per_s["statements"] * phase.seconds) / n
        print(
            f"  per webhook (TwiML + callbacks, {webhooks:.2f} per {phase.unit}; audio fetches "
            f"counted in the call): serve {serve_net / webhooks * 1000:.3f} ms net, "
            f"{stmts_net / webhooks:.2f} statements net"
        )
        made, size = phase.audio
        print(
            f"  audio files made per {phase.unit}: {made / n:.2f}, "
            f"{size / n / 1024:,.0f} KB ({size / max(made, 1) / 1024:,.0f} KB each)"
        )
        print("  rows written per " + phase.unit + ": " + ", ".join(
            f"{t} +{i / n:.2f}/~{u / n:.2f}/-{d / n:.2f}"
            for t, (i, u, d) in sorted(phase.tables.items())
        ))  # fmt: skip
        print("  statements, most called (per " + phase.unit + "):")
        for count, query in phase.top:
            print(f"    {count / n:6.2f}  {query}")
    print("tables after the run (size: table + indexes + TOAST, in whole pages):")
    for table, (rows, size, width, indexes) in sizes.items():
        each = f"{size / rows:,.0f} B/row" if rows else "-"
        print(
            f"  {table:<20} {rows:>9,} rows {size / 1024:>9,.0f} KB  {each:>12}  "
            f"mean row {width:,.0f} B, {indexes} indexes"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(run(args.customers, args.calls))


if __name__ == "__main__":
    main()
