"""API tokens in PostgreSQL, kept by hash only."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.domain.auth import Principal, Role, TokenInfo


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
