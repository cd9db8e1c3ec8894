"""What callers ask for on the outage line, in PostgreSQL: reports, hazards, call-backs."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from outage_voice.adapters.db.queries import q


class PgIvrStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def active_outage_id(self, premise_id: str) -> int | None:
        outage_id: int | None = await self._pool.fetchval(
            q("ivr_active_outage_for_premise"), premise_id
        )
        return outage_id

    async def add_report(
        self,
        *,
        kind: str,
        premise_id: str | None,
        account_number: str | None,
        outage_id: int | None,
        phone: str,
        call_sid: str,
        now: datetime,
        dedupe_key: str | None,
    ) -> bool:
        inserted = await self._pool.fetchval(
            q("ivr_report_insert"),
            kind,
            premise_id,
            account_number,
            outage_id,
            phone,
            call_sid,
            now,
            dedupe_key,
        )
        return inserted is not None

    async def call_has_report(self, call_sid: str, kind: str) -> bool:
        return bool(await self._pool.fetchval(q("ivr_report_for_call"), call_sid, kind))

    async def add_callback(
        self,
        *,
        phone: str,
        premise_id: str | None,
        account_number: str | None,
        outage_id: int | None,
        language: str,
        call_sid: str,
        now: datetime,
    ) -> None:
        await self._pool.execute(
            q("ivr_callback_insert"),
            phone,
            premise_id,
            account_number,
            outage_id,
            language,
            call_sid,
            now,
        )
