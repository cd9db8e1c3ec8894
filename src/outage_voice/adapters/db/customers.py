"""Customer imports into PostgreSQL: staged by COPY, applied set-wise, all in one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import asyncpg

from outage_voice.adapters.db.outages import OUTAGE_COUNTS_LOCK_KEY
from outage_voice.adapters.db.pool import Connection
from outage_voice.adapters.db.queries import q
from outage_voice.domain.customers import CustomerRow, ImportCounts

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
                await conn.execute(q("feeder_counts_refresh"))
                await conn.execute(q("outage_customers_recount"))
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
