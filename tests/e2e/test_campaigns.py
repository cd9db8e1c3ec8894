"""Campaigns end to end: the real server and dialer, the virtual carrier, virtual time."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from outage_voice.bootstrap import Services, create_app
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.outages import parse_outage_state
from outage_voice.web.keys import VIRTUAL_CARRIER
from tests.integration.test_server import free_port
from tests.support import T0, csv_text

CUSTOMERS = csv_text(
    "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
    "1002,Jose Lopez,512-555-0102,,P2,40 Elm Street,F2,,es",
    "1003,Ana Smith,512-555-0103,,P3,9 Cedar Lane,F9,,",
    "1004,Luis Garcia,512-555-0104,,P1,12 Oak Street,F1,,",
    "1005,Rosa Diaz,512-555-0105,,P5,77 Pecan Drive,F1,,",
    "1006,Rosa Diaz,512-555-0105,,P6,3 Mesquite Trail,F1,,",
    "1007,Kenji Sato,512-555-0107,,P7,5 Sakura Way,F2,Asia/Tokyo,",
)


@dataclasses.dataclass
class Rig:
    url: str
    clock: VirtualClock
    carrier: VirtualCarrier
    headers: dict[str, str]
    session: aiohttp.ClientSession

    async def api(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        async with self.session.request(
            method, f"{self.url}{path}", json=body, headers=self.headers
        ) as answer:
            payload = await answer.json()
            assert answer.status == status, payload
            return payload

    async def until(self, check: Callable[[], Awaitable[bool]], timeout_s: float = 60) -> None:
        async with asyncio.timeout(timeout_s):
            while not await check():  # noqa: ASYNC110 - polling the API is the point
                await asyncio.sleep(0.02)

    async def finished(self, campaign_id: int) -> dict[str, Any]:
        view: dict[str, Any] = {}

        async def done() -> bool:
            nonlocal view
            view = await self.api("GET", f"/api/v1/campaigns/{campaign_id}?fresh=1")
            return bool(view["state"] == "completed")

        await self.until(done)
        return view

    def calls_to(self, number: str) -> list[CallRecord]:
        return [c for c in self.carrier.calls.values() if c.to == number]


PERSONAS = PersonaBook(
    exact={
        "+15125550100": Persona(digits=("1",)),  # still out
        "+15125550104": Persona(behaviour=Behaviour.MACHINE),
        "+15125550102": Persona(behaviour=Behaviour.BUSY),
        "+15125550105": Persona(digits=("9",)),  # stop these calls
        "+15125550107": Persona(digits=("2", "")),
    }
)


@pytest.fixture
def carrier_settings() -> CarrierSettings:
    return CarrierSettings(cps=None, personas=PERSONAS)


async def manual_only(services: Services) -> None:
    """Tests of campaigns a supervisor starts: the automation's own acknowledgement of the
    outages they confirm would call the same numbers (on virtual time, a blink hold passes in
    an instant when nothing else is going on)."""
    await services.automation.update_rules({"acknowledge": {"enabled": False}}, actor="test")


@pytest.fixture
async def rig(
    settings: Settings,
    services: Services,
    tmp_path: Path,
    tokens: dict[Role, dict[str, str]],
    carrier_settings: CarrierSettings,
) -> AsyncIterator[Rig]:
    await manual_only(services)
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
            headers=tokens[Role.SUPERVISOR],
            session=session,
        )
    await server.close()


RESTORATION = {
    "name": "Storm 1 restored",
    "kind": "restoration",
    "audience": {"outage_id": "STORM-1"},
    "pacing": {"cps": 5, "max_concurrent": 10},
    "retry": {"busy": {"max_attempts": 2, "delay_s": 120}},
}


async def test_restoration_campaign_reaches_everyone_once(rig: Rig, pool: asyncpg.Pool) -> None:
    created = await rig.api("POST", "/api/v1/campaigns", RESTORATION, status=201)
    assert created["state"] == "draft"
    assert created["progress"]["targets"] == 5  # 0105 covers two homes: one call
    assert created["estimate_s"] >= 1
    campaign_id = created["id"]
    await rig.api("POST", f"/api/v1/campaigns/{campaign_id}/start")
    view = await rig.finished(campaign_id)
    outcomes = view["progress"]["outcomes"]
    assert outcomes["still_out"] == 1
    assert outcomes["voicemail"] == 1
    assert outcomes["busy"] == 1
    assert outcomes["opted_out"] == 1
    assert outcomes["reached"] == 1
    # Busy twice (the policy's two attempts, 120 s apart); everyone else exactly once.
    busy = sorted(c.created_at for c in rig.calls_to("+15125550102"))
    assert len(busy) == 2 and busy[1] - busy[0] >= timedelta(seconds=120)
    for number in ("+15125550100", "+15125550104", "+15125550105", "+15125550107"):
        assert len(rig.calls_to(number)) == 1, number
    household = rig.calls_to("+15125550105")[0].spoken_text()
    assert "77 Pecan Drive and 3 Mesquite Trail" in household or (
        "3 Mesquite Trail and 77 Pecan Drive" in household
    )
    voicemail = rig.calls_to("+15125550104")[0]
    assert "Power has been restored at 12 Oak Street." in voicemail.spoken_text()
    report = await pool.fetchrow("SELECT kind, phone, outage_id, source FROM outage_reports")
    assert (report["kind"], report["phone"], report["source"]) == (
        "still_out", "+15125550100", "campaign"
    )  # fmt: skip
    assert report["outage_id"] is not None
    assert await pool.fetchval(
        "SELECT opted_out_at IS NOT NULL FROM phones WHERE e164 = '+15125550105'"
    )
    # The Tokyo customer was called inside their own window (08:00-21:00 local).
    tokyo = rig.calls_to("+15125550107")[0].created_at
    local = tokyo.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    assert 8 <= local.hour < 21
    # An opted-out number is excluded from the next campaign, with the reason.
    again = await rig.api("POST", "/api/v1/campaigns", RESTORATION, status=201)
    assert again["progress"]["excluded"] == {"opted_out": 1}


async def test_call_back_campaign_calls_those_who_asked_and_closes_their_requests(
    rig: Rig, pool: asyncpg.Pool
) -> None:
    outage_pk = await pool.fetchval("SELECT id FROM outages WHERE oms_id = 'STORM-1'")
    for phone, premise, account in (("+15125550100", "P1", "1001"), ("+15125550104", "P1", "1004")):
        await pool.execute(
            "INSERT INTO callback_requests (phone, premise_id, account_number, outage_id,"
            " language, created_at) VALUES ($1, $2, $3, $4, 'en', $5)",
            phone, premise, account, outage_pk, T0,
        )  # fmt: skip
    call_backs = {
        **RESTORATION,
        "name": "Storm 1 call-backs",
        "audience": {"outage_id": "STORM-1", "callback_requests": True},
    }
    created = await rig.api("POST", "/api/v1/campaigns", call_backs, status=201)
    assert created["progress"]["targets"] == 2
    await rig.api("POST", f"/api/v1/campaigns/{created['id']}/start")
    view = await rig.finished(created["id"])
    outcomes = {name: n for name, n in view["progress"]["outcomes"].items() if n}
    assert outcomes == {"still_out": 1, "voicemail": 1}
    assert len(rig.calls_to("+15125550100")) == len(rig.calls_to("+15125550104")) == 1
    assert not rig.calls_to("+15125550102")  # on the outage, but never asked
    assert await pool.fetchval(
        "SELECT count(*) FROM callback_requests WHERE fulfilled_at IS NULL"
    ) == 0  # fmt: skip
    again = await rig.api("POST", "/api/v1/campaigns", call_backs, status=201)
    assert again["progress"]["targets"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "x", "kind": "party"}, "kind"),
        ({"name": "x", "kind": "restoration"}, "audience"),
        (
            {"name": "x", "kind": "restoration", "audience": {"feeders": ["F1"]}},
            "audience.outage_id",
        ),
        ({"name": "x", "kind": "custom", "audience": {"feeders": ["F1"]}}, "message.text"),
        ({**RESTORATION, "pacing": {"cps": 0}}, "cps"),
        ({**RESTORATION, "pacing": {"cps": "fast"}}, "cps"),
        ({**RESTORATION, "pacing": {"max_concurrent": 0}}, "max_concurrent"),
        ({**RESTORATION, "window": "8-21"}, "window"),
        ({**RESTORATION, "retry": {"busy": {"max_attempts": 99}}}, "retry.busy.max_attempts"),
        ({**RESTORATION, "retry": {"asleep": {}}}, "retry.asleep"),
        ({**RESTORATION, "voicemail": "shout"}, "voicemail"),
    ],
)
async def test_bad_campaign_bodies_are_refused_naming_the_field(
    rig: Rig, pool: asyncpg.Pool, body: dict[str, Any], field: str
) -> None:
    answer = await rig.api("POST", "/api/v1/campaigns", body, status=422)
    assert answer["error"]["field"] == field
    assert await pool.fetchval("SELECT count(*) FROM campaigns") == 0


async def test_roles_unknown_campaigns_and_impossible_actions(
    rig: Rig, tokens: dict[Role, dict[str, str]]
) -> None:
    async with rig.session.post(
        f"{rig.url}/api/v1/campaigns", json=RESTORATION, headers=tokens[Role.VIEWER]
    ) as answer:
        assert answer.status == 403
    await rig.api("GET", "/api/v1/campaigns/999", status=404)
    await rig.api("GET", "/api/v1/campaigns/999?fresh=1", status=404)
    await rig.api("GET", "/api/v1/campaigns/abc", status=404)
    missing = {**RESTORATION, "audience": {"outage_id": "NOPE"}}
    await rig.api("POST", "/api/v1/campaigns", missing, status=404)
    created = await rig.api("POST", "/api/v1/campaigns", RESTORATION, status=201)
    campaign = f"/api/v1/campaigns/{created['id']}"
    await rig.api("POST", f"{campaign}/pause", status=409)
    await rig.api("POST", f"{campaign}/resume", status=409)
    await rig.api("POST", f"{campaign}/explode", status=404)
    await rig.api("PATCH", campaign, {"name": "renamed"}, status=422)
    await rig.api("PATCH", campaign, {"cps": -1}, status=422)
    answer = await rig.api("GET", f"{campaign}?fresh=maybe", status=422)
    assert answer["error"]["field"] == "fresh"
    await rig.api("POST", f"{campaign}/cancel")
    # An action answers with a fresh view, and later readers see it at once.
    assert (await rig.api("GET", campaign))["state"] == "cancelled"
    await rig.api("POST", f"{campaign}/start", status=409)
    await rig.api("PATCH", campaign, {"cps": 2}, status=409)


def max_in_any_second(moments: list[datetime]) -> int:
    ordered = sorted(moments)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= timedelta(seconds=1):
            first += 1
        most = max(most, last - first + 1)
    return most


BIG_FEEDER = csv_text(
    *(f"2{i:03d},Customer {i},512-556-{i:04d},,Q{i},{i} Long Road,F7,," for i in range(120))
)


@pytest.fixture
def carrier_settings_silent() -> CarrierSettings:
    return CarrierSettings(cps=None, personas=PersonaBook(mix=((1.0, Persona()),)))


async def test_pacing_pause_resume_and_live_changes(
    rig: Rig, services: Services, tmp_path: Path
) -> None:
    extra = tmp_path / "feeder.csv"
    extra.write_text(BIG_FEEDER)
    await services.customers.import_file(extra)
    await services.outages.put(
        "STORM-7",
        parse_outage_state({"status": "confirmed", "feeder_ids": ["F7"]}, now=T0),
        actor="t",
    )
    body = {
        "name": "Feeder 7",
        "kind": "outage_ack",
        "audience": {"outage_id": "STORM-7"},
        "pacing": {"cps": 4, "max_concurrent": 100},
    }
    created = await rig.api("POST", "/api/v1/campaigns", body, status=201)
    campaign = f"/api/v1/campaigns/{created['id']}"
    await rig.api("POST", f"{campaign}/start")

    def placed() -> list[CallRecord]:
        return [c for c in rig.carrier.calls.values() if c.to.startswith("+1512556")]

    async def some_placed() -> bool:
        return len(placed()) >= 20

    await rig.until(some_placed)
    paused = await rig.api("POST", f"{campaign}/pause")
    assert paused["state"] == "paused"
    count_at_pause = len(placed())
    await rig.clock.sleep(0)  # let the dialer see it
    await asyncio.sleep(0.3)
    assert len(placed()) <= count_at_pause + 1  # at most the one already on its way
    await rig.api("PATCH", campaign, {"cps": 10})
    await rig.api("POST", f"{campaign}/resume")
    view = await rig.finished(created["id"])
    outcomes = {name: n for name, n in view["progress"]["outcomes"].items() if n}
    assert outcomes == {"reached": 120}, view["progress"]
    moments = [c.created_at for c in placed()]
    assert len(moments) == 120 and len({c.to for c in placed()}) == 120  # nobody twice
    assert max_in_any_second(moments) <= 10
    before = sorted(c.created_at for c in placed())[:count_at_pause]
    assert max_in_any_second(before) <= 4


@pytest.mark.parametrize(
    "carrier_settings",
    [
        CarrierSettings(
            cps=None,
            personas=PERSONAS,
            reject_429_share=0.3,
            callback_duplicate_share=0.5,
            callback_delay_max_s=3.0,
            seed=7,
        )
    ],
)
async def test_429_bursts_and_duplicate_late_callbacks_change_nothing(
    rig: Rig, pool: asyncpg.Pool
) -> None:
    created = await rig.api("POST", "/api/v1/campaigns", RESTORATION, status=201)
    await rig.api("POST", f"/api/v1/campaigns/{created['id']}/start")
    view = await rig.finished(created["id"])
    outcomes = view["progress"]["outcomes"]
    assert (outcomes["still_out"], outcomes["voicemail"], outcomes["busy"]) == (1, 1, 1)
    assert (outcomes["opted_out"], outcomes["reached"]) == (1, 1)
    assert len(rig.calls_to("+15125550102")) == 2
    for number in ("+15125550100", "+15125550104", "+15125550105", "+15125550107"):
        assert len(rig.calls_to(number)) == 1, number
    refused = await pool.fetchval(
        "SELECT count(*) FROM call_attempts WHERE status = 'not_placed' AND error_code = 20429"
    )
    assert refused >= 1  # the carrier did throttle, and no call was lost or doubled for it
    statuses = await pool.fetch(
        "SELECT status, ended_at FROM call_attempts WHERE call_sid IS NOT NULL"
    )
    assert all(row["status"] in ("completed", "busy") and row["ended_at"] for row in statuses)


@pytest.mark.parametrize(
    "carrier_settings", [CarrierSettings(cps=None, personas=PERSONAS, callback_drop_share=1.0)]
)
async def test_lost_callbacks_are_settled_by_asking_the_carrier(rig: Rig) -> None:
    created = await rig.api("POST", "/api/v1/campaigns", RESTORATION, status=201)
    await rig.api("POST", f"/api/v1/campaigns/{created['id']}/start")
    view = await rig.finished(created["id"])
    outcomes = view["progress"]["outcomes"]
    assert (outcomes["still_out"], outcomes["voicemail"], outcomes["busy"]) == (1, 1, 1)
    assert (outcomes["opted_out"], outcomes["reached"]) == (1, 1)
    assert view["progress"]["live_calls"] == 0
    assert all(entry.get("dropped") for c in rig.carrier.calls.values() for entry in c.callbacks)


@pytest.mark.parametrize(
    "carrier_settings",
    [
        CarrierSettings(
            cps=None,
            personas=dataclasses.replace(
                PERSONAS,
                exact={**PERSONAS.exact, "+15125550107": Persona(behaviour=Behaviour.INVALID)},
            ),
        )
    ],
)
async def test_invalid_numbers_are_not_retried_and_left_out_next_time(
    rig: Rig, pool: asyncpg.Pool
) -> None:
    retry_all = {**RESTORATION, "retry": {"failed": {"max_attempts": 3, "delay_s": 60}}}
    created = await rig.api("POST", "/api/v1/campaigns", retry_all, status=201)
    await rig.api("POST", f"/api/v1/campaigns/{created['id']}/start")
    view = await rig.finished(created["id"])
    assert view["progress"]["outcomes"]["invalid"] == 1
    assert len(rig.calls_to("+15125550107")) == 1  # a permanent error is never retried
    assert await pool.fetchval(
        "SELECT invalid_at IS NOT NULL FROM phones WHERE e164 = '+15125550107'"
    )
    again = await rig.api("POST", "/api/v1/campaigns", RESTORATION, status=201)
    assert again["progress"]["excluded"] == {"opted_out": 1, "invalid_number": 1}


@pytest.mark.parametrize("status", ["crew_on_site", "cancelled"])
async def test_restoration_campaign_for_an_outage_not_restored_is_refused_unless_forced(
    rig: Rig, services: Services, pool: asyncpg.Pool, status: str
) -> None:
    await services.outages.put(
        "STORM-2", parse_outage_state({"status": status, "feeder_ids": ["F1"]}, now=T0), actor="t"
    )
    body = {**RESTORATION, "name": "Storm 2 restored", "audience": {"outage_id": "STORM-2"}}
    refused = await rig.api("POST", "/api/v1/campaigns", body, status=409)
    assert refused["error"]["code"] == "outage_not_restored"
    assert refused["error"]["field"] == "audience.outage_id"
    assert f"'STORM-2' is {status}, not restored" in refused["error"]["message"]
    assert '"force": true' in refused["error"]["message"]
    assert await pool.fetchval("SELECT count(*) FROM campaigns") == 0
    for not_a_flag in ("yes", 1, None):
        wrong = await rig.api("POST", "/api/v1/campaigns", {**body, "force": not_a_flag}, 422)
        assert wrong["error"]["field"] == "force"
    # Only the all-clear is held back: telling the same customers we know is fine.
    ack = {**body, "name": "Storm 2 known", "kind": "outage_ack"}
    assert (await rig.api("POST", "/api/v1/campaigns", ack, status=201))["kind"] == "outage_ack"
    forced = await rig.api("POST", "/api/v1/campaigns", {**body, "force": True}, status=201)
    assert forced["kind"] == "restoration"
    assert forced["progress"]["targets"] > 0
    # Once the OMS says it is restored, no force is needed.
    await services.outages.put(
        "STORM-2",
        parse_outage_state({"status": "restored", "feeder_ids": ["F1"]}, now=T0),
        actor="t",
    )
    await rig.api("POST", "/api/v1/campaigns", body, status=201)
