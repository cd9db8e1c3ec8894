"""The console's automation and outage-line pages and the instances' heartbeat, over real HTTP
on loopback and the real database, with the injected clock moving time."""

from __future__ import annotations

import asyncio
import io
import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db.instance_status import PgInstanceStatusStore, PgOutageLineStats
from outage_voice.adapters.db.queries import q
from outage_voice.adapters.twilio.signature import compute_signature
from outage_voice.bootstrap import Services, create_app
from outage_voice.config import Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.automation import AutomationRules
from outage_voice.services.instance_status import (
    InstanceHeartbeat,
    InstanceSources,
    InstanceStatus,
    OutageLineView,
    TopOutage,
)
from outage_voice.web.keys import INSTANCE_HEARTBEAT
from tests.support import T0, csv_text

Client = TestClient[web.Request, web.Application]
PASSWORD = "Storm-season 2026!"
# T0 is noon in Chicago (the utility's zone in tests): its day began at 06:00 UTC.
MIDNIGHT_CHICAGO = datetime(2026, 11, 23, 6, 0, tzinfo=T0.tzinfo)
CUSTOMERS = csv_text(
    "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
    "1002,Ken Ito,(512) 555-0101,,P2,14 Oak Street,F1,,",
    "1003,Ana Ruiz,(512) 555-0102,,P3,3 Elm Street,F2,,",
)


@pytest.fixture
async def people(services: Services) -> None:
    await services.users.create(username="ana", password=PASSWORD, role="supervisor")
    await services.users.create(
        username="wall", password=PASSWORD, role="viewer", timezone="America/Denver"
    )


async def signed_in(api: Client, username: str) -> str:
    """Signs `username` in on this client; returns the session's CSRF token."""
    answer = await api.post(
        "/dashboard/signin",
        data={"username": username, "password": PASSWORD},
        allow_redirects=False,
    )
    assert answer.status == 303, await answer.text()
    page = await api.get("/dashboard")
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', await page.text())
    assert found is not None
    return found.group(1)


# --- the heartbeat ------------------------------------------------------------------------


class Totals:
    """What an instance's metrics would say: counts since it started."""

    def __init__(self) -> None:
        self.webhooks = 0.0
        self.degraded = 0.0
        self.spooled = 0
        self.leads = False

    def sources(self) -> InstanceSources:
        return InstanceSources(
            leader=lambda: self.leads,
            spool_depth=lambda: self.spooled,
            degraded_answers=lambda: self.degraded,
            webhooks=lambda: self.webhooks,
        )


async def test_a_heartbeat_writes_rate_degraded_and_spool_and_a_stop_removes_the_row(
    pool: asyncpg.Pool, clock: ManualClock
) -> None:
    totals = Totals()
    store = PgInstanceStatusStore(pool)
    beat = InstanceHeartbeat(store, totals.sources(), clock, instance_id="web-1", host="web")
    first = await beat.beat()
    assert (first.webhooks_per_s, first.degraded, first.spool_depth) == (0.0, False, 0)

    clock.advance(timedelta(seconds=10))
    totals.webhooks += 45
    totals.degraded += 1  # the fallback answered a caller
    totals.spooled = 3
    totals.leads = True
    second = await beat.beat()
    row = await pool.fetchrow("SELECT * FROM instance_status WHERE instance_id = 'web-1'")
    assert row["webhooks_per_s"] == pytest.approx(4.5)
    assert row["degraded"] and row["leader"] and row["spool_depth"] == 3
    assert row["seen_at"] == second.seen_at == T0 + timedelta(seconds=10)
    assert row["started_at"] == T0 and row["pid"] == os.getpid()

    # No degraded answer for a minute: normal again.
    clock.advance(timedelta(seconds=61))
    third = await beat.beat()
    assert not third.degraded and third.webhooks_per_s == 0.0

    await beat.stop()
    assert await pool.fetchval("SELECT count(*) FROM instance_status") == 0


class Stop(Exception):
    pass


class ScriptedTimer:
    """Sleeps that return at once, moving the clock; before each return, the next step of
    the script runs; when the script is done the loop is stopped."""

    def __init__(self, clock: ManualClock, script: list[Callable[[], None]]) -> None:
        self._clock = clock
        self._script = list(script)

    def now(self) -> datetime:
        return self._clock.now()

    async def sleep(self, seconds: float) -> None:
        if not self._script:
            raise Stop
        self._clock.advance(timedelta(seconds=seconds))
        self._script.pop(0)()


class RecordingStore(PgInstanceStatusStore):
    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.written: list[tuple[datetime, bool]] = []

    async def upsert(self, status: InstanceStatus) -> None:
        self.written.append((status.seen_at, status.leader))
        await super().upsert(status)


async def test_a_change_of_leader_is_written_within_a_second_and_the_row_every_ten(
    pool: asyncpg.Pool, clock: ManualClock
) -> None:
    totals = Totals()
    store = RecordingStore(pool)
    heartbeat = InstanceHeartbeat(store, totals.sources(), clock, instance_id="web-1")
    await heartbeat.beat()  # as the server starts

    def nothing() -> None:
        pass

    def lead() -> None:
        totals.leads = True

    script = [nothing] * 3 + [lead] + [nothing] * 12
    with pytest.raises(Stop):
        await heartbeat.run(ScriptedTimer(clock, script))  # type: ignore[arg-type]  # sleeps and now() only
    s = timedelta(seconds=1)
    assert store.written == [(T0, False), (T0 + 4 * s, True), (T0 + 14 * s, True)]
    assert await pool.fetchval("SELECT leader FROM instance_status")


async def test_a_server_lists_itself_says_when_it_answered_without_the_database_and_leaves(
    settings: Settings, clock: ManualClock, pool: asyncpg.Pool
) -> None:
    app = create_app(settings, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        rows = await pool.fetch("SELECT * FROM instance_status")
        assert len(rows) == 1  # written as the server starts
        assert rows[0]["pid"] == os.getpid() and not rows[0]["degraded"]
        heartbeat = app[INSTANCE_HEARTBEAT]
        assert rows[0]["instance_id"] == heartbeat.instance_id

        # The number's fallback URL answers: this instance is in degraded mode.
        path, params = "/twilio/voice/fallback", {"CallSid": "CAfallback"}
        url = settings.public_url + path
        signature = compute_signature(settings.webhook_auth_token, url, params)
        answer = await client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        assert answer.status == 200
        clock.advance(timedelta(seconds=10))
        status = await heartbeat.beat()
        assert status.degraded
        assert status.webhooks_per_s == pytest.approx(0.1)  # one webhook in 10 s
        assert await pool.fetchval("SELECT degraded FROM instance_status")
    # A graceful stop takes the row away at once.
    assert await pool.fetchval("SELECT count(*) FROM instance_status") == 0


# --- the outage line ------------------------------------------------------------------------


async def add_call(
    pool: asyncpg.Pool,
    sid: str,
    *,
    started_at: datetime,
    outcome: str = "self_served",
    ended: bool = True,
    premise_id: str | None = None,
) -> None:
    await pool.execute(
        "INSERT INTO inbound_calls (call_sid, started_at, last_step_at, ended_at, outcome,"
        " premise_id) VALUES ($1, $2, $2, $3, $4, $5)",
        sid,
        started_at,
        started_at + timedelta(seconds=40) if ended else None,
        outcome,
        premise_id,
    )


async def storm(
    api: Client, services: Services, pool: asyncpg.Pool, tokens: Mapping[Role, Any]
) -> None:
    """Two outages: O-FEEDER over feeder F1 (premises P1, P2), O-ELM over premise P3; calls
    today and one yesterday; two callers in the menu now."""
    await services.customers.import_stream(io.StringIO(CUSTOMERS))
    for outage_id, area in (
        ("O-FEEDER", {"feeder_ids": ["F1"]}),
        ("O-ELM", {"premise_ids": ["P3"]}),
    ):
        answer = await api.put(
            f"/api/v1/outages/{outage_id}",
            json={"status": "confirmed", **area},
            headers=tokens[Role.OMS],
        )
        assert answer.status in (200, 201), await answer.text()
    minute = timedelta(minutes=1)
    calls = [
        ("self_served", "P1"), ("self_served", "P2"), ("self_served", "P1"),
        ("reported", "P3"), ("transferred", None), ("callback_requested", "P2"),
        ("abandoned", None), ("abandoned", "P3"),
    ]  # fmt: skip
    for n, (outcome, premise) in enumerate(calls):
        await add_call(pool, f"CA{n}", started_at=T0 - (n + 2) * minute, outcome=outcome,
                       premise_id=premise)  # fmt: skip
    # Yesterday evening, Chicago time: not today's.
    await add_call(pool, "CAold", started_at=MIDNIGHT_CHICAGO - minute, premise_id="P3")
    # In the menu now; and one whose end the carrier never reported, silent for an hour.
    open_call = {"ended": False, "outcome": "abandoned"}  # nothing done yet
    await add_call(pool, "CAnow1", started_at=T0 - minute, premise_id="P1", **open_call)
    await add_call(pool, "CAnow2", started_at=T0, **open_call)
    await add_call(pool, "CAlost", started_at=T0 - timedelta(hours=1), **open_call)


async def test_the_outage_line_figures_count_today_the_menu_and_the_outages_called_about(
    api: Client,
    services: Services,
    pool: asyncpg.Pool,
    tokens: dict[Role, Any],
    clock: ManualClock,
) -> None:
    await storm(api, services, pool, tokens)
    await pool.execute(
        "INSERT INTO instance_status (instance_id, host, pid, started_at, seen_at, version,"
        " degraded, spool_depth, webhooks_per_s, leader)"
        " VALUES ('old', 'web-9', 9, $1, $2, 'x', false, 0, 0, true),"
        "        ('gone', 'web-8', 8, $1, $3, 'x', false, 0, 0, false),"
        "        ('other', 'web-2', 2, $1, $4, 'x', true, 4, 12.5, false)",
        T0 - timedelta(hours=3),
        T0 - timedelta(minutes=5),
        T0 - timedelta(hours=2),
        T0 - timedelta(seconds=8),
    )
    answer = await api.get("/api/v1/outage-line", headers=tokens[Role.VIEWER])
    assert answer.status == 200, await answer.text()
    line = await answer.json()
    assert line["in_ivr"] == 2
    # This server's own row and web-2's; web-9 silent five minutes; web-8's row forgotten.
    assert [i["host"] for i in line["instances"]].count("web-2") == 1
    assert len(line["instances"]) == 2
    assert [i["host"] for i in line["silent_instances"]] == ["web-9"]
    assert (
        await pool.fetchval("SELECT count(*) FROM instance_status WHERE instance_id = 'gone'") == 0
    )
    assert line["degraded"] and line["spool_depth"] == 4
    assert not line["leader"]  # the only leader is silent
    assert line["webhooks_per_s"] == pytest.approx(12.5)
    today = line["today"]
    assert datetime.fromisoformat(today["since"]) == MIDNIGHT_CHICAGO
    # Eight ended today, two in the menu and the lost one (no step since: abandoned so far).
    assert today["by_outcome"] == {
        "self_served": 3,
        "reported": 1,
        "transferred": 1,
        "callback_requested": 1,
        "abandoned": 5,
    }
    assert today["calls"] == 11
    top = line["top_outages"]["outages"]
    # In the hour: F1's premises P1 three times (one caller still in the menu) and P2 twice;
    # P3 twice (its call yesterday is not counted); calls with no premise count for none.
    assert [(o["outage_id"], o["calls"]) for o in top] == [("O-FEEDER", 5), ("O-ELM", 2)]
    assert top[0]["status"] == "confirmed" and top[0]["planned"] is False


async def test_the_outage_line_page_renders_the_figures_for_a_viewer_and_needs_a_session(
    api: Client, services: Services, pool: asyncpg.Pool, tokens: dict[Role, Any], people: None
) -> None:
    away = await api.get("/dashboard/outage-line", allow_redirects=False)
    assert away.status == 303
    assert (await api.get("/api/v1/outage-line")).status == 401
    await storm(api, services, pool, tokens)
    await signed_in(api, "wall")
    page = await api.get("/dashboard/outage-line")
    text = await page.text()
    assert page.status == 200
    assert '<p class="big" id="ol-in-ivr">2</p>' in text
    assert '<td class="num" id="ol-outcome-abandoned">5</td>' in text
    assert 'id="ol-contained-share">45 %' in text  # 5 of 11
    assert 'href="/dashboard/automation?outage=O-FEEDER#ledger">O-FEEDER</a>' in text
    assert 'data-timezone="America/Denver"' in text  # times shown in the viewer's zone
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert "outage_line.js?v=" in text and "ops.css?v=" in text
    # The page's own JSON, with the cookie (as its script asks).
    assert (await api.get("/api/v1/outage-line")).status == 200
    script = await api.get("/dashboard/static/outage_line.js")
    assert script.status == 200 and "/api/v1/outage-line" in await script.text()


class CountingStats:
    """The real statistics, counting the statements each kind of figure costs."""

    def __init__(self, inner: PgOutageLineStats) -> None:
        self.inner = inner
        self.reads = 0

    async def in_ivr(self, stepped_since: datetime) -> int:
        self.reads += 1
        return await self.inner.in_ivr(stepped_since)

    async def containment(self, since: datetime) -> Mapping[str, int]:
        self.reads += 1
        return await self.inner.containment(since)

    async def top_outages(self, since: datetime, limit: int) -> list[TopOutage]:
        self.reads += 1
        return await self.inner.top_outages(since, limit)


async def test_a_wall_of_consoles_reads_the_menu_every_5_s_and_the_day_every_30_s(
    pool: asyncpg.Pool, clock: ManualClock
) -> None:
    stats = CountingStats(PgOutageLineStats(pool))
    view = OutageLineView(stats, PgInstanceStatusStore(pool), clock, timezone="America/Chicago")
    await add_call(pool, "CA1", started_at=T0 - timedelta(minutes=3))
    answers = await asyncio.gather(*(view.now() for _ in range(100)))
    assert stats.reads == 3  # one of each figure for a hundred consoles
    assert {a.calls_today for a in answers} == {1}
    clock.advance(timedelta(seconds=4))
    await view.now()
    assert stats.reads == 3
    await add_call(pool, "CA2", started_at=T0, ended=False)
    clock.advance(timedelta(seconds=1))
    fresh = await view.now()
    # The menu's count every 5 s; the day's tallies (the day's rows) kept for 30 s.
    assert (fresh.in_ivr, fresh.calls_today, stats.reads) == (1, 1, 4)
    clock.advance(timedelta(seconds=25))
    assert (await view.now()).calls_today == 2
    assert stats.reads == 7


async def plan(pool: asyncpg.Pool, name: str, *args: Any) -> str:
    rows = await pool.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {q(name)}", *args)
    text = "\n".join(row[0] for row in rows)
    print(f"{name}:\n{text}")  # the figures, for the record (pytest -s)
    return text


async def test_the_outage_line_queries_read_indexes_not_the_whole_call_table(
    pool: asyncpg.Pool,
) -> None:
    # Two days of a busy line: 40,000 ended calls, a dozen in the menu.
    await pool.execute(
        "INSERT INTO inbound_calls (call_sid, started_at, last_step_at, ended_at, outcome,"
        " premise_id)"
        " SELECT 'CA' || n, at, at, at + interval '40 seconds',"
        "        (ARRAY['self_served','reported','abandoned'])[1 + n % 3], 'P' || (n % 500)"
        " FROM generate_series(1, 40000) AS n,"
        "      LATERAL (SELECT $1::timestamptz - n * interval '4 seconds' AS at) t",
        T0,
    )
    await pool.execute(
        "INSERT INTO inbound_calls (call_sid, started_at, last_step_at)"
        " SELECT 'CAopen' || n, $1, $1 FROM generate_series(1, 12) AS n",
        T0,
    )
    # A customer base of 20,000 premises on 200 feeders, a storm on ten of them.
    await pool.execute(
        "INSERT INTO premises (premise_id, service_address, feeder_id, timezone)"
        " SELECT 'P' || n, n || ' Oak Street', 'F' || (n % 200), 'America/Chicago'"
        " FROM generate_series(0, 19999) AS n"
    )
    await pool.execute(
        "INSERT INTO outages (oms_id, status, state) VALUES ('O-STORM', 'confirmed', '{}')"
    )
    await pool.execute(
        "INSERT INTO outage_feeders (outage_id, feeder_id)"
        " SELECT (SELECT id FROM outages), 'F' || n FROM generate_series(0, 9) AS n"
    )
    for table in ("inbound_calls", "premises", "outages", "outage_feeders", "outage_premises"):
        await pool.execute(f"VACUUM ANALYZE {table}")
    in_ivr = await plan(pool, "outage_line_in_ivr", T0 - timedelta(minutes=10))
    assert "inbound_calls_open_idx" in in_ivr and "Seq Scan" not in in_ivr, in_ivr
    # Today (since midnight in Chicago): 12 of the 44 hours, from the covering index alone.
    containment = await plan(pool, "outage_line_containment", MIDNIGHT_CHICAGO)
    assert "using inbound_calls_started_at" in containment, containment
    assert "Seq Scan" not in containment, containment
    top = await plan(pool, "outage_line_top_outages", T0 - timedelta(hours=1), 5)
    assert "Seq Scan on inbound_calls" not in top, top
    assert "using inbound_calls_started_at" in top, top
    assert "Seq Scan on premises" not in top and "using premises_pkey" in top, top
    found = await pool.fetchval(q("outage_line_top_outages"), T0 - timedelta(hours=1), 5)
    assert found == "O-STORM"


# --- the automation page --------------------------------------------------------------------


def leaf_paths(document: Mapping[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for name, value in document.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping):
            paths.extend(leaf_paths(value, f"{path}."))
        else:
            paths.append(path)
    return paths


async def test_the_automation_page_shows_every_rule_beside_its_default_with_a_place_for_its_error(
    api: Client, people: None
) -> None:
    await signed_in(api, "ana")
    page = await api.get("/dashboard/automation")
    text = await page.text()
    assert page.status == 200
    paths = leaf_paths(AutomationRules().as_json())
    assert "planned.notice_before_s" in paths and "survey.sample_share" in paths
    for path in paths:
        control = "rule-" + path.replace(".", "-")
        assert f'id="{control}"' in text, path
        assert f'id="{control}-error"' in text, path  # where the API's 422 is shown
        assert f'data-path="{path}"' in text, path
    assert 'id="rule-etr_update-min_change_s-default">Default: 1800 (30 min)' in text
    assert 'id="rule-planned-notice_before_s-default">Default: 259200 (3 days)' in text
    for section in (
        "acknowledge",
        "etr_update",
        "all_clear",
        "window",
        "pacing",
        "planned",
        "survey",
    ):
        assert f'id="save-{section}"' in text
    for control in ("ledger-outage", "ledger-show", "preview-outage_id", "preview-run"):
        assert f'id="{control}"' in text
    assert "automation.js?v=" in text


async def test_a_supervisor_saves_rules_from_the_console_and_a_bad_value_names_its_field(
    api: Client, people: None, pool: asyncpg.Pool
) -> None:
    csrf = await signed_in(api, "ana")
    headers = {"X-CSRF-Token": csrf}
    bad = await api.put(
        "/api/v1/automation", json={"etr_update": {"max_per_outage": 99}}, headers=headers
    )
    assert bad.status == 422
    error = (await bad.json())["error"]
    assert error["field"] == "etr_update.max_per_outage"
    assert "rule-etr_update-max_per_outage" in await (await api.get("/dashboard/automation")).text()

    good = await api.put(
        "/api/v1/automation",
        json={"planned": {"reminder_before_s": 43200}, "survey": {"sample_share": 0.5}},
        headers=headers,
    )
    assert good.status == 200, await good.text()
    text = await (await api.get("/dashboard/automation")).text()
    assert 'id="rule-planned-reminder_before_s"' in text
    assert re.search(r'id="rule-planned-reminder_before_s"[^>]*value="43200"', text)
    # The saved value is marked as changed from its default; an untouched one is not.
    assert (
        '<span class="changed" data-changed-for="rule-planned-reminder_before_s"> · changed' in text
    )
    assert 'data-changed-for="rule-planned-long_work_s" hidden>' in text
    # Without the CSRF token nothing changes.
    refused = await api.put("/api/v1/automation", json={"survey": {"sample_share": 0.1}})
    assert refused.status == 403
    stored = await pool.fetchval("SELECT rules FROM automation_rules")
    assert stored["survey"]["sample_share"] == 0.5


async def test_a_viewer_reads_the_rules_and_the_ledger_but_cannot_change_or_preview(
    api: Client, people: None, services: Services, tokens: dict[Role, Any]
) -> None:
    csrf = await signed_in(api, "wall")
    page = await api.get("/dashboard/automation?outage=O-FEEDER")
    text = await page.text()
    assert page.status == 200
    assert "Viewers can read the rules; a supervisor changes them." in text
    assert 'id="ledger-outage" name="outage" value="O-FEEDER"' in text
    assert 'data-role="viewer"' in text
    headers = {"X-CSRF-Token": csrf}
    change = await api.put(
        "/api/v1/automation", json={"all_clear": {"enabled": False}}, headers=headers
    )
    assert change.status == 403
    preview = await api.post(
        "/api/v1/automation/preview",
        json={"outage_id": "O-1", "state": {"status": "confirmed", "premise_ids": ["P1"]}},
        headers=headers,
    )
    assert preview.status == 403
    unknown = await api.get("/api/v1/outages/O-FEEDER/notifications")
    assert unknown.status == 404  # the page shows the API's message
    await api.put(
        "/api/v1/outages/O-FEEDER",
        json={"status": "confirmed", "feeder_ids": ["F1"]},
        headers=tokens[Role.OMS],
    )
    ledger = await api.get("/api/v1/outages/O-FEEDER/notifications")
    assert ledger.status == 200, await ledger.text()
    assert (await ledger.json())["outage_id"] == "O-FEEDER"
    assert (await services.automation.rules()).all_clear.enabled
