"""Callers on the outage line, through the virtual carrier, against the real server."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import subprocess
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import unescape

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from outage_voice.adapters.audio import wav_seconds
from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.twilio.signature import compute_signature
from outage_voice.bootstrap import Services, create_app
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import VIRTUAL_AUTH_TOKEN, Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.outages import parse_outage_state
from outage_voice.domain.windows import parse_daily_window
from outage_voice.web.audio import MAX_PLAY_URL_CHARS
from outage_voice.web.keys import CALL_RECORDS, IVR, SPOOL
from tests.integration.test_server import free_port, wait_healthy
from tests.support import T0, cli, cli_env, csv_text

OUTAGE_LINE = "+15125550000"
CUSTOMERS = csv_text(
    "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
    "1002,Jose Lopez,512-555-0102,,P2,40 Elm Street,F2,,es",
    "1003,Ana Smith,512-555-0103,,P3,9 Cedar Lane,F9,,",
    "1004,Luis Garcia,512-555-0104,,P1,12 Oak Street,F1,,",
    # One household number, two homes: one of them (on feeder F1) is out.
    "1005,Rosa Diaz,512-555-0105,,P5,77 Pecan Drive,F9,,",
    "1006,Rosa Diaz,512-555-0105,,P6,3 Mesquite Trail,F1,,",
)
EMERGENCY = "+15125550911"


@dataclasses.dataclass
class Line:
    url: str
    carrier: VirtualCarrier
    clock: VirtualClock
    app: web.Application

    async def call(self, caller: str, persona: Persona | None = None) -> CallRecord:
        if persona is not None:
            self.carrier.settings.personas = PersonaBook(exact={caller: persona})
        with self.clock.hold():
            (call,) = self.carrier.dial_in(
                voice_url=f"{self.url}/twilio/voice",
                to=OUTAGE_LINE,
                callers=[caller],
                arrivals_per_s=1,
                status_callback=f"{self.url}/twilio/status",
            )
        await asyncio.wait_for(self.clock.settle(), timeout=60)
        return call


@pytest.fixture
def line_settings() -> dict[str, Any]:
    """Settings a test changes for its outage line (parametrize `line_settings` to override)."""
    return {}


@pytest.fixture
async def line(
    settings: Settings,
    services: Services,
    clock: ManualClock,
    tmp_path: Path,
    line_settings: dict[str, Any],
) -> AsyncIterator[Line]:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    etr = (T0 + timedelta(hours=4, minutes=30)).isoformat()
    await services.outages.put(
        "STORM-1",
        parse_outage_state(
            {
                "status": "crew_on_site",
                "cause": "storm damage",
                "etr": etr,
                "feeder_ids": ["F1", "F2"],
            },
            now=T0,
        ),
        actor="test",
    )
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    app = create_app(
        dataclasses.replace(
            settings, public_url=public, **{"emergency_number": EMERGENCY, **line_settings}
        ),
        clock=clock,
    )
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    virtual = VirtualClock(T0)
    carrier = VirtualCarrier(CarrierSettings(cps=None), virtual)
    yield Line(url=public, carrier=carrier, clock=virtual, app=app)
    await carrier.close()
    await server.close()


async def test_known_caller_hears_status_first(line: Line) -> None:
    call = await line.call("+15125550100", Persona(behaviour=Behaviour.SILENT))
    heard = call.spoken_text()
    # STORM-1 covers feeders F1 and F2: four accounts of the customer file.
    assert heard.startswith(
        "We know about the outage at 12 Oak Street. "
        "It affects about four customers in your area. It was caused by storm damage. "
        "A crew is working on it now. We expect power back by four thirty P M today."
    )
    assert "To report an outage, press 1." in heard
    assert call.error_code is None
    assert all(entry.get("verb") != "error" for entry in call.transcript)
    assert heard.rstrip().endswith("Thank you for calling. Goodbye.")  # silence ends politely


async def test_spanish_account_hears_spanish(line: Line) -> None:
    call = await line.call("+15125550102", Persona(behaviour=Behaviour.SILENT))
    assert call.spoken_text().startswith(
        "Sabemos que no hay luz en 40 Elm Street. "
        "El apagón afecta a aproximadamente cuatro clientes de su zona. "
        "La causa es daños por la tormenta."
    )


async def test_switching_language_and_repeating(line: Line) -> None:
    call = await line.call("+15125550103", Persona(digits=("8", "9")))
    heard = call.spoken_text()
    assert heard.startswith("We have no outage recorded at 9 Cedar Lane.")
    assert "Para reportar un apagón, oprima 1." in heard


async def test_unknown_caller_is_found_by_account_number(line: Line) -> None:
    call = await line.call("+15125550999", Persona(digits=("1001#",)))
    heard = call.spoken_text()
    assert heard.startswith("Please enter the ten digit phone number on your account")
    assert "We know about the outage at 12 Oak Street." in heard


async def test_three_misses_lead_to_the_menu_not_a_hang_up(line: Line) -> None:
    call = await line.call("+15125550999", Persona(digits=("555#", "12#", "9#")))
    heard = call.spoken_text()
    assert heard.count("We could not find that number.") == 2
    assert "To report an outage, press 1." in heard
    assert call.error_code is None


async def test_unsigned_and_forged_webhooks_are_refused(line: Line) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{line.url}/twilio/voice", data={"From": "+15125550100"}
        ) as response:
            assert response.status == 403
        forged = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
        async with session.post(
            f"{line.url}/twilio/voice", data={"From": "+15125550100"}, headers=forged
        ) as response:
            assert response.status == 403


async def test_fallback_url_answers_without_the_database(line: Line) -> None:
    (call,) = [await line.call("+15125550100", Persona(behaviour=Behaviour.SILENT))]
    assert call.status.value == "completed"
    fallback = line.carrier
    with line.clock.hold():
        (fallback_call,) = fallback.dial_in(
            voice_url=f"{line.url}/twilio/voice/fallback",
            to=OUTAGE_LINE,
            callers=["+15125550188"],
            arrivals_per_s=1,
        )
    await asyncio.wait_for(line.clock.settle(), timeout=30)
    assert fallback_call.spoken_text().startswith("We are receiving many calls")
    assert fallback_call.error_code is None


async def test_report_is_recorded_once_per_premise_and_outage(
    line: Line, pool: asyncpg.Pool
) -> None:
    first = await line.call("+15125550100", Persona(digits=("1",)))
    assert "Thank you. We recorded your outage report for 12 Oak Street." in first.spoken_text()
    neighbour = await line.call("+15125550104", Persona(digits=("1",)))
    assert "We already have a report for 12 Oak Street." in neighbour.spoken_text()
    rows = await pool.fetch(
        "SELECT premise_id, account_number, phone, call_sid FROM outage_reports"
    )
    assert [(r["premise_id"], r["account_number"], r["phone"]) for r in rows] == [
        ("P1", "1001", "+15125550100")
    ]
    # The carrier retrying the first call's webhook hears the same thing and stores nothing more.
    params = {"CallSid": rows[0]["call_sid"], "From": "+15125550100", "Digits": "1"}
    url = f"{line.url}/twilio/menu?lang=en&premise=P1&account=1001"
    signature = compute_signature(VIRTUAL_AUTH_TOKEN, url, params)
    async with aiohttp.ClientSession() as session:
        headers = {"X-Twilio-Signature": signature}
        async with session.post(url, data=params, headers=headers) as answer:
            assert answer.status == 200
            first_play = (await answer.text()).split("<Play>", 1)[1].split("</Play>", 1)[0]
        async with session.get(first_play) as audio:
            words = unquote(audio.headers["X-Prompt-Text"])
    assert words == "Thank you. We recorded your outage report for 12 Oak Street."
    assert await pool.fetchval("SELECT count(*) FROM outage_reports") == 1


async def test_hazard_gives_safety_advice_then_the_emergency_line(
    line: Line, pool: asyncpg.Pool
) -> None:
    call = await line.call("+15125550103", Persona(digits=("2",)))
    heard = call.spoken_text()
    assert (
        "If a wire is down, stay at least thirty feet away and keep others away. "
        "We are connecting you to our emergency line now."
    ) in heard
    assert "hang up" not in heard
    assert call.transfer_to == EMERGENCY
    assert await pool.fetchval("SELECT kind FROM outage_reports") == "hazard"


@pytest.mark.parametrize(
    ("line_settings", "dial"),
    [
        ({"emergency_number": None}, "nine one one"),
        ({"emergency_number": None, "public_emergency_number": "112"}, "one one two"),
    ],
)
async def test_hazard_without_an_emergency_line_sends_the_caller_to_the_public_number(
    line: Line, pool: asyncpg.Pool, dial: str
) -> None:
    call = await line.call("+15125550103", Persona(digits=("2",)))
    heard = call.spoken_text()
    assert (
        "If a wire is down, stay at least thirty feet away and keep others away. "
        "We recorded your report. This line cannot connect you to emergency help: "
        f"hang up now and call {dial}."
    ) in heard
    assert "connecting" not in heard.lower()
    assert call.transfer_to is None
    assert all(entry.get("verb") != "Dial" for entry in call.transcript)
    assert await pool.fetchval("SELECT kind FROM outage_reports") == "hazard"
    # Not a dead end: the menu follows for a caller who stays on the line.
    assert "To report an outage, press 1." in heard.split("hang up now", 1)[1]
    spanish = await line.call("+15125550102", Persona(speech=("hay un cable caído",)))
    assert "cuelgue ahora y llame al" in spanish.spoken_text()
    assert "comunicamos" not in spanish.spoken_text()
    assert spanish.transfer_to is None


@pytest.mark.parametrize("line_settings", [{"agent_number": None}])
async def test_agent_option_without_an_agent_line_says_so_and_returns_to_the_menu(
    line: Line,
) -> None:
    call = await line.call("+15125550103", Persona(digits=("0", "1")))
    heard = call.spoken_text()
    assert "We can't put you through to a representative on this line." in heard
    assert "connecting" not in heard.lower()
    # The menu never offers what the line can't do; "0" (or "representative") still answers.
    assert "To report an outage, press 1." in heard
    assert "press 0" not in heard and "speak with someone" not in heard
    assert call.transfer_to is None
    after = heard.split("on this line.", 1)[1]
    assert "To report an outage, press 1." in after
    assert "Thank you. We recorded your outage report for 9 Cedar Lane." in after


async def test_callback_request_and_closed_agent_line(line: Line, pool: asyncpg.Pool) -> None:
    call = await line.call("+15125550102", Persona(digits=("3", "0")))
    heard = call.spoken_text()
    assert "Le llamaremos al cinco uno dos cinco cinco cinco cero uno cero dos" in heard
    assert "No podemos comunicarle con un representante en esta línea." in heard
    row = await pool.fetchrow(
        "SELECT phone, premise_id, language, outage_id FROM callback_requests"
    )
    assert (row["phone"], row["premise_id"], row["language"]) == ("+15125550102", "P2", "es")
    assert row["outage_id"] is not None


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/twilio/menu?lang=en", {"Digits": "*#*#" * 50}, 200),
        ("/twilio/menu?lang=en", {"Digits": "abc"}, 200),
        ("/twilio/menu?lang=xx&repeat=banana", {}, 200),
        ("/twilio/menu?lang=en&premise=NOPE", {"Digits": "1", "CallSid": "CA1"}, 200),
        ("/twilio/identify?lang=en&try=zz", {"Digits": "9" * 40}, 200),
        ("/twilio/identify?lang=en&try=1", {}, 200),
        ("/twilio/voice", {}, 200),
        ("/twilio/voice", {"From": "anonymous"}, 200),
        ("/twilio/no-such-step", {}, 404),
    ],
)
async def test_bad_input_gets_a_reprompt_or_a_4xx_never_a_500(
    line: Line, path: str, params: dict[str, str], status: int
) -> None:
    url = f"{line.url}{path}"
    headers = {"X-Twilio-Signature": compute_signature(VIRTUAL_AUTH_TOKEN, url, params)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=params, headers=headers) as answer,
    ):
        assert answer.status == status, await answer.text()
        if status == 200:
            body = await answer.text()
            assert body.startswith('<?xml version="1.0" encoding="UTF-8"?><Response>')
            assert "<Gather" in body or "<Hangup" in body


async def test_oversize_webhook_bodies_are_refused(line: Line) -> None:
    body = io.BytesIO(b"From=%2B15125550100&Junk=" + b"x" * (5 * 1024 * 1024))
    headers = {"X-Twilio-Signature": "x", "Content-Type": "application/x-www-form-urlencoded"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{line.url}/twilio/voice", data=body, headers=headers) as answer,
    ):
        assert answer.status == 413


async def test_a_phone_covering_two_homes_leads_with_the_outage_and_offers_a_choice(
    line: Line, pool: asyncpg.Pool
) -> None:
    call = await line.call("+15125550105", Persona(digits=("2", "1")))
    heard = call.spoken_text()
    assert heard.startswith("We know about the outage at 3 Mesquite Trail.")
    assert (
        "We found two addresses on your number. For 3 Mesquite Trail, press one. "
        "For 77 Pecan Drive, press two." in heard
    )
    assert "We have no outage recorded at 77 Pecan Drive." in heard
    assert "We recorded your outage report for 77 Pecan Drive." in heard
    report = await pool.fetchrow("SELECT premise_id, account_number, outage_id FROM outage_reports")
    assert (report["premise_id"], report["account_number"], report["outage_id"]) == (
        "P5",
        "1005",
        None,
    )


async def _rename_database(admin_dsn: str, old: str, new: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        # No new connection meanwhile: servers reconnect within milliseconds, and each rename
        # that found one waited 5 s for it to go before giving up (up to minutes in all).
        await admin.execute(f'ALTER DATABASE "{old}" ALLOW_CONNECTIONS false')
        for _ in range(50):  # a connection being set up may still slip in
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", old
            )
            try:
                await admin.execute(f'ALTER DATABASE "{old}" RENAME TO "{new}"')
                await admin.execute(f'ALTER DATABASE "{new}" ALLOW_CONNECTIONS true')
                return
            except asyncpg.ObjectInUseError:
                continue
        raise AssertionError("could not take the database away")
    finally:
        await admin.close()


async def test_database_away_callers_still_report_and_nothing_is_lost(
    line: Line, database_dsn: str, admin_dsn: str
) -> None:
    name = urlsplit(database_dsn).path.lstrip("/")
    await _rename_database(admin_dsn, name, f"{name}_away")
    try:
        call = await line.call("+15125550100", Persona(digits=("1",)))
    finally:
        await _rename_database(admin_dsn, f"{name}_away", name)
    heard = call.spoken_text()
    assert heard.startswith("We are receiving many calls because of widespread outages.")
    assert "Thank you. We recorded your outage report." in heard
    assert call.error_code is None
    spool = line.app[SPOOL]
    assert spool.pending() == 1
    # The call's record waited in memory while the database was away.
    record = await _record(line, database_dsn, call.sid)
    assert record["path"][:2] == ["degraded", "menu:1"]
    assert record["outcome"] == "reported"
    assert spool.pending() == 1
    assert await spool.replay(line.app[IVR]) == 1
    assert spool.pending() == 0
    connection = await asyncpg.connect(database_dsn)
    try:
        rows = await connection.fetch("SELECT kind, phone, premise_id FROM outage_reports")
    finally:
        await connection.close()
    assert [tuple(r) for r in rows] == [("outage", "+15125550100", None)]
    assert await spool.replay(line.app[IVR]) == 0  # replaying again changes nothing


async def _record(line: Line, dsn: str, call_sid: str) -> asyncpg.Record:
    await line.app[CALL_RECORDS].flush()
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow("SELECT * FROM inbound_calls WHERE call_sid = $1", call_sid)
    finally:
        await connection.close()
    assert row is not None
    return row


async def test_speech_at_the_menu(line: Line, pool: asyncpg.Pool) -> None:
    call = await line.call("+15125550103", Persona(speech=("I want to report an outage",)))
    assert "Thank you. We recorded your outage report for 9 Cedar Lane." in call.spoken_text()
    assert await pool.fetchval("SELECT premise_id FROM outage_reports") == "P3"
    spanish = await line.call("+15125550102", Persona(speech=("hay un cable caído",)))
    assert "manténgase a por lo menos diez metros" in spanish.spoken_text()
    assert spanish.transfer_to == EMERGENCY


async def test_unclear_speech_is_asked_again_not_acted_on(line: Line, pool: asyncpg.Pool) -> None:
    mumbled = Persona(speech=("report an outage", "no idea"), speech_confidence=0.3)
    call = await line.call("+15125550103", mumbled)
    heard = call.spoken_text()
    assert heard.count("Sorry, I didn't catch that.") == 2
    assert heard.rstrip().endswith("Thank you for calling. Goodbye.")
    assert await pool.fetchval("SELECT count(*) FROM outage_reports") == 0
    nonsense = await line.call("+15125550103", Persona(speech=("what a lovely day",)))
    assert "Sorry, I didn't catch that." in nonsense.spoken_text()


async def test_unknown_caller_says_the_number_on_the_account(line: Line) -> None:
    said = Persona(speech=("five one two, five five five, oh one oh oh",))
    call = await line.call("+15125550999", said)
    assert "We know about the outage at 12 Oak Street." in call.spoken_text()


async def test_call_records_give_path_outcome_and_duration(
    line: Line, database_dsn: str, tokens: dict[Role, dict[str, str]]
) -> None:
    reported = await line.call("+15125550100", Persona(digits=("1",)))
    listened = await line.call("+15125550103", Persona(behaviour=Behaviour.SILENT))
    gave_up = await line.call("+15125550999", Persona(behaviour=Behaviour.HANGUP, hangup_after_s=3))
    record = await _record(line, database_dsn, reported.sid)
    assert record["path"] == ["status", "menu:1", "report", "goodbye"]
    assert record["outcome"] == "reported"
    assert (record["account_number"], record["premise_id"], record["language"]) == (
        "1001",
        "P1",
        "en",
    )
    assert record["duration_s"] == reported.duration_s > 0
    assert record["end_status"] == "completed"
    assert (await _record(line, database_dsn, listened.sid))["outcome"] == "self_served"
    assert (await _record(line, database_dsn, gave_up.sid))["outcome"] == "abandoned"
    query = {
        "since": (T0 - timedelta(hours=1)).isoformat(),
        "until": (T0 + timedelta(hours=1)).isoformat(),
    }
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{line.url}/api/v1/reports/inbound-calls", params=query, headers=tokens[Role.VIEWER]
        ) as answer,
    ):
        assert answer.status == 200
        report = await answer.json()
    assert report["calls"] == 3
    assert report["by_outcome"] == {
        "abandoned": 1, "self_served": 1, "reported": 1, "callback_requested": 0, "transferred": 0
    }  # fmt: skip
    assert report["contained_share"] == pytest.approx(2 / 3, abs=1e-3)
    async with aiohttp.ClientSession() as session:
        bad = {"since": "yesterday"}
        url = f"{line.url}/api/v1/reports/inbound-calls"
        async with session.get(url, params=bad, headers=tokens[Role.VIEWER]) as answer:
            assert answer.status == 422
        async with session.get(url) as answer:
            assert answer.status == 401


async def test_status_callbacks_are_signed_checked_and_idempotent(
    line: Line, database_dsn: str
) -> None:
    call = await line.call("+15125550103", Persona(digits=("9",)))
    url = f"{line.url}/twilio/status"
    final = {
        "CallSid": call.sid,
        "CallStatus": "completed",
        "CallDuration": "999",
        "Direction": "inbound",
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=final) as answer:
            assert answer.status == 403  # unsigned
        for params in (final, {"CallSid": call.sid}):
            headers = {"X-Twilio-Signature": compute_signature(VIRTUAL_AUTH_TOKEN, url, params)}
            async with session.post(url, data=params, headers=headers) as answer:
                assert answer.status in (204, 400)
    record = await _record(line, database_dsn, call.sid)
    assert record["duration_s"] == call.duration_s  # a late duplicate does not rewrite it
    assert record["path"] == ["status", "menu:9", "goodbye"]


@pytest.mark.parametrize(
    ("line_settings", "expected"),
    [
        (
            {"agent_number": "+15125550777", "agent_hours": parse_daily_window("08:00-20:00")},
            "Connecting you to a representative.",
        ),
        (
            {"agent_number": "+15125550777", "agent_hours": parse_daily_window("13:00-17:00")},
            "Our representatives are not available at this hour.",
        ),
    ],
)
async def test_agent_hours(line: Line, database_dsn: str, expected: str) -> None:
    # The test clock reads 12:00 in Chicago, the utility's time zone.
    call = await line.call("+15125550103", Persona(digits=("0",)))
    assert expected in call.spoken_text()
    assert "To speak with someone, press 0." in call.spoken_text()
    open_hours = expected.startswith("Connecting")
    assert call.transfer_to == ("+15125550777" if open_hours else None)
    record = await _record(line, database_dsn, call.sid)
    assert record["outcome"] == ("transferred" if open_hours else "self_served")


# Every prompt heard without the database and from any instance.


def _plays(twiml_text: str) -> list[str]:
    return [unescape(part.split("</Play>", 1)[0]) for part in twiml_text.split("<Play>")[1:]]


async def _signed_post(url: str, params: dict[str, str]) -> str:
    headers = {"X-Twilio-Signature": compute_signature(VIRTUAL_AUTH_TOKEN, url, params)}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=params, headers=headers) as answer,
    ):
        assert answer.status == 200, await answer.text()
        return await answer.text()


async def _heard(url: str) -> str:
    """The words of a <Play> URL, after checking it is audio a caller hears."""
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 200, (url, await answer.text())
        assert answer.headers["Content-Type"] == "audio/wav"
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert wav_seconds(await answer.read()) > 0.5
        return unquote(answer.headers["X-Prompt-Text"])


@contextlib.asynccontextmanager
async def _another_instance(database_dsn: str, home: Path, public_url: str) -> AsyncIterator[str]:
    """A second server process with its own state folder (a container beside the first),
    on the same database; yields the address it answers at directly."""
    port = free_port()
    env = cli_env(
        DATABASE_URL=database_dsn,
        OUTAGE_VOICE_HOME=str(home),
        OUTAGE_VOICE_PUBLIC_URL=public_url,
    )
    process = subprocess.Popen(
        cli("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process, timeout_s=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _at(base: str, url: str) -> str:
    """`url` as fetched from the instance at `base` (a load balancer's other choice)."""
    return base + url[url.index("/audio/") :]


async def test_database_stopped_every_play_is_heard(
    line: Line, database_dsn: str, admin_dsn: str, tmp_path: Path
) -> None:
    # A normal call first, so this instance holds the menu's audio as it would mid-storm.
    warm = await line.call("+15125550100", Persona(behaviour=Behaviour.SILENT))
    assert all("error" not in entry for entry in warm.transcript)
    name = urlsplit(database_dsn).path.lstrip("/")
    async with _another_instance(database_dsn, tmp_path / "other", line.url) as other:
        await _rename_database(admin_dsn, name, f"{name}_away")
        try:
            degraded = await _signed_post(f"{line.url}/twilio/voice", {"From": "+15125550100"})
            fallback = await _signed_post(f"{line.url}/twilio/voice/fallback", {})
            plays, fallback_plays = _plays(degraded), _plays(fallback)
            for url in plays + fallback_plays:
                words = await _heard(url)
                assert words and await _heard(_at(other, url)) == words
            assert len(plays) == 2 and "<Say" not in degraded  # high volume, then the menu
            assert len(fallback_plays) == 1  # English is held here; Spanish is <Say>
            assert (await _heard(plays[0])).startswith("We are receiving many calls")
            assert await _heard(fallback_plays[0]) == await _heard(plays[0])
            assert "To report an outage, press 1." in await _heard(plays[1])
            # And a whole call through the carrier: every prompt played, none an error.
            call = await line.call("+15125550103", Persona(digits=("1",)))
        finally:
            await _rename_database(admin_dsn, f"{name}_away", name)
    assert call.error_code is None
    played = [entry for entry in call.transcript if entry.get("verb") == "Play"]
    assert played and all(entry.get("text") and "error" not in entry for entry in played)
    assert [entry for entry in call.transcript if entry.get("verb") in ("Say", "error")] == []
    assert "We recorded your outage report." in call.spoken_text()


@contextlib.asynccontextmanager
async def _load_balancer(route: Callable[[str], str]) -> AsyncIterator[str]:
    """A reverse proxy on loopback that sends each request where `route(path)` says."""
    session = aiohttp.ClientSession(auto_decompress=False)
    hop = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}

    async def forward(request: web.Request) -> web.Response:
        async with session.request(
            request.method,
            route(request.path) + request.path_qs,
            headers={k: v for k, v in request.headers.items() if k.lower() not in hop},
            data=await request.read(),
        ) as upstream:
            body = await upstream.read()
            headers = {k: v for k, v in upstream.headers.items() if k.lower() not in hop}
            return web.Response(status=upstream.status, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    port = free_port()
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.close()
        await session.close()


async def test_webhooks_to_one_instance_and_audio_from_another(
    settings: Settings, services: Services, clock: ManualClock, tmp_path: Path, database_dsn: str
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    etr = (T0 + timedelta(hours=4, minutes=30)).isoformat()
    await services.outages.put(
        "STORM-1",
        parse_outage_state(
            {
                "status": "crew_on_site",
                "cause": "storm damage",
                "etr": etr,
                "feeder_ids": ["F1", "F2"],
            },
            now=T0,
        ),
        actor="test",
    )
    where: dict[str, str] = {}
    # The worst a round-robin balancer can do: every webhook to one, every fetch to the other.
    async with _load_balancer(
        lambda path: where["audio" if path.startswith("/audio/") else "webhooks"]
    ) as public:
        first = create_app(
            dataclasses.replace(
                settings, public_url=public, home=tmp_path / "first", emergency_number=EMERGENCY
            ),
            clock=clock,
        )
        first_port = free_port()
        server = TestServer(first, host="127.0.0.1", port=first_port)
        await server.start_server()
        where["webhooks"] = f"http://127.0.0.1:{first_port}"
        virtual = VirtualClock(T0)
        carrier = VirtualCarrier(CarrierSettings(cps=None), virtual)
        try:
            async with _another_instance(database_dsn, tmp_path / "second", public) as second:
                where["audio"] = second
                callers = {
                    "+15125550100": Persona(digits=("1",)),
                    "+15125550102": Persona(digits=("3",)),
                    "+15125550105": Persona(digits=("2", "1")),
                    "+15125550999": Persona(digits=("1003#",)),
                }
                carrier.settings.personas = PersonaBook(exact=callers)
                with virtual.hold():
                    calls = carrier.dial_in(
                        voice_url=f"{public}/twilio/voice",
                        to=OUTAGE_LINE,
                        callers=list(callers),
                        arrivals_per_s=1,
                    )
                await asyncio.wait_for(virtual.settle(), timeout=120)
        finally:
            await carrier.close()
            await server.close()
    for call in calls:
        assert call.error_code is None
        played = [entry for entry in call.transcript if entry.get("verb") == "Play"]
        assert len(played) >= 3, call.transcript
        assert all(entry["url"].startswith(f"{public}/audio/") for entry in played)
        assert all(entry.get("text") and "error" not in entry for entry in played), played
        assert not [entry for entry in call.transcript if entry.get("verb") in ("Say", "error")]
    heard = [call.spoken_text() for call in calls]
    assert heard[0].startswith("We know about the outage at 12 Oak Street.")
    assert "We recorded your outage report for 12 Oak Street." in heard[0]
    assert heard[1].startswith("Sabemos que no hay luz en 40 Elm Street.")
    assert "We recorded your outage report for 77 Pecan Drive." in heard[2]
    assert "We have no outage recorded at 9 Cedar Lane." in heard[3]
    # The second instance made what it served from the URLs alone: its own disk has it now.
    assert list((tmp_path / "second" / "audio").rglob("*.wav"))
    urls = [entry["url"] for call in calls for entry in call.transcript if "url" in entry]
    assert max(len(url) for url in urls) <= MAX_PLAY_URL_CHARS
