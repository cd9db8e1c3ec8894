"""API tokens: shown once when made, kept only as a hash."""

from __future__ import annotations

import secrets

from outage_voice.domain.auth import TOKEN_PREFIX, Principal, Role, TokenInfo, token_hash
from outage_voice.domain.errors import DomainError, NotFound
from outage_voice.services.ports import Clock, TokenStore

MAX_TOKEN_CHARS = 200


class AmbiguousToken(DomainError):
    def __init__(self, name: str, ids: list[int]) -> None:
        listed = ", ".join(str(i) for i in ids)
        super().__init__(f"{len(ids)} live tokens are named {name!r} (ids {listed}): revoke by id")


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
        # Tokens are ASCII: other text (header bytes that were not UTF-8) is no token.
        if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            return None
        return await self._store.find(token_hash(token), now=self._clock.now())

    async def list_tokens(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        return await self._store.list_tokens(include_revoked=include_revoked)

    async def revoke(self, name_or_id: str) -> TokenInfo:
        """Revokes the live token with this id, else the one live token with this name.
        Requests carrying it are refused from then on."""
        live = await self._store.list_tokens(include_revoked=False)
        by_id = [t for t in live if name_or_id.isdigit() and t.token_id == int(name_or_id)]
        chosen = by_id or [t for t in live if t.name == name_or_id]
        if not chosen:
            raise NotFound("live token", name_or_id)
        if len(chosen) > 1:
            raise AmbiguousToken(name_or_id, [t.token_id for t in chosen])
        revoked = await self._store.revoke(chosen[0].token_id, now=self._clock.now())
        if revoked is None:  # revoked by someone else a moment ago
            raise NotFound("live token", name_or_id)
        return revoked
