from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from twilio.request_validator import RequestValidator

from outage_voice.adapters.twilio.signature import compute_signature, signature_is_valid
from outage_voice.carrier.calls import CallRecord, write_jsonl
from outage_voice.carrier.personas import (
    Behaviour,
    Persona,
    PersonaBook,
    PersonaFileError,
    persona_book_from_json,
)

URL = "https://ivr.example-utility.com/twilio/voice?step=menu"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"CallSid": "CA" + "0" * 32, "Digits": "1", "From": "+15125550100"},
        {"SpeechResult": "mi luz está apagada", "Confidence": "0.61", "Empty": ""},
    ],
)
def test_signature_matches_twilios_validator(params: dict[str, str]) -> None:
    validator = RequestValidator("secret-token")
    ours = compute_signature("secret-token", URL, params)
    assert ours == validator.compute_signature(URL, params)
    assert validator.validate(URL, params, ours)
    assert signature_is_valid("secret-token", URL, params, ours)
    assert not signature_is_valid("other-token", URL, params, ours)
    assert not signature_is_valid("secret-token", URL + "&x=1", params, ours)


def test_persona_book_from_json() -> None:
    book = persona_book_from_json(
        {
            "exact": {"+15125550100": {"behaviour": "busy"}},
            "suffixes": {"99": {"behaviour": "machine", "greeting_s": 4}, "9": {"digits": ["1"]}},
            "mix": [[3, {"behaviour": "human", "digits": ["2"]}], [1, {"behaviour": "no_answer"}]],
            "seed": 42,
        }
    )
    assert book.persona_for("+15125550100").behaviour is Behaviour.BUSY
    assert book.persona_for("+15125550199").behaviour is Behaviour.MACHINE  # longest suffix
    assert book.persona_for("+15125550109").digits == ("1",)
    drawn = [book.persona_for(f"+1512555{i:04d}").behaviour for i in range(1000, 1400)]
    assert drawn == [book.persona_for(f"+1512555{i:04d}").behaviour for i in range(1000, 1400)]
    share = drawn.count(Behaviour.HUMAN) / len(drawn)
    assert 0.65 < share < 0.85  # weights 3:1


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"exact": {"+1": "busy"}},
        {"exact": {"+1": {"behaviour": "grumpy"}}},
        {"exact": {"+1": {"colour": "red"}}},
        {"mix": []},
        {"mix": [[0, {}]]},
        {"mix": [["a", {}]]},
        {"mix": [[1, {"digits": "12"}]]},
        {"mix": [[1, {"ring_s": -1}]]},
        {"seed": "x"},
    ],
)
def test_bad_persona_files_say_what_is_wrong(data: object) -> None:
    with pytest.raises(PersonaFileError):
        persona_book_from_json(data)


def test_call_log_exports_json_lines() -> None:
    at = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    call = CallRecord(
        sid="CA" + "1" * 32,
        account_sid="AC" + "1" * 32,
        direction="outbound-api",
        to="+15125550100",
        from_="+15125559999",
        url="http://127.0.0.1/v",
        method="POST",
        status_callback=None,
        status_callback_events=frozenset({"completed"}),
        status_callback_method="POST",
        machine_detection=None,
        timeout_s=60,
        created_at=at,
        persona=Persona().behaviour.value,
    )
    call.transcript.append({"verb": "Say", "text": "Hello"})
    stream = io.StringIO()
    write_jsonl([call, call], stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert record["from"] == "+15125559999"
    assert record["status"] == "queued"
    assert record["created_at"] == at.isoformat()
    assert record["transcript"] == [{"verb": "Say", "text": "Hello"}]


def test_default_book_answers_as_a_human() -> None:
    assert PersonaBook().persona_for("+15125550100").behaviour is Behaviour.HUMAN
