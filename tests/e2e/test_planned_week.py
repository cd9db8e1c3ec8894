"""Planned work end to end, on virtual time across days: the OMS feeds the work through the
API, the leader's schedule makes each message's campaign when it is due, the dialer calls
through the virtual carrier, and every customer's calls are checked: when (on their own
clock), what they heard (in their language), and that nothing is lost or made twice across
a move, a cancellation, a server stopped over a due minute and two instances at once.

An idle server still polls every second or so, and an hour of that costs seconds of real
time, so days are not run through: quiet stretches are skipped (`VirtualClock.jump`, as if
the whole process had been suspended), and time runs minute by minute from a few minutes
before each moment something is due. A message due earlier than it should be would be made
at the jump, and one due later not in the minutes run: the times asserted catch both.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from outage_voice.bootstrap import Services, create_app
from outage_voice.carrier.calls import CallRecord
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Persona, PersonaBook
from outage_voice.config import Settings
from outage_voice.domain.auth import Role
from outage_voice.web.keys import LEADER, VIRTUAL_CARRIER
from tests.integration.test_server import free_port
from tests.support import csv_text

CHICAGO = ZoneInfo("America/Chicago")  # the utility's zone (OUTAGE_VOICE_TIMEZONE's default)
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
MINUTE = timedelta(minutes=1)
# How long before a due moment time runs minute by minute, and how long after.
LEAD = timedelta(minutes=5)
TAIL = timedelta(minutes=10)

# Four customers on the work: two zones, two languages. One more elsewhere, never called.
CUSTOMERS = csv_text(
    "4001,Ann Lee,512-557-0001,,W1,12 Oak Street,PW,America/Chicago,en",
    "4002,Beto Ruiz,512-557-0002,,W2,40 Elm Street,PW,America/Chicago,es",
    "4003,Cal Park,512-557-0003,,W3,7 Pine Street,PW,America/Los_Angeles,en",
    "4004,Dora Vega,512-557-0004,,W4,9 Palm Street,PW,America/Los_Angeles,es",
    "4005,Eve Far,512-557-0005,,X1,1 Far Road,PX,America/Chicago,en",
)
ANN, BETO, CAL, DORA, EVE = (f"+1512557000{n}" for n in range(1, 6))
ON_THE_WORK = (ANN, BETO, CAL, DORA)


def chicago(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


@dataclasses.dataclass
class Instance:
    server: TestServer
    app: web.Application
    url: str

    @property
    def carrier(self) -> VirtualCarrier:
        carrier: VirtualCarrier = self.app[VIRTUAL_CARRIER]
        return carrier

    def schedules(self) -> bool:
        return "schedule" in self.app[LEADER].running()


@dataclasses.dataclass(frozen=True)
class Call:
    phone: str
    trigger: str
    placed_at: datetime
    record: CallRecord

    @property
    def words(self) -> str:
        return self.record.spoken_text()


@dataclasses.dataclass
class Utility:
    """The utility's servers on one database and one virtual clock, fed by the OMS."""

    settings: Settings
    pool: asyncpg.Pool
    session: aiohttp.ClientSession
    tokens: dict[Role, dict[str, str]]
    clock: VirtualClock
    instances: list[Instance] = dataclasses.field(default_factory=list)
    stopped: list[Instance] = dataclasses.field(default_factory=list)

    async def start(self) -> Instance:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        app = create_app(
            dataclasses.replace(self.settings, public_url=url),
            clock=self.clock,
            timer=self.clock,
            run_dialer=True,
            carrier_settings=CarrierSettings(
                cps=None, personas=PersonaBook(mix=((1.0, Persona(digits=("",))),))
            ),
        )
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        instance = Instance(server=server, app=app, url=url)
        self.instances.append(instance)
        return instance

    async def stop(self, instance: Instance) -> None:
        await instance.server.close()
        self.instances.remove(instance)
        self.stopped.append(instance)

    async def close(self) -> None:
        for instance in list(self.instances):
            await self.stop(instance)

    async def api(self, method: str, path: str, body: Any = None, *, role: Role) -> Any:
        async with self.session.request(
            method, f"{self.instances[0].url}{path}", json=body, headers=self.tokens[role]
        ) as answer:
            payload = await answer.json()
            assert answer.status < 300, (method, path, answer.status, payload)
            return payload

    async def oms(self, outage_id: str, body: dict[str, Any]) -> None:
        await self.api("PUT", f"/api/v1/outages/{outage_id}", body, role=Role.OMS)

    async def until(self, check: Callable[[], Awaitable[bool]], timeout_s: float = 60) -> None:
        async with asyncio.timeout(timeout_s):
            while not await check():  # noqa: ASYNC110 - polling the database is the point
                await asyncio.sleep(0.02)

    @contextlib.asynccontextmanager
    async def at(self, moment: datetime) -> AsyncIterator[None]:
        """Lets time run until `moment` and holds it there while the block acts, then until
        the automation has consumed every outage change (and written its schedule)."""
        arrived, resume = asyncio.Event(), asyncio.Event()

        async def alarm() -> None:
            await self.clock.sleep((moment - self.clock.now()).total_seconds())
            arrived.set()
            await resume.wait()  # not the clock's wait: time stands still meanwhile

        self.clock.spawn(alarm())
        try:
            async with asyncio.timeout(120):
                await arrived.wait()
            yield

            async def consumed() -> bool:
                waiting = await self.pool.fetchval(
                    "SELECT count(*) FROM outage_events WHERE consumed_at IS NULL"
                )
                return bool(waiting == 0)

            await self.until(consumed)
        finally:
            resume.set()

    async def run_until(self, moment: datetime) -> None:
        async with self.at(moment):
            pass

    async def skip_to(self, moment: datetime) -> None:
        """Skips a quiet stretch: no call is live. Time then runs on from `moment`."""
        live = await self.pool.fetchval("SELECT count(*) FROM call_attempts WHERE ended_at IS NULL")
        assert live == 0, f"{live} call(s) live at {self.clock.now()}: not a quiet stretch"
        assert moment >= self.clock.now()
        self.clock.jump(moment)
        await self.run_until(moment + timedelta(seconds=1))

    async def around(self, due: datetime, *, until: datetime | None = None) -> None:
        """Runs minute by minute from a little before `due` to a little after (or `until`)."""
        await self.skip_to(due - LEAD)
        await self.run_until(until or due + TAIL)

    async def calls(self) -> dict[str, list[Call]]:
        """Every call placed, by number, in order, with the message that made it."""
        records = {
            sid: record
            for instance in (*self.instances, *self.stopped)
            for sid, record in instance.carrier.calls.items()
        }
        rows = await self.pool.fetch(
            """SELECT a.phone, a.call_sid, a.placed_at, c.trigger_event
               FROM call_attempts a JOIN campaigns c ON c.id = a.campaign_id
               WHERE a.call_sid IS NOT NULL ORDER BY a.placed_at, a.id"""
        )
        found: dict[str, list[Call]] = defaultdict(list)
        for row in rows:
            found[row["phone"]].append(
                Call(
                    phone=row["phone"],
                    trigger=row["trigger_event"],
                    placed_at=row["placed_at"],
                    record=records[row["call_sid"]],
                )
            )
        assert len(rows) == len(records), "the carrier saw calls the database does not hold"
        return found

    async def schedule_rows(self) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.pool.fetch(
            "SELECT message, state, reason, due_at, decided_at, campaign_id, generation"
            " FROM outage_schedule ORDER BY due_at, id"
        )
        return rows


@pytest.fixture
async def utility(
    settings: Settings,
    services: Services,
    tmp_path: Path,
    tokens: dict[Role, dict[str, str]],
    pool: asyncpg.Pool,
) -> AsyncIterator[Utility]:
    assert settings.timezone == "America/Chicago"
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    async with aiohttp.ClientSession() as session:
        rig = Utility(
            settings=settings,
            pool=pool,
            session=session,
            tokens=tokens,
            clock=VirtualClock(chicago(2026, 10, 1, 0)),
        )
        try:
            yield rig
        finally:
            await rig.close()


def work(starts: datetime, ends: datetime, **more: Any) -> dict[str, Any]:
    return {
        "status": "confirmed",
        "planned": True,
        "feeder_ids": ["PW"],
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        **more,
    }


def placed_within(call: Call, start: datetime, *, minutes: int = 5) -> bool:
    return start <= call.placed_at < start + timedelta(minutes=minutes)


# --- a week: notice, reminder and all-clear, two zones, two languages, across the DST change --


# Tuesday, November 3rd, 2026, 09:00-13:00 in Chicago (CST since Sunday's fall-back: 15:00-19:00
# UTC); Wednesday if the weather is bad. Fed on Thursday, October 29th (CDT), five days ahead.
WEEK_FED = chicago(2026, 10, 29, 10)
WEEK_STARTS, WEEK_ENDS = chicago(2026, 11, 3, 9), chicago(2026, 11, 3, 13)
WEEK_ALTERNATE = chicago(2026, 11, 4, 9)
# The notice three days ahead at the same local time, 09:00 CDT on Saturday: 14:00 UTC, not
# 15:00. Customers in Los Angeles (07:00 there) are called when their window opens, 08:00 PDT.
NOTICE_CHICAGO = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)
NOTICE_LA = datetime(2026, 10, 31, 15, 0, tzinfo=UTC)
# The reminder the day before, 09:00 CST on Monday: 15:00 UTC; 08:00 PST in Los Angeles.
REMINDER_CHICAGO = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
REMINDER_LA = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
# The all-clear at the work's end (the OMS said nothing): 13:00 CST, 11:00 PST, both in window.
ALL_CLEAR = datetime(2026, 11, 3, 19, 0, tzinfo=UTC)


async def test_a_week_of_planned_work_in_two_zones_and_two_languages_across_the_dst_change(
    utility: Utility,
) -> None:
    await utility.start()
    utility.clock.jump(WEEK_FED - LEAD)
    async with utility.at(WEEK_FED):
        alternate = WEEK_ALTERNATE.isoformat()
        await utility.oms("PW-1", work(WEEK_STARTS, WEEK_ENDS, alternate_starts_at=alternate))
    await utility.run_until(WEEK_FED + TAIL)
    rows = await utility.schedule_rows()
    assert [(r["message"], r["state"], r["due_at"]) for r in rows] == [
        ("notice", "pending", NOTICE_CHICAGO),
        ("reminder", "pending", REMINDER_CHICAGO),
        ("all_clear", "pending", ALL_CLEAR),
    ]
    assert not await utility.calls()  # planned work is not acknowledged like a fault

    await utility.around(NOTICE_CHICAGO)
    await utility.around(NOTICE_LA)
    await utility.around(REMINDER_CHICAGO)
    await utility.around(REMINDER_LA)
    await utility.around(ALL_CLEAR)
    # The rest of the week: nothing more.
    await utility.around(chicago(2026, 11, 5, 9))

    calls = await utility.calls()
    assert set(calls) == set(ON_THE_WORK), "only the customers on the work are called"
    assert EVE not in calls
    for phone, heard in calls.items():
        assert [c.trigger for c in heard] == [
            "planned_notice",
            "planned_reminder",
            "planned_all_clear",
        ], phone
    # When: at the right local times, on each customer's own clock.
    for phone in (ANN, BETO):
        notice, reminder, all_clear = calls[phone]
        assert placed_within(notice, NOTICE_CHICAGO), notice.placed_at
        assert placed_within(reminder, REMINDER_CHICAGO), reminder.placed_at
        assert placed_within(all_clear, ALL_CLEAR), all_clear.placed_at
    for phone in (CAL, DORA):
        notice, reminder, all_clear = calls[phone]
        assert placed_within(notice, NOTICE_LA), notice.placed_at
        assert placed_within(reminder, REMINDER_LA), reminder.placed_at
        assert placed_within(all_clear, ALL_CLEAR), all_clear.placed_at
    for phone, heard in calls.items():
        zone = CHICAGO if phone in (ANN, BETO) else LOS_ANGELES
        for call in heard:
            local = call.placed_at.astimezone(zone)
            assert 8 <= local.hour < 21, (phone, call.trigger, local)

    # What: the day, the hours on their own clock, the duration, the bad-weather date.
    ann, beto, cal, dora = (calls[p] for p in ON_THE_WORK)
    assert (
        "Planned maintenance will turn off power at 12 Oak Street on Tuesday, November third, "
        "from nine A M to about one P M. It should take about four hours, and may end earlier "
        "or later than planned." in ann[0].words
    )
    assert (
        "it will be done on Wednesday, November fourth, from nine A M to about one P M instead."
        in ann[0].words
    )
    assert "at 7 Pine Street on Tuesday, November third, from seven A M to about eleven A M." in (
        cal[0].words
    )
    assert "Wednesday, November fourth, from seven A M to about eleven A M instead." in (
        cal[0].words
    )
    assert (
        "cortaremos la luz en 40 Elm Street el martes tres de noviembre, de las nueve de la "
        "mañana a aproximadamente la una de la tarde." in beto[0].words
    )
    assert "se hará el miércoles cuatro de noviembre, de las nueve de la mañana" in beto[0].words
    assert (
        "cortaremos la luz en 9 Palm Street el martes tres de noviembre, de las siete de la "
        "mañana a aproximadamente las once de la mañana." in dora[0].words
    )
    assert (
        "A reminder: planned maintenance will turn off power at 12 Oak Street on Tuesday, "
        "November third, from nine A M to about one P M." in ann[1].words
    )
    assert "on Tuesday, November third, from seven A M to about eleven A M." in cal[1].words
    assert "Le recordamos que" in beto[1].words and "martes tres de noviembre" in beto[1].words
    assert "de las siete de la mañana" in dora[1].words
    for call in (*ann, *cal):
        assert "tomorrow" not in call.words.lower()
    assert (
        "The planned maintenance at 12 Oak Street should now be complete. "
        "If your power is still out, press 1." in ann[2].words
    )
    assert "should now be complete" in cal[2].words
    assert "ya debería haber terminado. Si todavía no tiene luz, oprima 1." in beto[2].words
    assert "ya debería haber terminado" in dora[2].words

    rows = await utility.schedule_rows()
    assert {r["message"]: r["state"] for r in rows} == {
        "notice": "made",
        "reminder": "made",
        "all_clear": "made",
    }
    # Each campaign was made at its due minute (the schedule looks every minute).
    for row in rows:
        assert row["due_at"] <= row["decided_at"] < row["due_at"] + MINUTE, row
    ledger = await utility.api("GET", "/api/v1/outages/PW-1/notifications", role=Role.VIEWER)
    for event in ("planned_notice", "planned_reminder", "planned_all_clear"):
        assert ledger["counts"][event]["sent"] == 4, (event, ledger["counts"])


# --- moved once, then cancelled ------------------------------------------------------------


# Monday, November 30th, 09:00-13:00 in Chicago, fed on Wednesday the 25th; the notice on
# Friday the 27th at 09:00 (15:00 UTC; 16:00 UTC for Los Angeles, 08:00 there).
FIRST_FED = chicago(2026, 11, 25, 10)
FIRST_STARTS, FIRST_ENDS = chicago(2026, 11, 30, 9), chicago(2026, 11, 30, 13)
FIRST_NOTICE = chicago(2026, 11, 27, 9)
FIRST_NOTICE_LA = chicago(2026, 11, 27, 10)
# Friday noon: moved to Thursday, December 3rd, same hours; at 14:00 a premise is added.
MOVED_AT = chicago(2026, 11, 27, 12)
SECOND_STARTS, SECOND_ENDS = chicago(2026, 12, 3, 9), chicago(2026, 12, 3, 13)
GROWN_AT = chicago(2026, 11, 27, 14)
# Tuesday, December 1st, 10:00: cancelled.
CANCELLED_AT = chicago(2026, 12, 1, 10)
GUS = "+15125570006"
GUS_ROW = "4006,Gus Moss,512-557-0006,,W6,3 Birch Street,PX,America/Chicago,en"


async def test_moved_once_then_cancelled_tells_those_told_and_withdraws_the_rest(
    utility: Utility, services: Services, tmp_path: Path
) -> None:
    more = tmp_path / "gus.csv"
    more.write_text(csv_text(GUS_ROW))
    await services.customers.import_file(more)
    await utility.start()
    utility.clock.jump(FIRST_FED - LEAD)
    async with utility.at(FIRST_FED):
        await utility.oms("PW-2", work(FIRST_STARTS, FIRST_ENDS))
    await utility.around(FIRST_NOTICE)
    await utility.around(FIRST_NOTICE_LA)
    assert {phone: len(calls) for phone, calls in (await utility.calls()).items()} == {
        phone: 1 for phone in ON_THE_WORK
    }

    # Moved: those told hear of it at once; what was still to come is withdrawn.
    await utility.skip_to(MOVED_AT - LEAD)
    async with utility.at(MOVED_AT):
        await utility.oms("PW-2", work(SECOND_STARTS, SECOND_ENDS))
    await utility.run_until(MOVED_AT + TAIL)
    # A premise added after everyone else was told: its customer gets the notice at once.
    await utility.skip_to(GROWN_AT - LEAD)
    async with utility.at(GROWN_AT):
        await utility.oms("PW-2", work(SECOND_STARTS, SECOND_ENDS, premise_ids=["W6"]))
    await utility.run_until(GROWN_AT + TAIL)
    # The first date's reminder and all-clear were withdrawn: nothing at their moments.
    await utility.around(chicago(2026, 11, 29, 9))
    await utility.around(FIRST_ENDS)

    # Cancelled: those told hear it will not happen; nothing else is made.
    await utility.skip_to(CANCELLED_AT - LEAD)
    async with utility.at(CANCELLED_AT):
        cancelled = work(SECOND_STARTS, SECOND_ENDS, premise_ids=["W6"]) | {"status": "cancelled"}
        await utility.oms("PW-2", cancelled)
    await utility.run_until(CANCELLED_AT + TAIL)
    await utility.around(chicago(2026, 12, 2, 9))  # the second date's reminder: withdrawn
    await utility.around(SECOND_ENDS)  # and its all-clear

    calls = await utility.calls()
    assert set(calls) == {*ON_THE_WORK, GUS}, "nobody off the work is called"
    for phone in ON_THE_WORK:
        assert [c.trigger for c in calls[phone]] == [
            "planned_notice",
            "planned_moved",
            "planned_cancelled",
        ], phone
        notice, moved, cancelled = calls[phone]
        first_notice = FIRST_NOTICE if phone in (ANN, BETO) else FIRST_NOTICE_LA
        assert placed_within(notice, first_notice), (phone, notice.placed_at)
        assert placed_within(moved, MOVED_AT), (phone, moved.placed_at)
        assert placed_within(cancelled, CANCELLED_AT), (phone, cancelled.placed_at)
    assert [c.trigger for c in calls[GUS]] == ["planned_notice", "planned_cancelled"]
    assert placed_within(calls[GUS][0], GROWN_AT)

    ann, beto, cal = calls[ANN], calls[BETO], calls[CAL]
    assert "on Monday, November thirtieth, from nine A M to about one P M." in ann[0].words
    assert (
        "The maintenance planned at 12 Oak Street for Monday, November thirtieth has been "
        "moved to Thursday, December third, from nine A M to about one P M. The work may end "
        "earlier or later than planned." in ann[1].words
    )
    assert (
        "para el lunes treinta de noviembre cambió de fecha: ahora será el jueves tres de "
        "diciembre, de las nueve de la mañana" in beto[1].words
    )
    assert "moved to Thursday, December third, from seven A M to about eleven A M." in cal[1].words
    assert (
        "The maintenance planned at 12 Oak Street for Thursday, December third will not "
        "happen. Power will not be turned off for it." in ann[2].words
    )
    assert "para el jueves tres de diciembre no se hará." in beto[2].words
    gus = calls[GUS]
    assert (
        "Planned maintenance will turn off power at 3 Birch Street on Thursday, December "
        "third, from nine A M to about one P M." in gus[0].words
    )
    assert "for Thursday, December third will not happen." in gus[1].words

    states = [(r["message"], r["state"]) for r in await utility.schedule_rows()]
    made = sorted(message for message, state in states if state == "made")
    # The notices: the first date's, Gus's, and the new date's for those on the work not told
    # of the old one (nobody here: everyone had heard, so it placed no call).
    assert made == ["cancelled", "moved", "notice", "notice", "notice"], states
    assert {state for _, state in states} == {"made", "withdrawn"}, states


# --- a server stopped over the reminder's due minute ---------------------------------------


# Thursday, December 3rd, 09:00-13:00, fed on Tuesday the 1st at 10:00: too late for the
# usual notice, so the shorter one at once; the reminder on Wednesday at 09:00.
LATE_FED = chicago(2026, 12, 1, 10)
LATE_STARTS, LATE_ENDS = chicago(2026, 12, 3, 9), chicago(2026, 12, 3, 13)
REMINDER_DUE = chicago(2026, 12, 2, 9)
RESTARTED_AT = chicago(2026, 12, 2, 9, 30)


async def test_a_server_stopped_over_the_reminders_minute_sends_it_on_restart_once(
    utility: Utility,
) -> None:
    first = await utility.start()
    utility.clock.jump(LATE_FED - LEAD)
    async with utility.at(LATE_FED):
        await utility.oms("PW-3", work(LATE_STARTS, LATE_ENDS))
    await utility.run_until(LATE_FED + TAIL)
    await utility.skip_to(REMINDER_DUE - timedelta(minutes=10))
    await utility.stop(first)  # down from 08:50 to 09:30: the reminder's minute passes

    utility.clock.jump(RESTARTED_AT)
    second = await utility.start()
    await utility.run_until(RESTARTED_AT + TAIL)
    # Down again and up again: the reminder is not made twice.
    await utility.stop(second)
    await utility.start()
    await utility.around(chicago(2026, 12, 2, 10))  # Los Angeles' window opens (08:00 PST)

    calls = await utility.calls()
    assert set(calls) == set(ON_THE_WORK)
    for phone, heard in calls.items():
        assert [c.trigger for c in heard] == ["planned_short_notice", "planned_reminder"], phone
    for phone in (ANN, BETO):
        assert placed_within(calls[phone][0], LATE_FED)
        assert placed_within(calls[phone][1], RESTARTED_AT), calls[phone][1].placed_at
    for phone in (CAL, DORA):
        assert placed_within(calls[phone][0], LATE_FED)  # 08:00 in Los Angeles
        assert placed_within(calls[phone][1], chicago(2026, 12, 2, 10))
    assert "This is shorter notice than we usually give." in calls[ANN][0].words
    assert "A reminder: planned maintenance will turn off power" in calls[ANN][1].words

    rows = {r["message"]: r for r in await utility.schedule_rows()}
    reminder = rows["reminder"]
    assert reminder["state"] == "made"
    # Made by the restarted server's first tick (its cron's next minute), not at 09:00.
    assert RESTARTED_AT <= reminder["decided_at"] <= RESTARTED_AT + 2 * MINUTE
    reminders = await utility.pool.fetchval(
        "SELECT count(*) FROM campaigns WHERE trigger_event = 'planned_reminder'"
    )
    assert reminders == 1


# --- two instances: one schedules -----------------------------------------------------------


TWIN_FED = chicago(2026, 11, 28, 10)
TWIN_STARTS, TWIN_ENDS = chicago(2026, 12, 3, 9), chicago(2026, 12, 3, 13)
TWIN_NOTICE = chicago(2026, 11, 30, 9)
TWIN_REMINDER = chicago(2026, 12, 2, 9)


async def test_two_instances_running_only_the_leader_schedules(utility: Utility) -> None:
    a = await utility.start()
    b = await utility.start()
    utility.clock.jump(TWIN_FED - LEAD)
    async with utility.at(TWIN_FED):
        await utility.oms("PW-4", work(TWIN_STARTS, TWIN_ENDS))
    await utility.run_until(TWIN_FED + TAIL)
    assert [a.schedules(), b.schedules()].count(True) == 1
    await utility.around(TWIN_NOTICE)
    assert [a.schedules(), b.schedules()].count(True) == 1
    await utility.around(TWIN_NOTICE + timedelta(hours=1))  # 08:00 in Los Angeles
    leader, follower = (a, b) if a.schedules() else (b, a)

    # The leader goes; the other takes over and makes the reminder, once.
    await utility.skip_to(TWIN_REMINDER - timedelta(hours=1))
    await utility.stop(leader)
    await utility.around(TWIN_REMINDER)
    assert follower.schedules()
    await utility.around(TWIN_REMINDER + timedelta(hours=1))

    calls = await utility.calls()
    assert set(calls) == set(ON_THE_WORK)
    for phone, heard in calls.items():
        assert [c.trigger for c in heard] == ["planned_notice", "planned_reminder"], phone
        late = timedelta(hours=0 if phone in (ANN, BETO) else 1)
        assert placed_within(heard[0], TWIN_NOTICE + late), (phone, heard[0].placed_at)
        assert placed_within(heard[1], TWIN_REMINDER + late), (phone, heard[1].placed_at)
    made = await utility.pool.fetch(
        "SELECT trigger_event, count(*) AS n FROM campaigns WHERE automatic GROUP BY 1"
    )
    assert {row["trigger_event"]: row["n"] for row in made} == {
        "planned_notice": 1,
        "planned_reminder": 1,
    }
    decisions = await utility.pool.fetchval(
        "SELECT count(*) FROM automation_decisions WHERE campaign_id IS NOT NULL"
    )
    assert decisions == 2


# --- restored before its end -----------------------------------------------------------------


RESTORED_AT = chicago(2026, 12, 3, 11, 30)


async def test_work_restored_early_gets_the_all_clear_at_once_saying_power_is_back(
    utility: Utility,
) -> None:
    await utility.start()
    utility.clock.jump(LATE_FED - LEAD)
    async with utility.at(LATE_FED):
        await utility.oms("PW-5", work(LATE_STARTS, LATE_ENDS))
    await utility.run_until(LATE_FED + TAIL)
    # Wednesday skipped as if the server had been down: its reminder, looked at on Thursday,
    # is past that day's window and is dropped unmade.
    await utility.skip_to(RESTORED_AT - LEAD)
    async with utility.at(RESTORED_AT):
        await utility.oms("PW-5", work(LATE_STARTS, LATE_ENDS) | {"status": "restored"})
    await utility.run_until(RESTORED_AT + TAIL)
    await utility.around(LATE_ENDS)  # no second all-clear at the work's end

    calls = await utility.calls()
    assert set(calls) == set(ON_THE_WORK)
    for phone, heard in calls.items():
        assert [c.trigger for c in heard] == ["planned_short_notice", "planned_all_clear"], phone
        assert placed_within(heard[1], RESTORED_AT), (phone, heard[1].placed_at)
    assert (
        "Power has been restored at 12 Oak Street. Thank you for your patience. "
        "If your power is still out, press 1." in calls[ANN][1].words
    )
    assert "should now be complete" not in calls[ANN][1].words
    assert "Si todavía no tiene luz, oprima 1." in calls[BETO][1].words
    assert "ya debería haber terminado" not in calls[BETO][1].words
    states = {(r["message"], r["state"]) for r in await utility.schedule_rows()}
    assert {s for s in states if s[0] != "survey"} == {
        ("short_notice", "made"),
        ("reminder", "expired"),  # past its day's window when the schedule next looked
        ("all_clear", "withdrawn"),  # the one at the work's end
        ("all_clear", "made"),  # the one at once
    }
