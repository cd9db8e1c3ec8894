"""The automation's store on a real database: the outbox an outage PUT writes in its own
transaction, events consumed exactly once, the per-outage state and what falls due, the
supervisor's rules, and the notification ledger."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg
import pytest

from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db.automation import AUTOMATION_CHANNEL, PgAutomationStore
from outage_voice.bootstrap import Services
from outage_voice.domain.automation import (
    AcknowledgeRule,
    AutomationRules,
    AutomationState,
    Decision,
    EtrUpdateRule,
    OutageFacts,
    Trigger,
    Verdict,
)
from outage_voice.domain.outages import OutageState, OutageStatus
from outage_voice.services.automation_ports import (
    AutomationStore,
    LedgerCounts,
    LedgerDecision,
    OutageEvent,
)
from tests.support import T0

ETR1 = T0 + timedelta(hours=2)
ETR2 = T0 + timedelta(hours=3)


def outage(
    status: OutageStatus = OutageStatus.CONFIRMED,
    *,
    etr: datetime | None = ETR1,
    premises: tuple[str, ...] = ("P1", "P2"),
    feeders: tuple[str, ...] = (),
    cause: str | None = "tree on line",
) -> OutageState:
    return OutageState(
        status=status,
        cause=cause,
        etr=etr,
        premise_ids=premises,
        feeder_ids=feeders,
        planned=False,
        starts_at=None,
        ends_at=None,
    )


def store_of(pool: asyncpg.Pool) -> AutomationStore:
    return PgAutomationStore(pool)  # checked against the port by mypy where it is wired


async def outage_pk(pool: asyncpg.Pool, oms_id: str) -> int:
    pk: int = await pool.fetchval("SELECT id FROM outages WHERE oms_id = $1", oms_id)
    return pk


async def event_count(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM outage_events")
    return count


def decided(event_id: int | None, verdict: Verdict, reason: str | None = None) -> LedgerDecision:
    return LedgerDecision(
        at=T0,
        event_id=event_id,
        decision=Decision(event=Trigger.CONFIRMED.value, verdict=verdict, reason=reason),
        campaign_id=None,
    )


# --- the outbox ----------------------------------------------------------------------------


async def test_a_put_that_changes_the_outage_writes_one_event_saying_what_changed(
    services: Services, pool: asyncpg.Pool, clock: ManualClock
) -> None:
    store = store_of(pool)
    await services.outages.put("OUT-1", outage(), actor="oms")
    [created] = await store.waiting_events(10)
    pk = await outage_pk(pool, "OUT-1")
    assert (created.outage_pk, created.outage_id, created.at) == (pk, "OUT-1", T0)
    assert created.change.created
    assert created.change.status_before is None
    assert created.change.status is OutageStatus.CONFIRMED
    assert (created.change.etr_before, created.change.etr) == (None, ETR1)
    assert sorted(created.change.premises_added) == ["P1", "P2"]
    assert created.change.premises_removed == ()

    clock.advance(timedelta(seconds=60))
    grown = outage(OutageStatus.CREW_DISPATCHED, etr=ETR2, premises=("P2", "P3"), feeders=("F9",))
    await services.outages.put("OUT-1", grown, actor="oms")
    [_, changed] = await store.waiting_events(10)
    assert changed.event_id > created.event_id
    assert changed.at == T0 + timedelta(seconds=60)
    assert not changed.change.created
    assert changed.change.status_before is OutageStatus.CONFIRMED
    assert changed.change.status is OutageStatus.CREW_DISPATCHED
    assert (changed.change.etr_before, changed.change.etr) == (ETR1, ETR2)
    assert changed.change.premises_added == ("P3",)
    assert changed.change.premises_removed == ("P1",)
    assert changed.change.feeders_added == ("F9",)
    assert changed.change.feeders_removed == ()
    assert not changed.change.cause_changed

    # The same state again is no change: no event.
    write = await services.outages.put("OUT-1", grown, actor="oms")
    assert not write.changed
    assert await event_count(pool) == 2

    clock.advance(timedelta(seconds=60))
    await services.outages.put(
        "OUT-1", outage(OutageStatus.RESTORED, etr=None, premises=("P2", "P3")), actor="oms"
    )
    [*_, restored] = await store.waiting_events(10)
    assert restored.change.status_before is OutageStatus.CREW_DISPATCHED
    assert restored.change.status is OutageStatus.RESTORED
    assert (restored.change.etr_before, restored.change.etr) == (ETR2, None)
    assert restored.change.premises_added == restored.change.premises_removed == ()
    assert restored.change.feeders_removed == ("F9",)
    assert await event_count(pool) == 3


async def test_the_event_and_the_outage_change_commit_or_roll_back_together(
    services: Services, pool: asyncpg.Pool, clock: ManualClock
) -> None:
    await services.outages.put("OUT-1", outage(), actor="oms")
    await pool.execute(
        """
        CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION '% refused', TG_TABLE_NAME; END $$;
        """
    )
    clock.advance(timedelta(seconds=60))
    for table in ("outage_events", "audit_log"):
        # The event refused: the outage is not changed. The audit entry, written after the
        # event, refused: the event goes with the change.
        await pool.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
        )
        with pytest.raises(asyncpg.RaiseError, match=f"{table} refused"):
            await services.outages.put("OUT-1", outage(etr=ETR2), actor="oms")
        await pool.execute(f"DROP TRIGGER refuse ON {table}")
        assert await event_count(pool) == 1
        record = await services.outages.get("OUT-1")
        assert (record.etr, record.history_entries) == (ETR1, 1)

    await services.outages.put("OUT-1", outage(etr=ETR2), actor="oms")
    assert await event_count(pool) == 2
    assert (await services.outages.get("OUT-1")).etr == ETR2


async def test_a_committed_change_wakes_the_automation_channel(
    services: Services, pool: asyncpg.Pool, database_dsn: str
) -> None:
    listener = await asyncpg.connect(database_dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:

        def notified(_connection: object, _pid: int, channel: str, _payload: object) -> None:
            heard.put_nowait(channel)

        await listener.add_listener(AUTOMATION_CHANNEL, notified)
        await services.outages.put("OUT-1", outage(), actor="oms")
        assert await asyncio.wait_for(heard.get(), timeout=10) == AUTOMATION_CHANNEL
        # An identical PUT writes nothing and announces nothing; the next change does.
        await services.outages.put("OUT-1", outage(), actor="oms")
        await services.outages.put("OUT-1", outage(etr=ETR2), actor="oms")
        assert await asyncio.wait_for(heard.get(), timeout=10) == AUTOMATION_CHANNEL
        assert heard.empty()
    finally:
        await listener.close()


async def test_waiting_events_come_oldest_first_across_outages_and_leave_once_consumed(
    services: Services, pool: asyncpg.Pool, clock: ManualClock
) -> None:
    store = store_of(pool)
    for n, oms_id in enumerate(("A", "B", "A", "C", "B")):
        clock.advance(timedelta(seconds=1))
        await services.outages.put(oms_id, outage(etr=ETR1 + timedelta(minutes=n)), actor="oms")
    events = await store.waiting_events(10)
    assert [e.outage_id for e in events] == ["A", "B", "A", "C", "B"]
    assert [e.event_id for e in events] == sorted(e.event_id for e in events)
    assert [e.event_id for e in await store.waiting_events(2)] == [e.event_id for e in events[:2]]

    first = events[0]
    assert await store.consume(
        first.outage_pk, AutomationState(), (), event_id=first.event_id, now=clock.now()
    )
    assert [e.event_id for e in await store.waiting_events(10)] == [e.event_id for e in events[1:]]


# --- consuming -----------------------------------------------------------------------------


async def only_event(services: Services, pool: asyncpg.Pool) -> OutageEvent:
    await services.outages.put("OUT-1", outage(), actor="oms")
    [event] = await store_of(pool).waiting_events(10)
    return event


async def test_an_event_is_consumed_once_and_a_second_consume_writes_nothing(
    services: Services, pool: asyncpg.Pool
) -> None:
    store = store_of(pool)
    event = await only_event(services, pool)
    held = AutomationState(
        ack_due_at=T0 + timedelta(seconds=300),
        ack_event_id=event.event_id,
        ack_trigger=Trigger.CONFIRMED,
    )
    assert await store.consume(
        event.outage_pk, held, [decided(None, Verdict.HELD)], event_id=event.event_id, now=T0
    )
    replayed = AutomationState(acknowledged=True, announced_etr=ETR1, etr_told=True)
    assert not await store.consume(
        event.outage_pk,
        replayed,
        [decided(None, Verdict.PLANNED)],
        event_id=event.event_id,
        now=T0 + timedelta(seconds=5),
    )
    assert await store.state(event.outage_pk) == held
    assert await store.waiting_events(10) == []
    rows = await pool.fetch("SELECT event_id, decision FROM automation_decisions")
    # The decision names no event of its own: it belongs to the event consumed.
    assert [tuple(row) for row in rows] == [(event.event_id, "held")]
    consumed_at = await pool.fetchval("SELECT consumed_at FROM outage_events")
    assert consumed_at == T0


async def test_two_consumers_racing_for_one_event_one_wins(
    services: Services, pool: asyncpg.Pool
) -> None:
    store = store_of(pool)
    event = await only_event(services, pool)
    results = await asyncio.gather(
        *(
            store.consume(
                event.outage_pk,
                AutomationState(etr_updates=n),
                [decided(None, Verdict.SKIPPED, f"consumer {n}")],
                event_id=event.event_id,
                now=T0,
            )
            for n in range(4)
        )
    )
    assert sorted(results) == [False, False, False, True]
    winner = results.index(True)
    assert (await store.state(event.outage_pk)).etr_updates == winner
    assert await pool.fetchval("SELECT array_agg(reason) FROM automation_decisions") == [
        f"consumer {winner}"
    ]


async def test_state_round_trips_with_its_due_time_and_due_work_consumes_without_an_event(
    services: Services, pool: asyncpg.Pool
) -> None:
    store = store_of(pool)
    event = await only_event(services, pool)
    pk = event.outage_pk
    assert await store.state(pk) == AutomationState()
    assert await store.facts(pk) == OutageFacts(
        status=OutageStatus.CONFIRMED, etr=ETR1, planned=False
    )
    assert await store.facts(pk + 1000) is None
    assert await store.outage_id(pk) == "OUT-1"

    state = AutomationState(
        acknowledged=True,
        announced_etr=ETR1,
        etr_told=True,
        etr_updates=2,
        last_etr_update_at=T0 - timedelta(minutes=10),
        etr_due_at=T0 + timedelta(minutes=50),
        etr_event_id=event.event_id,
    )
    assert await store.consume(pk, state, [], event_id=event.event_id, now=T0)
    assert await store.state(pk) == state
    assert await pool.fetchval("SELECT due_at FROM outage_automation") == state.etr_due_at
    assert await store.next_due_at() == state.etr_due_at

    # Due work has no event to mark: state and decisions only, every time it is asked.
    later = T0 + timedelta(minutes=50)
    done = AutomationState(acknowledged=True, announced_etr=ETR2, etr_told=True, etr_updates=3)
    decision = decided(None, Verdict.PLANNED)
    assert await store.consume(pk, done, [decision], event_id=None, now=later)
    assert await store.state(pk) == done
    assert await pool.fetchval("SELECT due_at FROM outage_automation") is None
    assert await store.next_due_at() is None
    assert await pool.fetchval("SELECT event_id FROM automation_decisions") is None


async def test_due_outages_come_earliest_first_and_only_once_due(
    services: Services, pool: asyncpg.Pool
) -> None:
    store = store_of(pool)
    dues = {
        "LATE": T0 + timedelta(minutes=30),
        "FIRST": T0 - timedelta(minutes=5),
        "NONE": None,
        "SECOND": T0,
        "THIRD": T0 + timedelta(minutes=1),
    }
    pks = {}
    for oms_id, due in dues.items():
        await services.outages.put(oms_id, outage(), actor="oms")
        pks[oms_id] = await outage_pk(pool, oms_id)
        state = AutomationState(
            ack_due_at=due, ack_trigger=None if due is None else Trigger.CONFIRMED
        )
        assert await store.consume(pks[oms_id], state, [], event_id=None, now=T0)

    assert await store.next_due_at() == dues["FIRST"]
    assert await store.due_outages(T0, 10) == [pks["FIRST"], pks["SECOND"]]
    later = T0 + timedelta(minutes=1)
    assert await store.due_outages(later, 10) == [pks["FIRST"], pks["SECOND"], pks["THIRD"]]
    assert await store.due_outages(later, 1) == [pks["FIRST"]]
    assert await store.due_outages(T0 - timedelta(hours=1), 10) == []


# --- rules ---------------------------------------------------------------------------------


async def test_rules_default_then_saved_read_back_and_audited(pool: asyncpg.Pool) -> None:
    store = store_of(pool)
    assert await store.rules() == AutomationRules()
    rules = AutomationRules(
        acknowledge=AcknowledgeRule(
            on=(OutageStatus.CONFIRMED, OutageStatus.CREW_DISPATCHED), blink_hold_s=0
        ),
        etr_update=EtrUpdateRule(min_change_s=600, max_per_outage=5),
    )
    await store.save_rules(rules, actor="supervisor:ana", now=T0)
    assert await store.rules() == rules
    later = AutomationRules(etr_update=EtrUpdateRule(enabled=False))
    await store.save_rules(later, actor="supervisor:bo", now=T0 + timedelta(minutes=1))
    assert await store.rules() == later

    audit = await pool.fetch(
        "SELECT at, actor, entity, details FROM audit_log WHERE action = 'automation.update'"
        " ORDER BY id"
    )
    assert [(row["at"], row["actor"], row["entity"]) for row in audit] == [
        (T0, "supervisor:ana", "automation"),
        (T0 + timedelta(minutes=1), "supervisor:bo", "automation"),
    ]
    assert audit[1]["details"] == later.as_json()
    row = await pool.fetchrow("SELECT updated_at, updated_by FROM automation_rules")
    assert tuple(row) == (T0 + timedelta(minutes=1), "supervisor:bo")


async def test_stored_rules_missing_fields_read_as_the_defaults(pool: asyncpg.Pool) -> None:
    # A document written by an older server, which knew fewer fields.
    await pool.execute(
        "INSERT INTO automation_rules (id, rules, updated_at, updated_by)"
        " VALUES (1, $1, $2, 'old')",
        {"etr_update": {"min_change_s": 600}},
        T0,
    )
    assert await store_of(pool).rules() == AutomationRules(
        etr_update=EtrUpdateRule(min_change_s=600)
    )


# --- the ledger ----------------------------------------------------------------------------


async def add_campaign(
    pool: asyncpg.Pool, pk: int, trigger: str, event_id: int, *, automatic: bool = True
) -> int:
    campaign_id: int = await pool.fetchval(
        """
        INSERT INTO campaigns (name, kind, state, spec, outage_id, cps, max_concurrent,
                               window_opens, window_closes, created_by, created_at, updated_at,
                               automatic, trigger_event, trigger_event_id)
        VALUES ($1, $2, 'running', '{}'::jsonb, $3, 5, 10, '08:00', '21:00', 'automation',
                $4, $4, $5, $6, $7)
        RETURNING id
        """,
        f"{trigger} {event_id}",
        "etr_update" if trigger == "etr_changed" else "outage_ack",
        pk,
        T0,
        automatic,
        trigger if automatic else None,
        event_id if automatic else None,
    )
    return campaign_id


async def add_target(
    pool: asyncpg.Pool,
    campaign_id: int,
    phone: str,
    accounts: tuple[str, ...],
    state: str,
    *,
    outcome: str | None = None,
    attempts: int = 0,
    placed_at: datetime | None = None,
    heard_etr: datetime | None = None,
) -> None:
    heard_at = placed_at if outcome in ("reached", "voicemail") else None
    target_id = await pool.fetchval(
        """
        INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids, language,
                                      timezone, state, outcome, attempts, updated_at, heard_at,
                                      heard_etr)
        VALUES ($1, $2, $3, '{P1}', 'en', 'America/Chicago', $4, $5, $6, $7, $8, $9)
        RETURNING id
        """,
        campaign_id,
        phone,
        list(accounts),
        state,
        outcome,
        attempts,
        T0,
        heard_at,
        heard_etr,
    )
    if placed_at is not None:
        await pool.execute(
            """
            INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, status,
                                       created_at, placed_at, ended_at)
            VALUES ($1, $2, 1, $3, 'completed', $4, $4, $4)
            """,
            target_id,
            campaign_id,
            phone,
            placed_at,
        )


async def test_the_ledger_counts_per_trigger_and_lists_one_accounts_calls(
    services: Services, pool: asyncpg.Pool
) -> None:
    store = store_of(pool)
    event = await only_event(services, pool)
    pk = event.outage_pk
    await services.outages.put("OTHER", outage(), actor="oms")
    other_pk = await outage_pk(pool, "OTHER")
    at = T0 + timedelta(minutes=10)

    ack = await add_campaign(pool, pk, "confirmed", event.event_id)
    await add_target(
        pool,
        ack,
        "+15125550001",
        ("1001",),
        "done",
        outcome="reached",
        attempts=1,
        placed_at=at,
        heard_etr=ETR1,
    )
    await add_target(
        pool,
        ack,
        "+15125550002",
        ("1002", "1003"),
        "done",
        outcome="voicemail",
        attempts=2,
        placed_at=at,
    )
    await add_target(
        pool, ack, "+15125550003", ("1004",), "done", outcome="no_answer", attempts=3, placed_at=at
    )
    await add_target(pool, ack, "+15125550004", ("1005",), "pending")
    await add_target(pool, ack, "+15125550005", ("1006",), "excluded", outcome="recent_caller")
    await add_target(pool, ack, "+15125550006", ("1007",), "excluded", outcome="recent_caller")
    await add_target(pool, ack, "+15125550007", ("1008",), "excluded", outcome="opted_out")
    etr = await add_campaign(pool, pk, "etr_changed", event.event_id + 100)
    await add_target(
        pool,
        etr,
        "+15125550001",
        ("1001",),
        "done",
        outcome="reached",
        attempts=1,
        placed_at=at + timedelta(hours=1),
        heard_etr=ETR2,
    )
    await add_target(
        pool, etr, "+15125550002", ("1002", "1003"), "excluded", outcome="call_pending"
    )
    await add_target(pool, etr, "+15125550004", ("1005",), "calling", attempts=1)
    empty = await add_campaign(pool, pk, "restored", event.event_id + 200)
    # Not the outage's, or not automatic: not in its ledger.
    elsewhere = await add_campaign(pool, other_pk, "confirmed", event.event_id + 300)
    await add_target(
        pool,
        elsewhere,
        "+15125550001",
        ("1001",),
        "done",
        outcome="reached",
        attempts=1,
        placed_at=at,
    )
    manual = await add_campaign(pool, pk, "confirmed", 0, automatic=False)
    await add_target(
        pool, manual, "+15125550001", ("1001",), "done", outcome="reached", attempts=1, placed_at=at
    )
    await store.consume(
        pk,
        AutomationState(acknowledged=True),
        [
            LedgerDecision(
                at=T0,
                event_id=None,
                decision=Decision(event="confirmed", verdict=Verdict.PLANNED),
                campaign_id=ack,
            ),
            decided(event.event_id + 100, Verdict.SKIPPED, "under the threshold"),
        ],
        event_id=event.event_id,
        now=T0,
    )

    ledger = await store.ledger("OUT-1", account=None)
    assert ledger is not None
    assert ledger.outage_id == "OUT-1"
    assert ledger.counts == {
        "confirmed": LedgerCounts(
            sent=3,
            reached=2,
            pending=1,
            skipped={"opted_out": 1, "recent_caller": 2},
        ),
        "etr_changed": LedgerCounts(sent=2, reached=1, pending=0, skipped={"call_pending": 1}),
        "restored": LedgerCounts(),
    }
    assert list(ledger.campaigns) == [ack, etr, empty]
    assert [(d.event_id, d.decision.verdict, d.campaign_id) for d in ledger.decisions] == [
        (event.event_id, Verdict.PLANNED, ack),
        (event.event_id + 100, Verdict.SKIPPED, None),
    ]
    assert ledger.decisions[1].decision.reason == "under the threshold"
    assert ledger.lines == ()

    one = await store.ledger("OUT-1", account="1001")
    assert one is not None
    assert [
        (line.trigger, line.campaign_id, line.phone, line.state, line.outcome, line.attempts)
        for line in one.lines
    ] == [
        ("confirmed", ack, "+15125550001", "done", "reached", 1),
        ("etr_changed", etr, "+15125550001", "done", "reached", 1),
    ]
    assert [(line.last_call_at, line.heard_at, line.heard_etr) for line in one.lines] == [
        (at, at, ETR1),
        (at + timedelta(hours=1), at + timedelta(hours=1), ETR2),
    ]
    household = await store.ledger("OUT-1", account="1003")
    assert household is not None
    assert [(line.trigger, line.account_numbers, line.outcome) for line in household.lines] == [
        ("confirmed", ("1002", "1003"), "voicemail"),
        ("etr_changed", ("1002", "1003"), "call_pending"),
    ]
    assert household.lines[1].last_call_at is None
    nobody = await store.ledger("OUT-1", account="9999")
    assert nobody is not None and nobody.lines == ()
    assert await store.ledger("NO-SUCH", account=None) is None
