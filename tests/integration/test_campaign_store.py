"""The campaign store on a real database: a call's end racing another callback, and the
carrier's call ids written in bursts."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db.campaign_admin import PgCampaignAdminStore
from outage_voice.adapters.db.dialer import FRESH_LOOKAHEAD, PgDialerStore
from outage_voice.adapters.db.outbound import PgOutboundStore
from outage_voice.adapters.db.queries import q
from outage_voice.bootstrap import Services, build_services
from outage_voice.config import Settings
from outage_voice.domain.campaigns import EndingAttempt, TargetEnd
from outage_voice.domain.carrier_calls import CarrierCall
from outage_voice.domain.errors import NotFound
from outage_voice.domain.windows import ALWAYS, DailyWindow
from outage_voice.services.campaign_ports import CampaignProgress, ClaimedAttempt, ClaimedBatch
from outage_voice.services.campaigns import PROGRESS_REUSE_S, CampaignService
from outage_voice.services.dialer import (
    IN_DOUBT_AFTER_S,
    LOOKUP_SPACING_S,
    LOST_AFTER_S,
    RECONCILE_EVERY_S,
    TAKEOVER_CHECK_S,
    UNKNOWN_RECHECK_S,
    Dialer,
)
from outage_voice.services.ports import CarrierCallUnknown
from outage_voice.web.callback_urls import CampaignCallUrls
from outage_voice.web.campaign_json import parse_campaign_spec
from tests.support import T0, csv_text

T = TypeVar("T")

CUSTOMERS = csv_text(
    *(f"{2000 + n},Customer {n},512-555-{1000 + n},,P{n},{n} Main St,F1,," for n in range(40))
)


async def until(check: Callable[[], object]) -> None:
    """Waits for what the dialer's own tasks bring about (the test's timeout bounds it);
    `check` may answer directly or with an awaitable, a database read say."""
    while True:
        done = check()
        if inspect.isawaitable(done):
            done = await done
        if done:
            return
        await asyncio.sleep(0.01)


class CountingPool:
    """The real pool, counting the statements run through it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.executed = 0
        self.fetched_rows = 0

    async def execute(self, query: str, *args: object) -> str:
        self.executed += 1
        return await self._pool.execute(query, *args)

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        self.fetched_rows += 1
        return await self._pool.fetchrow(query, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class RecordingPool:
    """The real pool, noting the statements run on the connections taken from it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.statements: list[str] = []

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Any]:
        async with self._pool.acquire() as connection:
            yield _RecordingConnection(connection, self.statements)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class _RecordingConnection:
    def __init__(self, connection: asyncpg.Connection, statements: list[str]) -> None:
        self._connection = connection
        self._statements = statements

    async def execute(self, query: str, *args: object) -> str:
        self._statements.append(query)
        return await self._connection.execute(query, *args)

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        self._statements.append(query)
        return await self._connection.fetch(query, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


class PgCampaignStore(PgCampaignAdminStore, PgDialerStore, PgOutboundStore):
    """The three campaign stores over one pool, as the server wires them."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        PgCampaignAdminStore.__init__(self, pool)
        PgDialerStore.__init__(self, pool)
        PgOutboundStore.__init__(self, pool)


async def planned_campaign(
    services: Services,
    pool: asyncpg.Pool,
    tmp_path: Path,
    *,
    customers: str = CUSTOMERS,
    urgent: bool = True,
) -> tuple[PgCampaignStore, int]:
    path = tmp_path / "customers.csv"
    path.write_text(customers)
    await services.customers.import_file(path)
    store = PgCampaignStore(pool)
    spec = parse_campaign_spec(
        {
            "name": "store",
            "kind": "custom",
            "message": {"text": "Test."},
            "audience": {"feeders": ["F1"]},
            "urgent": urgent,
        }
    )
    planned = await store.create(
        spec, outage_pk=None, actor="test", default_timezone="America/Chicago", now=T0
    )
    return store, planned.campaign_id


async def claimed_attempts(
    services: Services, pool: asyncpg.Pool, tmp_path: Path, count: int
) -> tuple[PgCampaignStore, list[ClaimedAttempt]]:
    store, campaign_id = await planned_campaign(services, pool, tmp_path)
    window = (ALWAYS.opens, ALWAYS.closes)
    batch = await store.claim(campaign_id, now=T0, limit=count, urgent=True, window=window)
    assert len(batch.attempts) == count
    return store, batch.attempts


async def campaign_of(pool: asyncpg.Pool, attempt: ClaimedAttempt) -> int:
    campaign_id: int = await pool.fetchval(
        "SELECT campaign_id FROM call_attempts WHERE id = $1", attempt.id
    )
    return campaign_id


async def test_a_callback_landing_between_read_and_write_makes_the_end_decided_again(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    store, [attempt] = await claimed_attempts(services, pool, tmp_path, 1)
    await store.placed(attempt.id, "CA" + "1" * 32, T0)
    seen: list[EndingAttempt] = []

    async def decide(ending: EndingAttempt) -> TargetEnd:
        seen.append(ending)
        if len(seen) == 1:
            # The "answered" callback, delivered late, lands while this end is decided.
            moved = await store.apply_status(
                attempt.id,
                status="in-progress",
                sequence=1,
                call_sid=None,
                answered_by="machine_end_beep",
                error_code=None,
                duration_s=None,
                final=False,
                now=T0,
            )
            assert moved
        voicemail = ending.answered_by == "machine_end_beep"
        return TargetEnd(done=True, outcome="voicemail" if voicemail else "reached")

    assert await store.apply_status(
        attempt.id,
        status="completed",
        sequence=2,
        call_sid=None,
        answered_by=None,
        error_code=None,
        duration_s=31,
        final=True,
        now=T0 + timedelta(seconds=40),
        decide=decide,
    )
    assert [ending.answered_by for ending in seen] == [None, "machine_end_beep"]
    target = await pool.fetchrow(
        "SELECT state, outcome FROM campaign_targets WHERE id = $1", attempt.target_id
    )
    assert dict(target) == {"state": "done", "outcome": "voicemail"}
    row = await pool.fetchrow(
        "SELECT status, answered_by, duration_s, ended_at FROM call_attempts WHERE id = $1",
        attempt.id,
    )
    assert dict(row) == {
        "status": "completed",
        "answered_by": "machine_end_beep",
        "duration_s": 31,
        "ended_at": T0 + timedelta(seconds=40),
    }

    # A duplicate of the final callback decides nothing and changes nothing.
    async def never(ending: EndingAttempt) -> TargetEnd:
        raise AssertionError("a duplicate must not be decided on")

    assert not await store.apply_status(
        attempt.id,
        status="completed",
        sequence=2,
        call_sid=None,
        answered_by=None,
        error_code=None,
        duration_s=31,
        final=True,
        now=T0 + timedelta(seconds=41),
        decide=never,
    )


async def test_a_retry_and_an_invalid_number_are_written_with_the_end(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    store, [busy, invalid] = await claimed_attempts(services, pool, tmp_path, 2)
    retry_at = T0 + timedelta(minutes=5)

    async def again(ending: EndingAttempt) -> TargetEnd:
        assert ending.attempt_no == 1
        return TargetEnd(done=False, outcome="busy", retry_at=retry_at)

    async def never_again(ending: EndingAttempt) -> TargetEnd:
        assert ending.error_code == 21211
        return TargetEnd(done=True, outcome="invalid", phone_invalid=True)

    for attempt, status, code, decide in (
        (busy, "busy", None, again),
        (invalid, "failed", 21211, never_again),
    ):
        assert await store.apply_status(
            attempt.id,
            status=status,
            sequence=1,
            call_sid=None,
            answered_by=None,
            error_code=code,
            duration_s=None,
            final=True,
            now=T0,
            decide=decide,
        )
    targets = {
        row["id"]: dict(row)
        for row in await pool.fetch(
            "SELECT id, state, outcome, next_attempt_at FROM campaign_targets"
            " WHERE id = ANY($1::bigint[])",
            [busy.target_id, invalid.target_id],
        )
    }
    assert targets[busy.target_id]["state"] == "pending"
    assert targets[busy.target_id]["next_attempt_at"] == retry_at
    assert targets[invalid.target_id]["state"] == "done"
    marked = await pool.fetch("SELECT e164 FROM phones WHERE invalid_at IS NOT NULL")
    assert [row["e164"] for row in marked] == [invalid.phone]


async def test_call_ids_arriving_together_are_written_in_a_few_statements(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    _, attempts = await claimed_attempts(services, pool, tmp_path, 40)
    counting = CountingPool(pool)
    store = PgCampaignStore(counting)  # type: ignore[arg-type]  # the real pool, wrapped
    await asyncio.gather(*(store.placed(a.id, f"CA{a.id:032d}", T0) for a in attempts))
    # The first goes out alone; the other 39 arrive during its write and go in the next.
    assert counting.executed == 2
    rows = await pool.fetch("SELECT id, call_sid, status, placed_at FROM call_attempts ORDER BY id")
    assert [(r["call_sid"], r["status"], r["placed_at"]) for r in rows] == [
        (f"CA{a.id:032d}", "queued", T0) for a in sorted(attempts, key=lambda a: a.id)
    ]


async def test_a_failed_burst_fails_every_call_in_it_and_not_the_next(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    store, attempts = await claimed_attempts(services, pool, tmp_path, 6)
    await store.placed(attempts[0].id, "CA-TAKEN", T0)
    # Call ids are unique: the burst that repeats one cannot be written, and every call in
    # it hears so (their attempts stay in doubt, settled later with the carrier).
    results = await asyncio.gather(
        store.placed(attempts[1].id, "CA-FIRST", T0),
        store.placed(attempts[2].id, "CA-TAKEN", T0),
        store.placed(attempts[3].id, "CA-THIRD", T0),
        return_exceptions=True,
    )
    assert results[0] is None  # the first call of a burst goes out alone
    assert all(isinstance(r, asyncpg.UniqueViolationError) for r in results[1:])
    await store.placed(attempts[4].id, "CA-LATER", T0)
    sids = await pool.fetch("SELECT call_sid FROM call_attempts WHERE call_sid IS NOT NULL")
    assert sorted(r["call_sid"] for r in sids) == ["CA-FIRST", "CA-LATER", "CA-TAKEN"]
    with pytest.raises(asyncpg.UniqueViolationError):
        await store.placed(attempts[5].id, "CA-LATER", T0)


async def test_an_end_presumed_from_its_callback_is_one_statement_and_checked(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    _, [human, machine] = await claimed_attempts(services, pool, tmp_path, 2)
    counting = CountingPool(pool)
    store = PgCampaignStore(counting)  # type: ignore[arg-type]  # the real pool, wrapped
    # The "answered" callback told who answered; the final one does not repeat it.
    assert await store.apply_status(
        machine.id,
        status="in-progress",
        sequence=1,
        call_sid="CA-MACHINE",
        answered_by="machine_end_beep",
        error_code=None,
        duration_s=None,
        final=False,
        now=T0,
    )
    decided: list[EndingAttempt] = []

    async def decide(ending: EndingAttempt) -> TargetEnd:
        decided.append(ending)
        machine_answered = (ending.answered_by or "").startswith("machine")
        return TargetEnd(done=True, outcome="voicemail" if machine_answered else "reached")

    for attempt in (human, machine):
        counting.fetched_rows = 0
        decided.clear()
        campaign_id = await campaign_of(pool, attempt)
        presumed = EndingAttempt(
            campaign_id=campaign_id, attempt_no=1, answered_by=None, error_code=None
        )
        assert await store.apply_status(
            attempt.id,
            status="completed",
            sequence=2,
            call_sid=None,
            answered_by=None,
            error_code=None,
            duration_s=20,
            final=True,
            now=T0,
            decide=decide,
            presumed=presumed,
        )
        if attempt is human:
            assert counting.fetched_rows == 1  # the presumption held: one statement
            assert [e.answered_by for e in decided] == [None]
        else:
            # Presumed wrong (a machine answered): read, decided again, then written.
            assert counting.fetched_rows == 3
            assert [e.answered_by for e in decided] == [None, "machine_end_beep"]
    outcomes = await pool.fetch(
        "SELECT t.outcome FROM campaign_targets t JOIN call_attempts a ON a.target_id = t.id"
        " WHERE a.id = ANY($1::bigint[]) ORDER BY a.id",
        [human.id, machine.id],
    )
    assert [row["outcome"] for row in outcomes] == ["reached", "voicemail"]


class UnknownCalls:
    """A carrier that has never heard of any call (a different account, or its records
    gone): every lookup fails."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    async def place(self, **_: object) -> str:
        raise AssertionError("nothing is placed here")

    async def find(self, *, to: str, started_after: datetime) -> list[CarrierCall]:
        return []

    async def fetch(self, sid: str) -> CarrierCall:
        self.fetched.append(sid)
        raise LookupError(f"no call {sid}")


class SteppingClock(ManualClock):
    """Time moves only when told, and a sleep moves it at once."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._tasks: set[asyncio.Task[None]] = set()

    async def sleep(self, seconds: float) -> None:
        self.advance(timedelta(seconds=max(0.0, seconds)))
        await asyncio.sleep(0)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait(self, awaitable: Awaitable[T]) -> T:
        return await awaitable

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()


def lone_dialer(store: PgCampaignStore, carrier: Any, clock: SteppingClock) -> Dialer:
    """A dialer that always leads, whose carrier can neither settle nor refuse a call."""

    async def settled(attempt_id: int, call: CarrierCall) -> None:
        raise AssertionError("nothing can be settled")

    async def refused(attempt_id: int, code: int | None) -> None:
        raise AssertionError("nothing is refused")

    async def lost(attempt_id: int, call_sid: str) -> None:
        raise AssertionError("nothing is lost")

    return Dialer(
        store,
        carrier,
        clock,
        call_urls=CampaignCallUrls("http://127.0.0.1:1"),
        from_number="+15125550000",
        on_refused=refused,
        on_settled=settled,
        on_lost=lost,
    )


async def test_a_call_the_carrier_cannot_find_is_not_asked_about_every_sweep(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    store, attempts = await claimed_attempts(services, pool, tmp_path, 3)
    for attempt in attempts:
        await store.placed(attempt.id, f"CA-LOST-{attempt.id}", T0)
    carrier = UnknownCalls()
    clock = SteppingClock(T0 + timedelta(minutes=10))

    dialer = lone_dialer(store, carrier, clock)
    await dialer.sweep()
    assert len(carrier.fetched) == 3  # calls silent for ten minutes: asked about
    clock.advance(timedelta(seconds=30))
    await dialer.sweep()
    assert len(carrier.fetched) == 3  # not again, every few seconds
    clock.advance(timedelta(minutes=5))
    await dialer.sweep()
    assert len(carrier.fetched) == 6  # but again later


class SilentLookups:
    """A carrier that takes every call at once and never answers a question about one."""

    def __init__(self) -> None:
        self.placed: list[str] = []
        self.asked = asyncio.Event()

    async def place(self, *, to: str, **_: object) -> str:
        self.placed.append(to)
        return f"CA{len(self.placed):032d}"

    async def find(self, *, to: str, started_after: datetime) -> list[CarrierCall]:
        self.asked.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    async def fetch(self, sid: str) -> CarrierCall:
        self.asked.set()
        await asyncio.Event().wait()
        raise AssertionError("never answered")


async def test_calls_go_out_while_the_carrier_is_slow_to_answer_a_lookup(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Asking the carrier about a silent call takes a real carrier 100 ms or more each, and
    there may be hundreds: placing must not wait for those answers."""
    store, [attempt] = await claimed_attempts(services, pool, tmp_path, 1)
    await store.placed(attempt.id, "CA-LOST", T0)  # its final callback never came
    campaign_id = await campaign_of(pool, attempt)
    assert await store.set_state(campaign_id, "running", ["draft"], T0)
    carrier = SilentLookups()
    clock = SteppingClock(T0 + timedelta(minutes=10))

    dialer = lone_dialer(store, carrier, clock)
    running = asyncio.create_task(dialer.run())
    try:
        async with asyncio.timeout(10):
            await until(lambda: len(carrier.placed) >= 10 and carrier.asked.is_set())
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    assert carrier.asked.is_set()  # the lost call was asked about, and is still unanswered
    assert len(set(carrier.placed)) == len(carrier.placed) >= 10


async def test_silent_calls_are_asked_about_at_a_steady_pace(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A backlog of lost callbacks is not asked about all at once: the carrier's API limits
    (and, for the simulator, the server's CPU) are shared with placing calls."""
    store, attempts = await claimed_attempts(services, pool, tmp_path, 4)
    for attempt in attempts:
        await store.placed(attempt.id, f"CA-LOST-{attempt.id}", T0)
    clock = SteppingClock(T0 + timedelta(minutes=10))
    asked_at: list[datetime] = []

    class TimedUnknownCalls(UnknownCalls):
        async def fetch(self, sid: str) -> CarrierCall:
            asked_at.append(clock.now())
            return await super().fetch(sid)

    dialer = lone_dialer(store, TimedUnknownCalls(), clock)
    await dialer.sweep()
    assert len(asked_at) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(asked_at)]
    assert all(gap >= timedelta(seconds=LOOKUP_SPACING_S) for gap in gaps), gaps


@pytest.mark.parametrize("locked", ["campaign_targets", "call_attempts"])
async def test_a_campaign_and_its_counts_are_read_as_of_one_moment(
    services: Services, pool: asyncpg.Pool, tmp_path: Path, locked: str
) -> None:
    """The last calls end and the campaign completes while its progress is being read: the
    view must not say "completed" with calls still counted as live (nor the reverse)."""
    store, claimed = await claimed_attempts(services, pool, tmp_path, 3)
    campaign_id = await campaign_of(pool, claimed[0])
    total = await pool.fetchval(
        "SELECT count(*) FROM campaign_targets WHERE campaign_id = $1", campaign_id
    )
    async with pool.acquire() as finisher, finisher.transaction():
        # Holding a table the read needs stops it midway, between two of its statements.
        await finisher.execute(f"LOCK TABLE {locked} IN ACCESS EXCLUSIVE MODE")
        await finisher.execute(
            "UPDATE campaign_targets SET state = 'done', outcome = 'reached' "
            "WHERE campaign_id = $1",
            campaign_id,
        )
        await finisher.execute(
            "UPDATE campaigns SET state = 'completed', finished_at = $2 WHERE id = $1",
            campaign_id,
            T0,
        )
        reading = asyncio.create_task(store.progress(campaign_id, T0))
        async with asyncio.timeout(10):
            # Until the read waits on the lock.
            await until(
                lambda: pool.fetchval(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
    progress = await reading
    assert progress is not None
    by_state = {t.state: t.targets for t in progress.targets}
    if progress.campaign.state == "completed":
        assert by_state == {"done": total}
    else:
        assert progress.campaign.state == "draft"
        assert by_state == {"pending": total - 3, "calling": 3}
    assert await store.progress(campaign_id + 1000, T0) is None


def service_over(store: PgCampaignStore, clock: ManualClock) -> tuple[CampaignService, list[float]]:
    """The campaign service over `store`; its monotonic clock reads seconds[0], which the
    test moves."""
    seconds = [100.0]
    service = CampaignService(
        store, clock, default_timezone="America/Chicago", monotonic=lambda: seconds[0]
    )
    return service, seconds


class CountingStore(PgCampaignStore):
    """The real store, counting progress reads (each one counts every target)."""

    reads = 0

    async def progress(self, campaign_id: int, recent_since: datetime) -> CampaignProgress | None:
        self.reads += 1
        return await super().progress(campaign_id, recent_since)


async def test_dashboards_polling_a_campaign_share_one_count(
    services: Services, pool: asyncpg.Pool, tmp_path: Path, clock: ManualClock
) -> None:
    _, claimed = await claimed_attempts(services, pool, tmp_path, 3)
    campaign_id = await campaign_of(pool, claimed[0])
    store = CountingStore(pool)
    campaigns, seconds = service_over(store, clock)
    polls = [campaigns.show(campaign_id, reuse=True) for _ in range(20)]
    views = await asyncio.gather(*polls)
    assert store.reads == 1  # twenty dashboards at once: one count
    assert all(view == views[0] for view in views)
    assert views[0]["progress"]["by_state"]["calling"] == 3
    views[0]["progress"]["targets"] = -1  # a caller's copy: changing it changes nobody else's
    seconds[0] += PROGRESS_REUSE_S / 2
    again = await campaigns.show(campaign_id, reuse=True)
    assert store.reads == 1 and again["progress"]["targets"] == 40
    seconds[0] += PROGRESS_REUSE_S
    assert (await campaigns.show(campaign_id, reuse=True))["state"] == "draft"
    assert store.reads == 2  # too old: counted again
    # An action answers with a fresh view, which the next poll is then served.
    assert (await campaigns.act(campaign_id, "cancel"))["state"] == "cancelled"
    assert store.reads == 3
    assert (await campaigns.show(campaign_id, reuse=True))["state"] == "cancelled"
    assert store.reads == 3
    assert (await campaigns.show(campaign_id))["state"] == "cancelled"  # fresh when asked
    assert store.reads == 4
    with pytest.raises(NotFound):
        await campaigns.show(campaign_id + 1000, reuse=True)


async def test_progress_reads_only_its_campaign_s_targets(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Counting one campaign must not scan every campaign's targets (the history grows)."""
    _, claimed = await claimed_attempts(services, pool, tmp_path, 1)
    campaign_id = await campaign_of(pool, claimed[0])
    await pool.execute("ANALYZE campaign_targets")
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(q("campaign_progress_plan"))
        plan = await connection.fetch("EXPLAIN " + q("campaign_progress_targets"), campaign_id)
    lines = "\n".join(row[0] for row in plan)
    assert "Seq Scan on campaign_targets" not in lines, lines


class HeldStore(PgCampaignStore):
    """The real store; the first progress read, once made, is held before it answers."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self.hold: asyncio.Event | None = asyncio.Event()

    async def progress(self, campaign_id: int, recent_since: datetime) -> CampaignProgress | None:
        read = await super().progress(campaign_id, recent_since)
        hold, self.hold = self.hold, None
        if hold is not None:
            await hold.wait()
        return read


async def test_after_an_action_no_poll_is_served_a_read_begun_before_it(
    services: Services, pool: asyncpg.Pool, tmp_path: Path, clock: ManualClock
) -> None:
    _, claimed = await claimed_attempts(services, pool, tmp_path, 1)
    campaign_id = await campaign_of(pool, claimed[0])
    store = HeldStore(pool)
    hold = store.hold
    assert hold is not None
    campaigns, seconds = service_over(store, clock)
    slow_poll = asyncio.create_task(campaigns.show(campaign_id, reuse=True))
    async with asyncio.timeout(10):
        await until(lambda: store.hold is None)  # the poll's read is made
    seconds[0] += 0.5
    assert (await campaigns.act(campaign_id, "cancel"))["state"] == "cancelled"
    assert (await campaigns.show(campaign_id, reuse=True))["state"] == "cancelled"
    hold.set()
    assert (await slow_poll)["state"] == "draft"  # what its own reader asked for, then
    # The slow read, finished last, did not replace the newer view.
    assert (await campaigns.show(campaign_id, reuse=True))["state"] == "cancelled"


class StoppedClock(SteppingClock):
    """Time stands still: a sleep lasts until something else ends it."""

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        await asyncio.Event().wait()


class LineFreedWhileFinishing(PgCampaignStore):
    """The real store; while the dialer asks whether campaigns are finished, the live call
    ends and its callback wakes the dialer."""

    def __init__(self, pool: asyncpg.Pool, attempt_id: int) -> None:
        super().__init__(pool)
        self._attempt_id = attempt_id
        self.dialer: Dialer | None = None

    async def finish_campaigns(self, now: datetime) -> list[int]:
        finished = await super().finish_campaigns(now)
        await self._pool.execute(
            "UPDATE call_attempts SET ended_at = $2 WHERE id = $1", self._attempt_id, now
        )
        assert self.dialer is not None
        self.dialer.wake("attempt")
        return finished


async def test_a_line_freed_while_the_dialer_reads_is_not_slept_through(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    _, [attempt] = await claimed_attempts(services, pool, tmp_path, 1)
    campaign_id = await campaign_of(pool, attempt)
    await pool.execute("UPDATE campaigns SET max_concurrent = 1 WHERE id = $1", campaign_id)
    store = LineFreedWhileFinishing(pool, attempt.id)
    assert await store.set_state(campaign_id, "running", ["draft"], T0)
    clock = StoppedClock(T0)
    dialer = store.dialer = lone_dialer(store, SilentLookups(), clock)
    # Its one line is busy: nothing to place, so the step ends in a pause, and the wake-up
    # that came during the step's reads must end it (time never moves here).
    try:
        async with asyncio.timeout(10):
            await dialer.step()
    finally:
        clock.stop()  # the carrier lookups it started beside the step
    assert clock.slept  # it did go to pause, and was woken


def plan_nodes(plan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan."""
    nodes: list[dict[str, Any]] = [plan[0]["Plan"]]
    seen = []
    while nodes:
        node = nodes.pop()
        seen.append(node)
        nodes.extend(node.get("Plans", []))
    return seen


async def test_asking_whether_a_campaign_is_finished_skips_the_targets_called(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """The dialer asks each time it has nothing to place: by the key past every target
    already called, that took 0.85 s on a campaign 600k targets into its 1.1M."""
    store, [attempt] = await claimed_attempts(services, pool, tmp_path, 1)
    campaign_id = await campaign_of(pool, attempt)
    assert await store.set_state(campaign_id, "running", ["draft"], T0)
    left = await pool.fetchval(
        "SELECT count(*) FROM campaign_targets WHERE campaign_id = $1 AND state = 'pending'",
        campaign_id,
    )
    assert left >= 2
    # Called in key order: all but the last target are done.
    batch = await store.claim(
        campaign_id, now=T0, limit=left - 1, urgent=True, window=(ALWAYS.opens, ALWAYS.closes)
    )
    assert len(batch.attempts) == left - 1
    await pool.execute("UPDATE call_attempts SET ended_at = $1", T0)
    await pool.execute(
        "UPDATE campaign_targets SET state = 'done', outcome = 'reached' WHERE campaign_id = $1"
        " AND state = 'calling'",
        campaign_id,
    )
    await pool.execute("ANALYZE campaign_targets")
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL enable_seqscan = off")  # as on a big table
        plan = await connection.fetch(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + q("dialer_finish_campaigns"), T0
        )
    scanned = [
        node
        for node in plan_nodes(json.loads(plan[0][0]))
        if node.get("Relation Name") == "campaign_targets"
    ]
    assert scanned
    assert all(node.get("Rows Removed by Filter", 0) == 0 for node in scanned), scanned
    assert await store.finish_campaigns(T0) == []  # one target is still to call
    await pool.execute(
        "UPDATE campaign_targets SET state = 'done' WHERE campaign_id = $1", campaign_id
    )
    assert await store.finish_campaigns(T0) == [campaign_id]


TWO_ZONES = csv_text(
    *(
        f"{3000 + n},Customer {n},512-555-{2000 + n},,Q{n},{n} Oak St,F1,"
        f"{'America/Chicago' if n % 2 else 'Asia/Tokyo'},"
        for n in range(40)
    )
)


async def test_targets_never_tried_are_claimed_by_key_and_none_is_skipped(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A new campaign's targets carry no due time (the due index stays empty while a million
    are written); claims take them by key, and those outside their calling window (03:00 in
    Tokyo) are handed over to be deferred, not passed by."""
    store, campaign_id = await planned_campaign(
        services, pool, tmp_path, customers=TWO_ZONES, urgent=False
    )
    window = DailyWindow(opens=time(8), closes=time(21))
    hours = (window.opens, window.closes)
    by_zone = {
        row["timezone"]: row["n"]
        for row in await pool.fetch(
            "SELECT timezone, count(*) AS n FROM campaign_targets WHERE campaign_id = $1"
            " AND state = 'pending' AND next_attempt_at IS NULL GROUP BY timezone",
            campaign_id,
        )
    }
    assert by_zone == {"America/Chicago": 20, "Asia/Tokyo": 20}
    assert await store.next_due([campaign_id]) == T0  # due since it was planned
    assert await store.set_state(campaign_id, "running", ["draft"], T0)
    assert await store.finish_campaigns(T0) == []

    claimed: list[int] = []
    handed_over = 0
    for _ in range(40):
        batch = await store.claim(campaign_id, now=T0, limit=3, urgent=False, window=hours)
        assert len(batch.attempts) <= 3
        claimed += [attempt.target_id for attempt in batch.attempts]
        handed_over += batch.out_of_window
        if not batch.attempts and not batch.out_of_window:
            break
    zones = dict(
        await pool.fetch(
            "SELECT id, timezone FROM campaign_targets WHERE id = ANY($1::bigint[])", claimed
        )
    )
    assert len(claimed) == len(set(claimed)) == 20
    assert set(zones.values()) == {"America/Chicago"}
    assert handed_over == 20
    assert await store.due_zones(campaign_id, T0) == ["Asia/Tokyo"]
    opens = window.next_open(T0, "Asia/Tokyo")
    await store.defer_zone(campaign_id, "Asia/Tokyo", now=T0, until=opens)
    assert await store.next_due([campaign_id]) == opens
    empty = await store.claim(campaign_id, now=T0, limit=3, urgent=False, window=hours)
    assert (empty.attempts, empty.out_of_window) == ([], 0)

    later = await store.claim(campaign_id, now=opens, limit=40, urgent=False, window=hours)
    assert len(later.attempts) == 20
    assert not set(claimed) & {attempt.target_id for attempt in later.attempts}


async def test_a_retry_that_is_due_goes_before_targets_never_tried(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A busy number retried after 5 minutes is called then, not after everyone else in a
    campaign that may take hours."""
    store, [busy] = await claimed_attempts(services, pool, tmp_path, 1)
    retry_at = T0 + timedelta(minutes=5)

    async def again(ending: EndingAttempt) -> TargetEnd:
        return TargetEnd(done=False, outcome="busy", retry_at=retry_at)

    assert await store.apply_status(
        busy.id,
        status="busy",
        sequence=1,
        call_sid=None,
        answered_by=None,
        error_code=None,
        duration_s=None,
        final=True,
        now=T0,
        decide=again,
    )
    campaign_id = await campaign_of(pool, busy)
    window = (ALWAYS.opens, ALWAYS.closes)
    batch = await store.claim(campaign_id, now=retry_at, limit=1, urgent=True, window=window)
    assert [(a.target_id, a.attempt_no) for a in batch.attempts] == [(busy.target_id, 2)]


async def test_a_target_put_back_after_a_leader_change_is_claimed_again(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Claimed by key once, it must be found again by its due time: the claims that follow
    start after it."""
    store, [first] = await claimed_attempts(services, pool, tmp_path, 1)
    campaign_id = await campaign_of(pool, first)
    window = (ALWAYS.opens, ALWAYS.closes)
    # The attempt ended with its target left calling (a crash between the two, say).
    await pool.execute("UPDATE call_attempts SET ended_at = $1", T0)
    await store.release_orphans(T0)
    batch = await store.claim(campaign_id, now=T0, limit=1, urgent=True, window=window)
    assert [a.target_id for a in batch.attempts] == [first.target_id]


async def test_a_claim_walks_the_key_whatever_the_statistics_say(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Statistics taken when untried targets were rare (a million called, say) made the claim
    read and sort every target of a new campaign to take one batch: 0.6-1 s a claim, half the
    placement rate. As the store runs it, the claim reads the key from where the last stopped."""
    _, campaign_id = await planned_campaign(services, pool, tmp_path)
    # A heap of some size: the planner weighs walking the key against reading every page.
    await pool.execute(
        "INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids,"
        " language, timezone, state, outcome, next_attempt_at, updated_at)"
        " SELECT $1 + 1, '+1512555' || n, '{x}', '{y}', 'en', 'America/Chicago', 'done',"
        " 'reached', $2, $2 FROM generate_series(1, 200000) AS n",
        campaign_id,
        T0,
    )
    pages = await pool.fetchval(
        "SELECT greatest(1, pg_relation_size('campaign_targets') / 8192)::integer"
    )
    # Two million targets of which 0.5% have no due time yet: a table after many campaigns.
    await pool.execute(
        "SELECT pg_restore_relation_stats('schemaname', 'public', 'relname', 'campaign_targets',"
        " 'relpages', $1::integer, 'reltuples', 2000000::real)",
        pages,
    )
    for column, null_frac, distinct in (
        ("next_attempt_at", 0.005, -0.2),
        ("campaign_id", 0.0, 2.0),
        ("state", 0.0, 3.0),
    ):
        await pool.execute(
            "SELECT pg_restore_attribute_stats('schemaname', 'public',"
            " 'relname', 'campaign_targets', 'attname', $1::text, 'inherited', false,"
            " 'null_frac', $2::real, 'avg_width', 8::integer, 'n_distinct', $3::real)",
            column,
            null_frac,
            distinct,
        )
    args = (campaign_id, T0, 250, True, ALWAYS.opens, ALWAYS.closes, FRESH_LOOKAHEAD)

    async def plan(settings: str | None) -> list[dict[str, Any]]:
        async with pool.acquire() as connection, connection.transaction():
            if settings is not None:
                await connection.execute(settings)
            text = await connection.fetchval("EXPLAIN (FORMAT JSON) " + q("dialer_claim"), *args)
        return plan_nodes(json.loads(text))

    def reads_everything(nodes: list[dict[str, Any]]) -> bool:
        return any(
            node["Node Type"] in ("Bitmap Heap Scan", "Seq Scan")
            and node.get("Relation Name") == "campaign_targets"
            for node in nodes
        )

    assert reads_everything(await plan(None))  # the planner, left to these statistics
    assert not reads_everything(await plan(q("dialer_claim_plan")))
    # ...and the store plans its claims so.
    recording = RecordingPool(pool)
    batch = await PgCampaignStore(recording).claim(  # type: ignore[arg-type]  # wrapped pool
        campaign_id, now=T0, limit=5, urgent=True, window=(ALWAYS.opens, ALWAYS.closes)
    )
    assert len(batch.attempts) == 5
    assert recording.statements == [q("dialer_claim_plan"), q("dialer_claim")]


async def none_placing(pool: asyncpg.Pool, *campaign_ids: int) -> bool:
    """No attempt of these campaigns is still being placed: each has its outcome written,
    or was handed back."""
    found: bool = await pool.fetchval(
        "SELECT NOT EXISTS (SELECT FROM call_attempts"
        " WHERE campaign_id = ANY($1::bigint[]) AND status = 'placing')",
        list(campaign_ids),
    )
    return found


class ClaimsWatched(PgCampaignStore):
    """The real store, noting how many calls the carrier had when each claim began."""

    def __init__(self, pool: asyncpg.Pool, carrier: SilentLookups) -> None:
        super().__init__(pool)
        self._carrier = carrier
        self.placed_at_claim: list[int] = []
        self.after_claim: Callable[[int], Awaitable[None]] | None = None

    async def claim(self, campaign_id: int, **kwargs: Any) -> ClaimedBatch:
        self.placed_at_claim.append(len(self._carrier.placed))
        batch = await super().claim(campaign_id, **kwargs)
        if self.after_claim is not None:
            await self.after_claim(len(self.placed_at_claim))
        return batch


async def paced_campaign(
    services: Services,
    pool: asyncpg.Pool,
    tmp_path: Path,
    carrier: SilentLookups | None = None,
) -> tuple[ClaimsWatched, SilentLookups, int]:
    """40 targets at 1 call/s: batches of 5 (CLAIM_AHEAD_S of pacing, plus one)."""
    carrier = carrier or SilentLookups()
    _, campaign_id = await planned_campaign(services, pool, tmp_path)
    store = ClaimsWatched(pool, carrier)
    await pool.execute(
        "UPDATE campaigns SET cps = 1, max_concurrent = 100 WHERE id = $1", campaign_id
    )
    assert await store.set_state(campaign_id, "running", ["draft"], T0)
    return store, carrier, campaign_id


async def test_the_next_batch_is_claimed_while_one_is_placed(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Between batches the dialer placed nothing for as long as its claim took (11-190 ms
    a batch under load): the next is claimed halfway through the one being placed."""
    store, carrier, _ = await paced_campaign(services, pool, tmp_path)
    clock = SteppingClock(T0)
    dialer = lone_dialer(store, carrier, clock)
    running = asyncio.create_task(dialer.run())
    try:
        async with asyncio.timeout(20):
            await until(lambda: len(carrier.placed) >= 40)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        clock.stop()
    assert sorted(carrier.placed) == sorted(set(carrier.placed))  # nobody called twice
    full_batches = store.placed_at_claim[1:8]
    assert all(placed < 5 * number for number, placed in enumerate(full_batches, start=1)), (
        store.placed_at_claim
    )


class HeldClock(SteppingClock):
    """A stepping clock whose time stands still, while `held()` says so, until a wake-up
    ends the dialer's wait: its pacing outlasts a claim, as at a real low rate."""

    def __init__(self, start: datetime, held: Callable[[], bool]) -> None:
        super().__init__(start)
        self._held = held

    async def sleep(self, seconds: float) -> None:
        if self._held():
            await asyncio.Event().wait()  # the dialer's wake-up cancels this sleep
        await super().sleep(seconds)


@pytest.mark.parametrize("pause_lands", ["mid_batch", "after_batch"])
async def test_a_batch_claimed_ahead_goes_back_when_the_campaign_is_paused(
    services: Services, pool: asyncpg.Pool, tmp_path: Path, pause_lands: str
) -> None:
    """Paused while the next batch is claimed, the dialer places none of it: the pause
    lands while the first batch is still paced, or once all of it is placed."""
    store, carrier, campaign_id = await paced_campaign(services, pool, tmp_path)
    paused = False
    placed_before_pause = 2 if pause_lands == "mid_batch" else 5
    clock = HeldClock(T0, lambda: len(carrier.placed) >= placed_before_pause and not paused)
    dialer = lone_dialer(store, carrier, clock)

    async def pause_when_claiming_ahead(claims: int) -> None:
        nonlocal paused
        if claims != 2:  # the batch after the first, claimed while the first is placed
            return
        await until(lambda: len(carrier.placed) >= placed_before_pause)
        assert await store.set_state(campaign_id, "paused", ["running"], T0)
        paused = True
        dialer.wake("campaign")

    store.after_claim = pause_when_claiming_ahead

    async def count(query: str) -> int:
        found: int = await pool.fetchval(query, campaign_id)
        return found

    try:
        async with asyncio.timeout(20):
            await dialer.step()  # a batch placed, the next claimed meanwhile
            await dialer.step()  # the campaign paused: nothing to place
            # Every attempt claimed and not placed is handed back; those placed are
            # written by the placements still under way.
            await until(lambda: none_placing(pool, campaign_id))
    finally:
        clock.stop()
    assert len(store.placed_at_claim) == 2
    assert len(carrier.placed) == placed_before_pause
    calling = await count(
        "SELECT count(*) FROM campaign_targets WHERE campaign_id = $1 AND state = 'calling'"
    )
    pending = await count(
        "SELECT count(*) FROM campaign_targets WHERE campaign_id = $1 AND state = 'pending'"
    )
    assert calling == placed_before_pause
    assert pending == 40 - calling


async def test_a_batch_claimed_ahead_goes_back_when_a_campaign_of_higher_priority_starts(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    store, carrier, routine_id = await paced_campaign(services, pool, tmp_path)
    _, urgent_id = await planned_campaign(services, pool, tmp_path)
    await pool.execute(
        "UPDATE campaigns SET cps = 1, max_concurrent = 3, priority = 10 WHERE id = $1",
        urgent_id,
    )
    clock = SteppingClock(T0)
    dialer = lone_dialer(store, carrier, clock)
    urgent_started = asyncio.Event()

    async def start_urgent_when_claiming_ahead(claims: int) -> None:
        if claims != 2:  # the routine campaign's next batch, claimed while one is placed
            return
        await until(lambda: len(carrier.placed) >= 5)
        assert await store.set_state(urgent_id, "running", ["draft"], T0)
        dialer.wake("campaign")
        urgent_started.set()

    store.after_claim = start_urgent_when_claiming_ahead

    async def count(query: str, campaign_id: int) -> int:
        found: int = await pool.fetchval(query, campaign_id)
        return found

    calling = "SELECT count(*) FROM campaign_targets WHERE campaign_id = $1 AND state = 'calling'"
    try:
        async with asyncio.timeout(20):
            await dialer.step()  # the routine batch placed, its next claimed meanwhile
            await urgent_started.wait()
            await dialer.step()  # the urgent campaign first
            await until(lambda: none_placing(pool, routine_id, urgent_id))
    finally:
        clock.stop()
    assert len(carrier.placed) == 5 + 3
    assert await count(calling, routine_id) == 5  # its batch claimed ahead went back
    assert await count(calling, urgent_id) == 3
    pending = "SELECT count(*) FROM campaign_targets WHERE campaign_id = $1 AND state = 'pending'"
    assert await count(pending, routine_id) == 35


class NothingFound(SilentLookups):
    """A carrier that takes every call and, asked, never has one."""

    async def find(self, *, to: str, started_after: datetime) -> list[CarrierCall]:
        return []


async def test_attempts_claimed_and_not_yet_placed_are_not_in_doubt(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A batch claimed ahead is placed later than it was claimed (more so when the campaign
    is re-paced slower): the in-doubt sweep, finding no call for its attempts, would put
    their targets back in line while the dialer still holds them, and they were called
    twice."""
    store, carrier, campaign_id = await paced_campaign(services, pool, tmp_path, NothingFound())
    clock = SteppingClock(T0)
    dialer = lone_dialer(store, carrier, clock)

    sweeps: list[asyncio.Task[None]] = []

    async def sweep_long_after() -> None:
        clock.advance(timedelta(seconds=IN_DOUBT_AFTER_S + 1))
        await dialer.reconcile(everything=False)

    async def sweep_long_after_claiming_ahead(claims: int) -> None:
        if claims == 2:  # the next batch, held once claimed while the first is placed
            sweeps.append(asyncio.create_task(sweep_long_after()))

    store.after_claim = sweep_long_after_claiming_ahead
    running = asyncio.create_task(dialer.run())
    try:
        async with asyncio.timeout(20):
            # Until every target is called and every call's id written.
            await until(
                lambda: pool.fetchval(
                    "SELECT NOT EXISTS (SELECT FROM campaign_targets WHERE campaign_id = $1"
                    " AND state = 'pending') AND NOT EXISTS (SELECT FROM call_attempts"
                    " WHERE campaign_id = $1 AND status = 'placing')",
                    campaign_id,
                )
            )
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        clock.stop()
    await asyncio.gather(*sweeps)
    assert len(sweeps) == 1
    assert len(carrier.placed) == 40
    assert sorted(carrier.placed) == sorted(set(carrier.placed))


class GoneCalls(SilentLookups):
    """A carrier that has purged every call: each lookup is answered 404 / 20404."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self._clock = clock
        self.asked_at: list[datetime] = []

    async def fetch(self, sid: str) -> CarrierCall:
        self.asked_at.append(self._clock.now())
        raise CarrierCallUnknown(sid)


async def test_a_call_the_carrier_no_longer_knows_settles_as_lost_and_is_retried_as_failed(
    services: Services, pool: asyncpg.Pool, tmp_path: Path, settings: Settings
) -> None:
    """Asked about every 5 minutes forever, such a call kept its campaign from ending: after
    3 lookups spanning at least a minute it is over, as `lost`, and its target follows the
    campaign's `failed` retry policy."""
    store, [attempt] = await claimed_attempts(services, pool, tmp_path, 1)
    campaign_id = await campaign_of(pool, attempt)
    await pool.execute(
        "UPDATE campaigns SET spec = jsonb_set(spec, '{retry,failed}',"
        ' \'{"max_attempts": 2, "delay_s": 120}\') WHERE id = $1',
        campaign_id,
    )
    await store.placed(attempt.id, "CA-GONE-1", T0)
    clock = SteppingClock(T0 + timedelta(minutes=10))  # silent for 10 minutes: asked about
    outbound = build_services(pool, settings, clock).outbound
    carrier = GoneCalls(clock)
    dialer = Dialer(
        store,
        carrier,
        clock,
        call_urls=CampaignCallUrls("http://127.0.0.1:1"),
        from_number="+15125550000",
        on_refused=outbound.refused,
        on_settled=outbound.settled,
        on_lost=outbound.lost,
    )

    async def attempt_row(attempt_id: int) -> asyncpg.Record:
        row: asyncpg.Record = await pool.fetchrow(
            "SELECT a.status, a.error_code, a.ended_at, t.state, t.outcome, t.next_attempt_at"
            " FROM call_attempts a JOIN campaign_targets t ON t.id = a.target_id"
            " WHERE a.id = $1",
            attempt_id,
        )
        return row

    async def sweep_every(seconds: float, times: int) -> None:
        for _ in range(times):
            await dialer.sweep()
            clock.advance(timedelta(seconds=seconds))

    # Every 5 s for 55 s: asked twice (once, and again 30 s later), not yet settled.
    await sweep_every(RECONCILE_EVERY_S, 12)
    assert len(carrier.asked_at) == 2
    assert (await attempt_row(attempt.id))["ended_at"] is None
    await sweep_every(RECONCILE_EVERY_S, 2)  # the third lookup, a minute after the first
    assert len(carrier.asked_at) == 3
    assert carrier.asked_at[-1] - carrier.asked_at[0] >= timedelta(seconds=LOST_AFTER_S)
    first = await attempt_row(attempt.id)
    assert (first["status"], first["error_code"], first["state"], first["outcome"]) == (
        "lost", 20404, "pending", "lost"
    )  # fmt: skip
    assert first["next_attempt_at"] == first["ended_at"] + timedelta(seconds=120)
    await sweep_every(RECONCILE_EVERY_S, 3)
    assert len(carrier.asked_at) == 3  # settled: never asked about again

    # Its retry, lost too: the policy's last attempt, so the target is done as lost.
    window = (ALWAYS.opens, ALWAYS.closes)
    clock.set(first["next_attempt_at"])
    retry = await store.claim(campaign_id, now=clock.now(), limit=40, urgent=True, window=window)
    [second] = [a for a in retry.attempts if a.target_id == attempt.target_id]
    assert second.attempt_no == 2
    await store.placed(second.id, "CA-GONE-2", clock.now())
    clock.advance(timedelta(minutes=10))
    await sweep_every(UNKNOWN_RECHECK_S, 3)
    last = await attempt_row(second.id)
    assert (last["status"], last["state"], last["outcome"]) == ("lost", "done", "lost")
    view = await CampaignService(store, clock, default_timezone="America/Chicago").show(campaign_id)
    assert view["progress"]["outcomes"]["lost"] == 1


class FoundAtTakeover:
    """A carrier holding two calls the server never learnt the ids of (a crash between the
    REST call and its answer), one already over, and asked, saying every call is live."""

    def __init__(self, found: dict[str, CarrierCall], clock: ManualClock) -> None:
        self.found = found
        self._clock = clock
        self.fetched: list[str] = []
        self.first_asked: dict[str, datetime] = {}

    async def place(self, **_: object) -> str:
        raise AssertionError("nothing is placed here")

    async def find(self, *, to: str, started_after: datetime) -> list[CarrierCall]:
        return [self.found[to]] if to in self.found else []

    async def fetch(self, sid: str) -> CarrierCall:
        self.fetched.append(sid)
        self.first_asked.setdefault(sid, self._clock.now())
        return CarrierCall(sid=sid, to="", from_="", status="in-progress")


async def test_a_takeover_asks_about_every_live_call_adopted_ones_too(
    services: Services, pool: asyncpg.Pool, tmp_path: Path, settings: Settings
) -> None:
    """Adopted at the takeover, a call was stamped placed then, after the takeover's own
    moment, and the check of calls placed before it left it out: its callbacks lost while
    no server listened, it showed live for 5 minutes. One found already over is settled at
    once."""
    store, [known, adopted, over] = await claimed_attempts(services, pool, tmp_path, 3)
    await store.placed(known.id, "CA-KNOWN", T0)
    taken_over_at = T0 + timedelta(seconds=40)
    clock = SteppingClock(taken_over_at)
    carrier = FoundAtTakeover(
        {
            adopted.phone: CarrierCall(
                sid="CA-ADOPTED", to=adopted.phone, from_="", status="in-progress"
            ),
            over.phone: CarrierCall(
                sid="CA-OVER", to=over.phone, from_="", status="completed",
                answered_by="human", duration_s=30,
            ),
        },
        clock,
    )  # fmt: skip
    outbound = build_services(pool, settings, clock).outbound
    dialer = Dialer(
        store,
        carrier,
        clock,
        call_urls=CampaignCallUrls("http://127.0.0.1:1"),
        from_number="+15125550000",
        on_refused=outbound.refused,
        on_settled=outbound.settled,
        on_lost=outbound.lost,
    )
    running = asyncio.create_task(dialer.run())
    try:
        async with asyncio.timeout(10):
            await until(lambda: {"CA-KNOWN", "CA-ADOPTED"} <= set(carrier.fetched))
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        clock.stop()
    # Asked about in the takeover, not by the sweep for calls silent for 5 minutes.
    for sid in ("CA-KNOWN", "CA-ADOPTED"):
        assert carrier.first_asked[sid] - taken_over_at < timedelta(seconds=TAKEOVER_CHECK_S)
    assert "CA-OVER" not in carrier.fetched  # settled from what the carrier said at once
    rows = {
        row["call_sid"]: row
        for row in await pool.fetch(
            "SELECT a.call_sid, a.status, a.ended_at, t.state, t.outcome FROM call_attempts a"
            " JOIN campaign_targets t ON t.id = a.target_id WHERE a.call_sid IS NOT NULL"
        )
    }
    assert (rows["CA-OVER"]["status"], rows["CA-OVER"]["state"]) == ("completed", "done")
    assert rows["CA-OVER"]["outcome"] == "reached"
    assert rows["CA-ADOPTED"]["ended_at"] is None  # live at the carrier: its callback will come


async def test_a_batch_claimed_ahead_that_could_not_go_back_is_settled_as_in_doubt(
    services: Services, pool: asyncpg.Pool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paused while its next batch was claimed, and the database refusing to take that batch
    back: its attempts stay "placing", and the in-doubt sweep must settle them. Still held by
    the dialer, the sweep passed them by, and a cancelled campaign showed them live until
    the next leader change."""
    carrier = NothingFound()
    store, _, campaign_id = await paced_campaign(services, pool, tmp_path, carrier)
    paused = False
    # Paused once the first batch (5) is placed, while the next is claimed.
    clock = HeldClock(T0, lambda: len(carrier.placed) >= 5 and not paused)
    dialer = lone_dialer(store, carrier, clock)
    refuse = True
    real_not_placed = store.not_placed

    async def not_placed(attempt_id: int, **kwargs: Any) -> None:
        if refuse:
            raise ConnectionError("the database went away")
        await real_not_placed(attempt_id, **kwargs)

    monkeypatch.setattr(store, "not_placed", not_placed)

    async def pause_when_claiming_ahead(claims: int) -> None:
        nonlocal paused
        if claims != 2:
            return
        await until(lambda: len(carrier.placed) >= 5)
        assert await store.set_state(campaign_id, "paused", ["running"], T0)
        paused = True
        dialer.wake("campaign")

    store.after_claim = pause_when_claiming_ahead

    def none_placing_but_ahead() -> Awaitable[bool]:
        # The first batch's calls have their ids written.
        return pool.fetchval(
            "SELECT count(*) = 5 FROM call_attempts WHERE campaign_id = $1"
            " AND call_sid IS NOT NULL",
            campaign_id,
        )

    placing = (
        "SELECT count(*) FROM call_attempts WHERE campaign_id = $1 AND status = 'placing'"
        " AND call_sid IS NULL"
    )
    try:
        async with asyncio.timeout(20):
            await dialer.step()  # a batch placed, the next claimed meanwhile
            await until(lambda: none_placing_but_ahead())
            await dialer.step()  # paused: the batch claimed ahead cannot go back
            refuse = False
            in_doubt = await pool.fetchval(placing, campaign_id)
            assert in_doubt > 0
            clock.advance(timedelta(seconds=IN_DOUBT_AFTER_S + 1))
            await dialer.reconcile(everything=False)
    finally:
        clock.stop()
    assert await pool.fetchval(placing, campaign_id) == 0
