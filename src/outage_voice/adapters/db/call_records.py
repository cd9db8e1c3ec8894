"""Inbound call records for containment reporting, merged a batch at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.domain.inbound_calls import (
    OUTCOME_ORDER,
    CallOutcome,
    CallRecordDelta,
    CallSummary,
    OutcomeTally,
)


class PgCallRecordStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def merge(self, deltas: Sequence[CallRecordDelta]) -> list[CallSummary]:
        if not deltas:
            return []
        rows = await self._pool.fetch(
            q("inbound_calls_merge"),
            [d.call_sid for d in deltas],
            [d.caller for d in deltas],
            [d.first_at for d in deltas],
            [d.last_at for d in deltas],
            [",".join(d.path) for d in deltas],
            [d.outcome.value for d in deltas],
            [d.account_number for d in deltas],
            [d.premise_id for d in deltas],
            [d.language for d in deltas],
            [outcome.value for outcome in OUTCOME_ORDER],
            [d.ended_at for d in deltas],
            [d.duration_s for d in deltas],
            [d.end_status for d in deltas],
        )
        return [
            CallSummary(
                call_sid=row["call_sid"],
                outcome=CallOutcome(row["outcome"]),
                path=tuple(row["path"]),
            )
            for row in rows
        ]

    async def summary(self, since: datetime, until: datetime) -> list[OutcomeTally]:
        rows = await self._pool.fetch(q("inbound_calls_summary"), since, until)
        return [
            OutcomeTally(
                outcome=CallOutcome(row["outcome"]),
                calls=row["calls"],
                avg_duration_s=row["avg_duration_s"] or 0.0,
            )
            for row in rows
        ]

    async def calls(self, call_sids: Sequence[str]) -> list[CallSummary]:
        rows = await self._pool.fetch(q("inbound_calls_by_sid"), list(call_sids))
        return [
            CallSummary(
                call_sid=row["call_sid"],
                outcome=CallOutcome(row["outcome"]),
                path=tuple(row["path"]),
            )
            for row in rows
        ]
