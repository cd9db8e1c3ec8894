"""Creating, listing and steering campaigns in PostgreSQL (the supervisors' API and shell).

A campaign's plan writes its targets: built by several connections side by side from one
snapshot, committed before the campaign row, so a campaign is never seen without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, time

import asyncpg
from asyncpg.transaction import Transaction

from outage_voice.adapters.db.pool import Connection
from outage_voice.adapters.db.queries import q
from outage_voice.domain.campaign_records import (
    AttemptCounts,
    Campaign,
    CampaignProgress,
    CampaignTrigger,
    OutageRef,
    PlannedCampaign,
    TargetCount,
)
from outage_voice.domain.campaigns import (
    CampaignKind,
    CampaignSpec,
    CampaignState,
    spec_from_json,
)
from outage_voice.domain.errors import Busy, TookTooLong
from outage_voice.domain.windows import DailyWindow

logger = logging.getLogger(__name__)

# Building a million-target audience is one long statement, far past the pool's default
# per-query timeout, which is sized for webhooks.
BUILD_TIMEOUT_S = 600.0
# An estimate is stopped past this: it is a question asked from a form (by any role), and
# must not hold a pool connection the outage line needs for minutes.
ESTIMATE_TIMEOUT_S = 30.0
# Connections that build one campaign's targets side by side. Planning is CPU-bound in the
# database, one core per connection: a million targets took 14.7-21.9 s on one and
# 9.3-13.5 s on two, alternating on one 2-core server (three were slower there).
PLAN_SHARDS = 2
# Audience keys that matched nothing are counted; this many of each kind are also named.
UNKNOWN_KEY_EXAMPLES = 10
# The first key of a plan's advisory lock (the second is its campaign's id).
PLAN_LOCK_CLASS = 0x6F76_706C  # "ovpl"
# pg_export_snapshot()'s ids, e.g. 00000003-0000001B-1.
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+-[0-9]+")


async def _insert_campaign(
    connection: Connection,
    spec: CampaignSpec,
    *,
    outage_pk: int | None,
    actor: str,
    now: datetime,
) -> int:
    """The campaign row, written alike by a plan and by an estimate (the estimate must count
    what the draft will)."""
    campaign_id: int | None = await connection.fetchval(
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
    return campaign_id


class PgCampaignAdminStore:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        plan_shards: int = PLAN_SHARDS,
        estimate_timeout_s: float = ESTIMATE_TIMEOUT_S,
    ) -> None:
        self._pool = pool
        self._estimate_timeout_s = estimate_timeout_s
        # One estimate at a time per server; another asked meanwhile is refused (Busy), not
        # queued: each holds a connection and writes a whole audience before rolling back.
        self._estimate_lock = asyncio.Lock()
        # A plan holds 1 + plan_shards connections at once; a smaller pool would wait forever.
        self._plan_shards = max(1, min(plan_shards, pool.get_max_size() - 1))
        # One plan at a time per server: plans take 1 + plan_shards connections each, and
        # several taking them piecemeal could each wait on the others; they would share the
        # database's cores anyway.
        self._plan_lock = asyncio.Lock()

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
                campaign_id = await _insert_campaign(
                    coordinator, spec, outage_pk=outage_pk, actor=actor, now=now
                )
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

    async def estimate(
        self,
        spec: CampaignSpec,
        *,
        outage_pk: int | None,
        actor: str,
        default_timezone: str,
        now: datetime,
    ) -> PlannedCampaign:
        """What `create` would write, counted by the same statements on one connection in a
        transaction rolled back: nothing is kept, and the counts are the ones a draft made
        now would show. Its campaign id names nothing."""
        if self._estimate_lock.locked():
            raise Busy("another estimate is being counted on this server; ask again in a moment")
        keys = _audience_keys(spec)
        async with self._estimate_lock, self._pool.acquire() as connection:
            transaction = connection.transaction(isolation="repeatable_read")
            await transaction.start()
            try:
                await connection.execute(
                    q("campaign_estimate_timeout"), str(round(self._estimate_timeout_s * 1000))
                )
                campaign_id = await _insert_campaign(
                    connection, spec, outage_pk=outage_pk, actor=actor, now=now
                )
                await connection.execute(q("campaign_build_memory"))
                await _load_audience_keys(connection, keys)
                missing: dict[str, int] = {}
                examples: dict[str, list[str]] = {}
                if keys:
                    for row in await connection.fetch(
                        q("campaign_unknown_keys"), UNKNOWN_KEY_EXAMPLES
                    ):
                        missing[row["kind"]] = row["missing"]
                        examples[row["kind"]] = list(row["examples"])
                rows = await connection.fetch(
                    q("campaign_targets_build"),
                    campaign_id,
                    outage_pk,
                    spec.audience.callback_requests,
                    now,
                    default_timezone,
                    0,
                    1,  # one shard: every number
                )
            except asyncpg.QueryCanceledError:
                raise TookTooLong(
                    f"the estimate was stopped after {self._estimate_timeout_s:g} s; an audience "
                    "this large is counted only by creating the campaign as a draft"
                ) from None
            finally:
                await transaction.rollback()
        return PlannedCampaign(
            campaign_id=0,
            unknown_keys=missing,
            unknown_examples=examples,
            targets=[
                TargetCount(state=row["state"], outcome=row["outcome"], targets=row["targets"])
                for row in rows
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
        automatic=row["automatic"],
        trigger=(
            None
            if row["trigger_event"] is None
            else CampaignTrigger(
                outage_id=row["outage_oms_id"],
                event=row["trigger_event"],
                event_id=row["trigger_event_id"],
            )
        ),
    )


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
