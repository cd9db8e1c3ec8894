from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from tests.carrier.conftest import Application, CarrierRig
from tests.carrier.test_calls import FROM, TO, place
from tests.support import T0


async def test_async_amd_reports_to_its_own_callback(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.personas = PersonaBook(exact={TO: Persona(behaviour=Behaviour.MACHINE)})
    application.documents["/voice"] = "<Response><Pause length='20'/></Response>"
    application.documents["/amd"] = "<Response/>"
    await place(
        async_client,
        application,
        machine_detection="DetectMessageEnd",
        async_amd="true",
        async_amd_status_callback=application.url("/amd"),
    )
    await rig.settle()
    voice = [p for path, p in application.requests if path == "/voice"]
    amd = [p for path, p in application.requests if path == "/amd"]
    assert "AnsweredBy" not in voice[0]  # the TwiML started before detection finished
    assert amd[0]["AnsweredBy"] == "machine_end_beep"
    assert int(amd[0]["MachineDetectionDuration"]) == 8000
    assert [c["SequenceNumber"] for c in application.callbacks] == ["0", "1", "2", "3"]
    assert application.bad_signatures == 0


async def test_fax_is_detected(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.personas = PersonaBook(exact={TO: Persona(behaviour=Behaviour.FAX)})
    await place(async_client, application, machine_detection="Enable")
    await rig.settle()
    assert application.requests[0][1]["AnsweredBy"] == "fax"


async def test_reject_and_say_attributes(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    application.documents["/voice"] = (
        '<Response><Say language="es-MX" voice="Polly.Mia" loop="2">Hola.</Say>'
        '<Reject reason="busy"/><Say>Never.</Say></Response>'
    )
    created = await place(async_client, application)
    await rig.settle()
    call = rig.carrier.calls[created.sid]
    assert call.spoken_text() == "Hola. Hola."
    assert {(t["language"], t["voice"]) for t in call.transcript} == {("es-MX", "Polly.Mia")}
    assert any(e["event"] == "reject" for e in call.timeline)


async def test_hang_up_a_live_call_and_filter_the_list(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    application.documents["/voice"] = "<Response><Pause length='600'/></Response>"
    with rig.clock.hold():
        created = await place(async_client, application)
    # The call is on the line once its TwiML has been fetched (settle would sit out the pause).
    await asyncio.wait_for(application.fetched.wait(), timeout=10)
    assert rig.carrier.calls[created.sid].status.value == "in-progress"
    ended = await async_client.calls(created.sid).update_async(status="completed")
    assert ended.status == "completed"
    await rig.settle()
    assert application.callbacks[-1]["CallStatus"] == "completed"
    since = rig.carrier.calls[created.sid].created_at - timedelta(seconds=1)
    client = rig.sync_client()
    listed = await asyncio.to_thread(lambda: client.calls.list(to=TO, start_time_after=since))
    assert [c.sid for c in listed] == [created.sid]
    later = await asyncio.to_thread(
        lambda: client.calls.list(to=TO, start_time_after=since + timedelta(hours=1))
    )
    assert later == []
    by_status = await asyncio.to_thread(lambda: client.calls.list(status="completed"))
    assert [c.sid for c in by_status] == [created.sid]
    assert await asyncio.to_thread(lambda: client.calls.list(status="busy")) == []
    assert listed[0]._from == FROM


async def test_virtual_clock_jumps_only_when_everyone_waits() -> None:
    clock = VirtualClock(T0)
    order: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        order.append((name, (clock.now() - T0).total_seconds()))

    for name, seconds in (("late", 3600.0), ("early", 1.5), ("middle", 60.0)):
        clock.spawn(sleeper(name, seconds))
    await asyncio.wait_for(clock.settle(), timeout=5)
    assert order == [("early", 1.5), ("middle", 60.0), ("late", 3600.0)]


async def test_virtual_clock_holds_still_while_held_and_waits_without_stalling() -> None:
    clock = VirtualClock(T0)
    gate = asyncio.Event()
    done: list[float] = []

    async def waiter() -> None:
        await clock.wait(gate.wait())  # a non-clock wait must not stop time for others
        done.append((clock.now() - T0).total_seconds())

    async def sleeper() -> None:
        await clock.sleep(10)
        gate.set()

    with clock.hold():
        clock.spawn(waiter())
        clock.spawn(sleeper())
        for _ in range(20):
            await asyncio.sleep(0)
        assert clock.now() == T0  # held: nothing moved
    await asyncio.wait_for(clock.settle(), timeout=5)
    assert done == [10.0]
