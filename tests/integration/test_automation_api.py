"""`/api/v1/automation`, `/api/v1/automation/preview` and `/api/v1/outages/{id}/notifications`
as the web layer parses and renders them: real HTTP and real tokens (PostgreSQL), over an
automation service that answers from memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from outage_voice.adapters.clock import ManualClock
from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.domain.automation import (
    AutomationRules,
    Decision,
    Verdict,
    merge_rules,
    outage_change,
)
from outage_voice.domain.errors import NotFound
from outage_voice.domain.outages import OutageState
from outage_voice.services.automation import (
    AutomationService,
    AutomationWorker,
    Preview,
    PreviewMessage,
)
from outage_voice.services.automation_ports import (
    Ledger,
    LedgerCounts,
    LedgerDecision,
    LedgerLine,
)
from outage_voice.web import keys
from outage_voice.web.app import create_web_app
from tests.support import T0, csv_text

Client = TestClient[web.Request, web.Application]
Headers = dict[Role, dict[str, str]]
ETR = T0 + timedelta(hours=4)
STATE: dict[str, Any] = {"status": "confirmed", "cause": "tree", "feeder_ids": ["F1"]}


class MemoryAutomation(AutomationService):
    """The service's surface, answered from memory (the rules merged by the domain)."""

    def __init__(self) -> None:  # no stores: nothing here reaches them
        self.current = AutomationRules()
        self.actors: list[str] = []
        self.previewed: list[tuple[str, OutageState]] = []
        self.asked: list[tuple[str, str | None]] = []

    async def rules(self) -> AutomationRules:
        return self.current

    async def update_rules(self, patch: object, *, actor: str) -> AutomationRules:
        self.current = merge_rules(self.current, patch)
        self.actors.append(actor)
        return self.current

    async def preview(self, outage_id: str, state: OutageState) -> Preview:
        self.previewed.append((outage_id, state))
        return Preview(
            outage_id=outage_id,
            change=outage_change(None, state),
            messages=[
                PreviewMessage(
                    trigger="confirmed",
                    kind="outage_ack",
                    campaign="new",
                    sends_at=T0 + timedelta(seconds=300),
                    calls=120,
                    skipped={"recent_caller": 4, "opted_out": 1},
                    estimated_duration_s=6,
                )
            ],
            withdrawn={"restored_first": 2},
            decisions=(Decision(event="confirmed", verdict=Verdict.HELD, reason="blink hold"),),
        )

    async def notifications(self, outage_id: str, *, account: str | None) -> Ledger:
        self.asked.append((outage_id, account))
        if outage_id != "S1":
            raise NotFound("outage", outage_id)
        line = LedgerLine(
            trigger="confirmed",
            campaign_id=3,
            phone="+15125550100",
            account_numbers=("1001",),
            state="done",
            outcome="reached",
            attempts=1,
            last_call_at=T0,
            heard_at=T0 + timedelta(seconds=20),
            heard_etr=ETR,
        )
        return Ledger(
            outage_id=outage_id,
            counts={
                "confirmed": LedgerCounts(
                    sent=10, reached=7, pending=5, skipped={"recent_caller": 2}
                ),
                "etr_changed": LedgerCounts(sent=4, reached=4, pending=1),
            },
            campaigns=[3, 4],
            decisions=[
                LedgerDecision(
                    at=T0,
                    event_id=11,
                    decision=Decision(event="confirmed", verdict=Verdict.PLANNED),
                    campaign_id=3,
                ),
                LedgerDecision(
                    at=T0 + timedelta(minutes=20),
                    event_id=None,
                    decision=Decision(
                        event="etr_changed", verdict=Verdict.SKIPPED, reason="under the threshold"
                    ),
                    campaign_id=None,
                ),
            ],
            lines=[line] if account is not None else [],
        )


@pytest.fixture
def automation() -> MemoryAutomation:
    return MemoryAutomation()


@pytest.fixture
async def client(
    services: Services, clock: ManualClock, automation: MemoryAutomation
) -> AsyncIterator[Client]:
    app = create_web_app()
    app[keys.TOKENS] = services.tokens
    app[keys.CLOCK] = clock
    app[keys.AUTOMATION] = automation
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


async def error_field(response: Any, status: int) -> str | None:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"} and body["error"]["message"]
    field: str | None = body["error"].get("field")
    return field


async def test_any_role_reads_the_rules_every_field_present(
    client: Client, tokens: Headers
) -> None:
    for role in Role:
        response = await client.get("/api/v1/automation", headers=tokens[role])
        assert response.status == 200
        rules = await response.json()
        assert rules == AutomationRules().as_json()
    assert rules["acknowledge"]["blink_hold_s"] == 300
    assert rules["etr_update"]["max_per_outage"] == 3
    await error_field(await client.get("/api/v1/automation"), 401)


async def test_a_supervisor_changes_some_rules_and_the_rest_stay(
    client: Client, tokens: Headers, automation: MemoryAutomation
) -> None:
    patch = {"acknowledge": {"blink_hold_s": 0}, "etr_update": {"enabled": False}}
    response = await client.put("/api/v1/automation", json=patch, headers=tokens[Role.SUPERVISOR])
    assert response.status == 200, await response.text()
    merged = await response.json()
    assert merged["acknowledge"]["blink_hold_s"] == 0
    assert merged["acknowledge"]["skip_recent_callers_s"] == 1800
    assert merged["etr_update"] == AutomationRules().as_json()["etr_update"] | {"enabled": False}
    assert merged["all_clear"] == {"enabled": True}
    assert automation.actors and automation.actors[0].startswith("token:")
    shown = await client.get("/api/v1/automation", headers=tokens[Role.VIEWER])
    assert await shown.json() == merged

    for role in (Role.OMS, Role.VIEWER):
        await error_field(
            await client.put("/api/v1/automation", json=patch, headers=tokens[role]), 403
        )
    assert len(automation.actors) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"acknowledge": {"blink_hold": 0}}, "acknowledge.blink_hold"),
        ({"etr_update": {"min_change_s": "soon"}}, "etr_update.min_change_s"),
        ({"acknowlege": {"enabled": False}}, "acknowlege"),
        ([{"acknowledge": {}}], "body"),
    ],
)
async def test_bad_rule_changes_are_422_naming_the_dotted_field(
    client: Client, tokens: Headers, automation: MemoryAutomation, body: object, field: str
) -> None:
    response = await client.put("/api/v1/automation", json=body, headers=tokens[Role.SUPERVISOR])
    assert await error_field(response, 422) == field
    assert automation.current == AutomationRules()


async def test_a_preview_parses_the_outage_state_and_renders_what_would_be_sent(
    client: Client, tokens: Headers, automation: MemoryAutomation
) -> None:
    body = {"outage_id": "S1", "state": STATE | {"etr": ETR.isoformat()}}
    for role in (Role.SUPERVISOR, Role.OMS):
        response = await client.post("/api/v1/automation/preview", json=body, headers=tokens[role])
        assert response.status == 200, await response.text()
    preview = await response.json()
    outage_id, state = automation.previewed[-1]
    assert outage_id == "S1" and state.cause == "tree" and state.etr == ETR
    assert state.feeder_ids == ("F1",)
    assert preview["outage_id"] == "S1"
    assert preview["messages"] == [
        {
            "trigger": "confirmed",
            "kind": "outage_ack",
            "campaign": "new",
            "sends_at": (T0 + timedelta(seconds=300)).isoformat(),
            "calls": 120,
            "skipped": {"recent_caller": 4, "opted_out": 1},
            "estimated_duration_s": 6,
        }
    ]
    assert preview["withdrawn"] == {"restored_first": 2}
    assert preview["decisions"] == [
        {"event": "confirmed", "verdict": "held", "reason": "blink hold"}
    ]
    assert preview["change"] == outage_change(None, state).as_json()

    viewer = await client.post("/api/v1/automation/preview", json=body, headers=tokens[Role.VIEWER])
    await error_field(viewer, 403)
    assert len(automation.previewed) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outage_id": "S1", "state": STATE | {"xyz": 1}}, "state.xyz"),
        ({"outage_id": "S1", "state": STATE | {"status": "fixed"}}, "state.status"),
        ({"outage_id": "S1", "state": STATE | {"feeder_ids": [""]}}, "state.feeder_ids[0]"),
        ({"outage_id": "S1", "state": {"status": "confirmed"}}, "state.premise_ids"),
        ({"outage_id": "S1", "state": ["confirmed"]}, "state"),
        ({"outage_id": "S1"}, "state"),
        ({"state": STATE}, "outage_id"),
        ({"outage_id": "S 1", "state": STATE}, "outage_id"),
        ({"outage_id": "S1", "state": STATE, "dry_run": True}, "dry_run"),
        ("S1", "body"),
    ],
)
async def test_bad_preview_bodies_are_422_naming_the_field(
    client: Client, tokens: Headers, automation: MemoryAutomation, body: object, field: str
) -> None:
    response = await client.post("/api/v1/automation/preview", json=body, headers=tokens[Role.OMS])
    assert await error_field(response, 422) == field
    assert automation.previewed == []


async def test_the_ledger_counts_per_event_and_one_account_s_calls(
    client: Client, tokens: Headers, automation: MemoryAutomation
) -> None:
    response = await client.get("/api/v1/outages/S1/notifications", headers=tokens[Role.VIEWER])
    assert response.status == 200, await response.text()
    ledger = await response.json()
    assert ledger["counts"] == {
        "confirmed": {"sent": 10, "reached": 7, "pending": 5, "skipped": {"recent_caller": 2}},
        "etr_changed": {"sent": 4, "reached": 4, "pending": 1, "skipped": {}},
    }
    assert ledger["pending"] == 6
    assert ledger["campaigns"] == [3, 4]
    assert ledger["decisions"] == [
        {
            "at": T0.isoformat(),
            "event": "confirmed",
            "verdict": "planned",
            "reason": None,
            "campaign_id": 3,
            "event_id": 11,
        },
        {
            "at": (T0 + timedelta(minutes=20)).isoformat(),
            "event": "etr_changed",
            "verdict": "skipped",
            "reason": "under the threshold",
            "campaign_id": None,
            "event_id": None,
        },
    ]
    assert "lines" not in ledger

    one = await client.get(
        "/api/v1/outages/S1/notifications?account=%201001%20", headers=tokens[Role.OMS]
    )
    assert one.status == 200
    body = await one.json()
    assert automation.asked[-1] == ("S1", "1001")
    assert body["account"] == "1001"
    assert body["lines"] == [
        {
            "trigger": "confirmed",
            "campaign_id": 3,
            "phone": "+15125550100",
            "account_numbers": ["1001"],
            "state": "done",
            "outcome": "reached",
            "attempts": 1,
            "last_call_at": T0.isoformat(),
            "heard_at": (T0 + timedelta(seconds=20)).isoformat(),
            "heard_etr": ETR.isoformat(),
        }
    ]


async def test_the_ledger_of_an_unknown_outage_is_404_and_a_blank_account_422(
    client: Client, tokens: Headers, automation: MemoryAutomation
) -> None:
    viewer = tokens[Role.VIEWER]
    await error_field(await client.get("/api/v1/outages/S9/notifications", headers=viewer), 404)
    blank = await client.get("/api/v1/outages/S1/notifications?account=%20", headers=viewer)
    assert await error_field(blank, 422) == "account"
    await error_field(await client.get("/api/v1/outages/S1/notifications"), 401)
    assert automation.asked == [("S9", None)]


async def test_rules_preview_ledger_and_campaign_views_through_the_real_service(
    api: Client, tokens: Headers, services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    """The server as wired: the rules stored, a preview counting real customers and sending
    nothing, the change consumed by the leader's worker, and the ledger and the campaign it
    started read back."""
    customers = tmp_path / "customers.csv"
    customers.write_text(
        csv_text(
            "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
            "1002,Jose Lopez,512-555-0102,,P2,40 Elm Street,F1,,es",
        )
    )
    await services.customers.import_file(customers)
    supervisor, oms, viewer = tokens[Role.SUPERVISOR], tokens[Role.OMS], tokens[Role.VIEWER]
    reported = {"status": "reported", "feeder_ids": ["F1"]}
    put = await api.put("/api/v1/outages/S1", json=reported, headers=oms)
    assert put.status == 201

    # The default blink hold: the acknowledgement would go at the end of it.
    confirmed = {"outage_id": "S1", "state": reported | {"status": "confirmed", "cause": "tree"}}
    held = await api.post("/api/v1/automation/preview", json=confirmed, headers=oms)
    assert held.status == 200, await held.text()
    (message,) = (await held.json())["messages"]
    assert message["trigger"] == "confirmed" and message["kind"] == "outage_ack"
    assert message["campaign"] == "new" and message["calls"] == 2
    assert message["sends_at"] == (T0 + timedelta(seconds=300)).isoformat()

    changed = await api.put(
        "/api/v1/automation", json={"acknowledge": {"blink_hold_s": 0}}, headers=supervisor
    )
    assert (await changed.json())["acknowledge"]["blink_hold_s"] == 0
    assert (await (await api.get("/api/v1/automation", headers=viewer)).json()) == (
        await changed.json()
    )
    at_once = await (
        await api.post("/api/v1/automation/preview", json=confirmed, headers=supervisor)
    ).json()
    assert at_once["messages"][0]["sends_at"] == T0.isoformat()
    assert at_once["change"]["status_before"] == "reported"
    assert at_once["change"]["status"] == "confirmed"
    assert [d["verdict"] for d in at_once["decisions"]] == ["planned"]
    assert await services.pool.fetchval("SELECT count(*) FROM campaigns") == 0  # sent nothing

    # The OMS writes it; the leader's worker acts on it.
    await api.put("/api/v1/outages/S1", json=confirmed["state"], headers=oms)
    worker = AutomationWorker(services.automation_store, services.automatic_campaigns, clock)
    assert await worker.step(T0) >= 1

    ledger = await (await api.get("/api/v1/outages/S1/notifications", headers=viewer)).json()
    assert ledger["counts"]["confirmed"]["pending"] == 2
    assert ledger["counts"]["confirmed"]["sent"] == 0
    assert ledger["pending"] == 2
    (campaign_id,) = ledger["campaigns"]
    assert [(d["event"], d["verdict"], d["campaign_id"]) for d in ledger["decisions"]] == [
        ("confirmed", "planned", campaign_id)
    ]
    one = await (
        await api.get("/api/v1/outages/S1/notifications?account=1001", headers=viewer)
    ).json()
    assert [(line["phone"], line["state"]) for line in one["lines"]] == [
        ("+15125550100", "pending")
    ]
    missing = await api.get("/api/v1/outages/S9/notifications", headers=viewer)
    assert missing.status == 404

    view = await (await api.get(f"/api/v1/campaigns/{campaign_id}", headers=viewer)).json()
    assert view["automatic"] is True and view["kind"] == "outage_ack"
    assert view["trigger"]["outage_id"] == "S1" and view["trigger"]["event"] == "confirmed"
    assert view["trigger"]["event_id"] == ledger["decisions"][0]["event_id"]
