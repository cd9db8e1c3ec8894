"""Outages as the OMS writes them, and what callers reported, in PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from outage_voice.adapters.db.automation import AUTOMATION_CHANNEL
from outage_voice.adapters.db.queries import q
from outage_voice.domain.automation import outage_change
from outage_voice.domain.outages import (
    CrewStatus,
    OutageRecord,
    OutageReport,
    OutageState,
    OutageStatus,
    OutageWrite,
)

# Outage writes (shared) and the recount after an import (exclusive) take turns on the counts.
OUTAGE_COUNTS_LOCK_KEY = 0x6F762D636E7473


class PgOutageStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(
        self, outage_id: str, state: OutageState, *, actor: str, now: datetime
    ) -> OutageWrite:
        canonical = state.canonical()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(q("outage_counts_lock_shared"), OUTAGE_COUNTS_LOCK_KEY)
            created = await conn.fetchval(q("outage_insert_if_missing"), outage_id, now) is not None
            row = await conn.fetchrow(q("outage_lock"), outage_id)
            assert row is not None
            internal_id: int = row["id"]
            previous: dict[str, Any] = row["state"]
            if not created and previous == canonical:
                return OutageWrite(created=False, changed=False)
            await conn.execute(
                q("outage_update"),
                internal_id,
                state.status.value,
                state.crew_status.value,
                state.cause,
                state.etr,
                state.planned,
                state.starts_at,
                state.ends_at,
                canonical,
                now,
                state.customers_affected,
                state.alternate_starts_at,
            )
            premises_changed = created or previous.get("premise_ids") != canonical["premise_ids"]
            feeders_changed = created or previous.get("feeder_ids") != canonical["feeder_ids"]
            if premises_changed:
                await conn.execute(q("outage_premises_clear"), internal_id)
                await conn.execute(q("outage_premises_add"), internal_id, list(state.premise_ids))
            if feeders_changed:
                await conn.execute(q("outage_feeders_clear"), internal_id)
                await conn.execute(q("outage_feeders_add"), internal_id, list(state.feeder_ids))
            if premises_changed or feeders_changed:
                # Counted here, once per change, so no caller's lookup ever counts.
                await conn.execute(q("outage_customers_count"), internal_id)
            # With the history, the outbox: the automation sees this change if, and only if,
            # it commits.
            await conn.execute(
                q("outage_history_add"),
                internal_id,
                now,
                actor,
                canonical,
                outage_change(previous, state).as_json(),
                AUTOMATION_CHANNEL,
            )
            await conn.execute(
                q("audit_add"),
                now,
                actor,
                "outage.create" if created else "outage.update",
                "outage",
                outage_id,
                {"status": state.status.value, "etr": canonical["etr"]},
            )
            return OutageWrite(created=created, changed=True)

    async def get(self, outage_id: str) -> OutageRecord | None:
        row = await self._pool.fetchrow(q("outage_get"), outage_id)
        return None if row is None else _outage_record(row)

    async def list_outages(self, *, active: bool | None, limit: int) -> list[OutageRecord]:
        rows = await self._pool.fetch(q("outages_list"), active, limit)
        return [_outage_record(row) for row in rows]

    async def reports_since(
        self, since: datetime, *, after_id: int, limit: int
    ) -> list[OutageReport]:
        rows = await self._pool.fetch(q("outage_reports_since"), since, after_id, limit)
        return [
            OutageReport(
                report_id=row["id"],
                kind=row["kind"],
                premise_id=row["premise_id"],
                account_number=row["account_number"],
                outage_id=row["outage_id"],
                phone=row["phone"],
                call_sid=row["call_sid"],
                source=row["source"],
                created_at=row["created_at"],
                campaign_id=row["details"].get("campaign_id"),
                attempt_id=row["details"].get("attempt_id"),
            )
            for row in rows
        ]


def _outage_record(row: asyncpg.Record) -> OutageRecord:
    state: dict[str, Any] = row["state"]
    return OutageRecord(
        outage_id=row["oms_id"],
        status=OutageStatus(row["status"]),
        cause=row["cause"],
        crew_status=CrewStatus(row["crew_status"]),
        etr=row["etr"],
        planned=row["planned"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        premise_ids=tuple(state.get("premise_ids", ())),
        feeder_ids=tuple(state.get("feeder_ids", ())),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        restored_at=row["restored_at"],
        affected_premises=row["affected_premises"],
        history_entries=row["history_entries"],
        customers_affected=row["customers_affected"],
        customers_from_oms=row["customers_from_oms"],
        alternate_starts_at=row["alternate_starts_at"],
    )
