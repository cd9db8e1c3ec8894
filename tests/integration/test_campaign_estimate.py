"""The pre-launch estimate, `POST /api/v1/campaigns/estimate`: what a campaign made now would
plan, counted by the same statements as the campaign itself, and nothing kept."""

from __future__ import annotations

import io
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.adapters.db.campaign_admin import ESTIMATE_TIMEOUT_S
from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.web import keys
from tests.support import csv_text

Client = TestClient[web.Request, web.Application]

ROWS = (
    "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
    # A household of two accounts on one number: one call names them both.
    "1002,Luis Garcia,(512) 555-0100,,P2,14 Oak Street,F1,,",
    "1003,Ann Lee,(512) 555-0103,(512) 555-0104,P3,16 Oak Street,F1,,",
    "1004,Bo Chen,(512) 555-0105,,P4,18 Oak Street,F1,,",
    "1005,Cy Diaz,(512) 555-0106,,P5,20 Oak Street,F1,,",
    "1006,Di Ford,(512) 555-0107,,P6,1 Elm Road,F2,,",
    "1007,Ed Gray,(512) 555-0108,,P7,3 Elm Road,F2,,",
)
BODY: dict[str, Any] = {
    "name": "Crews tonight <b>",
    "kind": "custom",
    "audience": {"feeders": ["F1"], "accounts": ["1006", "9999"]},
    "message": {"text": "Crews are working on your street tonight."},
    "pacing": {"cps": 2, "max_concurrent": 3},
}


async def customers(services: Services, pool: asyncpg.Pool) -> None:
    await services.customers.import_stream(io.StringIO(csv_text(*ROWS)))
    await pool.execute("UPDATE phones SET opted_out_at = now() WHERE e164 = '+15125550105'")
    await pool.execute("UPDATE phones SET invalid_at = now() WHERE e164 = '+15125550106'")


async def stored(pool: asyncpg.Pool) -> tuple[int, int]:
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM campaigns) AS c, (SELECT count(*) FROM campaign_targets) AS t"
    )
    assert row is not None
    return row["c"], row["t"]


async def test_the_estimate_is_what_the_draft_then_made_shows_and_keeps_nothing(
    api: Client, services: Services, pool: asyncpg.Pool, tokens: dict[Role, dict[str, str]]
) -> None:
    await customers(services, pool)
    # Any role may ask: a viewer sizes what a supervisor will launch.
    answer = await api.post("/api/v1/campaigns/estimate", json=BODY, headers=tokens[Role.VIEWER])
    assert answer.status == 200, await answer.text()
    estimate = await answer.json()
    assert await stored(pool) == (0, 0)

    created = await api.post("/api/v1/campaigns", json=BODY, headers=tokens[Role.SUPERVISOR])
    assert created.status == 201, await created.text()
    draft = await created.json()
    progress = draft["progress"]
    # 0100 (two accounts), 0103, 0104, 0107: four calls; 0105 opted out, 0106 invalid.
    assert estimate["targets"] == progress["by_state"]["pending"] == 4
    assert estimate["excluded"] == progress["excluded"] == {"opted_out": 1, "invalid_number": 1}
    assert estimate["estimated_duration_s"] == draft["estimate_s"] > 0
    assert estimate["unknown_audience_keys"] == draft["unknown_audience_keys"] == {"account": 1}
    assert estimate["unknown_audience_examples"] == {"account": ["9999"]}
    assert await stored(pool) == (1, 6)


async def test_an_estimate_refuses_what_creating_would_and_unknown_fields_name_the_field(
    api: Client, services: Services, pool: asyncpg.Pool, tokens: dict[Role, dict[str, str]]
) -> None:
    await customers(services, pool)
    headers = tokens[Role.SUPERVISOR]
    for body, field in (
        ({**BODY, "audiences": {}}, "audiences"),
        ({**BODY, "audience": {"feeders": ["F1"], "callback_request": True}}, "audience."),
        ({**BODY, "pacing": {"cps": 2, "max_concurent": 3}}, "pacing."),
    ):
        answer = await api.post("/api/v1/campaigns/estimate", json=body, headers=headers)
        assert answer.status == 422, await answer.text()
        error = (await answer.json())["error"]
        assert error["field"].startswith(field), error
        assert "unknown field" in error["message"]
    missing = {**BODY, "audience": {"outage_id": "OUT-404"}}
    estimate = await api.post("/api/v1/campaigns/estimate", json=missing, headers=headers)
    create = await api.post("/api/v1/campaigns", json=missing, headers=headers)
    assert estimate.status == create.status == 404
    assert (await api.post("/api/v1/campaigns/estimate", json=BODY)).status == 401
    assert await stored(pool) == (0, 0)


async def test_one_estimate_at_a_time_per_server_another_is_refused_409(
    api: Client, services: Services, pool: asyncpg.Pool, tokens: dict[Role, dict[str, str]]
) -> None:
    await customers(services, pool)
    store = api.app[keys.CAMPAIGNS]._store
    async with store._estimate_lock:  # an estimate being counted
        busy = await api.post("/api/v1/campaigns/estimate", json=BODY, headers=tokens[Role.VIEWER])
        assert busy.status == 409 and busy.headers["Retry-After"] == "1"
        assert (await busy.json())["error"]["code"] == "busy"
    after = await api.post("/api/v1/campaigns/estimate", json=BODY, headers=tokens[Role.VIEWER])
    assert after.status == 200


async def test_an_estimate_past_its_time_limit_is_stopped_503_and_keeps_nothing(
    api: Client, services: Services, pool: asyncpg.Pool, tokens: dict[Role, dict[str, str]]
) -> None:
    await customers(services, pool)
    store = api.app[keys.CAMPAIGNS]._store
    assert ESTIMATE_TIMEOUT_S <= 30
    store._estimate_timeout_s = 0.3
    # Another session holds the campaigns table: the estimate's first write waits on it.
    async with pool.acquire() as other, other.transaction():
        await other.execute("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE")
        stopped = await api.post(
            "/api/v1/campaigns/estimate", json=BODY, headers=tokens[Role.VIEWER]
        )
    assert stopped.status == 503, await stopped.text()
    error = (await stopped.json())["error"]
    assert error["code"] == "took_too_long" and "stopped after 0.3 s" in error["message"]
    assert await stored(pool) == (0, 0)
    assert not store._estimate_lock.locked()
