"""Planned work's schedule on a real database: its rows written with the outage change that
scheduled them (once, however often the change is replayed), and the leader's tick turning
due rows into campaigns once each, catching up a missed tick, expiring stale rows, giving way
to a tick racing it, and ending the calls of a campaign past its end."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.cron import TimerTicker
from outage_voice.adapters.db.schedule import PgScheduleStore
from outage_voice.bootstrap import Services
from outage_voice.carrier.clock import VirtualClock
from outage_voice.domain.automation import AutomationState
from outage_voice.domain.outages import parse_outage_state
from outage_voice.services.automation import AutomationWorker
from outage_voice.services.automation_ports import ScheduleRow, ScheduleWrite
from outage_voice.services.schedule import ScheduleWorker
from tests.support import csv_text

CHICAGO = ZoneInfo("America/Chicago")
# Thursday, December 3rd, 09:00-13:00 in Chicago, fed on the Saturday before.
STARTS = datetime(2026, 12, 3, 9, tzinfo=CHICAGO)
ENDS = STARTS + timedelta(hours=4)
FED = datetime(2026, 11, 28, 10, tzinfo=CHICAGO)
NOTICE_DUE = datetime(2026, 11, 30, 9, tzinfo=CHICAGO)
REMINDER_DUE = datetime(2026, 12, 2, 9, tzinfo=CHICAGO)
CUSTOMERS = csv_text(
    *(f"20{i:02d},C {i},512-555-02{i:02d},,P{i},{i} Elm Street,F1,," for i in range(6))
)


def work(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "confirmed",
        "planned": True,
        "starts_at": STARTS.isoformat(),
        "ends_at": ENDS.isoformat(),
        "premise_ids": ["P0", "P1", "P2", "P3"],
    }
    body.update(fields)
    return body


async def put(services: Services, clock: ManualClock, at: datetime, **fields: Any) -> None:
    clock.set(at.astimezone(UTC))
    await services.outages.put("PLAN-1", parse_outage_state(work(**fields), now=at), actor="oms")


async def consume(worker: AutomationWorker, at: datetime) -> None:
    while await worker.step(at.astimezone(UTC)):
        pass


async def rows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, message, generation, audience, premises, due_at, window_open, window_close,"
        " state, reason, campaign_id, details FROM outage_schedule ORDER BY id"
    )


async def fed(services: Services, clock: ManualClock, tmp_path: Path) -> AutomationWorker:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    worker = AutomationWorker(services.automation_store, services.automatic_campaigns, clock)
    await put(services, clock, FED)
    await consume(worker, FED)
    return worker


def ticker_for(services: Services, clock: ManualClock) -> ScheduleWorker:
    return ScheduleWorker(
        PgScheduleStore(services.pool),
        services.automation_store,
        services.automatic_campaigns,
        services.surveys,
        TimerTicker("* * * * *", clock, timezone="America/Chicago"),
        clock,
    )


async def campaigns(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, kind, trigger_event, trigger_event_id, starts_at, expires_at, spec, state"
        " FROM campaigns ORDER BY id"
    )


async def test_rows_are_written_with_the_change_and_once_on_replay(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    pool = services.pool
    written = await rows(pool)
    assert [r["message"] for r in written] == ["notice", "reminder", "all_clear"]
    event_id = await pool.fetchval("SELECT id FROM outage_events")
    assert {r["generation"] for r in written} == {event_id}
    assert written[0]["due_at"] == NOTICE_DUE
    assert written[1]["due_at"] == REMINDER_DUE
    assert (written[2]["due_at"], written[2]["window_close"]) == (ENDS, ENDS + timedelta(days=1))
    assert written[0]["details"]["starts_at"] == "2026-12-03T15:00:00+00:00"
    ledger = await services.automation.notifications("PLAN-1", account=None)
    scheduled = [d.decision.event for d in ledger.decisions if d.decision.verdict == "scheduled"]
    assert scheduled == ["planned_notice", "planned_reminder", "planned_all_clear"]

    # The event replayed (a leader that died before it knew its consume committed): the
    # consume finds it consumed and writes nothing, rows included.
    outage_pk = await pool.fetchval("SELECT id FROM outages")
    again = ScheduleWrite(
        add=(
            ScheduleRow(
                message="notice",
                audience="everyone",
                due_at=NOTICE_DUE,
                window_open=NOTICE_DUE,
                window_close=STARTS,
            ),
        )
    )
    consumed = await services.automation_store.consume(
        outage_pk, AutomationState(), [], event_id=event_id, now=FED, schedule=again
    )
    assert consumed is False
    assert len(await rows(pool)) == 3


async def test_a_failed_consume_keeps_no_rows(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    await put(services, clock, FED)
    pool = services.pool
    outage_pk = await pool.fetchval("SELECT id FROM outages")
    event_id = await pool.fetchval("SELECT id FROM outage_events")
    good = ScheduleRow(
        message="notice",
        audience="everyone",
        due_at=NOTICE_DUE,
        window_open=NOTICE_DUE,
        window_close=STARTS,
    )
    # PostgreSQL keeps no NUL in JSON: the rows fail after the event was marked consumed and
    # the state written in the same transaction, and nothing of the change is kept.
    broken = ScheduleRow(
        message="reminder",
        audience="everyone",
        due_at=REMINDER_DUE,
        window_open=REMINDER_DUE,
        window_close=STARTS,
        details={"starts_at": "\x00"},
    )
    with pytest.raises(asyncpg.PostgresError):
        await services.automation_store.consume(
            outage_pk,
            AutomationState(acknowledged=True),
            [],
            event_id=event_id,
            now=FED,
            schedule=ScheduleWrite(add=(good, broken)),
        )
    assert await rows(pool) == []
    assert await pool.fetchval("SELECT consumed_at FROM outage_events") is None
    assert await pool.fetchval("SELECT count(*) FROM outage_automation") == 0


async def test_the_tick_makes_each_due_row_once_and_catches_up_a_missed_tick(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    pool = services.pool
    ticker = ticker_for(services, clock)
    assert (await ticker.tick(FED)).made == 0  # nothing due yet
    # No tick ran from Sunday to Wednesday: the one at the reminder's minute makes both.
    result = await ticker.tick(REMINDER_DUE)
    assert (result.made, result.expired) == (2, 0)
    made = await campaigns(pool)
    notice, reminder, _ = await rows(pool)
    assert [c["trigger_event"] for c in made] == ["planned_notice", "planned_reminder"]
    assert [c["trigger_event_id"] for c in made] == [notice["id"], reminder["id"]]
    assert [c["starts_at"] for c in made] == [notice["window_open"], reminder["window_open"]]
    # The notice is no notice once the work starts; the reminder is for the day before.
    assert [c["expires_at"] for c in made] == [STARTS, datetime(2026, 12, 2, 21, tzinfo=CHICAGO)]
    assert {c["kind"] for c in made} == {"planned_notice"}
    message = made[0]["spec"]["message"]
    assert message["key"] == "planned_advance_notice"
    assert message["variables"] == {
        "planned_message": "notice",
        "starts_at": "2026-12-03T15:00:00+00:00",
        "ends_at": "2026-12-03T19:00:00+00:00",
        "alternate_starts_at": "",
        "previous_starts_at": "",
        "previous_ends_at": "",
        "restored": "",
    }
    assert await pool.fetchval("SELECT count(*) FROM campaign_targets") == 8  # 4 numbers each
    states = await pool.fetch("SELECT state, campaign_id FROM outage_schedule ORDER BY id")
    assert [(s["state"], s["campaign_id"]) for s in states] == [
        ("made", made[0]["id"]),
        ("made", made[1]["id"]),
        ("pending", None),
    ]
    # The next tick makes nothing again.
    assert (await ticker.tick(REMINDER_DUE + timedelta(minutes=1))).made == 0
    # A leader that died after making the reminder's campaign but before its row said so:
    # the next tick finds the campaign instead of making another.
    # (The row's transaction rolled back: it is pending, and its decision was never kept.)
    await pool.execute(
        "UPDATE outage_schedule SET state = 'pending', campaign_id = NULL WHERE id = $1",
        reminder["id"],
    )
    await pool.execute("DELETE FROM automation_decisions WHERE campaign_id = $1", made[1]["id"])
    assert (await ticker.tick(REMINDER_DUE + timedelta(minutes=2))).made == 1
    assert len(await campaigns(pool)) == 2
    ledger = await services.automation.notifications("PLAN-1", account=None)
    planned = [d for d in ledger.decisions if d.decision.verdict == "planned"]
    assert [d.decision.event for d in planned] == ["planned_notice", "planned_reminder"]
    assert [d.campaign_id for d in planned] == [made[0]["id"], made[1]["id"]]


async def test_a_row_past_its_window_expires_unsent(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    pool = services.pool
    # The server was down from Sunday until the work had begun: the notice and the reminder
    # would come too late; the all-clear, due at the end, is made.
    result = await ticker_for(services, clock).tick(ENDS + timedelta(minutes=5))
    assert (result.made, result.expired) == (1, 2)
    assert [r["state"] for r in await rows(pool)] == ["expired", "expired", "made"]
    assert [c["trigger_event"] for c in await campaigns(pool)] == ["planned_all_clear"]
    ledger = await services.automation.notifications("PLAN-1", account=None)
    skipped = [
        d.decision
        for d in ledger.decisions
        if d.decision.verdict == "skipped" and d.decision.event.startswith("planned_")
    ]
    assert [d.event for d in skipped] == ["planned_notice", "planned_reminder"]
    assert all("not sent" in (d.reason or "") for d in skipped)


async def test_a_tick_racing_another_skips_the_rows_it_holds(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    store = PgScheduleStore(services.pool)
    ticker = ticker_for(services, clock)
    async with store.due(REMINDER_DUE, 1) as held:  # another leader's tick, mid-way
        assert [e.message for e in held.entries] == ["notice"]
        # This one neither waits for it nor makes its row.
        assert (await ticker.tick(REMINDER_DUE)).made == 1
        assert [c["trigger_event"] for c in await campaigns(services.pool)] == ["planned_reminder"]
    assert (await ticker.tick(REMINDER_DUE)).made == 1
    assert len(await campaigns(services.pool)) == 2


async def test_a_campaign_past_its_end_places_no_more_calls_and_completes(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    pool = services.pool
    ticker = ticker_for(services, clock)
    await ticker.tick(NOTICE_DUE)
    (notice,) = await campaigns(pool)
    dialer = services.dialer_store
    before = STARTS - timedelta(minutes=1)
    assert [c.id for c in await dialer.running(before.astimezone(UTC))] == [notice["id"]]
    assert await dialer.running(STARTS.astimezone(UTC)) == []
    result = await ticker.tick(STARTS)
    assert result.calls_expired == 4
    outcomes = await pool.fetch("SELECT DISTINCT state, outcome FROM campaign_targets")
    assert [(o["state"], o["outcome"]) for o in outcomes] == [("excluded", "expired")]
    assert await dialer.finish_campaigns(STARTS.astimezone(UTC)) == [notice["id"]]


async def test_the_leader_job_ticks_on_virtual_time_and_makes_the_notice_at_its_moment(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    virtual = VirtualClock(FED.astimezone(UTC))
    worker = ScheduleWorker(
        PgScheduleStore(services.pool),
        services.automation_store,
        services.automatic_campaigns,
        services.surveys,
        # Hourly, to cross two days of virtual time in a few dozen ticks.
        TimerTicker("0 * * * *", virtual, timezone="America/Chicago"),
        virtual,
    )
    job = virtual.spawn(worker.run())
    try:
        async with asyncio.timeout(30):
            while not await campaigns(services.pool):  # noqa: ASYNC110 - another task's work
                await asyncio.sleep(0.01)
    finally:
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
    (notice,) = await services.pool.fetch("SELECT trigger_event, created_at FROM campaigns")
    assert (notice["trigger_event"], notice["created_at"]) == ("planned_notice", NOTICE_DUE)
