"""Instances' heartbeat rows and the outage line's figures in PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.services.instance_status import InstanceStatus, TopOutage


class PgInstanceStatusStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(self, status: InstanceStatus) -> None:
        await self._pool.execute(
            q("instance_status_upsert"),
            status.instance_id,
            status.host,
            status.pid,
            status.started_at,
            status.seen_at,
            status.leader,
            status.degraded,
            status.spool_depth,
            status.version,
            status.webhooks_per_s,
        )

    async def delete(self, instance_id: str) -> None:
        await self._pool.execute(q("instance_status_delete"), instance_id)

    async def seen_since(self, since: datetime, *, forget_before: datetime) -> list[InstanceStatus]:
        rows = await self._pool.fetch(q("instance_status_seen_since"), since, forget_before)
        return [
            InstanceStatus(
                instance_id=row["instance_id"],
                host=row["host"],
                pid=row["pid"],
                started_at=row["started_at"],
                seen_at=row["seen_at"],
                leader=row["leader"],
                degraded=row["degraded"],
                spool_depth=row["spool_depth"],
                version=row["version"],
                webhooks_per_s=float(row["webhooks_per_s"]),
            )
            for row in rows
        ]


class PgOutageLineStats:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def in_ivr(self, stepped_since: datetime) -> int:
        count: int = await self._pool.fetchval(q("outage_line_in_ivr"), stepped_since)
        return count

    async def containment(self, since: datetime) -> Mapping[str, int]:
        rows = await self._pool.fetch(q("outage_line_containment"), since)
        return {row["outcome"]: row["calls"] for row in rows}

    async def top_outages(self, since: datetime, limit: int) -> list[TopOutage]:
        rows = await self._pool.fetch(q("outage_line_top_outages"), since, limit)
        return [
            TopOutage(
                outage_id=row["oms_id"],
                status=row["status"],
                planned=row["planned"],
                etr=row["etr"],
                customers_affected=row["customers_affected"],
                calls=row["calls"],
            )
            for row in rows
        ]
