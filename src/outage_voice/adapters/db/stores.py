"""PostgreSQL implementations of the service ports."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

from outage_voice.adapters.db.outages import OUTAGE_COUNTS_LOCK_KEY
from outage_voice.adapters.db.pool import Connection
from outage_voice.adapters.db.queries import q
from outage_voice.domain.auth import Role
from outage_voice.domain.customers import CustomerRow
from outage_voice.domain.inbound_calls import OUTCOME_ORDER, CallOutcome, CallRecordDelta
from outage_voice.domain.outages import CrewStatus, OutageStatus
from outage_voice.domain.status import (
    AccountStatus,
    ActiveOutage,
    LookupKey,
    Premise,
    StatusLookup,
)
from outage_voice.services.call_records import CallSummary
from outage_voice.services.ports import (
    ImportCounts,
    Principal,
    TokenInfo,
)

# Imports of the same customers must not interleave; one at a time per database.
CUSTOMER_IMPORT_LOCK_KEY = 0x6F762D696D7074
# Rows staged between two applies. Smaller overlaps more parsing with writing; each apply
# hashes the customer tables once, so far smaller would make a huge import quadratic.
IMPORT_APPLY_ROWS = 250_000
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


class IntegrityViolation(Exception):
    """A bulk write would have left a reference dangling; the transaction is rolled back."""


class PgCustomerStore:
    def __init__(self, pool: asyncpg.Pool, *, apply_rows: int = IMPORT_APPLY_ROWS) -> None:
        self._pool = pool
        self.apply_rows = apply_rows

    async def import_rows(self, chunks: Iterable[Sequence[CustomerRow]]) -> ImportCounts:
        """All in one transaction. Parsed chunks are copied into staging while the next is
        parsed; every `apply_rows` staged rows, the new and changed accounts are written."""
        rows = iter(chunks)
        imported = updated = staged = waiting = 0
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(q("customer_import_lock"), CUSTOMER_IMPORT_LOCK_KEY)
            # Per-row foreign-key triggers cost more than anything else an import does;
            # where allowed, they are replaced by one set-wise check of the same guarantees.
            set_wise_checks = bool(await conn.fetchval(q("customer_import_may_skip_triggers")))
            if set_wise_checks:
                await conn.execute(q("customer_import_skip_triggers"))
            await conn.execute(q("customer_staging_create"))
            pending = asyncio.ensure_future(asyncio.to_thread(next, rows, None))
            try:
                while True:
                    chunk = await pending
                    if chunk is not None:
                        pending = asyncio.ensure_future(asyncio.to_thread(next, rows, None))
                        await _copy_to_staging(conn, chunk)
                        staged += len(chunk)
                        waiting += len(chunk)
                    if waiting and (chunk is None or waiting >= self.apply_rows):
                        new, changed = await _apply_staged(conn, set_wise_checks=set_wise_checks)
                        imported += new
                        updated += changed
                        waiting = 0
                    if chunk is None:
                        break
            finally:
                if not pending.done():
                    # The parsing thread can't be interrupted; let it finish before unwinding.
                    await asyncio.wait([pending])
            if imported or updated:
                # Accounts came, went or moved: every active outage's count follows, in this
                # transaction, after outage writes in flight and before any that follow.
                await conn.execute(q("customer_import_lock"), OUTAGE_COUNTS_LOCK_KEY)
                pass  # REVERT-CHECK await conn.execute(q("outage_customers_recount"))
        return ImportCounts(
            imported=imported, updated=updated, unchanged=staged - imported - updated
        )


async def _apply_staged(conn: Connection, *, set_wise_checks: bool) -> tuple[int, int]:
    await conn.execute(q("customer_import_delta"))
    await conn.execute(q("customer_import_delta_analyze"))
    counts = await conn.fetchrow(q("customer_import_counts"))
    assert counts is not None
    imported: int = counts["imported"]
    updated: int = counts["updated"]
    if imported + updated:
        for step in _IMPORT_STEPS:
            await conn.execute(q(step))
        if set_wise_checks:
            dangling = await conn.fetchval(q("customer_import_dangling"))
            if dangling:
                raise IntegrityViolation(
                    f"customer import would leave {dangling} dangling references"
                )
    await conn.execute(q("customer_import_batch_clear"))
    return imported, updated


async def _copy_to_staging(conn: Connection, chunk: Sequence[CustomerRow]) -> None:
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


_IMPORT_STEPS = (
    "customer_import_premises_update",
    "customer_import_premises_insert",
    "customer_import_accounts_update",
    "customer_import_accounts_insert",
    "customer_import_phones_insert",
    "customer_import_links_drop",
    "customer_import_links_add",
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

    async def list_tokens(self, *, include_revoked: bool) -> list[TokenInfo]:
        rows = await self._pool.fetch(q("token_list"), include_revoked)
        return [_token_info(row) for row in rows]

    async def revoke(self, token_id: int, *, now: datetime) -> TokenInfo | None:
        row = await self._pool.fetchrow(q("token_revoke"), token_id, now)
        return None if row is None else _token_info(row)


def _token_info(row: asyncpg.Record) -> TokenInfo:
    return TokenInfo(
        token_id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


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


class PgCallRecordStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def merge(self, deltas: Sequence[CallRecordDelta]) -> None:
        if not deltas:
            return
        await self._pool.execute(
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

    async def summary(
        self, since: datetime, until: datetime
    ) -> list[tuple[CallOutcome, int, float]]:
        rows = await self._pool.fetch(q("inbound_calls_summary"), since, until)
        return [
            (CallOutcome(row["outcome"]), row["calls"], row["avg_duration_s"] or 0.0)
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
