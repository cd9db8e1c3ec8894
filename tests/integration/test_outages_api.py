from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.adapters.clock import ManualClock
from outage_voice.domain.auth import Role
from outage_voice.web.app import MAX_BODY_BYTES
from tests.support import T0

Client = TestClient[web.Request, web.Application]
Headers = dict[Role, dict[str, str]]
ETR = (T0 + timedelta(hours=4)).isoformat()
STORM: dict[str, Any] = {"status": "confirmed", "cause": "storm", "etr": ETR, "feeder_ids": ["F1"]}


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


async def test_no_token_401_wrong_role_403(api: Client, tokens: Headers) -> None:
    await error_of(await api.put("/api/v1/outages/O1", json=STORM), 401)
    bad = {"Authorization": "Bearer ov_not_a_real_token"}
    await error_of(await api.get("/api/v1/outages/O1", headers=bad), 401)
    await error_of(await api.get("/api/v1/outages/O1", headers={"Authorization": "Basic abc"}), 401)
    for role in (Role.SUPERVISOR, Role.VIEWER):
        error = await error_of(
            await api.put("/api/v1/outages/O1", json=STORM, headers=tokens[role]), 403
        )
        assert role.value in error["message"]


async def test_put_is_an_idempotent_upsert(
    api: Client, tokens: Headers, pool: asyncpg.Pool
) -> None:
    oms = tokens[Role.OMS]
    created = await api.put("/api/v1/outages/O-1", json=STORM, headers=oms)
    assert created.status == 201
    body = await created.json()
    assert body["changed"] is True
    assert body["status"] == "confirmed"
    assert body["feeder_ids"] == ["F1"]

    again = await api.put("/api/v1/outages/O-1", json=dict(reversed(STORM.items())), headers=oms)
    assert again.status == 200
    assert (await again.json())["changed"] is False
    assert await pool.fetchval("SELECT count(*) FROM outage_history") == 1

    moved = await api.put(
        "/api/v1/outages/O-1", json=STORM | {"status": "crew_on_site"}, headers=oms
    )
    assert (await moved.json())["crew_status"] == "on_site"
    history = await pool.fetch("SELECT actor, state FROM outage_history ORDER BY id")
    assert [h["state"]["status"] for h in history] == ["confirmed", "crew_on_site"]
    assert all(h["actor"].startswith("token:") for h in history)
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE entity_id = 'O-1'") == 2


async def test_get_and_list(api: Client, tokens: Headers, clock: ManualClock) -> None:
    oms, viewer = tokens[Role.OMS], tokens[Role.VIEWER]
    await api.put("/api/v1/outages/A", json=STORM, headers=oms)
    await api.put(
        "/api/v1/outages/B", json={"status": "restored", "premise_ids": ["P9"]}, headers=oms
    )
    one = await api.get("/api/v1/outages/A", headers=viewer)
    assert one.status == 200
    body = await one.json()
    assert body["etr"] == (T0 + timedelta(hours=4)).isoformat()
    assert body["history_entries"] == 1
    active = await (await api.get("/api/v1/outages?active=true", headers=viewer)).json()
    assert [o["outage_id"] for o in active["outages"]] == ["A"]
    everything = await (await api.get("/api/v1/outages", headers=viewer)).json()
    assert {o["outage_id"] for o in everything["outages"]} == {"A", "B"}
    restored = await (await api.get("/api/v1/outages/B", headers=viewer)).json()
    assert restored["active"] is False
    assert restored["restored_at"] == T0.isoformat()
    await error_of(await api.get("/api/v1/outages/nope", headers=viewer), 404)
    await error_of(await api.get("/api/v1/outages?active=maybe", headers=viewer), 422)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (STORM | {"etr": "soon"}, "etr"),
        (STORM | {"etr": (T0 - timedelta(hours=1)).isoformat()}, "etr"),
        (STORM | {"status": "fixed"}, "status"),
        (STORM | {"feeder_ids": "F1"}, "feeder_ids"),
        (STORM | {"planned": "no"}, "planned"),
        (STORM | {"extra": 1}, "extra"),
        ([STORM], "body"),
    ],
)
async def test_bad_bodies_are_422_and_change_nothing(
    api: Client, tokens: Headers, pool: asyncpg.Pool, payload: object, field: str
) -> None:
    oms = tokens[Role.OMS]
    await api.put("/api/v1/outages/O1", json=STORM, headers=oms)
    error = await error_of(await api.put("/api/v1/outages/O1", json=payload, headers=oms), 422)
    assert error["field"] == field
    stored = await pool.fetchrow("SELECT status, cause, etr FROM outages WHERE oms_id = 'O1'")
    assert (stored["status"], stored["cause"]) == ("confirmed", "storm")
    assert await pool.fetchval("SELECT count(*) FROM outage_history") == 1


async def test_malformed_json_bad_id_and_oversize(
    api: Client, tokens: Headers, pool: asyncpg.Pool
) -> None:
    oms = tokens[Role.OMS]
    error = await error_of(await api.put("/api/v1/outages/O1", data=b"{not json", headers=oms), 422)
    assert error["field"] == "body"
    await error_of(await api.put("/api/v1/outages/O1", data=b"\xff\xfe", headers=oms), 422)
    error = await error_of(await api.put("/api/v1/outages/bad%20id!", json=STORM, headers=oms), 422)
    assert error["field"] == "outage_id"
    # A bad id is named before anything wrong in the body.
    error = await error_of(await api.put("/api/v1/outages/bad%20id!", json=[], headers=oms), 422)
    assert error["field"] == "outage_id"
    huge = json.dumps(STORM | {"premise_ids": ["P" * 90] * (MAX_BODY_BYTES // 90)}).encode()
    await error_of(await api.put("/api/v1/outages/O1", data=io.BytesIO(huge), headers=oms), 413)
    assert await pool.fetchval("SELECT count(*) FROM outages") == 0


async def test_membership_follows_premises_and_feeders(
    api: Client, tokens: Headers, pool: asyncpg.Pool
) -> None:
    oms = tokens[Role.OMS]
    await api.put(
        "/api/v1/outages/O1", json={"status": "confirmed", "premise_ids": ["P1", "P2"]}, headers=oms
    )
    await api.put(
        "/api/v1/outages/O1", json={"status": "confirmed", "premise_ids": ["P2", "P3"]}, headers=oms
    )
    members = await pool.fetch("SELECT premise_id FROM outage_premises ORDER BY premise_id")
    assert [m["premise_id"] for m in members] == ["P2", "P3"]
    await api.put(
        "/api/v1/outages/O1", json={"status": "confirmed", "feeder_ids": ["F9"]}, headers=oms
    )
    assert await pool.fetchval("SELECT count(*) FROM outage_premises") == 0
    assert await pool.fetchval("SELECT feeder_id FROM outage_feeders") == "F9"


async def test_planned_work(api: Client, tokens: Headers) -> None:
    planned = {
        "status": "confirmed",
        "planned": True,
        "starts_at": "2026-11-25T14:00:00Z",
        "ends_at": "2026-11-25T18:00:00Z",
        "premise_ids": ["P1"],
    }
    response = await api.put("/api/v1/outages/PLAN-1", json=planned, headers=tokens[Role.OMS])
    body = await response.json()
    assert response.status == 201
    assert body["planned"] is True
    assert body["starts_at"] == "2026-11-25T14:00:00+00:00"


async def test_planned_work_alternate_date_and_its_changes(
    api: Client, tokens: Headers, pool: asyncpg.Pool
) -> None:
    oms = tokens[Role.OMS]
    planned = {
        "status": "confirmed",
        "planned": True,
        "starts_at": "2026-11-25T14:00:00Z",
        "ends_at": "2026-11-25T18:00:00Z",
        "alternate_starts_at": "2026-11-27T08:00:00-06:00",
        "premise_ids": ["P1"],
    }
    response = await api.put("/api/v1/outages/PLAN-2", json=planned, headers=oms)
    assert response.status == 201
    assert (await response.json())["alternate_starts_at"] == "2026-11-27T14:00:00+00:00"
    got = await (await api.get("/api/v1/outages/PLAN-2", headers=oms)).json()
    assert got["alternate_starts_at"] == "2026-11-27T14:00:00+00:00"
    again = await api.put("/api/v1/outages/PLAN-2", json=planned, headers=oms)
    assert (await again.json())["changed"] is False

    moved = {**planned, "starts_at": "2026-11-26T14:00:00Z", "ends_at": "2026-11-26T19:00:00Z"}
    del moved["alternate_starts_at"]
    assert (await api.put("/api/v1/outages/PLAN-2", json=moved, headers=oms)).status == 200
    assert (await (await api.get("/api/v1/outages/PLAN-2", headers=oms)).json())[
        "alternate_starts_at"
    ] is None
    changes = [
        json.loads(raw) if isinstance(raw, str) else raw
        for raw in await pool.fetchval("SELECT array_agg(change ORDER BY id) FROM outage_events")
    ]
    first, second = changes
    assert (first["starts_at_before"], first["starts_at"]) == (None, "2026-11-25T14:00:00+00:00")
    assert first["alternate"] == "2026-11-27T14:00:00+00:00"
    assert second["starts_at_before"] == "2026-11-25T14:00:00+00:00"
    assert second["starts_at"] == "2026-11-26T14:00:00+00:00"
    assert (second["ends_at_before"], second["ends_at"]) == (
        "2026-11-25T18:00:00+00:00",
        "2026-11-26T19:00:00+00:00",
    )
    assert (second["alternate_before"], second["alternate"]) == ("2026-11-27T14:00:00+00:00", None)

    unplanned = {
        "status": "confirmed",
        "premise_ids": ["P1"],
        "alternate_starts_at": "2026-11-27T08:00:00Z",
    }
    error = await error_of(await api.put("/api/v1/outages/O-9", json=unplanned, headers=oms), 422)
    assert error["field"] == "alternate_starts_at"
    bad = {**planned, "alternate_starts_at": "next week"}
    error = await error_of(await api.put("/api/v1/outages/PLAN-3", json=bad, headers=oms), 422)
    assert error["field"] == "alternate_starts_at"


async def test_outage_reports_since(api: Client, tokens: Headers, pool: asyncpg.Pool) -> None:
    for minutes in (10, 20, 30):
        await pool.execute(
            "INSERT INTO outage_reports (kind, premise_id, phone, created_at)"
            " VALUES ('outage', $1, $2, $3)",
            f"P{minutes}",
            "+15125550100",
            T0 + timedelta(minutes=minutes),
        )
    viewer = tokens[Role.OMS]
    since = (T0 + timedelta(minutes=15)).isoformat()
    body = await (
        await api.get("/api/v1/outage-reports", params={"since": since}, headers=viewer)
    ).json()
    assert [r["premise_id"] for r in body["reports"]] == ["P20", "P30"]
    page = await (
        await api.get(
            "/api/v1/outage-reports", params={"since": since, "limit": "1"}, headers=viewer
        )
    ).json()
    assert [r["premise_id"] for r in page["reports"]] == ["P20"]
    rest = await (
        await api.get(
            "/api/v1/outage-reports",
            params={"since": since, "after_id": str(page["next_after_id"])},
            headers=viewer,
        )
    ).json()
    assert [r["premise_id"] for r in rest["reports"]] == ["P30"]
    for params in ({"since": "yesterday"}, {"limit": "0"}, {"limit": "x"}, {"after_id": "-1"}):
        await error_of(await api.get("/api/v1/outage-reports", params=params, headers=viewer), 422)


async def test_outage_reports_name_the_campaign_call_that_heard_them(
    api: Client, tokens: Headers, pool: asyncpg.Pool
) -> None:
    await pool.execute(
        "INSERT INTO outage_reports (kind, premise_id, phone, source, details, created_at)"
        " VALUES ('outage', 'P1', '+15125550100', 'ivr', DEFAULT, $1),"
        " ('still_out', 'P2', '+15125550101', 'campaign', $2, $1)",
        T0,
        {"campaign_id": 7, "attempt_id": 42},
    )
    since = (T0 - timedelta(minutes=1)).isoformat()
    body = await (
        await api.get("/api/v1/outage-reports", params={"since": since}, headers=tokens[Role.OMS])
    ).json()
    assert [(r["source"], r["details"]) for r in body["reports"]] == [
        ("ivr", {}),
        ("campaign", {"attempt_id": 42, "campaign_id": 7}),
    ]


async def test_healthz(api: Client) -> None:
    response = await api.get("/healthz")
    assert response.status == 200
    assert (await response.json())["database"] == "ok"


async def test_concurrent_identical_puts_record_one_change(
    api: Client, tokens: Headers, pool: asyncpg.Pool
) -> None:
    oms = tokens[Role.OMS]
    responses = await asyncio.gather(
        *(api.put("/api/v1/outages/RACE", json=STORM, headers=oms) for _ in range(8))
    )
    assert sorted(r.status for r in responses) == [200] * 7 + [201]
    assert await pool.fetchval("SELECT count(*) FROM outage_history") == 1
    assert await pool.fetchval("SELECT count(*) FROM outages") == 1
