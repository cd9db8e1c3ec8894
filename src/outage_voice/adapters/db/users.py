"""Console users, their sessions and failed sign-ins in PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.domain.auth import Role
from outage_voice.domain.users import (
    SIGNIN_ADDRESS_LIMIT,
    SIGNIN_FAILURE_LIMIT,
    SIGNIN_USERNAME_LIMIT,
    SIGNIN_WINDOW_S,
    ConsoleSession,
    SessionTimes,
    User,
)


class PgUserStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert(
        self, *, username: str, role: Role, password_hash: str, timezone: str | None, now: datetime
    ) -> User | None:
        row = await self._pool.fetchrow(
            q("user_insert"), username, role.value, password_hash, timezone, now
        )
        return None if row is None else _user(row)

    async def credentials(self, username: str) -> tuple[User, str] | None:
        row = await self._pool.fetchrow(q("user_credentials"), username)
        return None if row is None else (_user(row), row["password_hash"])

    async def list_users(self) -> list[User]:
        return [_user(row) for row in await self._pool.fetch(q("user_list"))]

    async def disable(self, username: str, *, now: datetime) -> User | None:
        row = await self._pool.fetchrow(q("user_disable"), username, now)
        return None if row is None else _user(row)

    async def insert_session(
        self,
        session_id: bytes,
        *,
        user_id: int,
        csrf_token: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self._pool.execute(
            q("session_insert"), session_id, user_id, csrf_token, now, expires_at
        )

    async def find_session(self, session_id: bytes) -> ConsoleSession | None:
        row = await self._pool.fetchrow(q("session_find"), session_id)
        if row is None:
            return None
        return ConsoleSession(
            user=_user(row),
            csrf_token=row["csrf_token"],
            times=SessionTimes(
                created_at=row["session_created_at"],
                last_seen_at=row["last_seen_at"],
                expires_at=row["expires_at"],
                ended_at=row["ended_at"],
            ),
        )

    async def touch_session(self, session_id: bytes, *, now: datetime) -> None:
        await self._pool.execute(q("session_touch"), session_id, now)

    async def end_session(self, session_id: bytes, *, now: datetime) -> None:
        await self._pool.execute(q("session_end"), session_id, now)

    async def admit_attempt(
        self, *, username: str, address: str, now: datetime
    ) -> tuple[datetime | None, ...]:
        """The failures holding each key at its limit; when none does, the attempt is recorded
        as a failure in the same transaction, before its password is checked."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(q("signin_lock"))
            row = await conn.fetchrow(
                q("signin_limiting_failures"),
                username,
                address,
                now,
                float(SIGNIN_WINDOW_S),
                SIGNIN_FAILURE_LIMIT,
                SIGNIN_USERNAME_LIMIT,
                SIGNIN_ADDRESS_LIMIT,
            )
            assert row is not None
            limiting = (row["by_pair"], row["by_username"], row["by_address"])
            if all(at is None for at in limiting):
                await conn.execute(
                    q("signin_failure_insert"), username, address, now, float(SIGNIN_WINDOW_S)
                )
            return limiting

    async def forget_attempt(self, *, username: str, address: str, now: datetime) -> None:
        await self._pool.execute(q("signin_failure_forget"), username, address, now)


def _user(row: asyncpg.Record) -> User:
    return User(
        user_id=row["id"],
        username=row["username"],
        role=Role(row["role"]),
        timezone=row["timezone"],
        created_at=row["created_at"],
        disabled_at=row["disabled_at"],
    )
