"""GET /metrics: a campaign through the virtual carrier and callers on the outage line, then
a scrape whose numbers are the campaign's own counts and the call records."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from outage_voice.adapters.twilio.signature import compute_signature
from outage_voice.bootstrap import Services, create_app
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import VIRTUAL_AUTH_TOKEN, Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.campaigns import call_outcome
from outage_voice.domain.inbound_calls import call_path
from outage_voice.domain.outages import parse_outage_state
from outage_voice.web.keys import CALL_RECORDS, METRICS, PROMPT_AUDIO, SPOOL, VIRTUAL_CARRIER
from tests.integration.test_server import free_port
from tests.support import T0, csv_text

CUSTOMERS = csv_text(
    "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
    "1002,Jose Lopez,512-555-0102,,P2,40 Elm Street,F2,,es",
    "1003,Ana Smith,512-555-0103,,P3,9 Cedar Lane,F9,,",
    "1004,Luis Garcia,512-555-0104,,P1,12 Oak Street,F1,,",
    "1005,Rosa Diaz,512-555-0105,,P5,77 Pecan Drive,F1,,",
)
NAMES = ("Maria", "Garcia", "Jose", "Lopez", "Ana", "Smith", "Luis", "Rosa", "Diaz")
PERSONAS = PersonaBook(
    exact={
        "+15125550100": Persona(digits=("1",)),  # still out
        "+15125550104": Persona(behaviour=Behaviour.MACHINE),
        "+15125550102": Persona(behaviour=Behaviour.BUSY),
        "+15125550105": Persona(digits=("9",)),  # stop these calls
    }
)
CAMPAIGN = {
    "name": "Storm 1 restored Maria Garcia +15125550100",  # a name that must not leak
    "kind": "restoration",
    "audience": {"outage_id": "STORM-1"},
    "pacing": {"cps": 5, "max_concurrent": 10},
    "retry": {"busy": {"max_attempts": 2, "delay_s": 120}},
}
OUTAGE_LINE = "+15125550000"
# Every family /metrics has, whatever has happened yet (names as the text format shows them).
FAMILIES = {
    "outage_voice_webhook_duration_seconds": "histogram",
    "outage_voice_inbound_calls": "counter",
    "outage_voice_degraded_answers": "counter",
    "outage_voice_campaign_calls_placed": "counter",
    "outage_voice_campaign_calls_answered": "counter",
    "outage_voice_campaign_call_outcomes": "counter",
    "outage_voice_campaign_retries_scheduled": "counter",
    "outage_voice_carrier_throttled": "counter",
    "outage_voice_automation_events_consumed": "counter",
    "outage_voice_automation_lag_seconds": "histogram",
    "outage_voice_tts_engine_calls": "counter",
    "outage_voice_tts_cache_hits": "counter",
    "outage_voice_tts_cache_misses": "counter",
    "outage_voice_dialer_leader": "gauge",
    "outage_voice_campaign_calls_per_second": "gauge",
    "outage_voice_campaign_max_calls_per_second": "gauge",
    "outage_voice_campaign_live_calls": "gauge",
    "outage_voice_campaign_max_concurrent": "gauge",
    "outage_voice_live_calls": "gauge",
    "outage_voice_spool_depth": "gauge",
    "outage_voice_db_pool_connections": "gauge",
    "outage_voice_db_pool_max_connections": "gauge",
    "outage_voice_db_pool_waiting": "gauge",
    "outage_voice_db_pool_waits": "counter",
    "outage_voice_db_pool_wait_seconds": "counter",
}
LABEL_NAMES = {"route", "outcome", "path", "reason", "kind", "engine", "result", "campaign_id",
               "state", "le"}  # fmt: skip


@dataclasses.dataclass
class Scrape:
    families: dict[str, Any]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels`."""
        family = self.families[_family(name)]
        return sum(
            s.value
            for s in family.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def samples(self, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        family = self.families[_family(name)]
        return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name == name}


def _family(name: str) -> str:
    for suffix in ("_total", "_count", "_sum", "_bucket", "_created"):
        if name.endswith(suffix) and name.removesuffix(suffix) in FAMILIES:
            return name.removesuffix(suffix)
    return name


@dataclasses.dataclass
class Rig:
    url: str
    clock: VirtualClock
    carrier: VirtualCarrier
    app: web.Application
    headers: dict[str, str]
    session: aiohttp.ClientSession

    async def api(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.session.request(
            method, f"{self.url}{path}", json=body, headers=self.headers
        ) as answer:
            payload = await answer.json()
            assert answer.status == status, payload
            return payload

    async def scrape(self) -> tuple[str, Scrape]:
        async with self.session.get(f"{self.url}/metrics") as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("text/plain; version=")
            text = await answer.text()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        return text, Scrape(families)


@pytest.fixture
def carrier_settings() -> CarrierSettings:
    return CarrierSettings(cps=None, personas=PERSONAS)


@pytest.fixture
async def rig(
    settings: Settings,
    services: Services,
    tmp_path: Path,
    tokens: dict[Role, dict[str, str]],
    carrier_settings: CarrierSettings,
) -> AsyncIterator[Rig]:
    # Campaigns a supervisor starts only: the automation's own acknowledgement would call too.
    await services.automation.update_rules({"acknowledge": {"enabled": False}}, actor="test")
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    await services.outages.put(
        "STORM-1",
        parse_outage_state({"status": "restored", "feeder_ids": ["F1", "F2"]}, now=T0),
        actor="test",
    )
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    clock = VirtualClock(T0)
    app = create_app(
        dataclasses.replace(settings, public_url=public),
        clock=clock,
        timer=clock,
        run_dialer=True,
        carrier_settings=carrier_settings,
    )
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield Rig(
            url=public,
            clock=clock,
            carrier=app[VIRTUAL_CARRIER],
            app=app,
            headers=tokens[Role.SUPERVISOR],
            session=session,
        )
    await server.close()


async def _inbound_calls(rig: Rig) -> list[str]:
    """Three callers on the outage line, through a carrier of their own: one reports an
    outage, one listens to their status, one unknown caller hangs up."""
    clock = VirtualClock(T0)
    carrier = VirtualCarrier(CarrierSettings(cps=None), clock)
    callers = {
        "+15125550100": Persona(digits=("1",)),
        "+15125550103": Persona(behaviour=Behaviour.SILENT),
        "+15125550999": Persona(behaviour=Behaviour.HANGUP, hangup_after_s=3),
    }
    sids = []
    try:
        for caller, persona in callers.items():
            carrier.settings.personas = PersonaBook(exact={caller: persona})
            with clock.hold():
                (call,) = carrier.dial_in(
                    voice_url=f"{rig.url}/twilio/voice",
                    to=OUTAGE_LINE,
                    callers=[caller],
                    arrivals_per_s=1,
                    status_callback=f"{rig.url}/twilio/status",
                )
            await asyncio.wait_for(clock.settle(), timeout=60)
            sids.append(call.sid)
    finally:
        await carrier.close()
    return sids


def _outbound(rig: Rig) -> list[CallRecord]:
    return [c for c in rig.carrier.calls.values() if c.direction != "inbound"]


async def _signed_post(rig: Rig, path: str, params: dict[str, str]) -> int:
    signature = compute_signature(VIRTUAL_AUTH_TOKEN, rig.url + path, params)
    headers = {"X-Twilio-Signature": signature}
    async with rig.session.post(rig.url + path, data=params, headers=headers) as answer:
        return answer.status


async def test_a_scrape_counts_what_the_campaign_and_the_outage_line_did(
    rig: Rig, pool: asyncpg.Pool
) -> None:
    created = await rig.api("POST", "/api/v1/campaigns", CAMPAIGN, status=201)
    campaign_id = created["id"]
    # Time held still: the first call goes out at once, the next would wait for the pacer
    # (and no call moves on). Read until the scrape and the carrier's own record agree.
    with rig.clock.hold():
        await rig.api("POST", f"/api/v1/campaigns/{campaign_id}/start")
        async with asyncio.timeout(30):
            while True:
                _, during = await rig.scrape()
                placed = during.value("outage_voice_campaign_calls_placed_total")
                if placed >= 1 and placed == len(_outbound(rig)):
                    break
                await asyncio.sleep(0.02)  # real time: the dialer is placing calls
        view = await rig.api("GET", f"/api/v1/campaigns/{campaign_id}?fresh=1")
    # The counters moved during the campaign, as the campaign itself counts.
    assert during.value("outage_voice_campaign_calls_placed_total", kind="restoration") == placed
    assert view["state"] == "running" and view["progress"]["attempts"] >= placed
    ours = {"campaign_id": str(campaign_id), "kind": "restoration"}
    assert during.value("outage_voice_campaign_max_calls_per_second", **ours) == 5
    assert during.value("outage_voice_campaign_max_concurrent", **ours) == 10
    # Live calls as the dialer last read them (at its last step, before this burst).
    assert 0 <= during.value("outage_voice_campaign_live_calls", **ours) <= placed
    assert during.value("outage_voice_live_calls") <= placed
    assert during.value("outage_voice_campaign_calls_per_second", **ours) == pytest.approx(
        placed / 10
    )
    assert during.value("outage_voice_dialer_leader") == 1

    async def state() -> str:
        view = await rig.api("GET", f"/api/v1/campaigns/{campaign_id}?fresh=1")
        return str(view["state"])

    async with asyncio.timeout(60):
        while await state() != "completed":  # noqa: ASYNC110 - polling the API is the point
            await asyncio.sleep(0.02)
    view = await rig.api("GET", f"/api/v1/campaigns/{campaign_id}?fresh=1")
    inbound = await _inbound_calls(rig)
    forged = await rig.session.post(f"{rig.url}/twilio/voice", data={"CallSid": "CAforged"})
    assert forged.status == 403
    # A URL no route has, with a caller's number in it: counted under no URL of its own.
    stray = await rig.session.post(f"{rig.url}/twilio/calls/+15125550100", data={})
    assert stray.status == 403
    assert await _signed_post(rig, "/twilio/voice/fallback", {"CallSid": "CAfallback"}) == 200
    await rig.app[CALL_RECORDS].flush()
    # A late copy of a call's final status callback ends nothing new: the call counts once.
    late = {"CallSid": inbound[0], "CallStatus": "completed", "Direction": "inbound"}
    assert await _signed_post(rig, "/twilio/status", {**late, "CallDuration": "9"}) == 204
    await rig.app[CALL_RECORDS].flush()
    text, after = await rig.scrape()

    # Campaign calls: the campaign's own counts, the carrier's record and the attempts.
    outbound = _outbound(rig)
    placed = after.value("outage_voice_campaign_calls_placed_total", kind="restoration")
    assert placed == view["progress"]["attempts"] == len(outbound) == 5  # busy twice
    attempts = await pool.fetch(
        "SELECT status, answered_by, error_code FROM call_attempts WHERE campaign_id = $1",
        campaign_id,
    )
    expected = collections.Counter(
        call_outcome(a["status"], a["answered_by"], a["error_code"]) for a in attempts
    )
    scraped = {
        dict(labels)["outcome"]: value
        for labels, value in after.samples("outage_voice_campaign_call_outcomes_total").items()
        if value
    }
    assert scraped == dict(expected) == {"reached": 2, "voicemail": 1, "busy": 2}
    # The campaign's own counts by target: calls that reached someone ended as reached,
    # still out or opted out; a busy target's last call was busy, the ones before retried.
    outcomes = view["progress"]["outcomes"]
    reached = outcomes["reached"] + outcomes["still_out"] + outcomes["opted_out"]
    assert scraped["reached"] == reached == 2
    assert scraped["voicemail"] == outcomes["voicemail"] == 1
    answered = [c for c in outbound if c.status.value == "completed"]
    assert after.value("outage_voice_campaign_calls_answered_total") == len(answered) == 3
    # The busy number was called again once, as the retry policy says.
    retries = after.samples("outage_voice_campaign_retries_scheduled_total")
    assert {dict(k)["outcome"]: v for k, v in retries.items() if v} == {"busy": 1}
    assert scraped["busy"] - 1 == outcomes["busy"] == 1
    assert after.value("outage_voice_carrier_throttled_total") == 0
    assert after.value("outage_voice_live_calls") == 0  # none running now
    assert "campaign_id=" not in text

    # Inbound calls: the call records, by path and outcome.
    records = await pool.fetch(
        "SELECT path, outcome FROM inbound_calls WHERE call_sid = ANY($1)", inbound
    )
    from_records = collections.Counter((call_path(tuple(r["path"])), r["outcome"]) for r in records)
    scraped_inbound = {
        (dict(k)["path"], dict(k)["outcome"]): v
        for k, v in after.samples("outage_voice_inbound_calls_total").items()
        if v
    }
    assert (
        scraped_inbound
        == dict(from_records)
        == {
            ("caller_id", "reported"): 1,
            ("caller_id", "self_served"): 1,
            ("unidentified", "abandoned"): 1,
        }
    )
    voice = after.value(
        "outage_voice_webhook_duration_seconds_count", route="/twilio/voice", outcome="ok"
    )
    assert voice == 3
    refused = after.value(
        "outage_voice_webhook_duration_seconds_count", route="/twilio/voice", outcome="forbidden"
    )
    assert refused == 1
    assert after.value("outage_voice_webhook_duration_seconds_count", route="/twilio/status") > 0
    unmatched = after.value("outage_voice_webhook_duration_seconds_count", route="unmatched")
    assert unmatched == 1
    assert after.value("outage_voice_degraded_answers_total", reason="fallback") == 1

    # The automation consumed the outage's change; speech made what it had not made before.
    consumed = await pool.fetchval(
        "SELECT count(*) FROM outage_events WHERE consumed_at IS NOT NULL"
    )
    assert after.value("outage_voice_automation_events_consumed_total") == consumed >= 1
    assert after.value("outage_voice_automation_lag_seconds_count") == consumed
    made = rig.app[PROMPT_AUDIO].engine_calls["espeak"]
    assert after.value("outage_voice_tts_engine_calls_total", engine="espeak") == made > 0
    assert after.value("outage_voice_tts_cache_misses_total", kind="piece") == made
    assert after.value("outage_voice_tts_cache_hits_total") > 0
    assert after.value("outage_voice_spool_depth") == rig.app[SPOOL].pending() == 0
    assert after.value("outage_voice_db_pool_max_connections") == 20
    assert after.value("outage_voice_db_pool_connections", state="in_use") >= 0
    assert after.value("outage_voice_db_pool_waiting") == 0
    assert after.value("outage_voice_db_pool_waits_total") >= 0
    assert after.value("outage_voice_db_pool_wait_seconds_total") >= 0

    # Every family present, with its type; label values bounded: no number, no name.
    assert {name: f.type for name, f in after.families.items()} == FAMILIES
    phone = re.compile(r"\+?\d[\d\s().-]{6,}")
    for family in after.families.values():
        for sample in family.samples:
            assert set(sample.labels) <= LABEL_NAMES, sample
            for name, value in sample.labels.items():
                if name in ("le", "campaign_id"):
                    continue
                assert not phone.search(value), sample
                assert not any(word in value for word in NAMES), sample
                assert "Storm" not in value, sample
            if "campaign_id" in sample.labels:
                assert sample.labels["campaign_id"].isdigit()


@pytest.mark.parametrize(
    "carrier_settings",
    [CarrierSettings(cps=None, personas=PERSONAS, reject_429_share=0.4, seed=3)],
)
async def test_carrier_429_back_offs_are_counted(rig: Rig, pool: asyncpg.Pool) -> None:
    created = await rig.api("POST", "/api/v1/campaigns", CAMPAIGN, status=201)
    await rig.api("POST", f"/api/v1/campaigns/{created['id']}/start")

    async def state() -> str:
        view = await rig.api("GET", f"/api/v1/campaigns/{created['id']}?fresh=1")
        return str(view["state"])

    async with asyncio.timeout(60):
        while await state() != "completed":  # noqa: ASYNC110 - polling the API is the point
            await asyncio.sleep(0.02)
    _, scrape = await rig.scrape()
    refused = await pool.fetchval(
        "SELECT count(*) FROM call_attempts WHERE campaign_id = $1 AND error_code = 20429",
        created["id"],
    )
    throttled = scrape.value("outage_voice_carrier_throttled_total", kind="restoration")
    assert throttled == refused >= 1
    # Refused calls were never placed: placed counts the carrier's calls only.
    placed = scrape.value("outage_voice_campaign_calls_placed_total", kind="restoration")
    assert placed == len(_outbound(rig)) == 5


async def test_metrics_token_when_set(
    settings: Settings, services: Services, tmp_path: Path
) -> None:
    port = free_port()
    app = create_app(
        dataclasses.replace(
            settings, public_url=f"http://127.0.0.1:{port}", metrics_token="scrape-secret"
        ),
        run_dialer=False,
    )
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/metrics"
            async with session.get(url) as answer:
                assert answer.status == 401
            async with session.get(url, headers={"Authorization": "Bearer wrong"}) as answer:
                assert answer.status == 401
            headers = {"Authorization": "Bearer scrape-secret"}
            async with session.get(url, headers=headers) as answer:
                assert answer.status == 200
                families = {f.name for f in text_string_to_metric_families(await answer.text())}
            # No dialer here: no leadership or pacing to report, the rest as always.
            assert "outage_voice_dialer_leader" not in families
            assert "outage_voice_spool_depth" in families
            assert "outage_voice_db_pool_connections" in families
    finally:
        await server.close()


async def test_two_applications_in_one_process_keep_their_numbers_apart(
    settings: Settings,
) -> None:
    first = create_app(settings, run_dialer=False)
    second = create_app(settings, run_dialer=False)
    first[METRICS].call_placed("restoration")
    first[METRICS].call_placed("not-a-kind")
    assert first[METRICS].registry is not second[METRICS].registry
    placed = first[METRICS].registry.get_sample_value(
        "outage_voice_campaign_calls_placed_total", {"kind": "restoration"}
    )
    assert placed == 1
    assert (
        first[METRICS].registry.get_sample_value(
            "outage_voice_campaign_calls_placed_total", {"kind": "other"}
        )
        == 1
    )
    assert (
        second[METRICS].registry.get_sample_value(
            "outage_voice_campaign_calls_placed_total", {"kind": "restoration"}
        )
        is None
    )
