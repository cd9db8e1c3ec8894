"""<Record> on the virtual carrier: the far end speaks (or not, or hangs up), the action is
posted with Twilio's parameters, and the recording can be downloaded."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from outage_voice.adapters.audio import TARGET_RATE_HZ, wav_seconds
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.personas import (
    Behaviour,
    Persona,
    PersonaBook,
    PersonaFileError,
    persona_book_from_json,
)
from outage_voice.carrier.standalone import load_personas
from outage_voice.carrier.twiml import Record, TwimlError, parse_twiml
from tests.carrier.conftest import SID, TOKEN, Application, CarrierRig
from tests.carrier.test_calls import TO, place

MAX_LENGTH_S = 30
SURVEY = (
    "<Response><Say>Tell us.</Say>"
    f'<Record action="/comment" maxLength="{MAX_LENGTH_S}" finishOnKey="#" timeout="5"/>'
    "<Say>We did not hear a comment.</Say></Response>"
)
THANKS = "<Response><Say>Thank you.</Say><Hangup/></Response>"


def _serve_survey(application: Application) -> None:
    application.documents["/voice"] = SURVEY
    application.documents["/comment"] = THANKS


async def _call_with(
    rig: CarrierRig, async_client: Any, application: Application, persona: Persona
) -> CallRecord:
    rig.carrier.settings.personas = PersonaBook(exact={TO: persona})
    _serve_survey(application)
    created = await place(async_client, application)
    await rig.settle()
    return rig.carrier.calls[created.sid]


def _comments(application: Application) -> list[dict[str, str]]:
    return [params for path, params in application.requests if path == "/comment"]


def _records(call: CallRecord) -> list[dict[str, Any]]:
    return [entry for entry in call.transcript if entry.get("verb") == "Record"]


async def _download(url: str, *, basic_auth: bool = False) -> tuple[int, str, bytes]:
    credentials = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"} if basic_auth else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers) as response,
    ):
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def test_a_caller_speaking_five_seconds_is_posted_signed_and_downloadable(
    rig: CarrierRig, async_client: Any, application: Application, tmp_path: Path
) -> None:
    # The persona comes from a persona file, as the standalone carrier reads it.
    personas = tmp_path / "personas.json"
    personas.write_text(json.dumps({"exact": {TO: {"behaviour": "human", "record_s": 5}}}))
    book = load_personas(personas)
    assert book.persona_for(TO).record_s == 5.0
    call = await _call_with(rig, async_client, application, book.persona_for(TO))

    [comment] = _comments(application)
    assert comment["RecordingDuration"] == "5"
    assert comment["Digits"] == "#"
    assert comment["RecordingSid"].startswith("RE") and len(comment["RecordingSid"]) == 34
    assert comment["CallSid"] == call.sid and comment["CallStatus"] == "in-progress"
    assert comment["RecordingUrl"] == (
        f"{rig.url}/2010-04-01/Accounts/{SID}/Recordings/{comment['RecordingSid']}"
    )
    assert application.bad_signatures == 0
    assert call.spoken_text() == "Tell us. Thank you."
    assert call.digits_sent == ["#"]
    [entry] = _records(call)
    assert entry["recording_s"] == 5 and entry["ended_by"] == "key"
    assert entry["summary"] == "a recording of 5 s was made"

    for url in (comment["RecordingUrl"], comment["RecordingUrl"] + ".wav"):
        status, kind, body = await _download(url)
        assert (status, kind) == (200, "audio/x-wav")
        assert wav_seconds(body) == 5.0
    status, _, _ = await _download(comment["RecordingUrl"].replace("/RE", "/RX"))
    assert status == 404


async def test_recordings_need_the_account_s_auth_when_media_auth_is_enforced(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    rig.carrier.settings.media_auth = True
    await _call_with(rig, async_client, application, Persona(record_s=5))
    [comment] = _comments(application)
    status, _, _ = await _download(comment["RecordingUrl"])
    assert status == 401
    status, _, body = await _download(comment["RecordingUrl"], basic_auth=True)
    assert status == 200
    with_header = body[:44]
    assert int.from_bytes(with_header[24:28], "little") == TARGET_RATE_HZ  # 8 kHz
    assert int.from_bytes(with_header[22:24], "little") == 1  # mono
    assert wav_seconds(body) == 5.0


async def test_a_caller_speaking_past_max_length_is_cut_at_max_length(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    call = await _call_with(rig, async_client, application, Persona(record_s=90))
    [comment] = _comments(application)
    assert comment["RecordingDuration"] == str(MAX_LENGTH_S)
    assert "Digits" not in comment  # maxLength ended it, not a key
    assert application.bad_signatures == 0
    [entry] = _records(call)
    assert (entry["recording_s"], entry["ended_by"]) == (MAX_LENGTH_S, "max_length")
    _, _, body = await _download(comment["RecordingUrl"])
    assert wav_seconds(body) == MAX_LENGTH_S


async def test_a_silent_caller_records_nothing_and_the_next_verb_plays(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    call = await _call_with(rig, async_client, application, Persona(record_s=0))
    assert _comments(application) == []  # Twilio skips the action when nothing was recorded
    assert call.spoken_text() == "Tell us. We did not hear a comment."
    [entry] = _records(call)
    assert (entry["recording_s"], entry["ended_by"]) == (0, "silence")
    assert rig.carrier.recordings == {}
    assert call.status.value == "completed"


async def test_a_silent_persona_says_nothing_at_the_tone_whatever_its_record_s(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    persona = Persona(behaviour=Behaviour.SILENT, record_s=5)
    call = await _call_with(rig, async_client, application, persona)
    assert _comments(application) == []
    assert call.spoken_text() == "Tell us. We did not hear a comment."


async def test_a_caller_hanging_up_mid_recording_posts_the_action_with_digits_hangup(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    # "Tell us." lasts 0.8 s and the tone 0.5 s: hanging up 4.3 s in leaves 3 s recorded.
    persona = Persona(behaviour=Behaviour.HANGUP, hangup_after_s=4.3, record_s=20)
    call = await _call_with(rig, async_client, application, persona)
    [comment] = _comments(application)
    assert comment["Digits"] == "hangup"
    assert comment["RecordingDuration"] == "3"
    assert comment["CallStatus"] == "completed"
    assert application.bad_signatures == 0
    assert call.spoken_text() == "Tell us."  # the action's answer reaches no one
    [entry] = _records(call)
    assert (entry["recording_s"], entry["ended_by"]) == (3, "hangup")
    assert any(event["event"] == "far_end_hangup" for event in call.timeline)
    assert call.status.value == "completed"
    _, _, body = await _download(comment["RecordingUrl"])
    assert wav_seconds(body) == 3.0


async def test_a_caller_hanging_up_before_saying_anything_posts_nothing(
    rig: CarrierRig, async_client: Any, application: Application
) -> None:
    persona = Persona(behaviour=Behaviour.HANGUP, hangup_after_s=1.0, record_s=20)
    call = await _call_with(rig, async_client, application, persona)
    assert _comments(application) == []
    assert rig.carrier.recordings == {}
    assert call.status.value == "completed"


def test_persona_files_take_record_s_and_still_refuse_unknown_fields() -> None:
    book = persona_book_from_json({"suffixes": {"00": {"record_s": 12.5}}})
    assert book.persona_for(TO).record_s == 12.5
    assert Persona().record_s == 0.0
    with pytest.raises(PersonaFileError, match="unknown field 'record_seconds'"):
        persona_book_from_json({"exact": {TO: {"record_seconds": 5}}})
    with pytest.raises(PersonaFileError, match="record_s must be a non-negative number"):
        persona_book_from_json({"exact": {TO: {"record_s": -1}}})


def test_record_is_parsed_with_twilio_s_defaults() -> None:
    [verb] = parse_twiml("<Response><Record/></Response>")
    assert verb == Record(
        action=None,
        method="POST",
        timeout_s=5.0,
        finish_on_key="1234567890*#",
        max_length_s=3600.0,
        play_beep=True,
        trim=True,
    )
    [verb] = parse_twiml(
        '<Response><Record action="/c" method="GET" maxLength="60" finishOnKey=""'
        ' playBeep="false" trim="do-not-trim" timeout="0"/></Response>'
    )
    assert verb == Record(
        action="/c",
        method="GET",
        timeout_s=0.0,
        finish_on_key="",
        max_length_s=60.0,
        play_beep=False,
        trim=False,
    )
    for bad in ('maxLength="0"', 'trim="yes"', 'finishOnKey="x"', 'playBeep="loud"'):
        with pytest.raises(TwimlError):
            parse_twiml(f"<Response><Record {bad}/></Response>")
