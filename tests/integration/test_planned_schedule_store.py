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
from tests.support import T0, csv_text

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


async def test_a_message_turned_off_after_it_was_scheduled_is_withdrawn_at_its_due_time(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    await services.automation.update_rules(
        {"planned": {"reminder_before_s": 0, "all_clear": False}}, actor="supervisor"
    )
    ticker = ticker_for(services, clock)
    # The notice goes; the reminder and the all-clear were turned off since: neither is made.
    result = await ticker.tick(REMINDER_DUE)
    assert (result.made, result.expired, result.withdrawn) == (1, 0, 1)
    result = await ticker.tick(ENDS + timedelta(minutes=1))
    assert (result.made, result.expired, result.withdrawn) == (0, 0, 1)
    assert [r["state"] for r in await rows(services.pool)] == ["made", "withdrawn", "withdrawn"]
    assert [c["trigger_event"] for c in await campaigns(services.pool)] == ["planned_notice"]
    ledger = await services.automation.notifications("PLAN-1", account=None)
    reasons = [d.decision.reason or "" for d in ledger.decisions]
    assert any("reminders were turned off" in r for r in reasons)
    assert any("all-clears were turned off" in r for r in reasons)


async def test_a_tick_racing_another_skips_the_rows_it_holds(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    store = PgScheduleStore(services.pool)
    ticker = ticker_for(services, clock)
    (notice, _) = await store.due(REMINDER_DUE, 5, passed=())
    async with store.take(notice) as held:  # another leader's tick, mid-way
        assert held is not None and held.entry.message == "notice"
        # This one neither waits for it nor makes a row of that outage meanwhile.
        assert (await ticker.tick(REMINDER_DUE)).made == 0
        assert await campaigns(services.pool) == []
    assert (await ticker.tick(REMINDER_DUE)).made == 2
    assert len(await campaigns(services.pool)) == 2


class FailingStarts:
    """The campaign store, failing to start the campaigns of one trigger (as a statement
    timing out every time would)."""

    def __init__(self, store: Any, trigger: str, error: Exception) -> None:
        self._store, self._trigger, self._error = store, trigger, error

    async def start(self, plan: Any, **kwargs: Any) -> Any:
        if plan.trigger.value == self._trigger:
            raise self._error
        return await self._store.start(plan, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def failing_ticker(services: Services, clock: ManualClock, error: Exception) -> ScheduleWorker:
    return ScheduleWorker(
        PgScheduleStore(services.pool),
        services.automation_store,
        FailingStarts(services.automatic_campaigns, "planned_notice", error),
        services.surveys,
        TimerTicker("* * * * *", clock, timezone="America/Chicago"),
        clock,
        unavailable=lambda exc: isinstance(exc, ConnectionError),
    )


async def test_a_row_that_keeps_failing_is_given_up_and_the_others_go_on(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    pool = services.pool
    ticker = failing_ticker(services, clock, RuntimeError("statement timeout"))
    first = await ticker.tick(REMINDER_DUE)
    assert (first.made, first.expired) == (1, 0)  # the reminder, after the notice failed
    assert [r["message"] for r in await rows(pool) if r["state"] == "pending"] == [
        "notice",
        "all_clear",
    ]
    assert (await ticker.tick(REMINDER_DUE)).expired == 0
    assert (await ticker.tick(REMINDER_DUE)).expired == 1  # the third failure: given up
    (notice,) = [r for r in await rows(pool) if r["message"] == "notice"]
    assert notice["state"] == "expired"
    assert "could not be made after 3 attempts (RuntimeError)" in notice["reason"]
    ledger = await pool.fetch(
        "SELECT event, decision, reason FROM automation_decisions WHERE event = 'planned_notice'"
        " ORDER BY id"
    )
    assert [(d["event"], d["decision"]) for d in ledger][-1] == ("planned_notice", "skipped")
    assert (await ticker.tick(REMINDER_DUE)).made == 0  # nothing left due


async def test_a_database_away_stops_the_tick_and_gives_no_row_up(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await fed(services, clock, tmp_path)
    ticker = failing_ticker(services, clock, ConnectionError("database away"))
    for _ in range(4):
        with pytest.raises(ConnectionError):
            await ticker.tick(NOTICE_DUE)
    assert [r["state"] for r in await rows(services.pool)] == ["pending"] * 3


async def outage_pk(pool: asyncpg.Pool) -> int:
    pk: int = await pool.fetchval("SELECT id FROM outages WHERE oms_id = 'PLAN-1'")
    return pk


async def test_the_tick_and_the_worker_s_planned_decisions_take_turns_per_outage(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    worker = await fed(services, clock, tmp_path)
    pool = services.pool
    store = PgScheduleStore(pool)
    ticker = ticker_for(services, clock)
    # The worker deciding on the outage's planned work: the tick makes none of its rows.
    async with services.automation_store.planned_lock(await outage_pk(pool)):
        assert (await ticker.tick(NOTICE_DUE)).made == 0
    # A tick making the notice: a move of the work waits for it to be made whole.
    (notice,) = await store.due(NOTICE_DUE, 5, passed=())
    moved_at = datetime(2026, 11, 30, 9, 0, 5, tzinfo=CHICAGO)
    later = STARTS + timedelta(days=7)
    async with store.take(notice) as held:
        assert held is not None
        await put(
            services,
            clock,
            moved_at,
            starts_at=later.isoformat(),
            ends_at=(later + timedelta(hours=4)).isoformat(),
        )
        deciding = asyncio.ensure_future(consume(worker, moved_at))
        for _ in range(500):  # bounded: until the worker is seen waiting for the lock
            waiting = await pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if waiting or deciding.done():
                break
        assert waiting == 1 and not deciding.done()
        assert await pool.fetchval("SELECT count(*) FROM outage_schedule") == 3
        campaign_id, decision = await ticker._make(
            held.entry, await services.automation_store.rules(), NOTICE_DUE
        )
        await held.made(held.entry, campaign_id, decision)
    await deciding
    # The notice's campaign was made, but no call of it placed: nobody was told, so the
    # move is a fresh schedule for everyone (no "moved"), and its calls are withdrawn.
    states = [(r["message"], r["state"], r["reason"]) for r in await rows(pool)]
    assert states == [
        ("notice", "made", None),
        ("reminder", "withdrawn", "rescheduled"),
        ("all_clear", "withdrawn", "rescheduled"),
        ("notice", "pending", None),
        ("reminder", "pending", None),
        ("all_clear", "pending", None),
    ]
    assert await targets_of(pool, "planned_notice") == []


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


async def test_a_leader_starting_after_the_due_minute_makes_the_row_at_once(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    """A leader that took over (or a server started again) after a row fell due makes it at
    its start, not at the ticker's first fire time (an hour away here)."""
    await fed(services, clock, tmp_path)
    late = NOTICE_DUE + timedelta(minutes=7)
    virtual = VirtualClock(late.astimezone(UTC))
    worker = ScheduleWorker(
        PgScheduleStore(services.pool),
        services.automation_store,
        services.automatic_campaigns,
        services.surveys,
        TimerTicker("0 * * * *", virtual, timezone="America/Chicago"),
        virtual,
    )
    with virtual.hold():  # time stands still: only a tick at the start can make it
        job = virtual.spawn(worker.run())
        try:
            async with asyncio.timeout(30):
                while not await campaigns(services.pool):  # noqa: ASYNC110 - another task's work
                    await asyncio.sleep(0.01)
        finally:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
    (notice,) = await services.pool.fetch("SELECT trigger_event, created_at FROM campaigns")
    assert (notice["trigger_event"], notice["created_at"]) == ("planned_notice", late)


async def place_calls(pool: asyncpg.Pool, trigger: str, phones: list[str]) -> None:
    """Calls of the campaign placed to these numbers (as the dialer would have)."""
    await pool.execute(
        "UPDATE campaign_targets t SET attempts = 1, state = 'done', outcome = 'reached'"
        " FROM campaigns c WHERE c.id = t.campaign_id AND c.trigger_event = $1"
        " AND t.phone = ANY($2::text[])",
        trigger,
        phones,
    )


async def targets_of(pool: asyncpg.Pool, trigger: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT t.phone FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id"
        " WHERE c.trigger_event = $1 AND t.state = 'pending' ORDER BY t.phone",
        trigger,
    )
    return [row["phone"] for row in rows]


TOLD = ["+15125550200", "+15125550201"]


async def test_moved_then_cancelled_reaches_those_told_with_the_right_times(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    worker = await fed(services, clock, tmp_path)
    pool = services.pool
    ticker = ticker_for(services, clock)
    await ticker.tick(NOTICE_DUE)
    await place_calls(pool, "planned_notice", TOLD)  # two of the four were called so far

    # Moved a week later, on Tuesday.
    moved_at = datetime(2026, 12, 1, 10, tzinfo=CHICAGO)
    later = STARTS + timedelta(days=7)
    await put(
        services,
        clock,
        moved_at,
        starts_at=later.isoformat(),
        ends_at=(later + timedelta(hours=4)).isoformat(),
    )
    await consume(worker, moved_at)
    states = [(r["message"], r["state"], r["reason"]) for r in await rows(pool)]
    assert states[:3] == [
        ("notice", "made", None),
        ("reminder", "withdrawn", "moved"),
        ("all_clear", "withdrawn", "moved"),
    ]
    assert [(m, s) for m, s, _ in states[3:]] == [
        ("moved", "pending"),
        ("notice", "pending"),
        ("reminder", "pending"),
        ("all_clear", "pending"),
    ]
    assert [r["audience"] for r in (await rows(pool))[3:5]] == ["told", "untold"]
    # The notice's calls not placed yet would speak of the old date: withdrawn.
    assert await targets_of(pool, "planned_notice") == []
    withdrawn = await pool.fetchval(
        "SELECT count(*) FROM campaign_targets WHERE state = 'excluded' AND outcome = 'moved'"
    )
    assert withdrawn == 2
    assert (await ticker.tick(moved_at)).made == 1
    assert await targets_of(pool, "planned_moved") == TOLD
    (spec,) = await pool.fetch("SELECT spec FROM campaigns WHERE trigger_event = 'planned_moved'")
    variables = spec["spec"]["message"]["variables"]
    assert spec["spec"]["message"]["key"] == "planned_moved"
    assert variables["previous_starts_at"] == "2026-12-03T15:00:00+00:00"
    assert variables["starts_at"] == "2026-12-10T15:00:00+00:00"

    # Those whose notice call was withdrawn get the new date's notice three days before it.
    new_notice_due = later - timedelta(days=3)
    assert (await ticker.tick(new_notice_due - timedelta(minutes=1))).made == 0
    assert (await ticker.tick(new_notice_due)).made == 1
    untold = ["+15125550202", "+15125550203"]
    assert await targets_of(pool, "planned_notice") == untold
    (spec,) = await pool.fetch(
        "SELECT spec FROM campaigns WHERE trigger_event = 'planned_notice' ORDER BY id DESC LIMIT 1"
    )
    assert spec["spec"]["message"]["key"] == "planned_advance_notice"
    assert spec["spec"]["message"]["variables"]["starts_at"] == "2026-12-10T15:00:00+00:00"
    assert spec["spec"]["message"]["variables"]["previous_starts_at"] == ""
    await place_calls(pool, "planned_notice", untold)

    # Then cancelled, the next day.
    cancelled_at = new_notice_due + timedelta(days=1)
    await put(
        services,
        clock,
        cancelled_at,
        status="cancelled",
        starts_at=later.isoformat(),
        ends_at=(later + timedelta(hours=4)).isoformat(),
    )
    await consume(worker, cancelled_at)
    pending = [r["message"] for r in await rows(pool) if r["state"] == "pending"]
    assert pending == ["cancelled"]
    assert (await ticker.tick(cancelled_at)).made == 1
    # Everyone told, of the old date or of the new one.
    assert await targets_of(pool, "planned_cancelled") == sorted([*TOLD, *untold])
    (spec,) = await pool.fetch(
        "SELECT spec FROM campaigns WHERE trigger_event = 'planned_cancelled'"
    )
    assert spec["spec"]["message"]["key"] == "planned_cancelled"
    # "The work planned for Thursday the 10th": the work as it was when cancelled.
    assert spec["spec"]["message"]["variables"]["starts_at"] == "2026-12-10T15:00:00+00:00"
    # Nothing else will be made for it.
    assert (await ticker.tick(later + timedelta(days=2))).made == 0


async def test_moved_in_the_write_that_adds_premises_gives_them_the_new_date_s_notice(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    worker = await fed(services, clock, tmp_path)
    pool = services.pool
    ticker = ticker_for(services, clock)
    await ticker.tick(NOTICE_DUE)
    await place_calls(pool, "planned_notice", TOLD)
    moved_at = datetime(2026, 12, 1, 10, tzinfo=CHICAGO)
    later = STARTS + timedelta(days=7)
    await put(
        services,
        clock,
        moved_at,
        starts_at=later.isoformat(),
        ends_at=(later + timedelta(hours=4)).isoformat(),
        premise_ids=["P0", "P1", "P2", "P3", "P4"],
    )
    await consume(worker, moved_at)
    assert (await ticker.tick(later - timedelta(days=3))).made == 2  # moved, then the notice
    assert await targets_of(pool, "planned_moved") == TOLD
    assert await targets_of(pool, "planned_notice") == [
        "+15125550202",
        "+15125550203",
        "+15125550204",
    ]


async def test_restored_planned_work_takes_back_its_starting_calls_not_placed(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    await services.automation.update_rules({"planned": {"starting_now": True}}, actor="test")
    worker = await fed(services, clock, tmp_path)
    pool = services.pool
    ticker = ticker_for(services, clock)
    await ticker.tick(STARTS)
    await place_calls(pool, "planned_starting", TOLD[:1])
    assert len(await targets_of(pool, "planned_starting")) == 3
    restored_at = STARTS + timedelta(hours=2)
    await put(services, clock, restored_at, status="restored")
    await consume(worker, restored_at)
    # "Power will be off until about one" is wrong once power is back.
    assert await targets_of(pool, "planned_starting") == []
    withdrawn = await pool.fetchval(
        "SELECT count(*) FROM campaign_targets t JOIN campaigns c ON c.id = t.campaign_id"
        " WHERE c.trigger_event = 'planned_starting' AND t.outcome = 'restored'"
    )
    assert withdrawn == 3
    assert (await ticker.tick(restored_at)).made == 1  # the all-clear, saying power is back


async def test_premises_added_after_the_notice_get_it_alone(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    worker = await fed(services, clock, tmp_path)
    pool = services.pool
    ticker = ticker_for(services, clock)
    await ticker.tick(NOTICE_DUE)
    added_at = datetime(2026, 12, 1, 10, tzinfo=CHICAGO)
    await put(services, clock, added_at, premise_ids=["P0", "P1", "P2", "P3", "P4"])
    await consume(worker, added_at)
    added = [r for r in await rows(pool) if r["audience"] == "added"]
    assert [(r["message"], r["premises"]) for r in added] == [("short_notice", ["P4"])]
    assert (await ticker.tick(added_at)).made == 1
    assert await targets_of(pool, "planned_short_notice") == ["+15125550204"]


async def test_a_new_bad_weather_date_reaches_the_messages_still_to_make(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    worker = await fed(services, clock, tmp_path)
    pool = services.pool
    await ticker_for(services, clock).tick(NOTICE_DUE)
    alternate = STARTS + timedelta(days=2)
    at = datetime(2026, 12, 1, 10, tzinfo=CHICAGO)
    await put(services, clock, at, alternate_starts_at=alternate.isoformat())
    await consume(worker, at)
    details = {r["message"]: r["details"]["alternate_starts_at"] for r in await rows(pool)}
    assert details == {
        "notice": "",  # made already, as it was said
        "reminder": "2026-12-05T15:00:00+00:00",
        "all_clear": "2026-12-05T15:00:00+00:00",
    }


async def test_restored_planned_work_gets_its_all_clear_at_once_and_a_survey(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    worker = await fed(services, clock, tmp_path)
    pool = services.pool
    ticker = ticker_for(services, clock)
    await ticker.tick(REMINDER_DUE)
    await place_calls(pool, "planned_notice", TOLD)
    restored_at = STARTS + timedelta(hours=2)
    await put(services, clock, restored_at, status="restored")
    await consume(worker, restored_at)
    pending = [(r["message"], r["due_at"]) for r in await rows(pool) if r["state"] == "pending"]
    assert pending == [
        ("all_clear", restored_at),
        ("survey", restored_at + timedelta(hours=2)),
    ]
    assert (await ticker.tick(restored_at)).made == 1
    (spec,) = await pool.fetch(
        "SELECT spec FROM campaigns WHERE trigger_event = 'planned_all_clear'"
    )
    message = spec["spec"]["message"]
    assert (message["key"], message["variables"]["restored"]) == ("restored", "yes")
    assert len(await targets_of(pool, "planned_all_clear")) == 4


async def test_a_restored_outage_whose_customers_were_told_gets_a_survey_scheduled(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    await services.automation.update_rules({"acknowledge": {"blink_hold_s": 0}}, actor="test")
    # The all-clear writes the rest of its numbers behind its first: on a timer that can.
    worker = AutomationWorker(
        services.automation_store, services.automatic_campaigns, VirtualClock(T0)
    )
    storm = {"status": "confirmed", "premise_ids": ["P0", "P1"]}
    clock.set(T0)
    await services.outages.put("STORM", parse_outage_state(storm, now=T0), actor="oms")
    await consume(worker, T0)
    restored_at = T0 + timedelta(hours=1)
    clock.set(restored_at)
    restored = {**storm, "status": "restored"}
    await services.outages.put("STORM", parse_outage_state(restored, now=restored_at), actor="oms")
    await consume(worker, restored_at)
    # The rest of a plan is written by the worker's own task: polling the database is the point.
    async with asyncio.timeout(10):
        while await services.pool.fetchval("SELECT bool_or(planning) FROM campaigns"):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    (survey,) = await rows(services.pool)
    assert survey["message"] == "survey"
    assert survey["due_at"] == restored_at + timedelta(seconds=7200)
    assert survey["window_close"] - survey["window_open"] == timedelta(days=2)
    ticker = ticker_for(services, clock)
    assert (await ticker.tick(restored_at + timedelta(hours=1))).made == 0
    assert (await ticker.tick(survey["due_at"])).made == 1
    (made,) = await services.pool.fetch(
        "SELECT kind, trigger_event, trigger_event_id, expires_at FROM campaigns"
        " WHERE kind = 'survey'"
    )
    assert (made["trigger_event"], made["trigger_event_id"]) == ("survey", survey["id"])
    assert made["expires_at"] == survey["window_close"]


async def test_a_blink_gets_no_survey(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    worker = AutomationWorker(services.automation_store, services.automatic_campaigns, clock)
    blink = {"status": "confirmed", "premise_ids": ["P0"]}
    clock.set(T0)
    await services.outages.put("BLINK", parse_outage_state(blink, now=T0), actor="oms")
    await consume(worker, T0)
    back = T0 + timedelta(minutes=1)  # within the five-minute hold: nobody was told
    clock.set(back)
    restored = {**blink, "status": "restored"}
    await services.outages.put("BLINK", parse_outage_state(restored, now=back), actor="oms")
    await consume(worker, back)
    assert await rows(services.pool) == []
