"""The OMS drives the calls: a storm fed through the OMS API, end to end through the real
server (automation worker and dialer on the leader) and the virtual carrier, on virtual time.

The script: an outage confirmed over four feeders, grown to six, an ETR set and then moved
five times in 40 minutes, one feeder restored early, then the whole outage restored; beside it
a blink (restored within the hold) and an outage cancelled while its acknowledgement calls
go out. Every customer's calls are then checked against the rules.

The default runs 30 customers a feeder (120 growing to 180); OUTAGE_VOICE_FULL_STORM=1 runs
the product's reference storm of 500 a feeder (2,000 growing to 3,000), which takes minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from outage_voice.bootstrap import Services, create_app
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.prompts import Moment, render, spoken
from outage_voice.web.keys import CATALOGS, VIRTUAL_CARRIER
from tests.integration.test_server import free_port
from tests.support import T0, csv_text

PER_FEEDER = 500 if os.environ.get("OUTAGE_VOICE_FULL_STORM") else 30
STORM_FEEDERS = ("F1", "F2", "F3", "F4", "F5", "F6")
OUTAGE_LINE = "+15125550000"
RECENT_CALLERS = 5  # numbers on F1 that call the outage line and report before the ack
STILL_OUT = 4  # numbers on F2 that press 1 at the all-clear
SLOW_ACK_CPS = 2.0


def phone(feeder: int, index: int) -> str:
    return f"+151255{feeder}{index:04d}"


def customers_csv() -> str:
    rows = []
    for feeder in range(1, 9):  # F1-F6 the storm, F7 the blink, F8 cancelled
        count = PER_FEEDER if feeder <= 6 else 20
        for index in range(count):
            number = phone(feeder, index)
            rows.append(
                f"{feeder}{index:05d},Customer {feeder}-{index},{number},,"
                f"P{feeder}-{index},{index + 1} Feeder {feeder} Road,F{feeder},,"
            )
    return csv_text(*rows)


def personas() -> PersonaBook:
    # Everyone answers and listens for two seconds (the message is heard, and recorded as
    # delivered, at the answer); a few press 1 at every menu (the all-clear's "still out").
    exact = {phone(2, i): Persona(digits=("1", "", "")) for i in range(STILL_OUT)}
    exact |= {phone(1, i): Persona(digits=("1",)) for i in range(RECENT_CALLERS)}
    listener = Persona(behaviour=Behaviour.HANGUP, ring_s=2.0, hangup_after_s=2.0)
    return PersonaBook(exact=exact, mix=((1.0, listener),))


@dataclasses.dataclass
class Storm:
    url: str
    clock: VirtualClock
    carrier: VirtualCarrier
    session: aiohttp.ClientSession
    tokens: dict[Role, dict[str, str]]
    catalogs: Any

    async def api(
        self, method: str, path: str, body: Any = None, *, role: Role = Role.SUPERVISOR
    ) -> Any:
        async with self.session.request(
            method, f"{self.url}{path}", json=body, headers=self.tokens[role]
        ) as answer:
            payload = await answer.json()
            assert answer.status < 300, (method, path, answer.status, payload)
            return payload

    async def oms(self, outage_id: str, body: dict[str, Any]) -> None:
        await self.api("PUT", f"/api/v1/outages/{outage_id}", body, role=Role.OMS)

    async def until(self, check: Callable[[], Awaitable[bool]], timeout_s: float = 120) -> None:
        async with asyncio.timeout(timeout_s):
            while not await check():  # noqa: ASYNC110 - polling the API is the point
                await asyncio.sleep(0.02)

    @contextlib.asynccontextmanager
    async def at(self, moment: datetime, pool: asyncpg.Pool) -> AsyncIterator[None]:
        """Lets virtual time run (calls going on) until `moment`, and holds it there while the
        block writes to the OMS API and until the automation has consumed every change."""
        arrived, resume = asyncio.Event(), asyncio.Event()

        async def alarm() -> None:
            await self.clock.sleep((moment - self.clock.now()).total_seconds())
            arrived.set()
            await resume.wait()  # not the clock's wait: time stands still meanwhile

        self.clock.spawn(alarm())
        try:
            async with asyncio.timeout(600):
                await arrived.wait()
            yield

            async def consumed() -> bool:
                waiting = await pool.fetchval(
                    "SELECT count(*) FROM outage_events WHERE consumed_at IS NULL"
                )
                return bool(waiting == 0)

            await self.until(consumed)
        finally:
            resume.set()


@pytest.fixture
async def storm(
    settings: Settings,
    services: Services,
    tmp_path: Path,
    tokens: dict[Role, dict[str, str]],
) -> AsyncIterator[Storm]:
    customers = tmp_path / "customers.csv"
    customers.write_text(customers_csv())
    await services.customers.import_file(customers)
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    clock = VirtualClock(T0)
    app = create_app(
        dataclasses.replace(settings, public_url=public),
        clock=clock,
        timer=clock,
        run_dialer=True,
        carrier_settings=CarrierSettings(cps=None, personas=personas()),
    )
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Storm(
            url=public,
            clock=clock,
            carrier=app[VIRTUAL_CARRIER],
            session=session,
            tokens=tokens,
            catalogs=app[CATALOGS],
        )
    await server.close()


@dataclasses.dataclass(frozen=True)
class Call:
    trigger: str
    outage: str
    campaign_id: int
    placed_at: datetime
    status: str
    record: CallRecord


async def calls_by_phone(storm: Storm, pool: asyncpg.Pool) -> dict[str, list[Call]]:
    rows = await pool.fetch(
        """SELECT a.phone, a.call_sid, a.placed_at, a.status, c.trigger_event, c.id,
                  o.oms_id
           FROM call_attempts a JOIN campaigns c ON c.id = a.campaign_id
           JOIN outages o ON o.id = c.outage_id
           WHERE a.call_sid IS NOT NULL ORDER BY a.placed_at, a.id"""
    )
    found: dict[str, list[Call]] = defaultdict(list)
    for row in rows:
        found[row["phone"]].append(
            Call(
                trigger=row["trigger_event"],
                outage=row["oms_id"],
                campaign_id=row["id"],
                placed_at=row["placed_at"],
                status=row["status"],
                record=storm.carrier.calls[row["call_sid"]],
            )
        )
    return found


def etr_words(storm: Storm, etr: datetime, now: datetime) -> str:
    """How the message speaks an ETR to these (Chicago, English) customers."""
    text = spoken(
        render(
            storm.catalogs["en"],
            "etr_known",
            {"etr": Moment(at=etr, timezone="America/Chicago")},
            now=now,
        )
    )
    return text.split("by ", 1)[1].split(".")[0]


async def test_a_storm_fed_by_the_oms_calls_each_customer_as_the_rules_say(
    storm: Storm, pool: asyncpg.Pool
) -> None:
    await storm.api(
        "PUT",
        "/api/v1/automation",
        {
            "pacing": {
                "confirmed": {"cps": SLOW_ACK_CPS, "max_concurrent": 50},
                "etr_changed": {"cps": 10, "max_concurrent": 50},
                "restored": {"cps": 10, "max_concurrent": 50},
            }
        },
    )
    first_four = list(STORM_FEEDERS[:4])
    await storm.oms("STORM", {"status": "reported", "feeder_ids": first_four})
    # A few customers call the outage line and report it before anyone confirms it.
    with storm.clock.hold():
        storm.carrier.dial_in(
            voice_url=f"{storm.url}/twilio/voice",
            to=OUTAGE_LINE,
            callers=[phone(1, i) for i in range(RECENT_CALLERS)],
            arrivals_per_s=1,
            status_callback=f"{storm.url}/twilio/status",
        )

    async def reported() -> bool:
        count = await pool.fetchval("SELECT count(*) FROM outage_reports WHERE kind = 'outage'")
        return bool(count >= RECENT_CALLERS)

    await storm.until(reported)
    confirmed_at = T0 + timedelta(minutes=2)
    # Confirmed a second before the storm, so its calls go first (campaigns of one priority
    # are called in the order they were made).
    cancel_confirmed_at = confirmed_at - timedelta(seconds=1)
    async with storm.at(cancel_confirmed_at, pool):
        await storm.oms("CANCEL", {"status": "confirmed", "feeder_ids": ["F8"]})
    async with storm.at(confirmed_at, pool):
        await storm.oms(
            "STORM", {"status": "confirmed", "cause": "storm damage", "feeder_ids": first_four}
        )
        await storm.oms("BLINK", {"status": "confirmed", "feeder_ids": ["F7"]})
    # The blink: power back within the hold; nothing may be sent for it.
    async with storm.at(confirmed_at + timedelta(minutes=3), pool):
        await storm.oms("BLINK", {"status": "restored", "feeder_ids": ["F7"]})
    # The cancelled outage: cancelled once some of its acknowledgements have gone out (its
    # calls begin at the end of the hold, SLOW_ACK_CPS a second).
    async with storm.at(cancel_confirmed_at + timedelta(minutes=5, seconds=4), pool):
        await storm.oms("CANCEL", {"status": "cancelled", "feeder_ids": ["F8"]})
    # The storm grows to six feeders while its acknowledgements go out.
    async with storm.at(confirmed_at + timedelta(minutes=10), pool):
        await storm.oms(
            "STORM",
            {"status": "confirmed", "cause": "storm damage", "feeder_ids": list(STORM_FEEDERS)},
        )
    # An ETR, then moved five times in 40 minutes.
    etrs = [
        (12, timedelta(hours=4)),
        (20, timedelta(hours=5)),
        (30, timedelta(hours=5, minutes=20)),
        (40, timedelta(hours=6)),
        (45, timedelta(hours=6, minutes=45)),
        (52, timedelta(hours=8)),
    ]
    for minute, ahead in etrs:
        async with storm.at(confirmed_at + timedelta(minutes=minute), pool):
            await storm.oms(
                "STORM",
                {
                    "status": "crew_dispatched",
                    "cause": "storm damage",
                    "etr": (confirmed_at + ahead).isoformat(),
                    "feeder_ids": list(STORM_FEEDERS),
                },
            )
    latest_etr = confirmed_at + etrs[-1][1]
    # One feeder restored early: taken off the outage.
    async with storm.at(confirmed_at + timedelta(minutes=80), pool):
        await storm.oms(
            "STORM",
            {
                "status": "crew_on_site",
                "cause": "storm damage",
                "etr": latest_etr.isoformat(),
                "feeder_ids": list(STORM_FEEDERS[:5]),
            },
        )
    restored_at = confirmed_at + timedelta(minutes=100)
    async with storm.at(restored_at, pool):
        await storm.oms(
            "STORM",
            {"status": "restored", "cause": "storm damage", "feeder_ids": list(STORM_FEEDERS[:5])},
        )

    async def all_finished() -> bool:
        open_campaigns = await pool.fetchval(
            "SELECT count(*) FROM campaigns WHERE state IN ('running', 'paused') OR planning"
        )
        live = await pool.fetchval("SELECT count(*) FROM call_attempts WHERE ended_at IS NULL")
        return bool(open_campaigns == 0 and live == 0)

    await storm.until(all_finished, timeout_s=600)
    await check_storm(storm, pool, confirmed_at, restored_at, latest_etr)


async def check_storm(
    storm: Storm,
    pool: asyncpg.Pool,
    confirmed_at: datetime,
    restored_at: datetime,
    latest_etr: datetime,
) -> None:
    by_phone = await calls_by_phone(storm, pool)
    ack_hold = timedelta(seconds=300)
    recent = {phone(1, i) for i in range(RECENT_CALLERS)}
    still_out = {phone(2, i) for i in range(STILL_OUT)}
    etr_gap = timedelta(minutes=60)
    for feeder in range(1, 7):
        for index in range(PER_FEEDER):
            number = phone(feeder, index)
            calls = [c for c in by_phone.get(number, []) if c.outage == "STORM"]
            acks = [c for c in calls if c.trigger == "confirmed"]
            updates = [c for c in calls if c.trigger == "etr_changed"]
            clears = [c for c in calls if c.trigger == "restored"]
            where = (number, [(c.trigger, c.placed_at.isoformat()) for c in calls])
            # Acknowledged once, after the blink hold; never those who had just called.
            assert len(acks) == (0 if number in recent else 1), where
            assert all(c.placed_at >= confirmed_at + ack_hold for c in acks), where
            # ETR updates within the churn cap, an hour apart for each customer.
            assert len(updates) <= 3, where
            for earlier, later in itertools.pairwise(updates):
                assert later.placed_at - earlier.placed_at >= etr_gap, where
            # Every call placed after the last ETR move that speaks an ETR speaks the latest.
            latest_words = etr_words(storm, latest_etr, restored_at)
            for call in acks + updates:
                text = call.record.spoken_text()
                if call.placed_at >= confirmed_at + timedelta(minutes=53) and "expect" in text:
                    assert latest_words in text, (where, text, latest_words)
            # The all-clear once; the early-restored feeder's before the rest.
            assert len(clears) == 1, where
            if feeder == 6:
                assert clears[0].placed_at < restored_at, where
            else:
                assert clears[0].placed_at >= restored_at, where
            assert "restored" in clears[0].record.spoken_text().lower(), where
            if number in still_out:
                assert "press 1" in clears[0].record.spoken_text().lower()
    # Nobody on the blink heard anything; the cancelled outage's pending calls were withdrawn.
    assert not [c for calls in by_phone.values() for c in calls if c.outage == "BLINK"]
    cancel_calls = [c for calls in by_phone.values() for c in calls if c.outage == "CANCEL"]
    assert 5 <= len(cancel_calls) < 20
    withdrawn = await pool.fetchval(
        """SELECT count(*) FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
           JOIN outages o ON o.id = c.outage_id
           WHERE o.oms_id = 'CANCEL' AND t.outcome = 'outage_cancelled'"""
    )
    assert withdrawn == 20 - len(cancel_calls)
    # Still-out answers reach the OMS feed, linked to the outage.
    reports = await storm.api("GET", "/api/v1/outage-reports", role=Role.OMS)
    still = [r for r in reports["reports"] if r["kind"] == "still_out"]
    assert {r["phone"] for r in still} >= still_out or len(still) >= STILL_OUT, still
    assert all(r["outage_id"] == "STORM" for r in still)
    # The ledger says the same.
    ledger = await storm.api("GET", "/api/v1/outages/STORM/notifications")
    counts = ledger["counts"]
    assert counts["confirmed"]["skipped"].get("recent_caller") == RECENT_CALLERS, counts
    assert counts["restored"]["sent"] == 6 * PER_FEEDER, counts
    blink = await storm.api("GET", "/api/v1/outages/BLINK/notifications")
    assert not any(line["sent"] for line in blink["counts"].values()), blink
