"""Surveys end to end on virtual time: one sent on demand, answered through the virtual
carrier by every kind of caller (all keys, a call back, silence, a wrong key, 9, a machine, a
hang-up halfway), its results and CSV export counting exactly what those calls answered; and
the automatic survey after an outage's restoration, made by the schedule two hours later,
calling exactly the sample domain.survey.in_sample draws."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from outage_voice.bootstrap import Services, create_app
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings
from outage_voice.carrier.personas import Persona, PersonaBook
from outage_voice.config import Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.survey import NOT_SAMPLED, in_sample
from outage_voice.web.keys import VIRTUAL_CARRIER
from tests.e2e.test_campaigns import Rig
from tests.e2e.test_survey_calls import (
    ALL_KEYS,
    CALL_BACK,
    GONE_HALFWAY,
    MACHINE,
    SILENT_FIRST,
    STOPS_SURVEYS,
    WRONG_KEY,
    rig,  # noqa: F401 - the fixture: the server, its dialer and the carrier's personas
)
from tests.integration.test_server import free_port
from tests.support import T0, csv_text

AUTOMATIC_NUMBERS = [f"+1512555{n:04d}" for n in range(301, 317)]
SHARE = 0.5


async def test_results_and_csv_match_the_calls(
    rig: Rig,  # noqa: F811
    services: Services,
    pool: asyncpg.Pool,
) -> None:
    sent = await rig.api("POST", "/api/v1/surveys/send", {"outage_id": "STORM-7"}, status=201)
    assert (sent["targets"], sent["excluded"]) == (7, {})
    view = await rig.finished(sent["campaign_id"])
    assert view["progress"]["by_state"]["done"] == 7

    results = await rig.api("GET", "/api/v1/surveys/post_outage/results?outage_id=STORM-7")
    totals = {key: results[key] for key in ("calls", "reached", "responded", "completed")}
    assert totals == {"calls": 7, "reached": 6, "responded": 5, "completed": 3}
    assert (results["partial"], results["response_rate"]) == (2, 0.7143)
    informed, etr_accurate, callback = results["questions"]
    assert (informed["count"], informed["mean"]) == (4, 3.5)
    assert informed["distribution"] == {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}
    assert (etr_accurate["count"], etr_accurate["distribution"]) == (5, {"yes": 3, "no": 2})
    assert (callback["count"], callback["distribution"]) == (4, {"yes": 1, "no": 3})

    export = await services.surveys.export(survey_id="post_outage", outage_id="STORM-7")
    text = io.StringIO()
    csv.writer(text).writerows([export.header, *export.rows])
    rows = {row["phone"]: row for row in csv.DictReader(io.StringIO(text.getvalue()))}
    said = {
        phone: (
            row["reached"],
            row["informed"],
            row["etr_accurate"],
            row["callback"],
            row["callback_requested"],
        )
        for phone, row in rows.items()
    }
    assert said == {
        ALL_KEYS: ("yes", "4", "yes", "no", "no"),
        CALL_BACK: ("yes", "5", "no", "yes", "yes"),
        SILENT_FIRST: ("yes", "", "yes", "no", "no"),
        WRONG_KEY: ("yes", "3", "no", "no", "no"),
        STOPS_SURVEYS: ("yes", "", "", "", "no"),
        MACHINE: ("no", "", "", "", "no"),
        GONE_HALFWAY: ("yes", "2", "yes", "", "no"),
    }
    assert {row["language"] for phone, row in rows.items() if phone == CALL_BACK} == {"es"}
    # Every row is a call the carrier carried, at the time it was placed.
    placed = {
        row["phone"]: row["placed_at"]
        for row in await pool.fetch("SELECT phone, placed_at FROM call_attempts")
    }
    assert {phone: row["called_at"] for phone, row in rows.items()} == {
        phone: at.isoformat() for phone, at in placed.items()
    }


@pytest.fixture
async def utility(
    settings: Settings, services: Services, tmp_path: Path, tokens: dict[Role, dict[str, str]]
) -> AsyncIterator[Rig]:
    """The server with its dialer, automation and schedule on virtual time; 16 customers on
    feeder F1, each answering every survey question (4, yes, no) and any other call's menu
    with keys it does not use."""
    rows = [
        f"{3000 + n},Customer {n},512-555-{n:04d},,P{n},{n} Oak Street,F1,,"
        for n in range(301, 317)
    ]
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text(*rows))
    await services.customers.import_file(customers)
    await services.automation.update_rules(
        {
            "acknowledge": {"blink_hold_s": 0},
            "etr_update": {"enabled": False},
            "all_clear": {"enabled": False},  # its "press 1" would take the first key
            "survey": {"sample_share": SHARE},
        },
        actor="test",
    )
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    clock = VirtualClock(T0)
    personas = PersonaBook(mix=((1.0, Persona(digits=("4", "1", "2"))),))
    app = create_app(
        dataclasses.replace(settings, public_url=public),
        clock=clock,
        timer=clock,
        run_dialer=True,
        carrier_settings=CarrierSettings(cps=None, personas=personas),
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


async def test_the_automatic_survey_calls_its_sample_two_hours_after_restoration(
    utility: Rig, pool: asyncpg.Pool, tokens: dict[Role, dict[str, str]]
) -> None:
    oms = tokens[Role.OMS]

    async def campaign_of(kind: str) -> int | None:
        found: int | None = await pool.fetchval(
            "SELECT id FROM campaigns WHERE kind = $1 ORDER BY id DESC LIMIT 1", kind
        )
        return found

    async def made(kind: str) -> bool:
        return await campaign_of(kind) is not None

    async def oms_put(body: dict[str, object]) -> None:
        async with utility.session.put(
            f"{utility.url}/api/v1/outages/STORM-1", json=body, headers=oms
        ) as answer:
            assert answer.status in (200, 201), await answer.text()

    # Confirmed: everyone on it is told (the acknowledgement), which makes it worth a survey.
    await oms_put({"status": "confirmed", "feeder_ids": ["F1"]})
    await utility.until(lambda: made("outage_ack"))
    ack = await campaign_of("outage_ack")
    assert ack is not None
    await utility.finished(ack)
    await oms_put({"status": "restored", "feeder_ids": ["F1"]})
    restored_at = utility.clock.now()

    async def scheduled() -> bool:
        due = await pool.fetchval("SELECT due_at FROM outage_schedule WHERE message = 'survey'")
        return due is not None

    await utility.until(scheduled)
    due = await pool.fetchval("SELECT due_at FROM outage_schedule WHERE message = 'survey'")
    assert due == restored_at + timedelta(hours=2)
    assert await campaign_of("survey") is None
    # Nothing happens until then: skip the quiet stretch.
    utility.clock.jump(due - timedelta(minutes=2))
    await utility.until(lambda: made("survey"))
    survey = await campaign_of("survey")
    assert survey is not None
    view = await utility.finished(survey)
    row = await pool.fetchrow("SELECT automatic, trigger_event, created_at FROM campaigns "
                               "WHERE id = $1", survey)  # fmt: skip
    assert (row["automatic"], row["trigger_event"]) == (True, "survey")
    assert due <= row["created_at"] < due + timedelta(minutes=2)

    sampled = [number for number in AUTOMATIC_NUMBERS if in_sample(number, "STORM-1", SHARE)]
    assert 0 < len(sampled) < len(AUTOMATIC_NUMBERS)
    assert view["progress"]["excluded"] == {NOT_SAMPLED: len(AUTOMATIC_NUMBERS) - len(sampled)}
    called = {call.to for call in utility.carrier.calls.values() if call.created_at >= due}
    assert called == set(sampled)

    results = await utility.api("GET", "/api/v1/surveys/post_outage/results")
    assert (results["calls"], results["completed"]) == (len(sampled), len(sampled))
    informed = results["questions"][0]
    assert (informed["count"], informed["mean"]) == (len(sampled), 4.0)
