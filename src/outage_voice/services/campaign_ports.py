"""What the campaign services need from storage, one small Protocol per service.

Rows come back as database records read by column name (asyncpg's `Record`); the SQL that
names those columns lives in sql/queries/campaigns.sql.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import TYPE_CHECKING, Any, Protocol

from outage_voice.domain.campaigns import CampaignSpec, EndingAttempt, TargetEnd

if TYPE_CHECKING:
    from asyncpg import Record


@dataclass(frozen=True, kw_only=True, slots=True)
class TargetCount:
    state: str
    outcome: str  # "" when none
    targets: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaimedBatch:
    attempts: list[Record]  # committed, one per target claimed, to be placed in this order
    # Targets never tried that the claim found outside their calling window: now due, for
    # the dialer to defer to the window's opening.
    out_of_window: int


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageRef:
    """The outage a campaign is about: its row, and its status as the OMS last sent it."""

    pk: int
    status: str


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedCampaign:
    campaign_id: int
    unknown_keys: dict[str, int]  # audience keys that matched nothing, by kind
    targets: list[TargetCount]  # as written
    # The first few of those keys by kind (in key order), for a person to recognise them.
    unknown_examples: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignProgress:
    """A campaign and its counts as of one moment: a view read in pieces could say
    "completed" while counting calls that were still live when it counted them."""

    campaign: Record
    targets: list[TargetCount]
    attempts: Record


class CampaignAdminStore(Protocol):
    """Creating, listing and steering campaigns (the supervisor's API and CLI)."""

    async def outage(self, oms_id: str) -> OutageRef | None: ...

    async def create(
        self,
        spec: CampaignSpec,
        *,
        outage_pk: int | None,
        actor: str,
        default_timezone: str,
        now: datetime,
    ) -> PlannedCampaign: ...

    async def get(self, campaign_id: int) -> Record | None: ...

    async def recent(self, limit: int) -> list[Record]: ...

    async def set_state(
        self, campaign_id: int, state: str, from_states: Sequence[str], now: datetime
    ) -> bool: ...

    async def set_pacing(
        self,
        campaign_id: int,
        *,
        cps: float | None,
        max_concurrent: int | None,
        window: tuple[time, time] | None,
        priority: int | None,
        now: datetime,
    ) -> bool: ...

    async def progress(
        self, campaign_id: int, recent_since: datetime
    ) -> CampaignProgress | None: ...


class DialerStore(Protocol):
    """Claiming targets, and recording what became of each attempt to place a call."""

    async def running(self, now: datetime) -> list[Record]: ...

    async def claim(
        self,
        campaign_id: int,
        *,
        now: datetime,
        limit: int,
        urgent: bool,
        window: tuple[time, time],
    ) -> ClaimedBatch: ...

    async def next_due(self, campaign_ids: Sequence[int]) -> datetime | None: ...

    async def due_zones(self, campaign_id: int, now: datetime) -> list[str]: ...

    async def defer_zone(
        self, campaign_id: int, zone: str, *, now: datetime, until: datetime
    ) -> None: ...

    async def placed(self, attempt_id: int, call_sid: str, now: datetime) -> None: ...

    async def not_placed(
        self, attempt_id: int, *, now: datetime, error_code: int | None, retry_at: datetime
    ) -> None: ...

    async def in_doubt(self) -> list[Record]: ...

    async def stale(
        self, placed_before: datetime, limit: int, *, skip: Sequence[int] = ()
    ) -> list[Record]: ...

    async def live_calls(self, among: Sequence[int] | None = None) -> list[Record]: ...

    async def to_cancel(self) -> list[Record]: ...

    async def known_sids(self, sids: Sequence[str]) -> set[str]: ...

    async def release_orphans(self, now: datetime) -> None: ...

    async def finish_campaigns(self, now: datetime) -> list[int]: ...


class OutboundStore(Protocol):
    """Status callbacks and what a customer does on an answered call."""

    async def get(self, campaign_id: int) -> Record | None: ...

    async def apply_status(
        self,
        attempt_id: int,
        *,
        status: str,
        sequence: int,
        call_sid: str | None,
        answered_by: str | None,
        error_code: int | None,
        duration_s: int | None,
        final: bool,
        now: datetime,
        decide: Callable[[EndingAttempt], Awaitable[TargetEnd]] | None = None,
        presumed: EndingAttempt | None = None,
    ) -> bool: ...

    async def attempt(self, attempt_id: int) -> Record | None: ...

    async def set_outcome(
        self, campaign_id: int, target_id: int, outcome: str, now: datetime
    ) -> None: ...

    async def opt_out(self, phone: str, now: datetime) -> None: ...

    async def fulfil_callbacks(self, outage_pk: int, phone: str, now: datetime) -> None: ...

    async def still_out(
        self,
        *,
        premise_id: str | None,
        account_number: str | None,
        outage_pk: int | None,
        phone: str,
        call_sid: str,
        details: dict[str, Any],
        now: datetime,
    ) -> None: ...
