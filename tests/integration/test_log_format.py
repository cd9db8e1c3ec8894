"""Structured logs as an operator's log pipeline reads them: every line one JSON object, every
line a webhook writes carrying the request id its response echoes, and no caller's full phone
number in any of them."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db.campaign_admin import PgCampaignAdminStore
from outage_voice.adapters.twilio.signature import compute_signature
from outage_voice.bootstrap import Services
from outage_voice.carrier.personas import Persona
from outage_voice.config import VIRTUAL_AUTH_TOKEN
from outage_voice.domain.errors import NotFound
from outage_voice.logs import REQUEST_ID_HEADER, log_handler
from outage_voice.services.campaign_ports import CampaignProgress
from outage_voice.services.campaigns import CampaignService
from outage_voice.services.metrics import Metrics
from outage_voice.services.request_context import bind_request, current_request_id, unbind_request
from outage_voice.web.campaign_json import parse_campaign_spec
from outage_voice.web.keys import METRICS
from outage_voice.web.metrics import CLIENT_GONE, webhook_timing
from outage_voice.web.request_ids import echo_request_id, request_ids
from tests.e2e.test_outage_line import (  # noqa: F401 - fixtures
    Line,
    _rename_database,
    line,
    line_settings,
)
from tests.integration.test_serve_start import stop
from tests.integration.test_server import free_port, wait_healthy
from tests.support import cli, cli_env, csv_text

# A full number in E.164 (the masked form, +1512***0100, does not match).
FULL_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
GIVEN_ID = "edge-7f3a.b_9"
INSANE_ID = 'two words "FAKE"'
# The loggers of work no request owns, whose lines carry no request id: anything else written
# while a webhook is handled must carry one.
REQUEST_FREE = frozenset(
    {
        "aiohttp.access",  # the test server's; serve writes none (its own is request_ids')
        "asyncpg.pool",  # the pool reconnecting, for every request at once
        "outage_voice.services.call_records",  # the call records' batched flush
        "outage_voice.services.spool",  # the spool's replay
        "outage_voice.services.leadership",
        "outage_voice.services.dialer",
    }
)
CALLER = "+15125550100"
OTHER_CALLER = "+15125550103"
NO_CAMPAIGN = 999_999


@contextlib.contextmanager
def json_log() -> Iterator[io.StringIO]:
    """Every line the process logs, at debug level, as `--log-format json -v` writes it."""
    stream = io.StringIO()
    handler = log_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def entries(text: str) -> list[dict[str, Any]]:
    found = []
    for line_text in text.splitlines():
        entry = json.loads(line_text)  # every line is one JSON object
        assert isinstance(entry, dict), line_text
        assert {"ts", "level", "logger", "message"} <= entry.keys(), line_text
        found.append(entry)
    return found


def assert_no_full_phone_number(text: str) -> None:
    assert not FULL_E164.findall(text), FULL_E164.findall(text)
    for number in (CALLER, OTHER_CALLER):
        assert number[2:] not in text  # not even without its +1


async def test_webhook_log_lines_carry_the_request_id_echoed_and_mask_phone_numbers(
    line: Line,  # noqa: F811 - the fixture
    database_dsn: str,
    admin_dsn: str,
) -> None:
    """The database away, so the outage line writes its warnings (a spooled report with the
    caller's number): a call through the carrier, and single webhooks with and without a
    proxy's X-Request-Id."""
    name = urlsplit(database_dsn).path.lstrip("/")
    echoed: dict[str, str] = {}
    with json_log() as stream:
        await _rename_database(admin_dsn, name, f"{name}_away")
        try:
            call = await line.call(CALLER, Persona(digits=("1",)))
            async with aiohttp.ClientSession() as session:
                url = f"{line.url}/twilio/menu?lang=en&premise=P3&account=1003"
                params = {"CallSid": "CA" + "7" * 32, "From": OTHER_CALLER, "Digits": "1"}
                signed = {"X-Twilio-Signature": compute_signature(VIRTUAL_AUTH_TOKEN, url, params)}
                for given in (GIVEN_ID, INSANE_ID):
                    headers = {**signed, REQUEST_ID_HEADER: given}
                    async with session.post(url, data=params, headers=headers) as answer:
                        assert answer.status == 200
                        echoed[given] = answer.headers[REQUEST_ID_HEADER]
                async with session.post(f"{line.url}/twilio/voice", data=params) as refused:
                    assert refused.status == 403  # unsigned
                    echoed["refused"] = refused.headers[REQUEST_ID_HEADER]
        finally:
            await _rename_database(admin_dsn, f"{name}_away", name)
    text = stream.getvalue()
    logged = entries(text)
    assert_no_full_phone_number(text)

    # A sane id from the proxy is kept; anything else is replaced by one of ours.
    assert echoed[GIVEN_ID] == GIVEN_ID
    assert re.fullmatch(r"[0-9a-f]{16}", echoed[INSANE_ID])
    assert "FAKE" not in text

    def written_for(request_id: str) -> list[dict[str, Any]]:
        return [entry for entry in logged if entry.get("request_id") == request_id]

    # The proxy's request: its own warning (the report spooled, the number masked) and its
    # access line carry the id the response echoed, and the CallSid the carrier sent.
    spooled = [e for e in written_for(GIVEN_ID) if "spooled" in e["message"]]
    assert [e["message"] for e in spooled] == [
        "database away: spooled a outage request from +1512***0103"
    ]
    (access,) = [e for e in written_for(GIVEN_ID) if e.get("path") == "/twilio/menu"]
    assert (access["status"], access["call_sid"]) == (200, "CA" + "7" * 32)
    assert len(written_for(echoed[INSANE_ID])) >= 2
    assert any("refused a request to /twilio/voice" in e["message"]
               for e in written_for(echoed["refused"]))  # fmt: skip

    # The carrier's call: each of its webhooks wrote an access line with a request id of its
    # own, and every line written for those requests names the call.
    call_lines = [e for e in logged if e.get("call_sid") == call.sid]
    webhooks = [e for e in call_lines if "path" in e]
    assert {e["path"] for e in webhooks} >= {"/twilio/voice", "/twilio/menu", "/twilio/status"}
    assert len({e["request_id"] for e in webhooks}) == len(webhooks)
    assert all(e.get("request_id") for e in call_lines)
    (report,) = [e for e in call_lines if "spooled" in e["message"]]
    assert report["message"] == "database away: spooled a outage request from +1512***0100"
    assert report["level"] == "WARNING"
    # Every line written while a request was handled is one of a request that logged its
    # access line: nothing in a webhook goes out without the id.
    with_ids = {e["request_id"] for e in logged if e.get("request_id")}
    assert with_ids == {e["request_id"] for e in logged if "path" in e}
    # And nothing written while a webhook is handled goes out without one: only the work no
    # request owns may write a line without an id.
    stray = [e for e in logged if not e.get("request_id") and e["logger"] not in REQUEST_FREE]
    assert stray == []
    webhook_loggers = {"outage_voice.web.twilio_ivr", "outage_voice.services.outage_line"}
    assert webhook_loggers <= {e["logger"] for e in logged}  # the lines held to it were written


async def test_serve_writes_json_lines_for_a_call_it_places_and_answers(
    database_dsn: str, services: Services, tmp_path: Path
) -> None:
    """OUTAGE_VOICE_LOG_FORMAT=json, `-v`: the start lines, the dialer's (no request id) and
    the webhooks of a call placed through the built-in carrier (each its request id and the
    call's CallSid) are all JSON, and no line holds the customer's number."""
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text("1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,"))
    await services.customers.import_file(customers)
    port = free_port()
    process = subprocess.Popen(
        cli("-v", "serve", "--host", "127.0.0.1", "--port", str(port)),
        env=cli_env(DATABASE_URL=database_dsn, OUTAGE_VOICE_LOG_FORMAT="json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"http://127.0.0.1:{port}/healthz", headers={REQUEST_ID_HEADER: GIVEN_ID}
            ) as health,
        ):
            assert health.headers[REQUEST_ID_HEADER] == GIVEN_ID
        spec = parse_campaign_spec(
            {
                "name": "log check",
                "kind": "custom",
                "audience": {"accounts": ["1001"]},
                "message": {"text": "Crews are out tonight."},
                "window": "24h",  # the server runs on the real clock
            }
        )
        view = await services.campaigns.create(spec, actor="test")
        await services.campaigns.act(view["id"], "start")
        async with asyncio.timeout(60):
            while True:
                status = await services.pool.fetchval(
                    "SELECT status FROM call_attempts WHERE campaign_id = $1", view["id"]
                )
                if status in ("in-progress", "completed"):
                    break
                await asyncio.sleep(0.2)  # polling a server in another process
        stderr = stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()  # reaps it and closes its pipes
    logged = entries(stderr)
    assert_no_full_phone_number(stderr)
    messages = {e["message"]: e for e in logged}
    assert "request_id" not in messages["dialer: placing calls on this instance"]
    # The leader's work (dialer, automation, schedule) writes its lines too, none with an id.
    leaders = ("outage_voice.services.leadership", "outage_voice.services.dialer")
    background = [e for e in logged if e["logger"] in leaders]
    assert {e["logger"] for e in background} == set(leaders)
    assert not [e for e in background if "request_id" in e or "call_sid" in e]
    assert any(m.startswith("listening on http://127.0.0.1:") for m in messages)
    (health_line,) = [e for e in logged if e.get("request_id") == GIVEN_ID]
    assert (health_line["path"], health_line["status"]) == ("/healthz", 200)
    sid = await services.pool.fetchval(
        "SELECT call_sid FROM call_attempts WHERE campaign_id = $1", view["id"]
    )
    answered = [e for e in logged if e.get("call_sid") == sid and "path" in e]
    assert {e["path"] for e in answered} >= {"/twilio/outbound", "/twilio/status"}
    assert all(e["request_id"] for e in answered)


async def test_an_unhandled_error_is_logged_with_the_request_id_the_500_echoes() -> None:
    """aiohttp would log the traceback after the request's context is gone; the middleware
    logs it while the id is still bound."""
    routes = web.RouteTableDef()

    @routes.post("/twilio/voice")
    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application(middlewares=[request_ids])
    app.on_response_prepare.append(echo_request_id)
    app.add_routes(routes)
    with json_log() as stream:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            async with client.post(
                "/twilio/voice", data={"CallSid": "CA" + "1" * 32, "From": CALLER}
            ) as failed:
                assert failed.status == 500
                failed_id = failed.headers[REQUEST_ID_HEADER]
            async with client.get("/nowhere", headers={REQUEST_ID_HEADER: GIVEN_ID}) as missing:
                assert missing.status == 404
                assert missing.headers[REQUEST_ID_HEADER] == GIVEN_ID
    logged = entries(stream.getvalue())
    (error,) = [e for e in logged if e["level"] == "ERROR"]
    assert error["message"] == "unhandled error in POST /twilio/voice"
    assert (error["request_id"], error["call_sid"]) == (failed_id, "CA" + "1" * 32)
    assert error["exc"].endswith("RuntimeError: a bug")
    assert_no_full_phone_number(stream.getvalue())


async def test_a_client_gone_mid_request_is_no_error_in_the_log() -> None:
    """A carrier that gives up, or a drain cutting a half-sent body, ends the request with
    ConnectionResetError: aiohttp drops it quietly, and no ERROR line with a traceback is
    written for it (during a rolling restart it would page someone for nothing)."""
    routes = web.RouteTableDef()

    @routes.post("/twilio/voice")
    async def gone(_request: web.Request) -> web.Response:
        raise ConnectionResetError("Connection lost")

    app = web.Application(middlewares=[request_ids, webhook_timing])
    app[METRICS] = Metrics()
    app.add_routes(routes)
    with json_log() as stream:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            with contextlib.suppress(aiohttp.ClientError):
                async with client.post("/twilio/voice", data={"CallSid": "CA" + "2" * 32}):
                    pass
    assert [e for e in entries(stream.getvalue()) if e["level"] == "ERROR"] == []
    # Nor is it a server error in the webhook timings an alert watches.
    (access,) = [e for e in entries(stream.getvalue()) if e.get("path") == "/twilio/voice"]
    assert access["status"] == CLIENT_GONE
    timed = app[METRICS].registry.get_sample_value(
        "outage_voice_webhook_duration_seconds_count",
        {"route": "/twilio/voice", "outcome": "client_error"},
    )
    assert timed == 1


class WitnessStore(PgCampaignAdminStore):
    """The real store, noting the request id each progress read is made under."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.read_for: list[str | None] = []

    async def progress(self, campaign_id: int, recent_since: datetime) -> CampaignProgress | None:
        self.read_for.append(current_request_id())
        return await super().progress(campaign_id, recent_since)


async def test_a_progress_read_shared_by_pollers_is_not_the_first_poller_s(
    pool: asyncpg.Pool, clock: ManualClock
) -> None:
    """Every dashboard polling while it runs waits on one read: its lines (a database error,
    say) must not name whichever request happened to start it. A fresh read is the asker's."""
    store = WitnessStore(pool)
    campaigns = CampaignService(store, clock, default_timezone="America/Chicago")
    tokens = bind_request("first-poller")
    try:
        with pytest.raises(NotFound):
            await campaigns.show(NO_CAMPAIGN, reuse=True)
        with pytest.raises(NotFound):
            await campaigns.show(NO_CAMPAIGN)
    finally:
        unbind_request(tokens)
    assert store.read_for == [None, "first-poller"]
