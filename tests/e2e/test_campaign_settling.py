"""Campaigns end cleanly: cancelled with calls under way, and with the server's own virtual
carrier shut down mid-campaign. The real server and dialer, virtual time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from outage_voice.bootstrap import Services
from outage_voice.carrier.calls import CallRecord, CallStatus
from outage_voice.carrier.engine import CarrierSettings
from outage_voice.carrier.personas import Persona, PersonaBook
from tests.e2e.test_campaigns import BIG_FEEDER, Rig, carrier_settings, rig

__all__ = ["carrier_settings", "rig"]  # fixtures, used by name

# Half the numbers ring for 20 s before answering, half answer at once and hear the message.
SLOW_AND_QUICK = PersonaBook(mix=((0.5, Persona(ring_s=20.0)), (0.5, Persona(ring_s=1.0))), seed=3)
FEEDER_7 = {
    "name": "Feeder 7",
    "kind": "outage_ack",
    "audience": {"outage_id": "STORM-7"},
    "pacing": {"cps": 10, "max_concurrent": 100},
}


async def feeder_7(services: Services, tmp_path: Path) -> None:
    extra = tmp_path / "feeder.csv"
    extra.write_text(BIG_FEEDER)
    await services.customers.import_file(extra)
    await services.outages.put("STORM-7", {"status": "confirmed", "feeder_ids": ["F7"]}, actor="t")


def feeder_calls(rig: Rig) -> list[CallRecord]:
    return [c for c in rig.carrier.calls.values() if c.to.startswith("+1512556")]


@pytest.mark.parametrize("carrier_settings", [CarrierSettings(cps=None, personas=SLOW_AND_QUICK)])
async def test_cancel_stops_calls_ends_those_ringing_and_lets_answered_ones_finish(
    rig: Rig, services: Services, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    await feeder_7(services, tmp_path)
    created = await rig.api("POST", "/api/v1/campaigns", FEEDER_7, status=201)
    campaign = f"/api/v1/campaigns/{created['id']}"
    await rig.api("POST", f"{campaign}/start")

    async def some_answered_some_ringing() -> bool:
        calls = feeder_calls(rig)
        answered = [c for c in calls if c.status is CallStatus.IN_PROGRESS]
        ringing = [c for c in calls if c.status is CallStatus.RINGING]
        return len(answered) >= 3 and len(ringing) >= 3

    await rig.until(some_answered_some_ringing)
    with rig.clock.hold():  # time stands still while the cancel is taken and noticed
        at_cancel = {c.sid: c.status for c in feeder_calls(rig)}
        cancelled = await rig.api("POST", f"{campaign}/cancel")
        cancelled_at = rig.clock.now()
        await asyncio.sleep(0.3)
    assert cancelled["state"] == "cancelled"
    assert len(at_cancel) < 120

    async def settled() -> bool:
        view = await rig.api("GET", f"{campaign}?fresh=1")
        return bool(view["progress"]["live_calls"] == 0)

    await rig.until(settled)
    view = await rig.api("GET", f"{campaign}?fresh=1")
    assert view["state"] == "cancelled"
    calls = feeder_calls(rig)
    late = [c.created_at - cancelled_at for c in calls if c.created_at > cancelled_at]
    assert all(delay <= timedelta(seconds=1) for delay in late), late  # new calls stop in 1 s
    by_sid = {c.sid: c for c in calls}
    for sid, status in at_cancel.items():
        call = by_sid[sid]
        if status in (CallStatus.QUEUED, CallStatus.RINGING):
            # Ended at the carrier, on the API's request (its final callback came from it).
            assert call.status is CallStatus.CANCELED, (status, call.status)
            assert call.answered_at is None
            assert [e["status"] for e in call.callbacks if e["event"] == "completed"] == [
                "canceled"
            ]
        elif status is CallStatus.IN_PROGRESS:
            # Answered calls go on: the customer hears the message to the end.
            assert call.status is CallStatus.COMPLETED
            assert "outage" in call.spoken_text().lower(), call.spoken_text()
            assert call.end_time is not None and call.end_time > cancelled_at
    assert any(s is CallStatus.RINGING for s in at_cancel.values())
    assert await pool.fetchval("SELECT count(*) FROM call_attempts WHERE ended_at IS NULL") == 0
    outcomes = view["progress"]["outcomes"]
    assert outcomes["canceled"] >= 1 and outcomes["reached"] >= 3, outcomes
