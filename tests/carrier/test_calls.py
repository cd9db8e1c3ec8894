from __future__ import annotations

import asyncio
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from outage_voice.carrier.engine import CarrierSettings
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from tests.carrier.conftest import Application, CarrierRig

TO = "+15125550100"
FROM = "+15125559999"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


async def place(client: Any, app: Application, path: str = "/voice", **extra: Any) -> Any:
    return await client.calls.create_async(
        to=extra.pop("to", TO),
        from_=FROM,
        url=app.url(path),
        status_callback=app.url("/status"),
        status_callback_event=extra.pop("events", ALL_EVENTS),
        **extra,
    )


async def test_async_client_call_ends_with_signed_callbacks(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    application.documents["/voice"] = "<Response><Say>Your power is back.</Say></Response>"
    created = await place(async_client, application)
    assert created.sid.startswith("CA") and len(created.sid) == 34
    assert created.status == "queued"
    await rig.settle()
    assert [c["CallStatus"] for c in application.callbacks] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [c["SequenceNumber"] for c in application.callbacks] == ["0", "1", "2", "3"]
    assert application.bad_signatures == 0
    final = application.callbacks[-1]
    assert final["CallSid"] == created.sid
    assert final["SipResponseCode"] == "200"
    assert int(final["CallDuration"]) >= 1
    fetched = await async_client.calls(created.sid).fetch_async()
    assert fetched.status == "completed"
    assert rig.carrier.calls[created.sid].spoken_text() == "Your power is back."


async def test_sync_client_create_fetch_and_list(rig: CarrierRig, application: Application) -> None:
    client = rig.sync_client()

    def create_two() -> list[str]:
        return [
            client.calls.create(to=number, from_=FROM, url=application.url("/voice")).sid
            for number in (TO, "+15125550101")
        ]

    sids = await asyncio.to_thread(create_two)
    await rig.settle()
    listed = await asyncio.to_thread(lambda: client.calls.list(to=TO))
    assert [c.sid for c in listed] == [sids[0]]
    fetched = await asyncio.to_thread(lambda: client.calls(sids[1]).fetch())
    assert fetched.status == "completed"
    assert fetched.to == "+15125550101"


@pytest.mark.parametrize(
    ("persona", "status", "sip"),
    [
        (Persona(behaviour=Behaviour.BUSY), "busy", "486"),
        (Persona(behaviour=Behaviour.NO_ANSWER), "no-answer", "487"),
        (Persona(behaviour=Behaviour.INVALID), "failed", "404"),
        (Persona(behaviour=Behaviour.HUMAN), "completed", "200"),
    ],
)
async def test_persona_outcomes(
    rig: CarrierRig,
    async_client: Any,
    application: Application,
    persona: Persona,
    status: str,
    sip: str,
) -> None:
    rig.carrier.settings.personas = PersonaBook(exact={TO: persona})
    created = await place(async_client, application, events=["completed"])
    await rig.settle()
    final = application.callbacks[-1]
    assert (final["CallStatus"], final["SipResponseCode"]) == (status, sip)
    if persona.behaviour is Behaviour.INVALID:
        assert final["ErrorCode"] == "13224"
    if persona.behaviour is Behaviour.NO_ANSWER:
        call = rig.carrier.calls[created.sid]
        assert call.end_time is not None and call.start_time is not None
        assert (call.end_time - call.start_time).total_seconds() >= 60  # rang for Timeout


async def test_answering_machine_detected_after_the_beep(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.personas = PersonaBook(
        suffixes={"0100": Persona(behaviour=Behaviour.MACHINE)}
    )
    application.documents["/voice"] = "<Response><Say>Voicemail version.</Say></Response>"
    await place(async_client, application, machine_detection="DetectMessageEnd")
    await rig.settle()
    ((_, params),) = application.requests
    assert params["AnsweredBy"] == "machine_end_beep"
    assert application.callbacks[2]["AnsweredBy"] == "machine_end_beep"


async def test_gather_digits_flow_to_the_action(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.personas = PersonaBook(exact={TO: Persona(digits=("19#", "2"))})
    application.documents["/voice"] = (
        '<Response><Gather numDigits="1" action="/menu"><Say>Press 1.</Say></Gather>'
        "<Say>We did not hear you.</Say></Response>"
    )
    application.documents["/menu"] = lambda p: (
        f"<Response><Say>You pressed {p['Digits']}.</Say>"
        '<Gather finishOnKey="#" action="/second" method="GET">'
        '<Pause length="1"/></Gather></Response>'
    )
    application.documents["/second"] = lambda p: (
        f"<Response><Say>Then {p['Digits']}.</Say></Response>"
    )
    created = await place(async_client, application)
    await rig.settle()
    call = rig.carrier.calls[created.sid]
    assert call.digits_sent == ["1", "2"]
    assert call.spoken_text() == "Press 1. You pressed 1. Then 2."
    assert [path for path, _ in application.requests] == ["/voice", "/menu", "/second"]
    assert application.bad_signatures == 0


async def test_silence_times_out_and_continues_or_posts_empty(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.personas = PersonaBook(exact={TO: Persona(behaviour=Behaviour.SILENT)})
    application.documents["/voice"] = (
        '<Response><Gather timeout="7" action="/x"><Say>Press 1.</Say></Gather>'
        '<Gather timeout="3" action="/empty" actionOnEmptyResult="true"/></Response>'
    )
    application.documents["/empty"] = lambda p: (
        f"<Response><Say>Got [{p['Digits']}].</Say></Response>"
    )
    created = await place(async_client, application)
    await rig.settle()
    assert rig.carrier.calls[created.sid].spoken_text() == "Press 1. Got []."
    assert [path for path, _ in application.requests] == ["/voice", "/empty"]


async def test_redirect_dial_and_hangup(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    application.documents["/voice"] = (
        "<Response><Pause length='2'/><Redirect>/next</Redirect></Response>"
    )
    application.documents["/next"] = (
        "<Response><Say>Connecting.</Say><Dial>+15125550911</Dial></Response>"
    )
    created = await place(async_client, application)
    await rig.settle()
    call = rig.carrier.calls[created.sid]
    assert call.transfer_to == "+15125550911"
    assert call.status.value == "completed"


async def test_far_end_hangs_up_mid_prompt(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.personas = PersonaBook(
        exact={TO: Persona(behaviour=Behaviour.HANGUP, hangup_after_s=3)}
    )
    long_prompt = " ".join(["word"] * 50)  # 20 s of speech
    application.documents["/voice"] = (
        f"<Response><Say>{long_prompt}</Say><Say>Never heard.</Say></Response>"
    )
    created = await place(async_client, application)
    await rig.settle()
    call = rig.carrier.calls[created.sid]
    assert "Never heard." not in call.spoken_text()
    assert call.duration_s == 3
    assert any(event["event"] == "far_end_hangup" for event in call.timeline)


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (
            lambda app: app.documents.__setitem__("/voice", "<Response><Say>unclosed</Response>"),
            12100,
        ),
        (lambda app: app.documents.__setitem__("/voice", "<Speak>hi</Speak>"), 12100),
        (lambda app: app.documents.__setitem__("/voice", "<Response><Dance/></Response>"), 12100),
        (lambda app: app.status_codes.__setitem__("/voice", 500), 11200),
        (lambda app: app.hang.add("/voice"), 11205),
    ],
)
async def test_unusable_documents_fail_like_twilio(
    rig: CarrierRig, async_client: Any, application: Application, setup: Any, code: int
) -> None:
    rig.carrier.settings.webhook_timeout_s = 0.3
    setup(application)
    created = await place(async_client, application)
    await rig.settle()
    call = rig.carrier.calls[created.sid]
    assert call.error_code == code
    assert "An application error has occurred." in call.spoken_text()


async def test_redirect_loops_are_bounded(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    application.documents["/voice"] = "<Response><Redirect>/voice</Redirect></Response>"
    created = await place(async_client, application)
    await rig.settle()
    call = rig.carrier.calls[created.sid]
    assert len(application.requests) == 50
    assert call.error_code == 12100


async def test_play_fetches_audio_and_records_its_text(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\0\0" * 8000 * 2)
    application.audio["/audio/a.wav"] = (
        buffer.getvalue(),
        "audio/wav",
        "Power%20is%20back%20%C3%A9",
    )
    application.audio["/audio/b.txt"] = (b"hello", "text/plain", None)
    application.documents["/voice"] = (
        "<Response><Play>/audio/a.wav</Play><Play>/audio/b.txt</Play></Response>"
    )
    created = await place(async_client, application)
    await rig.settle()
    call = rig.carrier.calls[created.sid]
    first, second = call.transcript
    assert first["text"] == "Power is back é"
    assert "not playable" in second["error"]
    assert call.duration_s >= 2


@pytest.fixture
def carrier_settings() -> CarrierSettings:
    from tests.carrier.conftest import SID, TOKEN

    return CarrierSettings(account_sid=SID, auth_token=TOKEN, cps=5, personas=PersonaBook())


async def test_cps_limit_holds_in_every_one_second_window(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    with rig.clock.hold():
        sids = [
            (await place(async_client, application, events=["completed"])).sid for _ in range(23)
        ]
    await rig.settle()
    starts = sorted(rig.carrier.calls[sid].start_time or rig.clock.now() for sid in sids)
    for index, first in enumerate(starts):
        in_window = [s for s in starts[index:] if (s - first).total_seconds() < 1.0]
        assert len(in_window) <= 5
    assert (starts[-1] - starts[0]).total_seconds() == pytest.approx(22 / 5)


async def test_429_injection_reaches_the_client(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.reject_429_share = 1.0
    with pytest.raises(TwilioRestException) as caught:
        await place(async_client, application)
    assert caught.value.code == 20429
    assert caught.value.status == 429


async def test_bad_credentials_and_bad_numbers(rig: CarrierRig, application: Application) -> None:
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    from tests.carrier.conftest import SID

    http = AsyncTwilioHttpClient()
    try:
        wrong = Client(SID, "wrong-token", http_client=http)
        wrong.api.base_url = rig.url
        with pytest.raises(TwilioRestException) as caught:
            await wrong.calls.create_async(to=TO, from_=FROM, url=application.url("/voice"))
        assert caught.value.code == 20003
    finally:
        await http.session.close()


async def test_invalid_to_and_cancel(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await async_client.calls.create_async(to="12", from_=FROM, url=application.url("/voice"))
    assert caught.value.code == 21211
    queued = [await place(async_client, application, events=["completed"]) for _ in range(3)]
    canceled = await async_client.calls(queued[-1].sid).update_async(status="canceled")
    assert canceled.status == "canceled"
    await rig.settle()
    assert rig.carrier.calls[queued[-1].sid].status.value == "canceled"
    assert rig.carrier.calls[queued[0].sid].status.value == "completed"
    finals = {c["CallSid"]: c["CallStatus"] for c in application.callbacks}
    assert finals[queued[-1].sid] == "canceled"


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"timeout": "soon"}, 21207),
        ({"method": "PUT"}, 21208),
        ({"machine_detection": "Sometimes"}, 21209),
        ({"events": ["answered", "exploded"]}, 21626),
    ],
)
async def test_bad_create_parameters_are_400s(
    rig: CarrierRig, async_client: Any, application: Application, extra: dict[str, Any], code: int
) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await place(async_client, application, **extra)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert rig.carrier.calls == {}


async def test_bad_list_and_update_requests(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    import aiohttp

    base = f"{rig.url}/2010-04-01/Accounts/{rig.carrier.settings.account_sid}/Calls"
    auth = {
        "Authorization": aiohttp.encode_basic_auth(
            rig.carrier.settings.account_sid, "test-auth-token"
        )
    }
    async with aiohttp.ClientSession() as session:
        for url, method, data in (
            (f"{base}.json?PageSize=lots", "GET", None),
            (f"{base}.json?StartTime%3E=yesterday", "GET", None),
            (f"{base}/CA{'0' * 32}.json", "GET", None),
            (f"{base}/CA{'0' * 32}.json", "POST", {"Status": "completed"}),
        ):
            async with session.request(method, url, data=data, headers=auth) as response:
                body = await response.json()
                assert response.status in (400, 404), body
                assert set(body) >= {"code", "message", "status"}
    created = await place(async_client, application)
    with pytest.raises(TwilioRestException) as caught:
        await async_client.calls(created.sid).update_async(status="paused")
    assert caught.value.code == 21218
