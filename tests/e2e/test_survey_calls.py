"""Survey calls end to end: survey campaigns placed by the real dialer through the real
`twilio` package, answered by the virtual carrier's personas on virtual time; every answer
path stored as given, comments kept as audio, and whatever a webhook carries never a 5xx."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

from outage_voice.adapters.audio import wav_seconds
from outage_voice.bootstrap import Services, create_app
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import VIRTUAL_AUTH_TOKEN, Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.campaigns import spec_from_json
from outage_voice.domain.outages import parse_outage_state
from outage_voice.domain.survey import CLOSING_COMMENT, DEFAULT_SURVEY, survey_as_json
from outage_voice.web.keys import VIRTUAL_CARRIER
from tests.e2e.test_campaigns import Rig, manual_only
from tests.e2e.test_outage_line import _rename_database as rename_database
from tests.integration.test_server import free_port
from tests.support import T0, csv_text

ALL_KEYS = "+15125550201"
CALL_BACK = "+15125550202"  # Spanish
SILENT_FIRST = "+15125550203"
WRONG_KEY = "+15125550204"
STOPS_SURVEYS = "+15125550205"
MACHINE = "+15125550206"
GONE_HALFWAY = "+15125550207"
COMMENTS = "+15125550208"
GONE_MID_COMMENT = "+15125550209"
NO_COMMENT = "+15125550210"

CUSTOMERS = csv_text(
    "2001,Maria Garcia,512-555-0201,,P1,12 Oak Street,F1,,",
    "2002,Jose Lopez,512-555-0202,,P2,40 Elm Street,F1,,es",
    "2003,Ana Smith,512-555-0203,,P3,9 Cedar Lane,F1,,",
    "2004,Luis Garcia,512-555-0204,,P4,14 Oak Street,F1,,",
    "2005,Rosa Diaz,512-555-0205,,P5,77 Pecan Drive,F1,,",
    "2006,Kenji Sato,512-555-0206,,P6,5 Sakura Way,F1,,",
    "2007,Ines Ruiz,512-555-0207,,P7,8 Elm Street,F1,,",
    "2008,Tom Reed,512-555-0208,,P8,2 Birch Road,F2,,",
    "2009,Amy Chen,512-555-0209,,P9,3 Birch Road,F2,,",
    "2010,Raj Patel,512-555-0210,,P10,4 Birch Road,F2,,",
)

PERSONAS = PersonaBook(
    exact={
        ALL_KEYS: Persona(digits=("4", "1", "2")),
        CALL_BACK: Persona(digits=("5", "2", "1")),
        # Silent three times at the first question (asked, asked again twice), then answers.
        SILENT_FIRST: Persona(digits=("", "", "", "1", "2")),
        WRONG_KEY: Persona(digits=("7", "3", "2", "2")),
        STOPS_SURVEYS: Persona(digits=("9",)),
        MACHINE: Persona(behaviour=Behaviour.MACHINE),
        # Answers the first two questions, then hangs up while the third is asked again
        # (about 35 s in the two are answered; the third's three askings end past 70 s).
        GONE_HALFWAY: Persona(behaviour=Behaviour.HANGUP, digits=("2", "1"), hangup_after_s=50),
        COMMENTS: Persona(digits=("3", "1", "2"), record_s=7),
        # Speaks past the comment's minute: hangs up while recording (from about 55 s in).
        GONE_MID_COMMENT: Persona(
            behaviour=Behaviour.HANGUP, digits=("5", "1", "2"), record_s=600, hangup_after_s=90
        ),
        NO_COMMENT: Persona(digits=("1", "2", "2"), record_s=0),
    }
)
WITH_COMMENT = dataclasses.replace(DEFAULT_SURVEY, id="with_comment", closing_comment=True)


@pytest.fixture
async def rig(
    settings: Settings, services: Services, tmp_path: Path, tokens: dict[Role, dict[str, str]]
) -> AsyncIterator[Rig]:
    await manual_only(services)
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    for outage_id, feeder in (("STORM-7", "F1"), ("STORM-8", "F2")):
        await services.outages.put(
            outage_id,
            parse_outage_state({"status": "restored", "feeder_ids": [feeder]}, now=T0),
            actor="test",
        )
    await services.pool.execute(
        "INSERT INTO surveys (id, definition, updated_at, updated_by) VALUES ($1, $2, $3, 'test')",
        WITH_COMMENT.id,
        survey_as_json(WITH_COMMENT),
        T0,
    )
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    clock = VirtualClock(T0)
    app = create_app(
        dataclasses.replace(settings, public_url=public),
        clock=clock,
        timer=clock,
        run_dialer=True,
        carrier_settings=CarrierSettings(cps=None, personas=PERSONAS),
    )
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        rig = Rig(
            url=public,
            clock=clock,
            carrier=app[VIRTUAL_CARRIER],
            headers=tokens[Role.SUPERVISOR],
            session=session,
        )
        yield rig
    await server.close()


async def survey_campaign(services: Services, survey: str, outage_id: str) -> int:
    """A survey campaign as the survey sender makes one: kind survey, the survey named in
    the message's variables."""
    spec = spec_from_json(
        {
            "name": f"Survey {survey}",
            "kind": "survey",
            "audience": {"outage_id": outage_id},
            "message": {"variables": {"survey": survey}},
            "cps": 5,
            "max_concurrent": 10,
        }
    )
    created = await services.campaigns.create(spec, actor="test")
    await services.campaigns.act(created["id"], "start")
    return int(created["id"])


async def answers(pool: asyncpg.Pool, phone: str) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT s.question, s.value FROM survey_answers s"
        " JOIN call_attempts a ON a.id = s.attempt_id WHERE a.phone = $1",
        phone,
    )
    return {row["question"]: row["value"] for row in rows}


def heard(rig: Rig, number: str) -> str:
    [call] = rig.calls_to(number)
    return call.spoken_text()


def the_call(rig: Rig, number: str) -> CallRecord:
    [call] = rig.calls_to(number)
    return call


async def test_each_answer_path_is_stored_as_given(
    rig: Rig, services: Services, pool: asyncpg.Pool
) -> None:
    campaign_id = await survey_campaign(services, "post_outage", "STORM-7")
    view = await rig.finished(campaign_id)
    assert view["progress"]["targets"] == 7
    for number in (ALL_KEYS, CALL_BACK, SILENT_FIRST, WRONG_KEY, STOPS_SURVEYS, MACHINE):
        call = the_call(rig, number)
        assert call.status.value == "completed", number
        assert not any(entry.get("verb") == "error" for entry in call.transcript), number
        # The answer URL was the survey's, never the message menu's.
        assert all("/twilio/survey" in hook["url"] for hook in call.webhooks), number

    # Every key: a scale, a yes and a no; thanks, and no call-back.
    assert await answers(pool, ALL_KEYS) == {"informed": 4, "etr_accurate": 1, "callback": 0}
    words = heard(rig, ALL_KEYS)
    assert words.startswith("We are calling with a few short questions")
    assert words.endswith(
        "Your answers help us keep customers better informed during outages. Goodbye."
    )
    assert "call back is now on our team's list" not in words

    # A yes to "call me back" lands on the call-back list, with the customer's details.
    assert await answers(pool, CALL_BACK) == {"informed": 5, "etr_accurate": 0, "callback": 1}
    assert "Su solicitud de que le devolvamos la llamada ya está en la lista" in heard(
        rig, CALL_BACK
    )
    callback = await pool.fetchrow(
        "SELECT b.phone, b.account_numbers, b.campaign_id, o.oms_id FROM survey_callbacks b"
        " JOIN outages o ON o.id = b.outage_id"
    )
    assert dict(callback) == {
        "phone": CALL_BACK, "account_numbers": ["2002"], "campaign_id": campaign_id,
        "oms_id": "STORM-7",
    }  # fmt: skip

    # Silence: the question asked three times, then the survey moves on to the next.
    silent = heard(rig, SILENT_FIRST)
    assert silent.count("How satisfied were you with the information") == 3
    assert await answers(pool, SILENT_FIRST) == {"etr_accurate": 1, "callback": 0}

    # A key that is no answer is said to be none, and the question asked again.
    wrong = heard(rig, WRONG_KEY)
    assert wrong.count("That key is not one of the answers.") == 1
    assert wrong.count("How satisfied were you with the information") == 2
    assert await answers(pool, WRONG_KEY) == {"informed": 3, "etr_accurate": 0, "callback": 0}

    # 9 stops surveys to the number, and only surveys.
    assert "You will not get survey calls from us anymore." in heard(rig, STOPS_SURVEYS)
    assert await answers(pool, STOPS_SURVEYS) == {}
    phone = await pool.fetchrow(
        "SELECT opted_out_at, survey_opted_out_at FROM phones WHERE e164 = $1", STOPS_SURVEYS
    )
    assert phone["survey_opted_out_at"] is not None and phone["opted_out_at"] is None

    # A machine hears one sentence: a survey is never left on voicemail.
    assert heard(rig, MACHINE) == (
        "We called with a short survey about your recent power outage. "
        "There is nothing you need to do. Goodbye."
    )
    assert await answers(pool, MACHINE) == {}

    # Hung up halfway: the answers given before stay.
    gone = the_call(rig, GONE_HALFWAY)
    assert any(event["event"] == "far_end_hangup" for event in gone.timeline)
    assert "Goodbye" not in gone.spoken_text()
    assert await answers(pool, GONE_HALFWAY) == {"informed": 2, "etr_accurate": 1}

    assert await pool.fetchval("SELECT count(*) FROM survey_callbacks") == 1
    assert await pool.fetchval("SELECT count(*) FROM survey_comments") == 0


async def test_a_recorded_comment_is_kept_as_audio_and_served_to_supervisors(
    rig: Rig, services: Services, pool: asyncpg.Pool, tokens: dict[Role, dict[str, str]]
) -> None:
    campaign_id = await survey_campaign(services, WITH_COMMENT.id, "STORM-8")
    await rig.finished(campaign_id)

    words = heard(rig, COMMENTS)
    assert "speak after the tone for up to one minute" in words
    assert words.endswith("Goodbye.")
    assert await answers(pool, COMMENTS) == {"informed": 3, "etr_accurate": 1, "callback": 0}
    attempt_id = await pool.fetchval("SELECT id FROM call_attempts WHERE phone = $1", COMMENTS)

    async def fetched() -> bool:
        return bool(
            await pool.fetchval("SELECT count(*) FROM survey_comments WHERE audio IS NOT NULL") == 2
        )

    await rig.until(fetched)
    comment = await pool.fetchrow(
        "SELECT question, campaign_id, duration_s, recording_url, content_type,"
        " fetch_attempts FROM survey_comments WHERE attempt_id = $1",
        attempt_id,
    )
    assert comment["question"] == CLOSING_COMMENT.key
    assert comment["campaign_id"] == campaign_id
    assert comment["duration_s"] == 7
    assert comment["content_type"] == "audio/x-wav"
    assert comment["fetch_attempts"] == 1

    # Served to supervisors and viewers, exactly as the carrier recorded it.
    url = f"{rig.url}/api/v1/surveys/comments/{attempt_id}/comment"
    for role in (Role.SUPERVISOR, Role.VIEWER):
        async with rig.session.get(url, headers=tokens[role]) as response:
            assert response.status == 200, role
            assert response.content_type == "audio/x-wav"
            assert response.headers["Cache-Control"] == "private, no-store"
            assert wav_seconds(await response.read()) == 7.0
    async with rig.session.get(url, headers=tokens[Role.OMS]) as response:
        assert response.status == 403
    async with rig.session.get(url) as response:
        assert response.status == 401
    for missing in (f"{attempt_id}/informed", "123456789/comment", "abc/comment", "1" * 40 + "/c"):
        async with rig.session.get(
            f"{rig.url}/api/v1/surveys/comments/{missing}", headers=tokens[Role.VIEWER]
        ) as response:
            assert response.status == 404, missing
            assert (await response.json())["error"]["code"] == "not_found"

    # Listed for supervisors and viewers, newest first, with where to hear each.
    listed = await rig.api("GET", "/api/v1/surveys/comments?outage_id=STORM-8")
    assert {c["phone"] for c in listed["comments"]} == {COMMENTS, GONE_MID_COMMENT}
    [mine] = [c for c in listed["comments"] if c["attempt_id"] == attempt_id]
    assert mine == {
        "attempt_id": attempt_id, "question": "comment", "campaign_id": campaign_id,
        "survey": WITH_COMMENT.id, "outage_id": "STORM-8", "phone": COMMENTS,
        "duration_s": 7, "recorded_at": mine["recorded_at"],
        "audio": f"/api/v1/surveys/comments/{attempt_id}/comment",
    }  # fmt: skip
    for query, count in (("survey=with_comment&limit=1", 1), ("survey=post_outage", 0)):
        listed = await rig.api("GET", f"/api/v1/surveys/comments?{query}")
        assert len(listed["comments"]) == count, query
    for query in ("limit=0", "limit=x", "colour=red", "survey="):
        refused = await rig.api("GET", f"/api/v1/surveys/comments?{query}", status=422)
        assert refused["error"]["code"] == "invalid_field", query
    async with rig.session.get(
        f"{rig.url}/api/v1/surveys/comments", headers=tokens[Role.OMS]
    ) as response:
        assert response.status == 403

    # Hung up while speaking: the comment so far and every answer before it are kept.
    gone = await pool.fetchrow(
        "SELECT c.duration_s FROM survey_comments c JOIN call_attempts a ON a.id = c.attempt_id"
        " WHERE a.phone = $1",
        GONE_MID_COMMENT,
    )
    assert 0 < gone["duration_s"] < 60
    assert await answers(pool, GONE_MID_COMMENT) == {
        "informed": 5, "etr_accurate": 1, "callback": 0
    }  # fmt: skip
    assert "Goodbye" not in heard(rig, GONE_MID_COMMENT)

    # Silent at the tone: no comment, and the thanks.
    assert heard(rig, NO_COMMENT).endswith("Goodbye.")
    assert await answers(pool, NO_COMMENT) == {"informed": 1, "etr_accurate": 0, "callback": 0}
    no_comment = await pool.fetchval(
        "SELECT count(*) FROM survey_comments c JOIN call_attempts a ON a.id = c.attempt_id"
        " WHERE a.phone = $1",
        NO_COMMENT,
    )
    assert no_comment == 0


async def test_comments_the_carrier_did_not_hand_over_are_fetched_again_by_the_leader(
    rig: Rig, services: Services, pool: asyncpg.Pool, tokens: dict[Role, dict[str, str]]
) -> None:
    await rig.finished(await survey_campaign(services, WITH_COMMENT.id, "STORM-8"))
    attempt_id = await pool.fetchval("SELECT id FROM call_attempts WHERE phone = $1", COMMENTS)
    url = await pool.fetchval(
        "SELECT recording_url FROM survey_comments WHERE attempt_id = $1", attempt_id
    )
    # The first fetch failed (a carrier whose recording was not ready yet), and another
    # comment's recording is one the carrier never had.
    await pool.execute(
        "UPDATE survey_comments SET audio = NULL, content_type = NULL, fetched_at = NULL,"
        " fetch_attempts = 1 WHERE attempt_id = $1",
        attempt_id,
    )
    lost = await pool.fetchval("SELECT id FROM call_attempts WHERE phone = $1", NO_COMMENT)
    await pool.execute(
        "INSERT INTO survey_comments (attempt_id, question, campaign_id, recording_url,"
        " duration_s, recorded_at) SELECT id, 'comment', campaign_id, $2, 4, $3"
        " FROM call_attempts WHERE id = $1",
        lost,
        url.replace("/RE", "/RX"),
        rig.clock.now(),
    )
    waiting = f"{rig.url}/api/v1/surveys/comments/{attempt_id}/comment"
    async with rig.session.get(waiting, headers=tokens[Role.VIEWER]) as response:
        assert response.status == 404
        assert (
            "not been fetched from the carrier yet" in (await response.json())["error"]["message"]
        )

    async def swept() -> bool:
        tries = await pool.fetchval(
            "SELECT fetch_attempts FROM survey_comments WHERE attempt_id = $1", lost
        )
        kept = await pool.fetchval(
            "SELECT audio IS NOT NULL FROM survey_comments WHERE attempt_id = $1", attempt_id
        )
        return bool(kept and tries >= 2)

    await rig.until(swept)
    assert (
        await pool.fetchval(
            "SELECT fetch_attempts FROM survey_comments WHERE attempt_id = $1", attempt_id
        )
        == 2
    )
    assert await pool.fetchval(
        "SELECT audio IS NULL FROM survey_comments WHERE attempt_id = $1", lost
    )
    async with rig.session.get(waiting, headers=tokens[Role.SUPERVISOR]) as response:
        assert response.status == 200
        assert wav_seconds(await response.read()) == 7.0


def _signed(rig: Rig, path: str, params: dict[str, str]) -> dict[str, str]:
    """Headers a carrier holding the Auth Token sends, computed by the twilio package."""
    signature = RequestValidator(VIRTUAL_AUTH_TOKEN).compute_signature(rig.url + path, params)
    return {"X-Twilio-Signature": signature}


async def _post(
    rig: Rig, path: str, params: dict[str, str], *, signed: bool = True
) -> tuple[int, str]:
    headers = _signed(rig, path, params) if signed else {}
    async with rig.session.post(rig.url + path, data=params, headers=headers) as answer:
        return answer.status, await answer.text()


async def test_odd_unsigned_or_unknown_webhooks_are_answered_and_change_nothing_wrongly(
    rig: Rig, services: Services, pool: asyncpg.Pool
) -> None:
    await rig.finished(await survey_campaign(services, "post_outage", "STORM-7"))
    attempt = await pool.fetchval("SELECT id FROM call_attempts WHERE phone = $1", ALL_KEYS)
    first = f"/twilio/survey/step?attempt={attempt}&q=0"
    kept = {"informed": 4, "etr_accurate": 1, "callback": 0}

    # Keys that are no answer: said to be none, the question asked again, nothing stored.
    for digits in ("*", "#", "0", "6", "12", "٣", "9#", "x" * 500, "\x00"):
        status, body = await _post(rig, first, {"Digits": digits})
        assert status == 200, digits
        assert "That key is not one of the answers" in body or "<Play" in body, digits
        again = f'action="/twilio/survey/step?attempt={attempt}&amp;q=0&amp;unanswered=1"'
        assert again in body, digits
        assert body.endswith("</Redirect></Response>"), digits
    assert await answers(pool, ALL_KEYS) == kept

    # Unsigned, or signed for another URL: refused before anything runs.
    status, _ = await _post(rig, first, {"Digits": "5"}, signed=False)
    assert status == 403
    headers = _signed(rig, first, {"Digits": "1"})
    async with rig.session.post(rig.url + first, data={"Digits": "5"}, headers=headers) as r:
        assert r.status == 403
    async with rig.session.post(
        rig.url + first, data=b'{"Digits": "5"}', headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 403
    assert await answers(pool, ALL_KEYS) == kept

    # The same question answered again (a webhook sent twice, a key changed): the last stands.
    status, _ = await _post(rig, first, {"Digits": "5"})
    assert status == 200
    assert await answers(pool, ALL_KEYS) == kept | {"informed": 5}

    # Attempts we don't know, or junk where the attempt goes: a polite goodbye.
    for path in (
        "/twilio/survey?attempt=999999999",
        "/twilio/survey/step?attempt=999999999&q=1",
        "/twilio/survey/step?attempt=%C2%B2&q=%C2%B2&unanswered=banana",
        "/twilio/survey/recorded?attempt=" + "9" * 40,
        "/twilio/survey/step",
    ):
        status, body = await _post(rig, path, {"Digits": "1", "AnsweredBy": "human"})
        assert status == 200, path
        assert body.endswith("<Hangup /></Response>"), path
    # A question past the survey's last: thanks, nothing stored.
    status, body = await _post(rig, f"/twilio/survey/step?attempt={attempt}&q=77", {"Digits": "1"})
    assert (status, body.endswith("<Hangup /></Response>")) == (200, True)
    # An attempt of another campaign (not a survey) is not a survey's.
    other = await services.campaigns.create(
        spec_from_json(
            {"name": "Restored", "kind": "restoration", "audience": {"outage_id": "STORM-8"}}
        ),
        actor="test",
    )
    await pool.execute(
        "INSERT INTO call_attempts (campaign_id, target_id, phone, attempt_no, status,"
        " created_at, ended_at) SELECT campaign_id, id, phone, 1, 'completed', $2, $2"
        " FROM campaign_targets WHERE campaign_id = $1 LIMIT 1",
        other["id"],
        T0,
    )
    stranger = await pool.fetchval(
        "SELECT id FROM call_attempts WHERE campaign_id = $1", other["id"]
    )
    status, body = await _post(rig, f"/twilio/survey/step?attempt={stranger}&q=0", {"Digits": "1"})
    assert (status, body.endswith("<Hangup /></Response>")) == (200, True)
    assert (
        await pool.fetchval("SELECT count(*) FROM survey_answers WHERE attempt_id = $1", stranger)
        == 0
    )

    # Recordings with junk: no comment kept, the call carries on; at a keypad question, no
    # comment either.
    for params in (
        {"RecordingUrl": "javascript:alert(1)", "RecordingDuration": "5"},
        {"RecordingUrl": "http://127.0.0.1:1/r", "RecordingDuration": "-3"},
        {"RecordingUrl": "http://127.0.0.1:1/r", "RecordingDuration": "9" * 30},
        {"RecordingUrl": "http://127.0.0.1:1/" + "r" * 600, "RecordingDuration": "5"},
        {"RecordingUrl": "http://127.0.0.1:1/r", "RecordingDuration": "5", "Digits": "hangup"},
    ):
        status, _ = await _post(rig, f"/twilio/survey/recorded?attempt={attempt}&q=0", params)
        assert status == 200, params
    assert await pool.fetchval("SELECT count(*) FROM survey_comments") == 0

    # Not a POST, or no form at all: refused or answered, never a 5xx.
    async with rig.session.get(rig.url + first, headers=_signed(rig, first, {})) as r:
        assert r.status < 500
    status, _ = await _post(rig, "/twilio/survey/step?attempt=%ZZ", {})
    assert status < 500


async def test_a_step_with_the_database_away_thanks_the_caller_instead_of_failing(
    rig: Rig, services: Services, pool: asyncpg.Pool, database_dsn: str, admin_dsn: str
) -> None:
    await rig.finished(await survey_campaign(services, "post_outage", "STORM-7"))
    attempt = await pool.fetchval("SELECT id FROM call_attempts WHERE phone = $1", ALL_KEYS)
    name = urlsplit(database_dsn).path.lstrip("/")
    await rename_database(admin_dsn, name, f"{name}_away")
    try:
        status, body = await _post(
            rig, f"/twilio/survey/step?attempt={attempt}&q=0", {"Digits": "5"}
        )
    finally:
        await rename_database(admin_dsn, f"{name}_away", name)
    assert status == 200
    assert body.endswith("<Hangup /></Response>")
    assert await answers(pool, ALL_KEYS) == {"informed": 4, "etr_accurate": 1, "callback": 0}


async def test_9_ending_a_comment_keeps_it_and_stops_surveys(
    rig: Rig, services: Services, pool: asyncpg.Pool
) -> None:
    await rig.finished(await survey_campaign(services, WITH_COMMENT.id, "STORM-8"))
    attempt = await pool.fetchval("SELECT id FROM call_attempts WHERE phone = $1", NO_COMMENT)
    recording = await pool.fetchval("SELECT recording_url FROM survey_comments LIMIT 1")
    status, body = await _post(
        rig,
        f"/twilio/survey/recorded?attempt={attempt}&q=3",
        {"RecordingUrl": recording, "RecordingDuration": "4", "Digits": "9"},
    )
    assert status == 200 and body.endswith("<Hangup /></Response>")
    kept = await pool.fetchrow(
        "SELECT question, duration_s FROM survey_comments WHERE attempt_id = $1", attempt
    )
    assert (kept["question"], kept["duration_s"]) == ("comment", 4)
    assert await pool.fetchval(
        "SELECT survey_opted_out_at IS NOT NULL FROM phones WHERE e164 = $1", NO_COMMENT
    )


async def test_a_recording_url_with_control_characters_is_not_kept(
    rig: Rig, services: Services, pool: asyncpg.Pool
) -> None:
    """Only the carrier signs these, but what no URL holds (a NUL, a line break, a space) is
    refused, never stored or fetched: the survey goes on as after a comment not given."""
    await rig.finished(await survey_campaign(services, WITH_COMMENT.id, "STORM-8"))
    attempt = await pool.fetchval("SELECT id FROM call_attempts WHERE phone = $1", NO_COMMENT)
    before = await pool.fetchval("SELECT count(*) FROM survey_comments")
    for url in (
        "http://127.0.0.1:1/r\x00",
        "https://127.0.0.1:1/r\nX-Injected: 1",
        "https://127.0.0.1:1/r\tx",
        "https://127.0.0.1:1/r x",
        "https://127.0.0.1:1/r\x7fx",
        "https://127.0.0.1:1/r\x85x",
        "https://127.0.0.1:1/r\u2028x",
    ):
        status, body = await _post(
            rig,
            f"/twilio/survey/recorded?attempt={attempt}&q=3",
            {"RecordingUrl": url, "RecordingDuration": "4"},
        )
        assert status == 200, repr(url)
        assert body.endswith("<Hangup /></Response>"), repr(url)  # thanked: the last question
    assert await pool.fetchval("SELECT count(*) FROM survey_comments") == before
    assert (
        await pool.fetchval("SELECT count(*) FROM survey_comments WHERE attempt_id = $1", attempt)
        == 0
    )
