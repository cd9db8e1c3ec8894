"""API tokens: shown once when made, kept only as a hash."""

from __future__ import annotations

import secrets

from outage_voice.domain.auth import TOKEN_PREFIX, Role, token_hash
from outage_voice.services.ports import Clock, Principal, TokenStore

MAX_TOKEN_CHARS = 200


class TokenService:
    def __init__(self, store: TokenStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def create(self, *, role: Role, name: str) -> str:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self._store.insert(
            name=name, role=role, token_hash=token_hash(token), now=self._clock.now()
        )
        return token

    async def authenticate(self, token: str) -> Principal | None:
        if not token or len(token) > MAX_TOKEN_CHARS:
            return None
        return await self._store.find(token_hash(token), now=self._clock.now())
