"""What a caller's lookup finds: accounts, premises and any active outage, in one query."""

from __future__ import annotations

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.domain.outages import CrewStatus, OutageStatus
from outage_voice.domain.status import (
    AccountStatus,
    ActiveOutage,
    LookupKey,
    Premise,
    StatusLookup,
)


class PgStatusStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def lookup(self, key: LookupKey, value: str, *, limit: int) -> StatusLookup:
        rows = await self._pool.fetch(q("status_lookup"), key.value, value, limit)
        return StatusLookup(key=key, accounts=tuple(_account_status(row) for row in rows))


def _account_status(row: asyncpg.Record) -> AccountStatus:
    outage = None
    if row["oms_id"] is not None:
        outage = ActiveOutage(
            outage_id=row["oms_id"],
            status=OutageStatus(row["status"]),
            cause=row["cause"],
            crew_status=CrewStatus(row["crew_status"]),
            etr=row["etr"],
            planned=row["planned"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            updated_at=row["updated_at"],
            customers_affected=row["customers_affected"],
        )
    return AccountStatus(
        account_number=row["account_number"],
        name=row["name"],
        premise=Premise(
            premise_id=row["premise_id"],
            service_address=row["service_address"],
            feeder_id=row["feeder_id"],
            timezone=row["timezone"],
            language=row["language"],
        ),
        outage=outage,
    )
