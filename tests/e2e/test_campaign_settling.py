"""Campaigns end cleanly: cancelled with calls under way, and with the server's own virtual
carrier shut down mid-campaign. The real server and dialer, virtual time."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from outage_voice.bootstrap import Services, create_app
from outage_voice.carrier.calls import CallRecord, CallStatus
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Persona, PersonaBook
from outage_voice.config import Settings
from outage_voice.domain.outages import parse_outage_state
from outage_voice.web.campaign_json import parse_campaign_spec
from outage_voice.web.keys import VIRTUAL_CARRIER
from tests.e2e.test_campaigns import BIG_FEEDER, Rig, carrier_settings, manual_only, rig
from tests.integration.test_server import free_port
from tests.support import T0, csv_text

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
    await services.outages.put(
        "STORM-7",
        parse_outage_state({"status": "confirmed", "feeder_ids": ["F7"]}, now=T0),
        actor="t",
    )


FEEDER_8_CUSTOMERS = csv_text(
    *(f"8{i:03d},Customer {i},512-558-{i:04d},,E{i},{i} Ash Road,F8,," for i in range(40))
)


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
        waiting = {
            sid for sid, s in at_cancel.items() if s in (CallStatus.QUEUED, CallStatus.RINGING)
        }

        async def ringing_ones_ended() -> bool:
            # Held time means no ringing call can be answered meanwhile: only the dialer's
            # cancel can end it, however long a loaded machine takes to send it.
            return all(rig.carrier.calls[sid].status.is_final for sid in waiting)

        await rig.until(ringing_ones_ended, timeout_s=20)
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


async def test_the_in_process_carrier_ends_its_calls_with_their_callbacks_at_shutdown(
    services: Services, settings: Settings, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    """A demo or trial server stopped mid-campaign (SIGTERM) takes its virtual carrier with
    it: every live call ends there and then, its final callback applied, so nothing is left
    live in the database, and the server started again resumes the campaign cleanly."""
    await manual_only(services)
    customers = tmp_path / "feeder8.csv"
    customers.write_text(FEEDER_8_CUSTOMERS)
    await services.customers.import_file(customers)
    await services.outages.put(
        "STORM-8",
        parse_outage_state({"status": "confirmed", "feeder_ids": ["F8"]}, now=T0),
        actor="t",
    )
    body = {**FEEDER_7, "name": "Feeder 8", "audience": {"outage_id": "STORM-8"}}
    created = await services.campaigns.create(parse_campaign_spec(body), actor="test")
    campaign_id = created["id"]
    carrier_settings = CarrierSettings(cps=None, personas=SLOW_AND_QUICK)

    async def serve(clock: VirtualClock) -> tuple[TestServer, VirtualCarrier]:
        port = free_port()
        app = create_app(
            dataclasses.replace(settings, public_url=f"http://127.0.0.1:{port}"),
            clock=clock,
            timer=clock,
            run_dialer=True,
            carrier_settings=carrier_settings,
        )
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        return server, app[VIRTUAL_CARRIER]

    async def until(check: Callable[[], Awaitable[bool]]) -> None:
        async with asyncio.timeout(60):
            while not await check():  # noqa: ASYNC110 - the server's own tasks bring it about
                await asyncio.sleep(0.02)

    clock = VirtualClock(T0)
    server, carrier = await serve(clock)
    await services.campaigns.act(campaign_id, "start")

    async def some_answered_some_ringing() -> bool:
        statuses = [c.status for c in carrier.calls.values()]
        answered = statuses.count(CallStatus.IN_PROGRESS)
        return answered >= 3 and statuses.count(CallStatus.RINGING) >= 3

    await until(some_answered_some_ringing)
    await server.close()  # as on SIGTERM: the site stops, then every cleanup runs

    live = [c for c in carrier.calls.values() if any(
        e["event"] == "carrier_shutdown" for e in c.timeline)]  # fmt: skip
    assert live
    assert all(c.status.is_final for c in carrier.calls.values())
    for call in live:
        assert call.status in (CallStatus.COMPLETED, CallStatus.FAILED)
        assert (call.status is CallStatus.COMPLETED) == (call.answered_at is not None)
        assert [e["status"] for e in call.callbacks if e["event"] == "completed"] == [
            call.status.value
        ]
    assert await pool.fetchval("SELECT count(*) FROM call_attempts WHERE ended_at IS NULL") == 0
    cut_short = {c.to for c in live if c.status is CallStatus.FAILED}
    retried = await pool.fetch(
        "SELECT phone, outcome, next_attempt_at FROM campaign_targets"
        " WHERE campaign_id = $1 AND state = 'pending' AND outcome IS NOT NULL",
        campaign_id,
    )
    assert {row["phone"] for row in retried} == cut_short
    assert all(row["outcome"] == "failed" and row["next_attempt_at"] for row in retried)

    # Started again: the campaign goes on, and those cut short are called once more.
    first_calls = {c.to: c for c in carrier.calls.values()}
    clock = VirtualClock(clock.now())
    server, carrier = await serve(clock)
    try:

        async def completed() -> bool:
            view = await services.campaigns.show(campaign_id)
            return bool(view["state"] == "completed")

        await until(completed)
    finally:
        await server.close()
    view = await services.campaigns.show(campaign_id)
    assert view["progress"]["live_calls"] == 0
    assert view["progress"]["outcomes"]["reached"] == 40, view["progress"]
    again = [c.to for c in carrier.calls.values()]
    assert len(again) == len(set(again))
    assert set(again) & set(first_calls) == cut_short
    assert len(set(again) | set(first_calls)) == 40


@pytest.mark.parametrize(
    "carrier_settings", [CarrierSettings(cps=None, personas=PersonaBook(seed=5))]
)
async def test_no_call_is_placed_at_or_after_a_campaign_s_end_even_from_a_batch_claimed_before(
    rig: Rig, services: Services, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    await feeder_7(services, tmp_path)
    created = await rig.api("POST", "/api/v1/campaigns", FEEDER_7, status=201)
    await rig.api("POST", f"/api/v1/campaigns/{created['id']}/start")

    async def calling() -> bool:
        return bool(feeder_calls(rig))

    await rig.until(calling)
    # Ten calls a second, claimed four seconds ahead: a batch claimed just before the end
    # would ring for seconds after it.
    expires_at = feeder_calls(rig)[0].created_at + timedelta(seconds=6)
    await pool.execute(
        "UPDATE campaigns SET expires_at = $2 WHERE id = $1", created["id"], expires_at
    )

    async def past_the_end() -> bool:
        return rig.clock.now() > expires_at + timedelta(seconds=6)

    await rig.until(past_the_end)
    placed = sorted(c.created_at for c in feeder_calls(rig))
    assert len(placed) > 41, "more than the first batch was placed before the end"
    late = [at - expires_at for at in placed if at >= expires_at]
    assert late == [], late
    # What was claimed and not placed went back in line, to be expired by the schedule.
    assert await pool.fetchval(
        "SELECT count(*) FROM campaign_targets WHERE campaign_id = $1 AND state = 'pending'",
        created["id"],
    ) == 120 - len(placed)
