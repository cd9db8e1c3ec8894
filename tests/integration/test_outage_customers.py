"""How many customers an outage affects: counted from the customer file when the OMS writes
the outage and again after every import that changes accounts, or the OMS's own figure; in
the outage's JSON and in what the outage line's lookup returns."""

from __future__ import annotations

import io
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from tests.support import csv_text

Client = TestClient[web.Request, web.Application]
Headers = dict[Role, dict[str, str]]
CUSTOMERS = (
    # Two accounts at one premise are two customers.
    "1001,Maria Garcia,512-555-0101,,P1,12 Oak Street,F1,,",
    "1002,Luis Garcia,512-555-0102,,P1,12 Oak Street,F1,,",
    "1003,James Smith,512-555-0103,,P2,14 Oak Street,F1,,",
    "1004,Ana Lopez,512-555-0104,,P3,9 Cedar Lane,F2,,",
    "1005,Rosa Diaz,512-555-0105,,P4,3 Mesquite Trail,,,",
)
MIXED = {"status": "confirmed", "feeder_ids": ["F1"], "premise_ids": ["P2", "P4", "P-NEW"]}


async def imported(services: Services, *rows: str) -> None:
    report = await services.customers.import_stream(io.StringIO(csv_text(*rows)))
    assert report.rejections == []


async def customers_of(api: Client, tokens: Headers, outage_id: str) -> tuple[Any, Any]:
    answer = await api.get(f"/api/v1/outages/{outage_id}", headers=tokens[Role.VIEWER])
    assert answer.status == 200
    body = await answer.json()
    return body["customers_affected"], body["customers_affected_source"]


async def test_accounts_on_its_feeders_and_premises_are_counted_once(
    api: Client, tokens: Headers, services: Services
) -> None:
    await imported(services, *CUSTOMERS)
    put = await api.put("/api/v1/outages/MIX", json=MIXED, headers=tokens[Role.OMS])
    assert put.status == 201
    # P1 (two accounts) and P2 on F1, P2 named again, P4 named, P-NEW not imported yet.
    assert (await put.json())["customers_affected"] == 4
    assert await customers_of(api, tokens, "MIX") == (4, "customer_file")
    listed = await api.get("/api/v1/outages?active=true", headers=tokens[Role.VIEWER])
    assert [o["customers_affected"] for o in (await listed.json())["outages"]] == [4]
    lookup = await services.lookup.by_phone("+15125550103")
    assert lookup.accounts[0].outage is not None
    assert lookup.accounts[0].outage.customers_affected == 4


async def test_an_import_after_the_outage_keeps_the_count_right(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool
) -> None:
    await api.put("/api/v1/outages/MIX", json=MIXED, headers=tokens[Role.OMS])
    await api.put(
        "/api/v1/outages/F2",
        json={"status": "confirmed", "feeder_ids": ["F2"]},
        headers=tokens[Role.OMS],
    )
    assert await customers_of(api, tokens, "MIX") == (0, "customer_file")
    await imported(services, *CUSTOMERS, "1006,Ben Ray,512-555-0106,,P-NEW,1 New Road,,,")
    assert await customers_of(api, tokens, "MIX") == (5, "customer_file")
    assert await customers_of(api, tokens, "F2") == (1, "customer_file")
    # James moves from P2 (named, on F1) to P3 on feeder F2.
    await imported(services, "1003,James Smith,512-555-0103,,P3,9 Cedar Lane,F2,,")
    assert await customers_of(api, tokens, "MIX") == (4, "customer_file")
    assert await customers_of(api, tokens, "F2") == (2, "customer_file")
    # A re-import that changes nothing writes nothing, counts included.
    before = await pool.fetchval("SELECT xmin::text FROM outages WHERE oms_id = 'MIX'")
    await imported(services, "1003,James Smith,512-555-0103,,P3,9 Cedar Lane,F2,,")
    assert await pool.fetchval("SELECT xmin::text FROM outages WHERE oms_id = 'MIX'") == before
    # The lookup reads the stored figure; nothing about the outage itself changed.
    history = await pool.fetchval("SELECT count(*) FROM outage_history")
    assert history == 2


async def test_the_oms_figure_wins_while_it_sends_one(
    api: Client, tokens: Headers, services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *CUSTOMERS)
    oms = tokens[Role.OMS]
    put = await api.put(
        "/api/v1/outages/MIX", json=MIXED | {"customers_affected": 1480}, headers=oms
    )
    assert (await put.json())["customers_affected"] == 1480
    assert await customers_of(api, tokens, "MIX") == (1480, "oms")
    lookup = await services.lookup.by_phone("+15125550101")
    assert lookup.accounts[0].outage is not None
    assert lookup.accounts[0].outage.customers_affected == 1480
    again = await api.put(
        "/api/v1/outages/MIX", json=MIXED | {"customers_affected": 1480}, headers=oms
    )
    assert (await again.json())["changed"] is False
    await api.put("/api/v1/outages/MIX", json=MIXED, headers=oms)
    assert await customers_of(api, tokens, "MIX") == (4, "customer_file")
    assert await pool.fetchval("SELECT count(*) FROM outage_history") == 2


@pytest.mark.parametrize("figure", [-1, 1.5, "12", True, 10**9, [3]])
async def test_a_figure_that_is_not_a_count_is_refused(
    api: Client, tokens: Headers, pool: asyncpg.Pool, figure: object
) -> None:
    answer = await api.put(
        "/api/v1/outages/MIX", json=MIXED | {"customers_affected": figure}, headers=tokens[Role.OMS]
    )
    assert answer.status == 422
    assert (await answer.json())["error"]["field"] == "customers_affected"
    assert await pool.fetchval("SELECT count(*) FROM outages") == 0


async def test_unknown_until_counted_is_null(
    api: Client, tokens: Headers, pool: asyncpg.Pool
) -> None:
    await api.put("/api/v1/outages/MIX", json=MIXED, headers=tokens[Role.OMS])
    # A count not known is null, and so is where it came from.
    await pool.execute("UPDATE outages SET customers_counted = NULL")
    assert await customers_of(api, tokens, "MIX") == (None, None)
