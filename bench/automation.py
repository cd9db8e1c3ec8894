"""Outage automation's figures: (a) from the OMS's PUT confirming an outage to the first
automatic call arriving at the carrier (blink hold 0), for 100,000 and 1,000,000 affected
customers; (b) the automation worker's event throughput (outage changes applied per second).

(a) The real server (dialer, automation worker, webhooks) with the virtual carrier in its
    process, on real time; the carrier's own record of when the first call was created is
    what is measured. Baseline, same run, same audience: a supervisor's manual campaign
    (POST /api/v1/campaigns, which plans every target before answering, then start) to its
    first call: the way it had to be done before the automation.
(b) Changes to small outages (each an ETR move the rules look at; acknowledgements held, so
    no call) written to the outbox with the server down, then consumed by the leader's worker
    once it starts: changes applied per second. Baseline: the rate the same writes went in
    at (a worker keeping up with the OMS shows a ratio of 1 or more).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from bench._common import command_line, import_synthetic, machine_line, scratch_database
from bench.dialer import with_server
from outage_voice.adapters.clock import SystemClock
from outage_voice.adapters.db.automation import PgAutomationStore
from outage_voice.adapters.db.outages import PgOutageStore
from outage_voice.adapters.db.pool import open_pool
from outage_voice.adapters.db.tokens import PgTokenStore
from outage_voice.carrier.engine import CarrierSettings
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import load_settings
from outage_voice.domain.auth import Role
from outage_voice.domain.automation import AutomationRules, merge_rules
from outage_voice.domain.outages import parse_outage_state
from outage_voice.event_loop import new_event_loop
from outage_voice.services.outages import OutageService
from outage_voice.services.tokens import TokenService
from outage_voice.synthetic import SyntheticUtility
from outage_voice.web.keys import VIRTUAL_CARRIER

FEEDERS = 100
POLL_S = 0.005
FIRST_CALL_TIMEOUT_S = 120.0
# Every call is busy after half a second of ringing: the carrier's and webhooks' work stays
# small beside what is measured.
BUSY = CarrierSettings(
    cps=None, personas=PersonaBook(mix=((1.0, Persona(behaviour=Behaviour.BUSY, ring_s=0.5)),))
)
FAST_PACING = {"cps": 50, "max_concurrent": 1000}


async def load(dsn: str, customers: int) -> dict[Role, str]:
    utility = SyntheticUtility(customers=customers, feeders=FEEDERS)
    async with open_pool(dsn) as pool:
        await import_synthetic(pool, utility)
        await pool.execute("ANALYZE")
        tokens = TokenService(PgTokenStore(pool), SystemClock())
        return {
            role: await tokens.create(role=role, name=f"bench {role.value}")
            for role in (Role.OMS, Role.SUPERVISOR)
        }


class Api:
    def __init__(self, session: aiohttp.ClientSession, url: str, tokens: dict[Role, str]):
        self._session = session
        self._url = url
        self._tokens = tokens

    async def call(self, role: Role, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self._tokens[role]}"}
        async with self._session.request(
            method, f"{self._url}{path}", json=body, headers=headers
        ) as answer:
            payload = await answer.json()
            if answer.status >= 300:
                raise RuntimeError(f"{method} {path}: {answer.status} {payload}")
            return payload


async def first_call_after(app: Any, since: datetime) -> float:
    carrier = app[VIRTUAL_CARRIER]
    deadline = time.perf_counter() + FIRST_CALL_TIMEOUT_S
    while time.perf_counter() < deadline:
        created = [c.created_at for c in list(carrier.calls.values()) if c.created_at >= since]
        if created:
            return (min(created) - since).total_seconds()
        await asyncio.sleep(POLL_S)
    raise TimeoutError("no call reached the carrier")


async def settle(api: Api, pool: asyncpg.Pool) -> None:
    """Every campaign cancelled and its calls ended, so the next measurement starts clean."""
    listed = await api.call(Role.SUPERVISOR, "GET", "/api/v1/campaigns")
    for campaign in listed["campaigns"]:
        if campaign["state"] in ("draft", "running", "paused"):
            await api.call(Role.SUPERVISOR, "POST", f"/api/v1/campaigns/{campaign['id']}/cancel")
    for _ in range(600):
        live = await pool.fetchval("SELECT count(*) FROM call_attempts WHERE ended_at IS NULL")
        if live == 0:
            return
        await asyncio.sleep(0.1)


async def event_to_first_call(dsn: str, customers: int, tokens: dict[Role, str]) -> None:
    feeders = [
        SyntheticUtility(customers=customers, feeders=FEEDERS).feeder_of(n) for n in range(FEEDERS)
    ]
    settings = dataclasses.replace(load_settings({}), database_url=dsn)
    async with (
        with_server(settings, BUSY, dialer=True) as (url, app),
        aiohttp.ClientSession() as session,
        open_pool(dsn) as pool,
    ):
        api = Api(session, url, tokens)
        pacing = {trigger: FAST_PACING for trigger in ("confirmed", "etr_changed", "restored")}
        await api.call(
            Role.SUPERVISOR,
            "PUT",
            "/api/v1/automation",
            {"acknowledge": {"blink_hold_s": 0}, "window": "00:00-00:00", "pacing": pacing},
        )
        # Baseline: the whole plan, then start, then the first call.
        await api.call(
            Role.OMS,
            "PUT",
            "/api/v1/outages/BASELINE",
            {"status": "reported", "feeder_ids": feeders},
        )
        since = datetime.now(UTC)
        started = time.perf_counter()
        body = {
            "name": "baseline",
            "kind": "outage_ack",
            "urgent": True,
            "audience": {"outage_id": "BASELINE"},
            "pacing": FAST_PACING,
        }
        view = await api.call(Role.SUPERVISOR, "POST", "/api/v1/campaigns", body)
        planned_s = time.perf_counter() - started
        await api.call(Role.SUPERVISOR, "POST", f"/api/v1/campaigns/{view['id']}/start")
        manual_s = await first_call_after(app, since)
        await settle(api, pool)
        # The automation: the OMS confirms an outage over the same feeders.
        since = datetime.now(UTC)
        started = time.perf_counter()
        await api.call(
            Role.OMS,
            "PUT",
            "/api/v1/outages/STORM",
            {"status": "confirmed", "cause": "storm damage", "feeder_ids": feeders},
        )
        put_s = time.perf_counter() - started
        automatic_s = await first_call_after(app, since)
        planned = None
        for _ in range(3000):
            planning = await pool.fetchrow(
                "SELECT id, planning FROM campaigns WHERE automatic ORDER BY id DESC LIMIT 1"
            )
            if planning is not None and not planning["planning"]:
                planned = (datetime.now(UTC) - since).total_seconds()
                break
            await asyncio.sleep(0.1)
        targets = await pool.fetchval(
            "SELECT count(*) FROM campaign_targets WHERE campaign_id = $1", planning["id"]
        )
        await settle(api, pool)
    goal = 5.0 if customers <= 100_000 else 10.0
    print(
        f"(a) {customers:,} customers: PUT answered in {put_s * 1000:.0f} ms; first automatic "
        f"call {automatic_s:.2f} s after the PUT (goal <= {goal:.0f} s: "
        f"{'met' if automatic_s <= goal else 'MISSED'}); whole plan ({targets:,} numbers) "
        f"written {planned:.1f} s after the PUT"
    )
    print(
        f"    baseline, manual campaign: planned in {planned_s:.1f} s, first call "
        f"{manual_s:.2f} s after the POST; ratio automatic/manual {automatic_s / manual_s:.2f}"
    )


async def event_throughput(dsn: str, tokens: dict[Role, str], changes: int) -> None:
    """The outbox filled first (the OMS's writes through the outage service, the server
    down), then the server started: its worker's rate is measured from the consumption times
    it wrote, first to last, against the rate the writes themselves went at."""
    outages = 200
    etr = datetime.now(UTC) + timedelta(hours=4)
    async with open_pool(dsn) as pool:
        service = OutageService(PgOutageStore(pool), SystemClock())
        # Held acknowledgements: the rules look at every change, no call is placed.
        await PgAutomationStore(pool).save_rules(
            merge_rules(AutomationRules(), {"acknowledge": {"blink_hold_s": 86400}}),
            actor="bench",
            now=datetime.now(UTC),
        )
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(changes):
            queue.put_nowait(n)

        async def writer() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                body = {
                    "status": "confirmed",
                    "premise_ids": [f"P{n % outages:07d}"],
                    "etr": (etr + timedelta(minutes=n)).isoformat(),
                }
                state = parse_outage_state(body, now=datetime.now(UTC))
                await service.put(f"TP-{n % outages}", state, actor="bench")

        started = time.perf_counter()
        await asyncio.gather(*(writer() for _ in range(8)))
        written_s = time.perf_counter() - started
        settings = dataclasses.replace(load_settings({}), database_url=dsn)
        async with with_server(settings, BUSY, dialer=True):
            for _ in range(6000):
                waiting = await pool.fetchval(
                    "SELECT count(*) FROM outage_events WHERE consumed_at IS NULL"
                )
                if waiting == 0:
                    break
                await asyncio.sleep(0.05)
        span = await pool.fetchrow(
            "SELECT min(consumed_at) AS first, max(consumed_at) AS last, count(*) AS events"
            " FROM outage_events e JOIN outages o ON o.id = e.outage_id"
            " WHERE o.oms_id LIKE 'TP-%'"
        )
    consumed_s = (span["last"] - span["first"]).total_seconds()
    put_rate = changes / written_s
    consumed_rate = span["events"] / consumed_s
    print(
        f"(b) {changes:,} outage changes over {outages} outages: written at {put_rate:.0f}/s "
        f"(the outage service, 8 writers; each write and its outbox entry one transaction); "
        f"the worker applied {span['events']:,} in {consumed_s:.1f} s: "
        f"{consumed_rate:.0f} changes/s; ratio applied/written {consumed_rate / put_rate:.2f}"
    )


async def main(sizes: list[int], changes: int, *, first_call: bool = True) -> None:
    print(machine_line(command_line()))
    for customers in sizes:
        async with scratch_database("ov_bench_automation") as dsn:
            started = time.perf_counter()
            tokens = await load(dsn, customers)
            print(f"database: {customers:,} customers in {time.perf_counter() - started:.0f} s")
            if first_call:
                await event_to_first_call(dsn, customers, tokens)
            if customers == sizes[0] and changes:
                await event_throughput(dsn, tokens, changes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--only", choices=("all", "first-call", "throughput"), default="all")
    arguments = parser.parse_args()
    sizes = arguments.customers
    changes = 0 if arguments.only == "first-call" else arguments.changes
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main(sizes, changes, first_call=arguments.only != "throughput"))
