"""The small interfaces services need from the outside world; adapters implement them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from outage_voice.domain.auth import Principal, Role, TokenInfo
from outage_voice.domain.carrier_calls import CarrierCall
from outage_voice.domain.customers import CustomerRow, ImportCounts
from outage_voice.domain.outages import OutageRecord, OutageReport, OutageState, OutageWrite
from outage_voice.domain.status import LookupKey, StatusLookup

T = TypeVar("T")


class Timer(Protocol):
    """A clock that can also wait: real in production, virtual in tests."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]: ...

    async def wait(self, awaitable: Awaitable[T]) -> T: ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class OutageStore(Protocol):
    async def upsert(
        self, outage_id: str, state: OutageState, *, actor: str, now: datetime
    ) -> OutageWrite: ...

    async def get(self, outage_id: str) -> OutageRecord | None: ...

    async def list_outages(self, *, active: bool | None, limit: int) -> list[OutageRecord]: ...

    async def reports_since(
        self, since: datetime, *, after_id: int, limit: int
    ) -> list[OutageReport]: ...


class StatusStore(Protocol):
    async def lookup(self, key: LookupKey, value: str, *, limit: int) -> StatusLookup: ...


class CustomerStore(Protocol):
    async def import_rows(self, chunks: Iterable[Sequence[CustomerRow]]) -> ImportCounts: ...


class TokenStore(Protocol):
    async def insert(self, *, name: str, role: Role, token_hash: str, now: datetime) -> int: ...

    async def find(self, token_hash: str, *, now: datetime) -> Principal | None: ...

    async def list_tokens(self, *, include_revoked: bool) -> list[TokenInfo]: ...

    async def revoke(self, token_id: int, *, now: datetime) -> TokenInfo | None:
        """Revokes a live token; None when there is none with that id."""
        ...


class CarrierThrottled(Exception):
    """The carrier refused for now (HTTP 429 / 20429): nothing was placed."""


class CarrierRefused(Exception):
    """The carrier refused this call for good (an invalid number and the like)."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class CarrierUnclear(Exception):
    """No clear answer (timeout, connection lost, 5xx): the call may or may not exist."""


class CarrierCallUnknown(Exception):
    """The carrier has no record of this call (HTTP 404 / 20404): purged, or never its own."""


class CallPlacer(Protocol):
    async def place(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str,
        timeout_s: int,
        machine_detection: bool,
    ) -> str: ...

    async def find(self, *, to: str, started_after: datetime) -> list[CarrierCall]: ...

    async def fetch(self, sid: str) -> CarrierCall:
        """Raises CarrierCallUnknown when the carrier has no such call."""
        ...

    async def cancel(self, sid: str) -> None:
        """Ends the call if it is still queued or ringing; an answered one goes on."""
        ...
