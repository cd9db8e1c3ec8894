"""The campaign engine's figures: (a) planning a million targets, (b) the highest sustained
placement rate with pacing uncapped, (c) pacing precision at 10 and 50 calls per second.

(a) Targets for a million-customer outage, built set-wise by the server's planning
    connections side by side (all or nothing; audience keys go in with COPY), beside a
    baseline in the same run: a plain `INSERT ... SELECT` of the same million phone numbers
    into an unindexed table.
(b) and (c) run the real server (dialer and webhooks) with the virtual carrier in process,
    on real time; every attempt is persisted and its callbacks handled. The carrier's own
    record of when each call was created is what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench._common import (
    command_line,
    import_synthetic,
    machine_line,
    percentile,
    scratch_database,
)
from bench.inbound import free_port
from outage_voice.adapters.clock import SystemClock
from outage_voice.adapters.db.outages import PgOutageStore
from outage_voice.adapters.db.pool import open_pool
from outage_voice.adapters.db.tokens import PgTokenStore
from outage_voice.bootstrap import create_app
from outage_voice.carrier.engine import CarrierSettings
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import Settings, load_settings
from outage_voice.domain.auth import Role
from outage_voice.domain.outages import parse_outage_state
from outage_voice.event_loop import new_event_loop
from outage_voice.services.tokens import TokenService
from outage_voice.synthetic import SyntheticUtility
from outage_voice.web.keys import VIRTUAL_CARRIER

FEEDERS = 100


async def load(dsn: str, customers: int) -> str:
    """Customers, one outage over every feeder, and a supervisor token (returned)."""
    utility = SyntheticUtility(customers=customers, feeders=FEEDERS)
    async with open_pool(dsn) as pool:
        await import_synthetic(pool, utility)
        now = datetime.now(UTC)
        state = parse_outage_state(
            {"status": "restored", "feeder_ids": [utility.feeder_of(n) for n in range(FEEDERS)]},
            now=now,
        )
        await PgOutageStore(pool).upsert("EVERYONE", state, actor="bench", now=now)
        await pool.execute("ANALYZE")
        return await TokenService(PgTokenStore(pool), SystemClock()).create(
            role=Role.SUPERVISOR, name="bench"
        )


async def plan(dsn: str, token: str) -> None:
    async with open_pool(dsn) as pool:
        started = time.perf_counter()
        await pool.execute(
            "CREATE UNLOGGED TABLE baseline_targets (phone text, campaign bigint);"
            "INSERT INTO baseline_targets SELECT e164, 1 FROM phones;"
        )
        base_s = time.perf_counter() - started
    settings = dataclasses.replace(load_settings({}), database_url=dsn)
    async with with_server(settings, None, dialer=False) as (url, _):
        body = {"name": "everyone", "kind": "restoration", "audience": {"outage_id": "EVERYONE"}}
        started = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(f"{url}/api/v1/campaigns", json=body, headers=headers) as r:
                view = await r.json()
                assert r.status == 201, view
            plan_s = time.perf_counter() - started
            progress_s: dict[str, list[float]] = {"fresh=1": [], "reused": []}
            for query in ("?fresh=1", "?fresh=1", "?fresh=1", "", "", ""):
                asked = time.perf_counter()
                async with session.get(
                    f"{url}/api/v1/campaigns/{view['id']}{query}", headers=headers
                ) as r:
                    assert r.status == 200, await r.text()
                progress_s["fresh=1" if query else "reused"].append(time.perf_counter() - asked)
    targets = view["progress"]["targets"]
    print(
        f"(a) planned {targets:,} targets in {plan_s:.1f} s (API call, all or nothing); "
        f"baseline INSERT...SELECT of the same numbers {base_s:.1f} s; ratio {plan_s / base_s:.1f}x"
    )
    print(
        "    its progress (GET /api/v1/campaigns/{id}): "
        + ", ".join(
            f"{how} {' / '.join(f'{s * 1000:.0f}' for s in times)} ms"
            for how, times in progress_s.items()
        )
    )


@asynccontextmanager
async def with_server(
    settings: Settings, carrier: CarrierSettings | None, *, dialer: bool
) -> AsyncIterator[tuple[str, web.Application]]:
    """The real server on a loopback port (its dialer on real time when asked for)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="ov-dialer-") as home:
        app = create_app(
            dataclasses.replace(settings, public_url=url, home=Path(home)),
            run_dialer=dialer,
            carrier_settings=carrier,
        )
        runner = web.AppRunner(app, access_log=None)  # as `outage-voice serve` runs it
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield url, app
        finally:
            await runner.cleanup()


EXTERNAL_SID = "AC" + "2" * 32
EXTERNAL_TOKEN = "bench-carrier"


def start_carrier(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command)


async def run_external(dsn: str, token: str, seconds: float, cps: float = 1000) -> None:
    """(b) with the virtual carrier in a process of its own (`carrier-sim`), as a real
    carrier would be: the server's process does only the server's work."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        personas = Path(folder) / "personas.json"
        personas.write_text('{"mix": [[1, {"behaviour": "busy", "ring_s": 0.5}]]}')
        call_log = Path(folder) / "calls.jsonl"
        carrier = start_carrier(
            [sys.executable, "-m", "outage_voice", "carrier-sim", "--auth-token", EXTERNAL_TOKEN,
             "--account-sid", EXTERNAL_SID, "--port", str(port), "--cps", "0",
             "--personas", str(personas), "--call-log", str(call_log)],
        )  # fmt: skip
        try:
            await asyncio.sleep(2.0)
            settings = dataclasses.replace(
                load_settings(
                    {
                        "TWILIO_ACCOUNT_SID": EXTERNAL_SID,
                        "TWILIO_AUTH_TOKEN": EXTERNAL_TOKEN,
                        "TWILIO_FROM_NUMBER": "+15125550000",
                        "OUTAGE_VOICE_TWILIO_API_URL": f"http://127.0.0.1:{port}",
                    }
                ),
                database_url=dsn,
            )
            await run_campaign(
                dsn, token, cps, seconds, None, settings=settings, call_log=(carrier, call_log)
            )
        finally:
            if carrier.poll() is None:
                carrier.terminate()
                carrier.wait(timeout=20)


def logged_calls(carrier: subprocess.Popen[bytes], call_log: Path) -> list[CarrierRow]:
    """The carrier's own record (exact timestamps), written when it stops."""
    carrier.terminate()
    carrier.wait(timeout=60)
    rows = []
    for line in call_log.read_text().splitlines():
        call = json.loads(line)
        rows.append(
            CarrierRow(
                created_at=datetime.fromisoformat(call["created_at"]),
                ended=call["status"] in ("completed", "busy", "no-answer", "failed", "canceled"),
            )
        )
    return rows


@dataclasses.dataclass
class CarrierRow:
    created_at: datetime
    ended: bool


async def run_campaign(
    dsn: str,
    token: str,
    cps: float,
    seconds: float,
    persona: Persona | None,
    *,
    settings: Settings | None = None,
    call_log: tuple[subprocess.Popen[bytes], Path] | None = None,
) -> None:
    settings = settings or dataclasses.replace(load_settings({}), database_url=dsn)
    carrier = (
        None
        if persona is None
        else CarrierSettings(cps=None, personas=PersonaBook(mix=((1.0, persona),)))
    )
    async with with_server(settings, carrier, dialer=True) as (url, app):
        body = {
            "name": f"{cps} cps",
            "kind": "restoration",
            "urgent": True,
            "audience": {"outage_id": "EVERYONE"},
            "pacing": {"cps": cps, "max_concurrent": 10_000},
        }
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/api/v1/campaigns", json=body, headers=headers) as r:
                view = await r.json()
            campaign = f"{url}/api/v1/campaigns/{view['id']}"
            async with session.post(f"{campaign}/start", headers=headers) as r:
                assert r.status == 200
            cpu_started = time.process_time()
            await asyncio.sleep(seconds)
            cpu_s = time.process_time() - cpu_started
            async with session.post(f"{campaign}/cancel", headers=headers) as r:
                assert r.status == 200
            await asyncio.sleep(2)
            async with session.get(f"{campaign}?fresh=1", headers=headers) as r:
                view = await r.json()
        if call_log is None:
            calls = [
                CarrierRow(created_at=c.created_at, ended=c.status.is_final)
                for c in app[VIRTUAL_CARRIER].calls.values()
            ]
        else:
            calls = logged_calls(*call_log)
        calls.sort(key=lambda c: c.created_at)
        report(cps, seconds, calls, view, cpu_s)


def report(
    cps: float, seconds: float, calls: list[CarrierRow], view: dict[str, Any], cpu_s: float
) -> None:
    """`cpu_s`: the server process's CPU time while the campaign ran (with the carrier in
    its own process, that is the server's cost alone)."""
    moments = [c.created_at.timestamp() for c in calls]
    skip = 2.0  # the first seconds include the server warming up
    steady = [m for m in moments if m >= moments[0] + skip] if moments else []
    span = (steady[-1] - steady[0]) if len(steady) > 1 else float("nan")
    rate = (len(steady) - 1) / span if len(steady) > 1 else 0.0
    most, first = 0, 0
    for last, moment in enumerate(moments):
        while moment - moments[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    gaps = [b - a for a, b in itertools.pairwise(steady)]
    jitter = [abs(g - 1 / cps) * 1000 for g in gaps] if cps else []
    ended = sum(1 for c in calls if c.ended)
    per_second = (
        [sum(1 for m in moments if int(m - moments[0]) == s) for s in range(int(seconds) + 1)]
        if moments
        else []
    )
    label = "uncapped" if cps >= 1000 else f"cap {cps:g}/s"
    print(
        f"  {label:<12} {len(calls):6,} calls in {seconds:.0f} s  achieved {rate:7.1f}/s"
        + (f" ({rate / cps:.1%} of cap)" if cps < 1000 else "")
        + f"  most in any 1-s window {most}"
        + (
            f"  gap jitter p50 {percentile(jitter, 0.5):.2f} ms"
            f" p99 {percentile(jitter, 0.99):.2f} ms"
            if jitter and cps < 1000
            else ""
        )
        + f"  ended {ended}  attempts persisted {view['progress']['attempts']}"
    )
    print(f"    calls in each second: {' '.join(map(str, per_second))}")
    if calls:
        print(
            f"    server CPU {cpu_s / seconds:.0%} of a core,"
            f" {cpu_s * 1000 / len(calls):.2f} ms per call placed"
        )


async def main(customers: int, seconds: float, only: str) -> None:
    print(machine_line(command_line()))
    async with scratch_database("ov_bench_dialer") as dsn:
        started = time.perf_counter()
        token = await load(dsn, customers)
        print(f"database: {customers:,} customers in {time.perf_counter() - started:.0f} s")
        if only in ("all", "plan"):
            await plan(dsn, token)
        if only in ("all", "rate"):
            print("(b) placement rate, pacing uncapped (cps 1000), every call busy after 0.5 s:")
            print("  carrier in its own process (carrier-sim):")
            await run_external(dsn, token, min(seconds, 20))
            print("  carrier in the server's process:")
            await run_campaign(
                dsn, token, 1000, min(seconds, 20), Persona(behaviour=Behaviour.BUSY, ring_s=0.5)
            )
        if only in ("all", "pacing"):
            print(f"(c) pacing precision, {seconds:.0f} s each:")
            for cps in (10, 50):
                print("  carrier in its own process (carrier-sim):")
                await run_external(dsn, token, seconds, cps)
                print("  carrier in the server's process:")
                await run_campaign(dsn, token, cps, seconds, Persona(behaviour=Behaviour.BUSY))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--only", choices=("all", "plan", "rate", "pacing"), default="all")
    arguments = parser.parse_args()
    # The event loop `outage-voice serve` runs on (uvloop where installed).
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main(arguments.customers, arguments.seconds, arguments.only))
