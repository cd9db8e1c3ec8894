"""Automatic campaigns on a real database: a first batch the dialer calls at once and the
rest written after, each number once; a replayed event finds its campaign; who is left out
of an acknowledgement, an ETR update and an all-clear, and why; appending to and withdrawing
from an outage's campaigns; and a count that is exactly what the plan writes.

The scale test (`OUTAGE_VOICE_AUTOMATIC_SCALE=100000`, or 1000000) plans an outage of that
many customers and prints how long the first batch and the rest took."""

from __future__ import annotations

import io
import os
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
import pytest

from outage_voice.adapters.db.automatic_campaigns import PgAutomaticCampaignStore
from outage_voice.adapters.db.dialer import PgDialerStore
from outage_voice.bootstrap import Services
from outage_voice.domain.automation import (
    ALREADY_CLEARED,
    ALREADY_HEARD,
    CALL_PENDING,
    ELSEWHERE,
    NO_LONGER_AFFECTED,
    NOT_TOLD,
    OUTAGE_CANCELLED,
    RECENT_CALLER,
    RESTORED_FIRST,
    SUPERSEDED,
    TRIGGER_KINDS,
    AudienceRule,
    Trigger,
)
from outage_voice.domain.campaigns import (
    DEFAULT_RETRY,
    DEFAULT_WINDOW,
    KIND_MESSAGES,
    Audience,
    CampaignSpec,
    Message,
)
from outage_voice.domain.windows import parse_daily_window
from outage_voice.services.automation_ports import AutomaticPlan, PlanCounts
from tests.support import T0, csv_text

ETR = T0 + timedelta(hours=3)
# A reopened outage's all-clear calls not made yet are withdrawn with this reason.
REOPENED = "reopened"
GAP_S = 3600
GAP = timedelta(seconds=GAP_S)
MIN_CHANGE_S = 1800


def phone(number: int) -> str:
    return f"+1512555{number:04d}"


def row(account: str, number: int, premise: str, feeder: str = "", language: str = "") -> str:
    return (
        f"{account},Customer {account},512-555-{number:04d},,{premise},1 Elm St,{feeder},,"
        + language
    )


async def imported(services: Services, *rows: str) -> None:
    report = await services.customers.import_stream(io.StringIO(csv_text(*rows)))
    assert report.rejections == []


async def outage(
    pool: asyncpg.Pool,
    oms_id: str,
    *,
    premises: Sequence[str] = (),
    feeders: Sequence[str] = (),
    status: str = "confirmed",
) -> int:
    pk: int = await pool.fetchval(
        "INSERT INTO outages (oms_id, status, state) VALUES ($1, $2, '{}') RETURNING id",
        oms_id,
        status,
    )
    await pool.execute(
        "INSERT INTO outage_premises (outage_id, premise_id) SELECT $1, unnest($2::text[])",
        pk,
        list(premises),
    )
    await pool.execute(
        "INSERT INTO outage_feeders (outage_id, feeder_id) SELECT $1, unnest($2::text[])",
        pk,
        list(feeders),
    )
    return pk


def plan(
    outage_pk: int,
    trigger: Trigger = Trigger.CONFIRMED,
    event_id: int = 1,
    *,
    audience: AudienceRule = AudienceRule.OUTAGE,
    premises: tuple[str, ...] = (),
    recent_since: datetime | None = None,
    etr: datetime | None = None,
) -> AutomaticPlan:
    kind = TRIGGER_KINDS[trigger]
    spec = CampaignSpec(
        name=f"{trigger.value} {event_id}",
        kind=kind,
        audience=Audience(outage_id=f"O{outage_pk}"),
        message=Message(key=KIND_MESSAGES[kind]),
        cps=20.0,
        max_concurrent=200,
        window=parse_daily_window(DEFAULT_WINDOW),
        urgent=False,
        retry=dict(DEFAULT_RETRY),
        voicemail="message",
        priority=0,
        starts_at=None,
    )
    etr_update = trigger is Trigger.ETR_CHANGED
    return AutomaticPlan(
        spec=spec,
        outage_pk=outage_pk,
        trigger=trigger,
        event_id=event_id,
        audience=audience,
        premises=premises,
        recent_since=recent_since,
        etr=etr,
        etr_min_change_s=MIN_CHANGE_S if etr_update else 0,
        etr_gap_s=GAP_S if etr_update else 0,
    )


async def targets(pool: asyncpg.Pool, campaign_id: int) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(
        "SELECT id, phone, account_numbers, premise_ids, language, state, outcome,"
        " next_attempt_at FROM campaign_targets WHERE campaign_id = $1 ORDER BY id",
        campaign_id,
    )
    by_phone = {row["phone"]: row for row in rows}
    assert len(by_phone) == len(rows), "a number is a target twice"
    return by_phone


def written(rows: dict[str, asyncpg.Record]) -> PlanCounts:
    excluded = Counter(row["outcome"] for row in rows.values() if row["state"] == "excluded")
    return PlanCounts(
        targets=sum(row["state"] == "pending" for row in rows.values()), excluded=dict(excluded)
    )


def outcomes(rows: dict[str, asyncpg.Record]) -> dict[str, tuple[str, str | None]]:
    return {number: (row["state"], row["outcome"]) for number, row in rows.items()}


async def planned(
    store: PgAutomaticCampaignStore, the_plan: AutomaticPlan, first_batch: int = 2
) -> int:
    started = await store.start(the_plan, first_batch=first_batch, now=T0)
    assert started.created
    await store.plan_rest(started.campaign_id, the_plan, now=T0)
    return started.campaign_id


async def told(pool: asyncpg.Pool, campaign_id: int, *numbers: int, **columns: object) -> None:
    """The numbers' targets called once and reached (and whatever else `columns` set)."""
    sets = "".join(f", {name} = ${n}" for n, name in enumerate(columns, start=3))
    await pool.execute(
        "UPDATE campaign_targets SET state = 'done', outcome = 'reached', attempts = 1"
        f"{sets} WHERE campaign_id = $1 AND phone = ANY($2::text[])",
        campaign_id,
        [phone(n) for n in numbers],
        *columns.values(),
    )


async def test_a_first_batch_then_the_rest_call_every_number_on_the_outage_once(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(
        services,
        *(row(f"A{n}", 2000 + n, f"P{n:02d}", "F1" if n < 20 else "F2") for n in range(20)),
        *(
            row(f"A{n}", 2000 + n, f"P{n:02d}", "F2" if n < 30 else "F3", "es")
            for n in range(20, 32)
        ),
        # One household: three accounts, two of them on the outage, one call naming both.
        row("B1", 3000, "P03", "F1"),
        row("B2", 3000, "P25", "F2"),
        row("B3", 3000, "P31", "F3"),
        # A second account at one premise, with a number of its own.
        row("C1", 3001, "P05", "F1"),
    )
    pk = await outage(
        pool, "O1", premises=[f"P{n:02d}" for n in range(20)] + ["P-NEW"], feeders=["F2"]
    )
    store = PgAutomaticCampaignStore(pool)
    ack = plan(pk)

    started = await store.start(ack, first_batch=5, now=T0)

    assert started.created and started.planning
    first = await targets(pool, started.campaign_id)
    assert 5 <= len(first) == started.targets < 32
    campaign = await pool.fetchrow("SELECT * FROM campaigns WHERE id = $1", started.campaign_id)
    assert (campaign["state"], campaign["automatic"], campaign["planning"]) == (
        "running",
        True,
        True,
    )
    assert (campaign["trigger_event"], campaign["trigger_event_id"]) == ("confirmed", 1)
    assert (campaign["kind"], campaign["outage_id"], campaign["started_at"]) == (
        "outage_ack",
        pk,
        T0,
    )
    assert await store.still_planning() == [(started.campaign_id, ack)]

    # The same event again finds the campaign.
    again = await store.start(ack, first_batch=5, now=T0)
    assert (again.campaign_id, again.created, again.targets) == (
        started.campaign_id,
        False,
        len(first),
    )

    rest = await store.plan_rest(started.campaign_id, ack, now=T0)

    every = await targets(pool, started.campaign_id)
    assert len(first) + rest == len(every) == 32
    assert set(every) == {phone(2000 + n) for n in range(30)} | {phone(3000), phone(3001)}
    assert sorted(every[phone(3000)]["account_numbers"]) == ["B1", "B2"]
    assert every[phone(2021)]["language"] == "es"
    # Written after the first batch committed: keys all higher, as the dialer claims them.
    assert max(r["id"] for r in first.values()) < min(
        r["id"] for p, r in every.items() if p not in first
    )
    assert {r["state"] for r in every.values()} == {"pending"}
    assert all(r["next_attempt_at"] is None for r in every.values())
    assert await store.still_planning() == []
    assert not await pool.fetchval(
        "SELECT planning FROM campaigns WHERE id = $1", started.campaign_id
    )
    # Again: nothing more.
    assert await store.plan_rest(started.campaign_id, ack, now=T0) == 0
    assert len(await targets(pool, started.campaign_id)) == 32


async def test_a_small_outage_is_planned_whole_by_its_first_batch(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(3)))
    pk = await outage(pool, "O1", premises=["P0", "P1", "P2"])
    store = PgAutomaticCampaignStore(pool)

    started = await store.start(plan(pk), first_batch=500, now=T0)

    assert (started.targets, started.planning) == (3, False)
    assert await store.still_planning() == []
    assert await store.plan_rest(started.campaign_id, plan(pk), now=T0) == 0


async def test_a_campaign_still_planning_is_not_finished_by_the_dialer(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(6)))
    pk = await outage(pool, "O1", premises=[f"P{n}" for n in range(6)])
    store = PgAutomaticCampaignStore(pool)
    dialer = PgDialerStore(pool)
    started = await store.start(plan(pk), first_batch=2, now=T0)
    # Every number of the first batch called: only the rest, not written yet, is left.
    await pool.execute(
        "UPDATE campaign_targets SET state = 'done', attempts = 1 WHERE campaign_id = $1",
        started.campaign_id,
    )

    assert await dialer.finish_campaigns(T0) == []

    await store.plan_rest(started.campaign_id, plan(pk), now=T0)
    assert await dialer.finish_campaigns(T0) == []  # the rest to call
    await pool.execute(
        "UPDATE campaign_targets SET state = 'done', attempts = 1 WHERE campaign_id = $1",
        started.campaign_id,
    )
    assert await dialer.finish_campaigns(T0) == [started.campaign_id]


async def test_an_acknowledgement_leaves_out_opted_out_invalid_and_recent_callers(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(1, 8)))
    pk = await outage(pool, "O1", premises=[f"P{n}" for n in range(1, 8)])
    other = await outage(pool, "O2", premises=["P9"])
    await pool.execute("UPDATE phones SET opted_out_at = $2 WHERE e164 = $1", phone(2001), T0)
    await pool.execute("UPDATE phones SET invalid_at = $2 WHERE e164 = $1", phone(2002), T0)
    call = (
        "INSERT INTO inbound_calls (call_sid, caller, started_at, last_step_at)"
        " VALUES ($1, $2, $3, $3)"
    )
    await pool.execute(call, "CA3", phone(2003), T0 - timedelta(minutes=10))
    await pool.execute(call, "CA5", phone(2005), T0 - timedelta(minutes=40))  # before: called
    report = (
        "INSERT INTO outage_reports (kind, outage_id, phone, created_at)"
        " VALUES ('outage', $1, $2, $3)"
    )
    await pool.execute(report, pk, phone(2004), T0 - timedelta(minutes=5))
    await pool.execute(report, other, phone(2006), T0 - timedelta(minutes=5))  # another outage
    store = PgAutomaticCampaignStore(pool)
    ack = plan(pk, recent_since=T0 - timedelta(minutes=30))

    counted = await store.count(ack, now=T0)
    campaign_id = await planned(store, ack)

    rows = await targets(pool, campaign_id)
    assert outcomes(rows) == {
        phone(2001): ("excluded", "opted_out"),
        phone(2002): ("excluded", "invalid_number"),
        phone(2003): ("excluded", RECENT_CALLER),
        phone(2004): ("excluded", RECENT_CALLER),
        phone(2005): ("pending", None),
        phone(2006): ("pending", None),
        phone(2007): ("pending", None),
    }
    assert counted == written(rows)
    # The count wrote nothing (its campaign was rolled back with it).
    assert await pool.fetchval("SELECT count(*) FROM campaigns") == 1


async def test_an_etr_update_skips_pending_and_heard_calls_defers_under_the_gap_and_supersedes(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(1, 7)))
    pk = await outage(pool, "O1", premises=[f"P{n}" for n in range(1, 7)])
    store = PgAutomaticCampaignStore(pool)
    ack = await planned(store, plan(pk))
    # 2001's acknowledgement is still to be made; everyone else had theirs.
    await told(pool, ack, 2002, 2003, 2004, 2005)
    await told(pool, ack, 2006, heard_at=T0 - timedelta(hours=1), heard_etr=None)
    await told(pool, ack, 2003, heard_at=T0 - timedelta(hours=3), heard_etr=ETR)
    first_update = await planned(
        store, plan(pk, Trigger.ETR_CHANGED, 2, etr=ETR - timedelta(hours=1))
    )
    assert outcomes(await targets(pool, first_update))[phone(2001)] == ("excluded", CALL_PENDING)
    # 2005's first update is not made yet; 2004 had it 20 minutes ago; 2002 heard this very
    # ETR (within the threshold) last; 2003 heard it, then an older one later.
    await told(
        pool,
        first_update,
        2002,
        heard_at=T0 - timedelta(hours=2),
        heard_etr=ETR + timedelta(minutes=10),
    )
    await told(
        pool,
        first_update,
        2003,
        heard_at=T0 - timedelta(hours=2),
        heard_etr=ETR - timedelta(hours=2),
    )
    await told(pool, first_update, 2004, 2006)
    placed = (
        "INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, status,"
        " created_at, placed_at, ended_at)"
        " SELECT id, campaign_id, 1, phone, 'completed', $3, $3, $3"
        " FROM campaign_targets WHERE campaign_id = $1 AND phone = $2"
    )
    await pool.execute(placed, first_update, phone(2004), T0 - timedelta(minutes=20))
    await pool.execute(placed, first_update, phone(2006), T0 - timedelta(minutes=70))
    update = plan(pk, Trigger.ETR_CHANGED, 3, etr=ETR)

    counted = await store.count(update, now=T0)
    second_update = await planned(store, update)

    rows = await targets(pool, second_update)
    assert outcomes(rows) == {
        phone(2001): ("excluded", CALL_PENDING),
        phone(2002): ("excluded", ALREADY_HEARD),
        phone(2003): ("pending", None),
        phone(2004): ("pending", None),
        phone(2005): ("pending", None),
        phone(2006): ("pending", None),
    }
    assert rows[phone(2004)]["next_attempt_at"] == T0 - timedelta(minutes=20) + timedelta(
        seconds=GAP_S
    )
    assert [rows[phone(n)]["next_attempt_at"] for n in (2003, 2005, 2006)] == [None] * 3
    assert outcomes(await targets(pool, first_update))[phone(2005)] == ("excluded", SUPERSEDED)
    assert counted == written(rows)
    # "No estimate" again, to those whose last call said there was none.
    no_etr = await store.count(plan(pk, Trigger.ETR_CHANGED, 4, etr=None), now=T0)
    assert no_etr.excluded == {CALL_PENDING: 1, ALREADY_HEARD: 1}  # 2001, 2006


async def test_an_all_clear_goes_to_those_told_and_not_cleared_nor_still_out(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(
        services,
        *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(1, 9)),
        # 2009: a household on a premise taken off the outage and one still on it.
        row("A9", 2009, "P9"),
        row("A10", 2009, "P10"),
    )
    pk = await outage(pool, "O1", premises=[f"P{n}" for n in range(1, 11)])
    await outage(pool, "O2", premises=["P8"])
    store = PgAutomaticCampaignStore(pool)
    ack = await planned(store, plan(pk))
    await told(pool, ack, 2001, 2003, 2006, 2008, 2009)
    # The OMS takes P2, P3, P6 and P9 off the outage: a partial all-clear for those told.
    removed = plan(
        pk, Trigger.RESTORED, 10, audience=AudienceRule.REMOVED, premises=("P2", "P3", "P6", "P9")
    )
    previewed = await store.count(removed, now=T0)  # before the change is written
    await pool.execute(
        "DELETE FROM outage_premises WHERE outage_id = $1 AND premise_id = ANY($2::text[])",
        pk,
        ["P2", "P3", "P6", "P9"],
    )
    counted = await store.count(removed, now=T0)
    started = await store.start(removed, first_batch=2, now=T0)
    assert not started.planning
    partial = await targets(pool, started.campaign_id)
    assert outcomes(partial) == {
        phone(2003): ("pending", None),
        phone(2006): ("pending", None),
        phone(2009): ("excluded", ELSEWHERE),  # P10 is still out
    }  # 2002 was never called about it
    assert counted == previewed == written(partial)
    await told(pool, started.campaign_id, 2003)
    # Then the rest is restored: 2002's call was withdrawn unmade, 2007's after one try;
    # 2004 called the outage line; 2005 had no call of it (never told: no all-clear).
    await pool.execute("UPDATE outages SET status = 'restored' WHERE id = $1", pk)
    withdrawn = (
        "UPDATE campaign_targets SET state = 'excluded', outcome = $3, attempts = $4"
        " WHERE campaign_id = $1 AND phone = $2"
    )
    await pool.execute(withdrawn, ack, phone(2002), RESTORED_FIRST, 0)
    await pool.execute(withdrawn, ack, phone(2007), RESTORED_FIRST, 1)
    await pool.execute(withdrawn, ack, phone(2004), RECENT_CALLER, 0)
    await pool.execute("DELETE FROM campaign_targets WHERE phone = $1", phone(2005))
    all_clear = plan(pk, Trigger.RESTORED, 11, audience=AudienceRule.ALL_CLEAR)

    counted = await store.count(all_clear, now=T0)
    campaign_id = await planned(store, all_clear)

    rows = await targets(pool, campaign_id)
    assert outcomes(rows) == {
        phone(2001): ("pending", None),
        phone(2002): ("excluded", NOT_TOLD),
        phone(2003): ("excluded", ALREADY_CLEARED),
        phone(2004): ("pending", None),
        phone(2005): ("excluded", NOT_TOLD),
        # Off the outage and told of its restoration, the call not made yet.
        phone(2006): ("excluded", ALREADY_CLEARED),
        phone(2007): ("pending", None),
        phone(2008): ("excluded", ELSEWHERE),  # P8 is on O2 too
        phone(2009): ("pending", None),  # P10 is back as well
    }
    assert counted == written(rows)


async def settled(
    pool: asyncpg.Pool, campaign_id: int, number: int, state: str, outcome: str, attempts: int
) -> None:
    """The number's target of the campaign left as it ended up."""
    await pool.execute(
        "UPDATE campaign_targets SET state = $3, outcome = $4, attempts = $5"
        " WHERE campaign_id = $1 AND phone = $2",
        campaign_id,
        phone(number),
        state,
        outcome,
        attempts,
    )


async def test_an_all_clear_leaves_out_numbers_whose_calls_were_all_withdrawn_unmade(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(1, 5)))
    pk = await outage(pool, "O1", premises=[f"P{n}" for n in range(1, 5)])
    store = PgAutomaticCampaignStore(pool)
    ack = await planned(store, plan(pk))
    update = await planned(store, plan(pk, Trigger.ETR_CHANGED, 2, etr=ETR))
    # Cancelled before 2001's acknowledgement was made; 2003's after a first try.
    await settled(pool, ack, 2001, "excluded", OUTAGE_CANCELLED, 0)
    await settled(pool, ack, 2003, "excluded", OUTAGE_CANCELLED, 1)
    # 2002: taken off, then back on, its ETR update replaced by a later one, none made.
    await settled(pool, ack, 2002, "excluded", NO_LONGER_AFFECTED, 0)
    await settled(pool, update, 2002, "excluded", SUPERSEDED, 0)
    # 2004 heard the acknowledgement; its ETR update was replaced unmade.
    await settled(pool, ack, 2004, "done", "reached", 1)
    await settled(pool, update, 2004, "excluded", SUPERSEDED, 0)
    all_clear = plan(pk, Trigger.RESTORED, 3, audience=AudienceRule.ALL_CLEAR)

    counted = await store.count(all_clear, now=T0)
    rows = await targets(pool, await planned(store, all_clear))

    assert outcomes(rows) == {
        phone(2001): ("excluded", NOT_TOLD),
        phone(2002): ("excluded", NOT_TOLD),
        phone(2003): ("pending", None),
        phone(2004): ("pending", None),
    }
    assert counted == written(rows)


async def test_a_reopened_outage_is_cleared_again_once_acknowledged_again(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(1, 5)))
    pk = await outage(pool, "O1", premises=[f"P{n}" for n in range(1, 5)])
    store = PgAutomaticCampaignStore(pool)
    first_ack = await planned(store, plan(pk))
    await told(pool, first_ack, 2001, 2002, 2003, 2004)
    first_clear = await planned(
        store, plan(pk, Trigger.RESTORED, 2, audience=AudienceRule.ALL_CLEAR)
    )
    await told(pool, first_clear, 2001, 2002)

    # The outage is out again: the all-clear's calls not made yet are taken back.
    reopened = await store.withdraw(
        pk, reason=REOPENED, triggers=(Trigger.RESTORED,), only_unaffected=False, now=T0
    )

    assert reopened == 2
    assert outcomes(await targets(pool, first_clear)) == {
        phone(2001): ("done", "reached"),
        phone(2002): ("done", "reached"),
        phone(2003): ("excluded", REOPENED),
        phone(2004): ("excluded", REOPENED),
    }
    assert {state for state, _ in outcomes(await targets(pool, first_ack)).values()} == {"done"}
    assert await store.still_planning() == []
    # Acknowledged again; 2003 told of a partial restoration since, 2004's call withdrawn
    # unmade (it was told the first time).
    second_ack = await planned(store, plan(pk, Trigger.CONFIRMED, 3))
    await told(pool, second_ack, 2001, 2002, 2003)
    await settled(pool, second_ack, 2004, "excluded", RESTORED_FIRST, 0)
    partial = await planned(
        store, plan(pk, Trigger.RESTORED, 4, audience=AudienceRule.REMOVED, premises=("P3",))
    )
    assert outcomes(await targets(pool, partial)) == {phone(2003): ("pending", None)}
    second_clear = plan(pk, Trigger.RESTORED, 5, audience=AudienceRule.ALL_CLEAR)

    counted = await store.count(second_clear, now=T0)
    rows = await targets(pool, await planned(store, second_clear))

    assert outcomes(rows) == {
        phone(2001): ("pending", None),
        phone(2002): ("pending", None),
        phone(2003): ("excluded", ALREADY_CLEARED),
        phone(2004): ("pending", None),
    }
    assert counted == written(rows)


async def test_an_etr_update_call_under_way_defers_the_next_update_by_the_gap(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(1, 4)))
    pk = await outage(pool, "O1", premises=[f"P{n}" for n in range(1, 4)])
    store = PgAutomaticCampaignStore(pool)
    ack = await planned(store, plan(pk))
    await told(pool, ack, 2001, 2002, 2003)
    first_update = await planned(
        store, plan(pk, Trigger.ETR_CHANGED, 2, etr=ETR - timedelta(hours=1))
    )
    # 2001's call claimed 5 minutes ago, the carrier not answered yet; 2002's placed 9
    # minutes ago and ringing; 2003's still to make.
    under_way = (
        "WITH claimed AS (UPDATE campaign_targets SET state = 'calling', attempts = 1"
        " WHERE campaign_id = $1 AND phone = $2 RETURNING id, campaign_id, phone)"
        " INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, status,"
        " created_at, placed_at) SELECT id, campaign_id, 1, phone, $3, $4, $5 FROM claimed"
    )
    claimed_at = T0 - timedelta(minutes=5)
    await pool.execute(under_way, first_update, phone(2001), "placing", claimed_at, None)
    placed_at = T0 - timedelta(minutes=9)
    await pool.execute(
        under_way, first_update, phone(2002), "ringing", placed_at - timedelta(minutes=1), placed_at
    )
    update = plan(pk, Trigger.ETR_CHANGED, 3, etr=ETR)

    counted = await store.count(update, now=T0)
    rows = await targets(pool, await planned(store, update))

    assert outcomes(rows) == {phone(n): ("pending", None) for n in (2001, 2002, 2003)}
    assert {n: rows[phone(n)]["next_attempt_at"] for n in (2001, 2002, 2003)} == {
        2001: claimed_at + GAP,
        2002: placed_at + GAP,
        2003: None,
    }
    assert counted == written(rows)


async def test_newly_affected_numbers_join_the_acknowledgement_which_runs_again(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(
        services,
        *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(1, 4)),
        row("A4", 2004, "P4", "F9"),
        row("A5", 2001, "P5"),  # 2001's second account: the number has its call already
        row("A6", 2006, "P6"),
    )
    pk = await outage(pool, "O1", premises=["P1", "P2", "P3"])
    store = PgAutomaticCampaignStore(pool)
    dialer = PgDialerStore(pool)
    assert await store.append(pk, ["P4"], [], now=T0, recent_since=None) == (None, 0)
    ack = await planned(store, plan(pk))
    await told(pool, ack, 2001, 2002, 2003)
    assert await dialer.finish_campaigns(T0) == [ack]
    await pool.execute(
        "INSERT INTO outage_premises (outage_id, premise_id) VALUES ($1, 'P5'), ($1, 'P6')", pk
    )
    await pool.execute("INSERT INTO outage_feeders (outage_id, feeder_id) VALUES ($1, 'F9')", pk)
    await pool.execute("UPDATE phones SET opted_out_at = $2 WHERE e164 = $1", phone(2006), T0)

    assert await store.append(
        pk, ["P5", "P6"], ["F9"], now=T0, recent_since=None, dry_run=True
    ) == (ack, 2)
    assert len(await targets(pool, ack)) == 3
    assert await pool.fetchval("SELECT state FROM campaigns WHERE id = $1", ack) == "completed"

    later = T0 + timedelta(minutes=5)
    assert await store.append(pk, ["P5", "P6"], ["F9"], now=later, recent_since=None) == (ack, 2)

    rows = await targets(pool, ack)
    assert outcomes(rows)[phone(2004)] == ("pending", None)
    assert outcomes(rows)[phone(2006)] == ("excluded", "opted_out")
    assert len(rows) == 5
    campaign = await pool.fetchrow("SELECT * FROM campaigns WHERE id = $1", ack)
    assert (campaign["state"], campaign["finished_at"], campaign["planning"]) == (
        "running",
        None,
        False,
    )
    assert await store.append(pk, ["P5", "P6"], ["F9"], now=later, recent_since=None) == (ack, 0)
    assert await dialer.finish_campaigns(later) == []  # 2004 to call


async def test_an_append_to_a_paused_acknowledgement_leaves_it_paused(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(1, 3)))
    pk = await outage(pool, "O1", premises=["P1"])
    store = PgAutomaticCampaignStore(pool)
    ack = await planned(store, plan(pk))
    await pool.execute("UPDATE campaigns SET state = 'paused' WHERE id = $1", ack)
    await pool.execute("INSERT INTO outage_premises (outage_id, premise_id) VALUES ($1, 'P2')", pk)

    assert await store.append(pk, ["P2"], [], now=T0, recent_since=None) == (ack, 1)

    campaign = await pool.fetchrow("SELECT state, planning FROM campaigns WHERE id = $1", ack)
    assert (campaign["state"], campaign["planning"]) == ("paused", False)
    assert outcomes(await targets(pool, ack))[phone(2002)] == ("pending", None)


async def test_an_append_before_the_rest_is_written_leaves_the_rest_to_its_plan(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(8)))
    pk = await outage(pool, "O1", premises=[f"P{n}" for n in range(6)])
    store = PgAutomaticCampaignStore(pool)
    ack = plan(pk)
    started = await store.start(ack, first_batch=2, now=T0)
    await pool.execute(
        "INSERT INTO outage_premises (outage_id, premise_id) VALUES ($1, 'P6'), ($1, 'P7')", pk
    )

    assert await store.append(pk, ["P6", "P7"], [], now=T0, recent_since=None) == (
        started.campaign_id,
        2,
    )

    assert await store.still_planning() == [(started.campaign_id, ack)]
    assert await store.plan_rest(started.campaign_id, ack, now=T0) == 4
    assert set(await targets(pool, started.campaign_id)) == {phone(2000 + n) for n in range(8)}


async def test_pending_calls_are_withdrawn_by_trigger_and_when_no_longer_affected(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(
        services,
        *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(1, 5)),
        row("A5", 2005, "P3"),  # 2005: a household on P3 and P4
        row("A6", 2005, "P4"),
    )
    pk = await outage(pool, "O1", premises=["P1", "P2", "P3", "P4"])
    store = PgAutomaticCampaignStore(pool)
    ack = await planned(store, plan(pk))
    await told(pool, ack, 2001, 2004)
    update = await planned(store, plan(pk, Trigger.ETR_CHANGED, 2, etr=ETR))
    pending = {
        n for n, (state, _) in outcomes(await targets(pool, update)).items() if state == "pending"
    }
    assert pending == {phone(2001), phone(2004)}
    await pool.execute("DELETE FROM outage_premises WHERE outage_id = $1 AND premise_id = 'P3'", pk)

    gone = await store.withdraw(
        pk, reason=NO_LONGER_AFFECTED, triggers=(), only_unaffected=True, now=T0
    )

    assert gone == 1
    assert outcomes(await targets(pool, ack)) == {
        phone(2001): ("done", "reached"),
        phone(2002): ("pending", None),
        phone(2003): ("excluded", NO_LONGER_AFFECTED),
        phone(2004): ("done", "reached"),
        phone(2005): ("pending", None),  # P4 is still out
    }
    acknowledging = (Trigger.CONFIRMED, Trigger.CREW_DISPATCHED)
    assert (
        await store.withdraw(
            pk,
            reason=RESTORED_FIRST,
            triggers=acknowledging,
            only_unaffected=False,
            now=T0,
            dry_run=True,
        )
        == 2
    )
    assert outcomes(await targets(pool, ack))[phone(2002)] == ("pending", None)
    assert (
        await store.withdraw(
            pk, reason=RESTORED_FIRST, triggers=acknowledging, only_unaffected=False, now=T0
        )
        == 2
    )
    assert outcomes(await targets(pool, ack))[phone(2005)] == ("excluded", RESTORED_FIRST)
    assert {state for state, _ in outcomes(await targets(pool, update)).values()} == {
        "pending",
        "excluded",
    }
    assert (
        await store.withdraw(
            pk, reason=OUTAGE_CANCELLED, triggers=(), only_unaffected=False, now=T0
        )
        == 2
    )
    assert outcomes(await targets(pool, update))[phone(2004)] == ("excluded", OUTAGE_CANCELLED)


async def test_a_plan_withdrawn_before_its_rest_is_written_writes_no_more(
    services: Services, pool: asyncpg.Pool
) -> None:
    await imported(services, *(row(f"A{n}", 2000 + n, f"P{n}") for n in range(6)))
    pk = await outage(pool, "O1", premises=[f"P{n}" for n in range(6)])
    store = PgAutomaticCampaignStore(pool)
    ack = plan(pk)
    started = await store.start(ack, first_batch=2, now=T0)

    withdrawn = await store.withdraw(
        pk, reason=OUTAGE_CANCELLED, triggers=(), only_unaffected=False, now=T0
    )

    assert withdrawn == started.targets
    assert await store.still_planning() == []
    assert await store.plan_rest(started.campaign_id, ack, now=T0) == 0
    assert await PgDialerStore(pool).finish_campaigns(T0) == [started.campaign_id]


SCALE = int(os.environ.get("OUTAGE_VOICE_AUTOMATIC_SCALE") or 0)
# One number in twenty is a household's second account.
SCALE_CUSTOMERS = """
INSERT INTO premises (premise_id, service_address, feeder_id, timezone, language)
SELECT 'P' || n, n || ' Main St', 'F' || (n % 100), 'America/Chicago',
       CASE WHEN n % 7 = 0 THEN 'es' ELSE 'en' END
FROM generate_series(1, $1::integer) AS n;
INSERT INTO accounts (account_number, name, premise_id)
SELECT 'A' || n, 'Customer ' || n, 'P' || n FROM generate_series(1, $1::integer) AS n;
INSERT INTO phones (e164)
SELECT '+1512' || lpad(n::text, 7, '0') FROM generate_series(1, $1::integer) AS n
WHERE n % 20 <> 0;
INSERT INTO account_phones (e164, account_number, kind)
SELECT '+1512' || lpad((n - (n % 20 = 0)::integer)::text, 7, '0'), 'A' || n, 'primary'
FROM generate_series(1, $1::integer) AS n;
"""


@pytest.mark.skipif(not SCALE, reason="set OUTAGE_VOICE_AUTOMATIC_SCALE=<customers> to run")
@pytest.mark.timeout(1800)
async def test_a_large_outage_starts_calling_at_once(pool: asyncpg.Pool) -> None:
    began = time.perf_counter()
    async with pool.acquire() as connection:
        for statement in SCALE_CUSTOMERS.strip().split(";\n"):
            await connection.execute(statement.replace("$1::integer", str(SCALE)), timeout=600)
        await connection.execute("ANALYZE", timeout=600)
    pk = await outage(pool, "BIG", feeders=[f"F{n}" for n in range(100)])
    store = PgAutomaticCampaignStore(pool)
    figures = [f"customers written in {time.perf_counter() - began:.1f} s"]

    async def timed(label: str, the_plan: AutomaticPlan) -> int:
        began = time.perf_counter()
        started = await store.start(the_plan, first_batch=500, now=T0)
        first_s = time.perf_counter() - began
        began = time.perf_counter()
        rest = await store.plan_rest(started.campaign_id, the_plan, now=T0)
        rest_s = time.perf_counter() - began
        figures.append(
            f"{label}: first batch {started.targets} in {first_s:.3f} s,"
            f" rest {rest} in {rest_s:.1f} s"
        )
        assert started.targets + rest == SCALE * 19 // 20
        return started.campaign_id

    ack = await timed("acknowledgement", plan(pk))
    await pool.execute(
        "UPDATE campaign_targets SET state = 'done', attempts = 1 WHERE campaign_id = $1"
        " AND id % 2 = 0",
        ack,
        timeout=600,
    )
    await timed("ETR update", plan(pk, Trigger.ETR_CHANGED, 2, etr=ETR))
    # A second update while the first has every call still to make: those are superseded.
    await timed("second ETR update", plan(pk, Trigger.ETR_CHANGED, 3, etr=ETR + GAP))
    await pool.execute("UPDATE outages SET status = 'restored' WHERE id = $1", pk)
    await timed("all-clear", plan(pk, Trigger.RESTORED, 4, audience=AudienceRule.ALL_CLEAR))
    for reason, only_unaffected in ((NO_LONGER_AFFECTED, True), (OUTAGE_CANCELLED, False)):
        began = time.perf_counter()
        withdrawn = await store.withdraw(
            pk, reason=reason, triggers=(), only_unaffected=only_unaffected, now=T0
        )
        figures.append(f"withdraw {reason}: {withdrawn} in {time.perf_counter() - began:.1f} s")
    print(f"\n{SCALE:,} customers:", *figures, sep="\n  ")
