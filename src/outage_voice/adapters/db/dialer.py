"""The dialer's store in PostgreSQL: claiming targets, and what became of each attempt to
place a call (placed, never placed, in doubt, live, lost)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.domain.campaign_records import (
    ClaimedAttempt,
    ClaimedBatch,
    LiveCall,
    RunningCampaign,
    UnconfirmedAttempt,
)
from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.windows import DailyWindow

# The channel campaign changes and ended calls are announced on (see sql/queries/campaigns.sql).
DIALER_CHANNEL = "outage_voice_dialer"
# How many targets never tried a claim looks at past its batch for ones inside their calling
# window: a zone outside it is handed to the dialer's deferral this many at a time.
FRESH_LOOKAHEAD = 1000


@dataclass(kw_only=True, slots=True)
class _PlacedBatch:
    rows: list[tuple[int, str, datetime]] = field(default_factory=list)
    written: bool = False
    error: Exception | None = None


class PgDialerStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._placed_open: _PlacedBatch | None = None
        self._placed_lock = asyncio.Lock()

    async def running(self, now: datetime) -> list[RunningCampaign]:
        return [
            RunningCampaign(
                id=row["id"],
                cps=row["cps"],
                max_concurrent=row["max_concurrent"],
                window=DailyWindow(opens=row["window_opens"], closes=row["window_closes"]),
                urgent=row["urgent"],
                live=row["live"],
                kind=CampaignKind(row["kind"]),
                expires_at=row["expires_at"],
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


def _live_calls(rows: Sequence[asyncpg.Record]) -> list[LiveCall]:
    return [LiveCall(attempt_id=row["id"], call_sid=row["call_sid"]) for row in rows]
