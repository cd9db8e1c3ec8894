"""The retention queries (sql/queries/prune.sql) over the pool, one batch per statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.services.retention import IndexedAudio, TableCounts


class PgPruneStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def inbound_calls(self, *, before: datetime, limit: int | None, dry_run: bool) -> int:
        count: int = await self._pool.fetchval(q("prune_inbound_calls"), before, limit, dry_run)
        return count

    async def finished_campaigns(self, *, before: datetime, surveys_before: datetime) -> list[int]:
        rows = await self._pool.fetch(q("prune_finished_campaigns"), before, surveys_before)
        return [row["id"] for row in rows]

    async def campaign_rows(self, campaign_ids: Sequence[int]) -> TableCounts:
        row = await self._pool.fetchrow(q("prune_campaign_rows_count"), list(campaign_ids))
        return dict(row) if row is not None else {}

    async def delete_campaign_attempts(self, campaign_id: int, *, limit: int) -> TableCounts:
        row = await self._pool.fetchrow(q("prune_campaign_attempts"), campaign_id, limit)
        return dict(row) if row is not None else {}

    async def delete_campaign_targets(self, campaign_id: int, *, limit: int) -> int:
        count: int = await self._pool.fetchval(q("prune_campaign_targets"), campaign_id, limit)
        return count

    async def open_campaign_texts(self) -> frozenset[str]:
        rows = await self._pool.fetch(q("prune_open_campaign_texts"))
        return frozenset(row["text"] for row in rows)

    async def unused_audio(
        self, *, before: datetime, after_key: str, limit: int
    ) -> list[IndexedAudio]:
        rows = await self._pool.fetch(q("prune_unused_audio"), before, after_key, limit)
        return [
            IndexedAudio(
                key=row["key"], kind=row["kind"], language=row["language"], text=row["text"]
            )
            for row in rows
        ]

    async def delete_audio(self, keys: Sequence[str], *, before: datetime) -> int:
        count: int = await self._pool.fetchval(q("prune_audio_delete"), list(keys), before)
        return count

    async def used_since(self, keys: Sequence[str], *, since: datetime) -> frozenset[str]:
        rows = await self._pool.fetch(q("prune_audio_recent"), list(keys), since)
        return frozenset(row["key"] for row in rows)
