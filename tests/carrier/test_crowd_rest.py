"""A crowd of inbound callers started over the carrier's REST API (what a separate
carrier-sim process is driven by), and callers who barge in on a menu."""

from __future__ import annotations

import aiohttp
import pytest

from outage_voice.carrier.personas import (
    Persona,
    PersonaBook,
    PersonaFileError,
    persona_book_from_json,
)
from tests.carrier.conftest import SID, TOKEN, Application, CarrierRig

OUTAGE_LINE = "+15125550000"
MENU = '<Response><Gather numDigits="1" action="/menu"><Say>{}</Say></Gather></Response>'.format(
    "To report an outage, press 1. " * 6
)


async def _dial_in(rig: CarrierRig, form: list[tuple[str, str]]) -> tuple[int, dict[str, object]]:
    url = f"{rig.url}/2010-04-01/Accounts/{SID}/SimulatedInboundCalls.json"
    auth = {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=form, headers=auth) as answer,
    ):
        body: dict[str, object] = await answer.json()
        return answer.status, body


async def test_a_crowd_started_over_rest_dials_the_line_signed_and_paced(
    rig: CarrierRig, application: Application
) -> None:
    application.documents["/voice"] = MENU
    application.documents["/menu"] = "<Response><Say>Report recorded.</Say></Response>"
    rig.carrier.settings.personas = PersonaBook(mix=((1.0, Persona(digits=("1",))),))
    callers = [f"+1512555{n:04d}" for n in range(4000, 4006)]
    with rig.clock.hold():
        status, body = await _dial_in(
            rig,
            [
                ("To", OUTAGE_LINE),
                ("Url", application.url("/voice")),
                ("StatusCallback", application.url("/status")),
                ("ArrivalsPerSecond", "2"),
                *[("From", caller) for caller in callers],
            ],
        )
    assert status == 201, body
    created = body["calls"]
    assert isinstance(created, list)
    assert [call["from"] for call in created] == callers
    assert {call["direction"] for call in created} == {"inbound"}
    await rig.settle()
    calls = [rig.carrier.calls[str(call["sid"])] for call in created]
    first, last = calls[0].start_time, calls[-1].start_time
    assert first is not None and last is not None
    assert (last - first).total_seconds() == pytest.approx(5 / 2)
    assert all(call.spoken_text().endswith("Report recorded.") for call in calls)
    assert len(application.callbacks) == len(callers)
    assert application.bad_signatures == 0


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ([("To", OUTAGE_LINE), ("Url", "ftp://x/voice"), ("From", "+15125554000")], 21205),
        ([("To", OUTAGE_LINE), ("Url", "http://127.0.0.1:9/voice")], 21603),
        ([("To", "12"), ("Url", "http://127.0.0.1:9/voice"), ("From", "+15125554000")], 21211),
        (
            [
                ("To", OUTAGE_LINE),
                ("Url", "http://127.0.0.1:9/voice"),
                ("From", "+15125554000"),
                ("ArrivalsPerSecond", "0"),
            ],
            20001,
        ),
    ],
)
async def test_a_bad_crowd_is_a_400_and_dials_nobody(
    rig: CarrierRig, form: list[tuple[str, str]], code: int
) -> None:
    status, body = await _dial_in(rig, form)
    assert (status, body["code"]) == (400, code)
    assert rig.carrier.calls == {}


async def test_a_caller_who_barges_in_skips_the_menu_prompt(
    rig: CarrierRig, application: Application
) -> None:
    application.documents["/voice"] = MENU
    application.documents["/menu"] = "<Response><Say>Report recorded.</Say></Response>"
    rig.carrier.settings.personas = PersonaBook(
        exact={
            "+15125554001": Persona(digits=("1",), barge_in=True),
            "+15125554002": Persona(digits=("1",)),
            "+15125554003": Persona(barge_in=True),  # nothing to press: hears it all
        }
    )
    with rig.clock.hold():
        calls = rig.carrier.dial_in(
            voice_url=application.url("/voice"),
            to=OUTAGE_LINE,
            callers=["+15125554001", "+15125554002", "+15125554003"],
            arrivals_per_s=100,
        )
    await rig.settle()
    impatient, patient, silent = calls
    assert impatient.spoken_text() == "Report recorded."
    assert impatient.digits_sent == ["1"]
    assert patient.spoken_text().startswith("To report an outage, press 1.")
    assert patient.spoken_text().endswith("Report recorded.")
    assert "Report recorded." not in silent.spoken_text()
    assert impatient.duration_s < patient.duration_s


def test_barge_in_is_read_from_a_persona_file_and_checked() -> None:
    book = persona_book_from_json({"exact": {"+15125554001": {"barge_in": True}}})
    assert book.persona_for("+15125554001").barge_in
    assert not book.persona_for("+15125554002").barge_in
    with pytest.raises(PersonaFileError, match="barge_in must be true or false"):
        persona_book_from_json({"mix": [[1, {"barge_in": "yes"}]]})
