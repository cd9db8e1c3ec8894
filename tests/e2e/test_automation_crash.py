"""Kill the leader (SIGKILL) while the automation works through a burst of OMS changes, start
it again: every change is applied once, no campaign is made twice, nobody is called twice.
Real processes, real time, a separate virtual carrier."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from tests.e2e.test_dialer_crash import CrashRig, _until
from tests.support import T0, csv_text

OUTAGES = 20
PER_OUTAGE = 8


def customers_csv() -> str:
    return csv_text(
        *(
            f"7{o:02d}{i:02d},C {o}-{i},512-561-{o:02d}{i:02d},,Q{o}-{i},{i} Ridge Road {o},Q{o},,"
            for o in range(OUTAGES)
            for i in range(PER_OUTAGE)
        )
    )


async def test_sigkill_of_the_leader_mid_storm_loses_and_repeats_no_event(
    database_dsn: str, services: Services, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(customers_csv())
    await services.customers.import_file(customers)
    await services.automation.update_rules(
        {
            "acknowledge": {"blink_hold_s": 0},
            "window": "00:00-00:00",
            "pacing": {
                "confirmed": {"cps": 50, "max_concurrent": 500},
                "etr_changed": {"cps": 50, "max_concurrent": 500},
            },
        },
        actor="test",
    )
    supervisor = await services.tokens.create(role=Role.SUPERVISOR, name="crash")
    oms = {"Authorization": f"Bearer {await services.tokens.create(role=Role.OMS, name='oms')}"}
    personas = tmp_path / "personas.json"
    persona = {"behaviour": "hangup", "hangup_after_s": 0.5, "ring_s": 0.5}
    personas.write_text(json.dumps({"mix": [[1, persona]]}))
    async with aiohttp.ClientSession() as session:
        rig = CrashRig(session, database_dsn=database_dsn, token=supervisor, tmp_path=tmp_path)
        try:
            rig.start_carrier("--personas", str(personas))
            await rig.start_server()
            etr = (T0.replace(year=2031)).isoformat()  # far ahead of the server's real clock

            async def put(outage: int, body: dict[str, object]) -> None:
                url = f"{rig.server_url}/api/v1/outages/CRASH-{outage}"
                async with session.put(url, json=body, headers=oms) as answer:
                    assert answer.status in (200, 201), await answer.text()

            for outage in range(OUTAGES):
                await put(outage, {"status": "confirmed", "feeder_ids": [f"Q{outage}"]})
            for outage in range(OUTAGES):
                body = {"status": "crew_dispatched", "etr": etr, "feeder_ids": [f"Q{outage}"]}
                await put(outage, body)

            async def some_consumed() -> bool:
                consumed = await pool.fetchval(
                    "SELECT count(*) FROM outage_events WHERE consumed_at IS NOT NULL"
                )
                return bool(consumed >= 5)

            await _until(some_consumed, timeout_s=60)
            rig.kill_server()
            consumed_at_kill = await pool.fetchval(
                "SELECT count(*) FROM outage_events WHERE consumed_at IS NOT NULL"
            )
            await rig.start_server()

            async def all_done() -> bool:
                waiting = await pool.fetchval(
                    "SELECT count(*) FROM outage_events WHERE consumed_at IS NULL"
                )
                open_campaigns = await pool.fetchval(
                    "SELECT count(*) FROM campaigns WHERE state = 'running' OR planning"
                )
                live = await pool.fetchval(
                    "SELECT count(*) FROM call_attempts WHERE ended_at IS NULL"
                )
                return bool(waiting == 0 and open_campaigns == 0 and live == 0)

            await _until(all_done, timeout_s=120)
            calls = await rig.carrier_calls()
        finally:
            rig.stop()
    log = rig.log.read_text()
    events = 2 * OUTAGES
    assert await pool.fetchval("SELECT count(*) FROM outage_events") == events
    assert consumed_at_kill < events, "the kill came after the burst was consumed"
    # Each event's decisions were kept once: consumed and decided in one transaction.
    per_event = Counter(
        row["event_id"]
        for row in await pool.fetch(
            "SELECT event_id FROM automation_decisions WHERE event_id IS NOT NULL"
        )
    )
    assert len(per_event) == events, per_event
    assert set(per_event.values()) == {1}, per_event
    # One acknowledgement campaign per outage; nobody called twice by one campaign.
    kinds = Counter(
        row["trigger_event"]
        for row in await pool.fetch("SELECT trigger_event FROM campaigns WHERE automatic")
    )
    assert kinds["confirmed"] == OUTAGES, (kinds, log[-3000:])
    attempts = await pool.fetch(
        "SELECT campaign_id, phone, call_sid FROM call_attempts WHERE call_sid IS NOT NULL"
    )
    per_campaign_phone = Counter((row["campaign_id"], row["phone"]) for row in attempts)
    assert set(per_campaign_phone.values()) == {1}, per_campaign_phone.most_common(3)
    # The carrier saw exactly the calls the database holds: none lost, none extra.
    assert sorted(c["sid"] for c in calls) == sorted(row["call_sid"] for row in attempts)
    # Everyone heard the acknowledgement once, at most one ETR update besides.
    per_phone = Counter(c["to"] for c in calls)
    assert len(per_phone) == OUTAGES * PER_OUTAGE
    assert set(per_phone.values()) <= {1, 2}, per_phone.most_common(3)
    acked = await pool.fetchval(
        """SELECT count(*) FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id
           WHERE c.trigger_event = 'confirmed' AND t.state = 'done' AND t.outcome = 'reached'"""
    )
    assert acked == OUTAGES * PER_OUTAGE
