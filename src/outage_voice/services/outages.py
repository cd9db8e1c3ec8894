"""The OMS feed: full outage states in, idempotently; what callers reported, out."""

from __future__ import annotations

from datetime import datetime, timedelta

from outage_voice.domain.errors import InvalidField, NotFound
from outage_voice.domain.outages import (
    OutageRecord,
    OutageReport,
    OutageState,
    OutageWrite,
    check_outage_id,
)
from outage_voice.services.ports import Clock, OutageStore

DEFAULT_REPORTS_WINDOW = timedelta(hours=24)
MAX_LIST_LIMIT = 5000


def check_limit(value: int | None, *, default: int) -> int:
    if value is None:
        return default
    if not 1 <= value <= MAX_LIST_LIMIT:
        raise InvalidField("limit", f"must be between 1 and {MAX_LIST_LIMIT}")
    return value


class OutageService:
    def __init__(self, store: OutageStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def put(self, outage_id: str, state: OutageState, *, actor: str) -> OutageWrite:
        """Store the OMS's full state of one outage; `parse_outage_state` builds it."""
        check_outage_id(outage_id)
        return await self._store.upsert(outage_id, state, actor=actor, now=self._clock.now())

    async def get(self, outage_id: str) -> OutageRecord:
        record = await self._store.get(check_outage_id(outage_id))
        if record is None:
            raise NotFound("outage", outage_id)
        return record

    async def list_outages(self, *, active: bool | None, limit: int | None) -> list[OutageRecord]:
        return await self._store.list_outages(active=active, limit=check_limit(limit, default=1000))

    async def reports_since(
        self, since: datetime | None, *, after_id: int | None, limit: int | None
    ) -> list[OutageReport]:
        if after_id is not None and after_id < 0:
            raise InvalidField("after_id", "must not be negative")
        start = since if since is not None else self._clock.now() - DEFAULT_REPORTS_WINDOW
        return await self._store.reports_since(
            start, after_id=after_id or 0, limit=check_limit(limit, default=500)
        )
