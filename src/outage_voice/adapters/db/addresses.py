"""Service addresses as the prompt audio warm-up reads them."""

from __future__ import annotations

import asyncpg

from outage_voice.adapters.db.queries import q


class PgAddressStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def all_addresses(self) -> list[tuple[str, str]]:
        """(service address, language) of every premise, each pair once."""
        rows = await self._pool.fetch(q("addresses_all"))
        return [(row["service_address"], row["language"]) for row in rows]
