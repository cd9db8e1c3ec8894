"""The schedule of planned-work messages and surveys in PostgreSQL: due rows taken by the
leader's tick one at a time, each in its own transaction under its outage's schedule lock
(the automation worker takes the same lock while it decides on the outage's planned work),
held until the tick has made its campaign."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from outage_voice.adapters.db.pool import Connection
from outage_voice.adapters.db.queries import q
from outage_voice.services.automation_ports import DueEntry, LedgerDecision

MADE = "made"
EXPIRED = "expired"
WITHDRAWN = "withdrawn"
# The first key of an outage's schedule lock (the second is the outage's id).
SCHEDULE_LOCK_CLASS = 0x6F76_7363  # "ovsc"


class _Held:
    def __init__(self, connection: Connection, entry: DueEntry) -> None:
        self._connection = connection
        self._entry = entry

    @property
    def entry(self) -> DueEntry:
        return self._entry

    async def made(self, entry: DueEntry, campaign_id: int, decision: LedgerDecision) -> None:
        await self._decide(entry, MADE, campaign_id, None, decision)

    async def expired(self, entry: DueEntry, decision: LedgerDecision) -> None:
        await self._decide(entry, EXPIRED, None, decision.decision.reason, decision)

    async def withdrawn(self, entry: DueEntry, decision: LedgerDecision) -> None:
        await self._decide(entry, WITHDRAWN, None, decision.decision.reason, decision)

    async def _decide(
        self,
        entry: DueEntry,
        state: str,
        campaign_id: int | None,
        reason: str | None,
        decision: LedgerDecision,
    ) -> None:
        await self._connection.execute(
            q("schedule_decide"),
            entry.entry_id,
            state,
            campaign_id,
            reason,
            decision.at,
            decision.decision.event,
            decision.decision.verdict.value,
            decision.decision.reason,
        )


class PgScheduleStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def due(self, now: datetime, limit: int, *, passed: Collection[int]) -> list[DueEntry]:
        rows = await self._pool.fetch(q("schedule_due"), now, limit, list(passed))
        return [_entry(row) for row in rows]

    @asynccontextmanager
    async def take(self, entry: DueEntry) -> AsyncIterator[_Held | None]:
        async with self._pool.acquire() as connection, connection.transaction():
            locked = await connection.fetchval(
                q("schedule_outage_try_lock"), SCHEDULE_LOCK_CLASS, entry.outage_pk
            )
            row = await connection.fetchrow(q("schedule_take"), entry.entry_id) if locked else None
            yield None if row is None else _Held(connection, _entry(row))

    async def expire_campaigns(self, now: datetime) -> int:
        status: str = await self._pool.execute(q("schedule_expire_campaigns"), now)
        return int(status.split()[-1])


def _entry(row: asyncpg.Record) -> DueEntry:
    details: dict[str, Any] = row["details"] or {}
    return DueEntry(
        entry_id=row["id"],
        outage_pk=row["outage_id"],
        outage_id=row["oms_id"],
        message=row["message"],
        generation=row["generation"],
        audience=row["audience"],
        premises=tuple(row["premises"]),
        feeders=tuple(row["feeders"]),
        due_at=row["due_at"],
        window_open=row["window_open"],
        window_close=row["window_close"],
        details={str(k): str(v) for k, v in details.items()},
    )
