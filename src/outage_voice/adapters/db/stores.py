"""PostgreSQL implementations of the service ports."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.domain.auth import Role
from outage_voice.domain.customers import CustomerRow
from outage_voice.domain.outages import CrewStatus, OutageState, OutageStatus
from outage_voice.domain.status import (
    AccountStatus,
    ActiveOutage,
    LookupKey,
    Premise,
    StatusLookup,
)
from outage_voice.services.ports import (
    ImportCounts,
    OutageRecord,
    OutageReport,
    OutageWrite,
    Principal,
)

# Imports of the same customers must not interleave; one at a time per database.
CUSTOMER_IMPORT_LOCK_KEY = 0x6F762D696D7074
_STAGING_COLUMNS = (
    "line",
    "account_number",
    "name",
    "phone",
    "alt_phone",
    "premise_id",
    "service_address",
    "feeder_id",
    "timezone",
    "language",
)


class PgOutageStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def upsert(
        self, outage_id: str, state: OutageState, *, actor: str, now: datetime
    ) -> OutageWrite:
        canonical = state.canonical()
        async with self._pool.acquire() as conn, conn.transaction():
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
            )
            if created or previous.get("premise_ids") != canonical["premise_ids"]:
                await conn.execute(q("outage_premises_clear"), internal_id)
                await conn.execute(q("outage_premises_add"), internal_id, list(state.premise_ids))
            if created or previous.get("feeder_ids") != canonical["feeder_ids"]:
                await conn.execute(q("outage_feeders_clear"), internal_id)
                await conn.execute(q("outage_feeders_add"), internal_id, list(state.feeder_ids))
            await conn.execute(q("outage_history_add"), internal_id, now, actor, canonical)
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
                details=row["details"],
                created_at=row["created_at"],
            )
            for row in rows
        ]


def _outage_record(row: asyncpg.Record) -> OutageRecord:
    state: dict[str, Any] = row["state"]
    return OutageRecord(
        outage_id=row["oms_id"],
        status=row["status"],
        cause=row["cause"],
        crew_status=row["crew_status"],
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


class PgCustomerStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def import_rows(self, chunks: Iterable[Sequence[CustomerRow]]) -> ImportCounts:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(q("customer_import_lock"), CUSTOMER_IMPORT_LOCK_KEY)
            await conn.execute(q("customer_staging_create"))
            staged = 0
            for chunk in chunks:
                await conn.copy_records_to_table(
                    "customer_staging",
                    records=[
                        (
                            row.line,
                            row.account_number,
                            row.name,
                            row.phone,
                            row.alt_phone,
                            row.premise_id,
                            row.service_address,
                            row.feeder_id,
                            row.timezone,
                            row.language,
                        )
                        for row in chunk
                    ],
                    columns=_STAGING_COLUMNS,
                )
                staged += len(chunk)
            if staged == 0:
                return ImportCounts(imported=0, updated=0, unchanged=0)
            await conn.execute(q("customer_staging_index"))
            counts = await conn.fetchrow(q("customer_import_classify"))
            assert counts is not None
            for step in (
                "customer_import_premises",
                "customer_import_accounts",
                "customer_import_phones",
                "customer_import_unlink_phones",
                "customer_import_link_phones",
            ):
                await conn.execute(q(step))
            imported: int = counts["imported"]
            updated: int = counts["updated"]
            return ImportCounts(
                imported=imported, updated=updated, unchanged=staged - imported - updated
            )


class PgTokenStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert(self, *, name: str, role: Role, token_hash: str, now: datetime) -> int:
        token_id: int = await self._pool.fetchval(
            q("token_insert"), name, role.value, token_hash, now
        )
        return token_id

    async def find(self, token_hash: str, *, now: datetime) -> Principal | None:
        row = await self._pool.fetchrow(q("token_find"), token_hash, now)
        if row is None:
            return None
        return Principal(token_id=row["id"], name=row["name"], role=Role(row["role"]))
