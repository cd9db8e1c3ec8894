"""What the console's campaign page reads besides a campaign's progress: calls placed over
the last minutes, and the numbers waiting for a retry or for their calling window."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.services.console_ports import DueCount, WaitingTargets

# The retries' due times named on the page, minute by minute.
RETRY_MINUTES_SHOWN = 6


class PgConsoleStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def calls_placed(
        self, campaign_id: int, *, since: datetime, until: datetime, bucket_s: int
    ) -> dict[int, int]:
        rows = await self._pool.fetch(
            q("console_calls_per_bucket"), campaign_id, since, bucket_s, until
        )
        return {row["bucket"]: row["calls"] for row in rows}

    async def waiting(self, campaign_id: int, now: datetime) -> WaitingTargets:
        # Two statements, no transaction: figures a second apart at worst, for one round trip
        # fewer every time a watched campaign is read.
        row = await self._pool.fetchrow(q("console_waiting"), campaign_id, now)
        assert row is not None  # an aggregate always returns its row
        due = (
            await self._pool.fetch(q("console_retries_due"), campaign_id, now, RETRY_MINUTES_SHOWN)
            if row["retries"]
            else []
        )
        return WaitingTargets(
            retries=row["retries"],
            next_retry_at=row["next_retry_at"],
            retries_due=[DueCount(at=r["due_at"], targets=r["targets"]) for r in due],
            out_of_window=row["out_of_window"],
            next_window_at=row["next_window_at"],
        )
