"""The small interfaces services need from the outside world; adapters implement them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from outage_voice.domain.auth import Role
from outage_voice.domain.customers import CustomerRow
from outage_voice.domain.outages import OutageState
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


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageWrite:
    created: bool
    changed: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageRecord:
    outage_id: str
    status: str
    cause: str | None
    crew_status: str
    etr: datetime | None
    planned: bool
    starts_at: datetime | None
    ends_at: datetime | None
    premise_ids: tuple[str, ...]
    feeder_ids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
    restored_at: datetime | None
    affected_premises: int | None
    history_entries: int | None
    # Customers (accounts) out: the OMS's figure when it sends one, else counted.
    customers_affected: int | None = None
    customers_from_oms: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageReport:
    report_id: int
    kind: str
    premise_id: str | None
    account_number: str | None
    outage_id: str | None
    phone: str | None
    call_sid: str | None
    source: str
    details: dict[str, Any]
    created_at: datetime


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


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportCounts:
    imported: int
    updated: int
    unchanged: int


class CustomerStore(Protocol):
    async def import_rows(self, chunks: Iterable[Sequence[CustomerRow]]) -> ImportCounts: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    token_id: int
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}:{self.name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class TokenInfo:
    """What may be shown of a token: never the token, nor its hash."""

    token_id: int
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


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


@dataclass(frozen=True, kw_only=True, slots=True)
class CarrierCall:
    sid: str
    to: str
    from_: str
    status: str
    answered_by: str | None = None
    duration_s: int | None = None


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
