"""Campaigns, targets and call attempts in PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time

import asyncpg
from asyncpg.transaction import Transaction

from outage_voice.adapters.db.pool import Connection
from outage_voice.adapters.db.queries import q
from outage_voice.domain.campaign_records import (
    AttemptContext,
    AttemptCounts,
    Campaign,
    CampaignProgress,
    ClaimedAttempt,
    ClaimedBatch,
    LiveCall,
    OutageRef,
    PlannedCampaign,
    RunningCampaign,
    StillOutReport,
    TargetCount,
    UnconfirmedAttempt,
)
from outage_voice.domain.campaigns import (
    STATUS_RANK,
    CampaignKind,
    CampaignSpec,
    CampaignState,
    EndingAttempt,
    TargetEnd,
    moves_forward,
    spec_from_json,
)
from outage_voice.domain.windows import DailyWindow

logger = logging.getLogger(__name__)

DIALER_CHANNEL = "outage_voice_dialer"


# Building a million-target audience is one long statement, far past the pool's default
# per-query timeout, which is sized for webhooks.
BUILD_TIMEOUT_S = 600.0
# Connections that build one campaign's targets side by side. Planning is CPU-bound in the
# database, one core per connection: a million targets took 14.7-21.9 s on one and
# 9.3-13.5 s on two, alternating on one 2-core server (three were slower there).
PLAN_SHARDS = 2
# Audience keys that matched nothing are counted; this many of each kind are also named.
UNKNOWN_KEY_EXAMPLES = 10
# How many targets never tried a claim looks at past its batch for ones inside their calling
# window: a zone outside it is handed to the dialer's deferral this many at a time.
FRESH_LOOKAHEAD = 1000
# The first key of a plan's advisory lock (the second is its campaign's id).
PLAN_LOCK_CLASS = 0x6F76_706C  # "ovpl"
# pg_export_snapshot()'s ids, e.g. 00000003-0000001B-1.
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+-[0-9]+")
STATUS_ORDER = sorted(STATUS_RANK, key=lambda status: STATUS_RANK[status])


@dataclass(kw_only=True, slots=True)
class _PlacedBatch:
    rows: list[tuple[int, str, datetime]] = field(default_factory=list)
    written: bool = False
    error: Exception | None = None


class PgCampaignStore:
    def __init__(self, pool: asyncpg.Pool, *, plan_shards: int = PLAN_SHARDS) -> None:
        self._pool = pool
        # A plan holds 1 + plan_shards connections at once; a smaller pool would wait forever.
        self._plan_shards = max(1, min(plan_shards, pool.get_max_size() - 1))
        # One plan at a time per server: plans take 1 + plan_shards connections each, and
        # several taking them piecemeal could each wait on the others; they would share the
        # database's cores anyway.
        self._plan_lock = asyncio.Lock()
        self._placed_open: _PlacedBatch | None = None
        self._placed_lock = asyncio.Lock()

    async def outage(self, oms_id: str) -> OutageRef | None:
        row = await self._pool.fetchrow(q("campaign_outage"), oms_id)
        return None if row is None else OutageRef(pk=row["id"], status=row["status"])

    async def create(
        self,
        spec: CampaignSpec,
        *,
        outage_pk: int | None,
        actor: str,
        default_timezone: str,
        now: datetime,
    ) -> PlannedCampaign:
        """The campaign and its targets, all or nothing, with the keys named by the
        audience that matched nothing and the targets written, by state and outcome.

        The targets are built by `plan_shards` connections side by side, each taking its
        share of the phone numbers, all reading one snapshot. They commit once every shard
        is built, and the campaign row after them: a campaign is never seen without its
        targets. A plan that dies between the two leaves targets no campaign names; the next
        plan removes them."""
        async with self._plan_lock, contextlib.AsyncExitStack() as stack:
            coordinator = await stack.enter_async_context(self._pool.acquire())
            shards = [
                await stack.enter_async_context(self._pool.acquire())
                for _ in range(self._plan_shards)
            ]
            await _remove_orphans(coordinator)
            keys = _audience_keys(spec)
            campaign = coordinator.transaction(isolation="repeatable_read")
            await campaign.start()
            campaign_id: int | None = None
            try:
                campaign_id = await coordinator.fetchval(
                    q("campaign_insert"),
                    spec.name,
                    spec.kind.value,
                    spec.as_json(),
                    outage_pk,
                    spec.cps,
                    spec.max_concurrent,
                    spec.window.opens,
                    spec.window.closes,
                    spec.urgent,
                    spec.priority,
                    spec.starts_at,
                    actor,
                    now,
                )
                assert campaign_id is not None  # RETURNING id of the row just inserted
                await coordinator.execute(q("campaign_plan_lock"), PLAN_LOCK_CLASS, campaign_id)
                snapshot: str = await coordinator.fetchval(q("campaign_plan_snapshot"))
                build = functools.partial(
                    _build_shard,
                    snapshot=snapshot,
                    keys=keys,
                    campaign_id=campaign_id,
                    outage_pk=outage_pk,
                    callback_requests=spec.audience.callback_requests,
                    default_timezone=default_timezone,
                    now=now,
                )
                try:
                    async with asyncio.TaskGroup() as group:
                        unknown = group.create_task(_unknown_keys(coordinator, keys))
                        building = [
                            group.create_task(build(connection, shard=(number, len(shards))))
                            for number, connection in enumerate(shards)
                        ]
                except BaseExceptionGroup as group_error:
                    # One shard's failure is the plan's: the others were cancelled and their
                    # work is rolled back with the connections' release.
                    raise group_error.exceptions[0] from None
                missing, examples = unknown.result()
                written: Counter[tuple[str, str]] = Counter()
                for built in building:
                    transaction, counts = built.result()
                    await transaction.commit()
                    written.update(counts)
                await campaign.commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    if coordinator.is_in_transaction():
                        await campaign.rollback()
                    if campaign_id is not None:
                        # Shards that did commit; kept if the campaign did commit after all.
                        await coordinator.execute(q("campaign_orphans_delete"), [campaign_id])
                raise
        return PlannedCampaign(
            campaign_id=campaign_id,
            unknown_keys=missing,
            unknown_examples=examples,
            targets=[
                TargetCount(state=state, outcome=outcome, targets=count)
                for (state, outcome), count in written.items()
            ],
        )

    async def get(self, campaign_id: int) -> Campaign | None:
        row = await self._pool.fetchrow(q("campaign_get"), campaign_id)
        return None if row is None else campaign_of(row)

    async def recent(self, limit: int) -> list[Campaign]:
        return [campaign_of(row) for row in await self._pool.fetch(q("campaign_list"), limit)]

    async def set_state(
        self, campaign_id: int, state: str, from_states: Sequence[str], now: datetime
    ) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            changed = await connection.fetchval(
                q("campaign_set_state"), campaign_id, state, list(from_states), now
            )
            if changed is not None:
                if state == CampaignState.RUNNING:
                    await connection.execute(q("campaign_targets_analyze"))
                await connection.execute(q("campaign_notify"), str(campaign_id))
        return changed is not None

    async def set_pacing(
        self,
        campaign_id: int,
        *,
        cps: float | None,
        max_concurrent: int | None,
        window: tuple[time, time] | None,
        priority: int | None,
        now: datetime,
    ) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            changed = await connection.fetchval(
                q("campaign_set_pacing"),
                campaign_id,
                cps,
                max_concurrent,
                None if window is None else window[0],
                None if window is None else window[1],
                priority,
                now,
            )
            if changed is not None:
                await connection.execute(q("campaign_notify"), str(campaign_id))
        return changed is not None

    async def progress(self, campaign_id: int, recent_since: datetime) -> CampaignProgress | None:
        async with (
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            campaign = await connection.fetchrow(q("campaign_get"), campaign_id)
            if campaign is None:
                return None
            await connection.execute(q("campaign_progress_plan"))
            targets = [
                TargetCount(state=row["state"], outcome=row["outcome"], targets=row["targets"])
                for row in await connection.fetch(q("campaign_progress_targets"), campaign_id)
            ]
            attempts = await connection.fetchrow(
                q("campaign_progress_attempts"), campaign_id, recent_since
            )
        assert attempts is not None  # an aggregate always returns its row
        return CampaignProgress(
            campaign=campaign_of(campaign),
            targets=targets,
            attempts=AttemptCounts(
                attempts=attempts["attempts"],
                live=attempts["live"],
                placed_recently=attempts["placed_recently"],
                first_placed=attempts["first_placed"],
                last_placed=attempts["last_placed"],
            ),
        )

    # --- the dialer ---------------------------------------------------------------------

    async def running(self, now: datetime) -> list[RunningCampaign]:
        return [
            RunningCampaign(
                id=row["id"],
                cps=row["cps"],
                max_concurrent=row["max_concurrent"],
                window=DailyWindow(opens=row["window_opens"], closes=row["window_closes"]),
                urgent=row["urgent"],
                live=row["live"],
            )
            for row in await self._pool.fetch(q("dialer_running_campaigns"), now)
        ]

    async def claim(
        self,
        campaign_id: int,
        *,
        now: datetime,
        limit: int,
        urgent: bool,
        window: tuple[time, time],
    ) -> ClaimedBatch:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(q("dialer_claim_plan"))
            rows: list[asyncpg.Record] = await connection.fetch(
                q("dialer_claim"),
                campaign_id,
                now,
                limit,
                urgent,
                window[0],
                window[1],
                FRESH_LOOKAHEAD,
            )
        return ClaimedBatch(
            attempts=[
                ClaimedAttempt(
                    id=row["id"],
                    target_id=row["target_id"],
                    phone=row["phone"],
                    attempt_no=row["attempt_no"],
                )
                for row in rows
                if row["id"] is not None
            ],
            out_of_window=rows[0]["out_of_window"],
        )

    async def next_due(self, campaign_ids: Sequence[int]) -> datetime | None:
        value: datetime | None = await self._pool.fetchval(q("dialer_next_due"), list(campaign_ids))
        return value

    async def due_zones(self, campaign_id: int, now: datetime) -> list[str]:
        rows = await self._pool.fetch(q("dialer_out_of_window_zones"), campaign_id, now)
        return [row["timezone"] for row in rows]

    async def defer_zone(
        self, campaign_id: int, zone: str, *, now: datetime, until: datetime
    ) -> None:
        await self._pool.execute(q("dialer_defer_zone"), campaign_id, now, zone, until)

    async def placed(self, attempt_id: int, call_sid: str, now: datetime) -> None:
        """Records the carrier's call id. Calls answered while a write is under way go in
        the next write together: one statement per burst, not one per call. Returns once
        this call's row is written (raises when its write failed)."""
        batch = self._placed_open
        if batch is None:
            batch = self._placed_open = _PlacedBatch()
        batch.rows.append((attempt_id, call_sid, now))
        async with self._placed_lock:
            if not batch.written:
                if self._placed_open is batch:
                    self._placed_open = None  # later calls start the next batch
                batch.written = True
                ids, sids, moments = zip(*batch.rows, strict=True)
                try:
                    await self._pool.execute(q("dialer_placed"), ids, sids, moments)
                except BaseException as exc:
                    # Cancelled mid-write too: the others must not take it as written.
                    batch.error = exc if isinstance(exc, Exception) else ConnectionError(repr(exc))
                    raise
        if batch.error is not None:
            raise batch.error

    async def not_placed(
        self, attempt_id: int, *, now: datetime, error_code: int | None, retry_at: datetime
    ) -> None:
        await self._pool.execute(q("dialer_not_placed"), attempt_id, now, error_code, retry_at)

    async def in_doubt(self) -> list[UnconfirmedAttempt]:
        return [
            UnconfirmedAttempt(id=row["id"], phone=row["phone"], created_at=row["created_at"])
            for row in await self._pool.fetch(q("dialer_in_doubt"))
        ]

    async def stale(
        self, placed_before: datetime, limit: int, *, skip: Sequence[int] = ()
    ) -> list[LiveCall]:
        rows = await self._pool.fetch(q("dialer_stale_attempts"), placed_before, limit, list(skip))
        return _live_calls(rows)

    async def live_calls(self, among: Sequence[int] | None = None) -> list[LiveCall]:
        """Calls placed and not ended: all of them, or those of `among`."""
        if among is None:
            rows = await self._pool.fetch(q("dialer_live_calls"))
        else:
            rows = await self._pool.fetch(q("dialer_still_live"), list(among))
        return _live_calls(rows)

    async def to_cancel(self) -> list[LiveCall]:
        return _live_calls(await self._pool.fetch(q("dialer_to_cancel")))

    async def known_sids(self, sids: Sequence[str]) -> set[str]:
        rows = await self._pool.fetch(q("dialer_known_sids"), list(sids))
        return {row["call_sid"] for row in rows}

    async def release_orphans(self, now: datetime) -> None:
        await self._pool.execute(q("dialer_release_unplaced_targets"), now)

    async def finish_campaigns(self, now: datetime) -> list[int]:
        rows = await self._pool.fetch(q("dialer_finish_campaigns"), now)
        return [row["id"] for row in rows]

    # --- callbacks and answered calls ----------------------------------------------------

    async def apply_status(
        self,
        attempt_id: int,
        *,
        status: str,
        sequence: int,
        call_sid: str | None,
        answered_by: str | None,
        error_code: int | None,
        duration_s: int | None,
        final: bool,
        now: datetime,
        decide: Callable[[EndingAttempt], Awaitable[TargetEnd]] | None = None,
        presumed: EndingAttempt | None = None,
    ) -> bool:
        """Moves the attempt forward; True when this callback changed it. When it ends,
        `decide` says what becomes of its target, written in the same statement as the end.
        With `presumed` (what the callback's URL and form tell) the end is usually one
        statement; otherwise, or when the presumption was wrong, the attempt is read first."""
        if not final or decide is None:
            row = await self._pool.fetchrow(
                q("attempt_status"),
                attempt_id,
                status,
                sequence,
                call_sid,
                answered_by,
                error_code,
                duration_s,
                final,
                now,
                STATUS_ORDER,
            )
            return row is not None
        ending = presumed
        while True:
            if ending is None:
                seen = await self._pool.fetchrow(q("attempt_seen"), attempt_id)
                if seen is None or not moves_forward(seen["status"], status):
                    return False  # unknown, a duplicate, or late
                ending = EndingAttempt(
                    campaign_id=seen["campaign_id"],
                    attempt_no=seen["attempt_no"],
                    answered_by=answered_by or seen["answered_by"],
                    error_code=error_code if error_code is not None else seen["error_code"],
                )
            end = await decide(ending)
            row = await self._pool.fetchrow(
                q("attempt_end"),
                attempt_id,
                status,
                sequence,
                call_sid,
                answered_by,
                error_code,
                duration_s,
                now,
                STATUS_ORDER,
                ending.campaign_id,
                ending.attempt_no,
                ending.answered_by,
                ending.error_code,
                end.done,
                end.outcome,
                end.retry_at,
                end.phone_invalid,
            )
            if row is not None:
                return True
            ending = None  # read what the attempt is now, and decide again

    async def attempt(self, attempt_id: int) -> AttemptContext | None:
        row = await self._pool.fetchrow(q("attempt_context"), attempt_id)
        if row is None:
            return None
        return AttemptContext(
            id=row["id"],
            target_id=row["target_id"],
            campaign_id=row["campaign_id"],
            phone=row["phone"],
            attempt_no=row["attempt_no"],
            answered_by=row["answered_by"],
            account_numbers=tuple(row["account_numbers"] or ()),
            premise_ids=tuple(row["premise_ids"] or ()),
            language=row["language"],
            timezone=row["timezone"],
            outcome=row["outcome"],
            kind=CampaignKind(row["kind"]),
            spec=spec_from_json(row["spec"]),
            outage_pk=row["outage_id"],
            campaign_state=CampaignState(row["campaign_state"]),
        )

    async def set_outcome(
        self, campaign_id: int, target_id: int, outcome: str, now: datetime
    ) -> None:
        await self._pool.execute(q("target_outcome"), campaign_id, target_id, outcome, now)

    async def opt_out(self, phone: str, now: datetime) -> None:
        await self._pool.execute(q("phone_opt_out"), phone, now)

    async def fulfil_callbacks(self, outage_pk: int, phone: str, now: datetime) -> None:
        await self._pool.execute(q("callbacks_fulfil"), outage_pk, phone, now)

    async def still_out(self, report: StillOutReport, now: datetime) -> None:
        await self._pool.execute(
            q("still_out_report"),
            report.premise_id,
            report.account_number,
            report.outage_pk,
            report.phone,
            report.call_sid,
            {"campaign_id": report.campaign_id, "attempt_id": report.attempt_id},
            now,
        )


def campaign_of(row: asyncpg.Record) -> Campaign:
    return Campaign(
        id=row["id"],
        name=row["name"],
        kind=CampaignKind(row["kind"]),
        state=CampaignState(row["state"]),
        spec=spec_from_json(row["spec"]),
        outage_pk=row["outage_id"],
        cps=row["cps"],
        max_concurrent=row["max_concurrent"],
        window=DailyWindow(opens=row["window_opens"], closes=row["window_closes"]),
        urgent=row["urgent"],
        priority=row["priority"],
        starts_at=row["starts_at"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )


def _live_calls(rows: Sequence[asyncpg.Record]) -> list[LiveCall]:
    return [LiveCall(attempt_id=row["id"], call_sid=row["call_sid"]) for row in rows]


async def _remove_orphans(connection: Connection) -> None:
    async with connection.transaction():
        orphans = [
            row["campaign_id"]
            for row in await connection.fetch(q("campaign_orphans_lock"), PLAN_LOCK_CLASS)
        ]
        if orphans:
            logger.warning("removing the targets of %d unfinished plan(s)", len(orphans))
            await connection.execute(q("campaign_orphans_delete"), orphans)


def _audience_keys(spec: CampaignSpec) -> list[tuple[str, str]]:
    audience = spec.audience
    return [
        *(("account", key) for key in audience.accounts),
        *(("premise", key) for key in audience.premises),
        *(("feeder", key) for key in audience.feeders),
    ]


async def _load_audience_keys(connection: Connection, keys: Sequence[tuple[str, str]]) -> None:
    """The audience's keys in a temporary table of this transaction, with statistics, so
    the build joins them like any table."""
    await connection.execute(q("campaign_audience_keys_create"))
    await connection.copy_records_to_table("audience_keys", records=keys, columns=["kind", "key"])
    await connection.execute("ANALYZE audience_keys")


async def _unknown_keys(
    connection: Connection, keys: Sequence[tuple[str, str]]
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """How many of the audience's keys matched nothing, by kind, and the first few of them."""
    if not keys:
        return {}, {}
    await _load_audience_keys(connection, keys)
    rows = await connection.fetch(q("campaign_unknown_keys"), UNKNOWN_KEY_EXAMPLES)
    return (
        {row["kind"]: row["missing"] for row in rows},
        {row["kind"]: list(row["examples"]) for row in rows},
    )


async def _build_shard(
    connection: Connection,
    *,
    shard: tuple[int, int],
    snapshot: str,
    keys: Sequence[tuple[str, str]],
    campaign_id: int,
    outage_pk: int | None,
    callback_requests: bool,
    default_timezone: str,
    now: datetime,
) -> tuple[Transaction, Counter[tuple[str, str]]]:
    """Shard `shard[0]` of `shard[1]` of the campaign's targets, written in a transaction left
    open for the caller to commit with the others; with what it wrote, by state and outcome."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError(f"unexpected snapshot id from the server: {snapshot!r}")
    transaction = connection.transaction(isolation="repeatable_read")
    await transaction.start()
    # SET takes no parameters; the id was checked against the server's format just above.
    await connection.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    await connection.execute(q("campaign_build_memory"))
    await _load_audience_keys(connection, keys)
    rows = await connection.fetch(
        q("campaign_targets_build"),
        campaign_id,
        outage_pk,
        callback_requests,
        now,
        default_timezone,
        shard[0],
        shard[1],
        timeout=BUILD_TIMEOUT_S,
    )
    return transaction, Counter({(row["state"], row["outcome"]): row["targets"] for row in rows})
