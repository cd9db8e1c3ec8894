from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from outage_voice.carrier.engine import CarrierSettings
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from tests.carrier.conftest import SID, TOKEN, Application, CarrierRig
from tests.carrier.test_calls import ALL_EVENTS, place

OUTAGE_LINE = "+15125550000"


async def test_dropped_callbacks_are_never_delivered(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.callback_drop_share = 1.0
    created = await place(async_client, application)
    await rig.settle()
    assert application.callbacks == []
    assert all(entry["dropped"] for entry in rig.carrier.calls[created.sid].callbacks)


async def test_duplicated_and_delayed_callbacks_arrive_out_of_order(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.callback_duplicate_share = 1.0
    rig.carrier.settings.callback_delay_max_s = 30.0
    with rig.clock.hold():
        sids = [
            (await place(async_client, application, to=f"+1512555{i:04d}")).sid
            for i in range(100, 110)
        ]
    await rig.settle()
    delivered = Counter((c["CallSid"], c["SequenceNumber"]) for c in application.callbacks)
    assert set(delivered) == {(sid, str(n)) for sid in sids for n in range(len(ALL_EVENTS))}
    assert set(delivered.values()) == {2}
    per_call = {
        sid: [c["SequenceNumber"] for c in application.callbacks if c["CallSid"] == sid]
        for sid in sids
    }
    assert any(order != sorted(order) for order in per_call.values())
    assert application.bad_signatures == 0


@pytest.fixture
def carrier_settings() -> CarrierSettings:
    return CarrierSettings(account_sid=SID, auth_token=TOKEN, cps=None, max_concurrent=2)


async def test_concurrent_calls_never_exceed_the_limit(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    application.documents["/voice"] = "<Response><Say>" + "word " * 25 + "</Say></Response>"
    with rig.clock.hold():
        sids = [
            (await place(async_client, application, to=f"+1512555{i:04d}")).sid
            for i in range(200, 207)
        ]
    await rig.settle()
    edges = []
    for sid in sids:
        call = rig.carrier.calls[sid]
        assert call.start_time is not None and call.end_time is not None
        edges += [(call.start_time, 1), (call.end_time, -1)]
    live = peak = 0
    for _, change in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        live += change
        peak = max(peak, live)
    assert peak == 2


async def test_speech_at_a_gather(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.personas = PersonaBook(
        mix=((1.0, Persona(speech=("my power is out",), speech_confidence=0.41)),)
    )
    application.documents["/voice"] = (
        '<Response><Gather input="dtmf speech" action="/heard">'
        "<Say>Say it.</Say></Gather></Response>"
    )
    application.documents["/heard"] = lambda p: (
        f"<Response><Say>Heard {p['SpeechResult']} at {p['Confidence']}.</Say></Response>"
    )
    created = await place(async_client, application)
    await rig.settle()
    assert rig.carrier.calls[created.sid].spoken_text() == "Say it. Heard my power is out at 0.41."


async def test_inbound_crowd_dials_the_outage_line(
    rig: CarrierRig, application: Application
) -> None:
    rig.carrier.settings.personas = PersonaBook(
        suffixes={
            "1": Persona(digits=("2",)),
            "2": Persona(behaviour=Behaviour.HANGUP, hangup_after_s=1),
        },
    )
    application.documents["/voice"] = (
        '<Response><Gather numDigits="1" action="/menu"><Say>We know about the outage.</Say>'
        "</Gather></Response>"
    )
    application.documents["/menu"] = "<Response><Say>Report recorded.</Say></Response>"
    callers = [f"+1512555{n:04d}" for n in range(3000, 3020)]
    with rig.clock.hold():
        calls = rig.carrier.dial_in(
            voice_url=application.url("/voice"),
            to=OUTAGE_LINE,
            callers=callers,
            arrivals_per_s=5,
            status_callback=application.url("/status"),
        )
    await rig.settle()
    first, last = calls[0].start_time, calls[-1].start_time
    assert first is not None and last is not None
    assert (last - first).total_seconds() == pytest.approx(19 / 5)
    first_requests = [p for path, p in application.requests if path == "/voice"]
    assert {p["Direction"] for p in first_requests} == {"inbound"}
    assert {p["CallStatus"] for p in first_requests} == {"ringing"}
    assert {p["To"] for p in first_requests} == {OUTAGE_LINE}
    by_caller = {call.from_: call for call in calls}
    assert by_caller["+15125553001"].spoken_text() == "We know about the outage. Report recorded."
    assert "Report recorded." not in by_caller["+15125553002"].spoken_text()
    menu = [p for path, p in application.requests if path == "/menu"]
    assert {p["CallStatus"] for p in menu} == {"in-progress"}
    assert len(application.callbacks) == 20
    assert application.bad_signatures == 0
