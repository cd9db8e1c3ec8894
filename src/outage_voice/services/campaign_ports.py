"""What the campaign services need from storage, one small Protocol per service, each
implemented by one store under adapters/db/. They take and return the frozen records of
domain.campaign_records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, time
from typing import Protocol

from outage_voice.domain.campaign_records import (
    AttemptContext,
    AttemptCounts,
    CallUrls,
    Campaign,
    CampaignProgress,
    ClaimedAttempt,
    ClaimedBatch,
    LiveCall,
    OutageRef,
    PlannedCampaign,
    RunningCampaign,
    StillOutReport,
    TargetCount,
    UnconfirmedAttempt,
)
from outage_voice.domain.campaigns import CampaignKind, CampaignSpec, EndingAttempt, TargetEnd

__all__ = [
    "AttemptContext",
    "AttemptCounts",
    "CallUrlBuilder",
    "CallUrls",
    "Campaign",
    "CampaignAdminStore",
    "CampaignProgress",
    "ClaimedAttempt",
    "ClaimedBatch",
    "DialerStore",
    "LiveCall",
    "OutageRef",
    "OutboundStore",
    "PlannedCampaign",
    "RunningCampaign",
    "StillOutReport",
    "TargetCount",
    "UnconfirmedAttempt",
]


class CallUrlBuilder(Protocol):
    """The web routes a campaign call's carrier requests go to (built by the web layer)."""

    def __call__(
        self, attempt: ClaimedAttempt, *, campaign_id: int, kind: CampaignKind
    ) -> CallUrls: ...


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

    async def estimate(
        self,
        spec: CampaignSpec,
        *,
        outage_pk: int | None,
        actor: str,
        default_timezone: str,
        now: datetime,
    ) -> PlannedCampaign:
        """What `create` would write, nothing kept."""
        ...

    async def get(self, campaign_id: int) -> Campaign | None: ...

    async def recent(self, limit: int) -> list[Campaign]: ...

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

    async def running(self, now: datetime) -> list[RunningCampaign]: ...

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

    async def in_doubt(self) -> list[UnconfirmedAttempt]: ...

    async def stale(
        self, placed_before: datetime, limit: int, *, skip: Sequence[int] = ()
    ) -> list[LiveCall]: ...

    async def live_calls(self, among: Sequence[int] | None = None) -> list[LiveCall]: ...

    async def to_cancel(self) -> list[LiveCall]: ...

    async def known_sids(self, sids: Sequence[str]) -> set[str]: ...

    async def release_orphans(self, now: datetime) -> None: ...

    async def finish_campaigns(self, now: datetime) -> list[int]: ...


class OutboundStore(Protocol):
    """Status callbacks and what a customer does on an answered call."""

    async def get(self, campaign_id: int) -> Campaign | None: ...

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

    async def attempt(self, attempt_id: int) -> AttemptContext | None: ...

    async def set_outcome(
        self, campaign_id: int, target_id: int, outcome: str, now: datetime
    ) -> None: ...

    async def opt_out(self, phone: str, now: datetime) -> None: ...

    async def fulfil_callbacks(self, outage_pk: int, phone: str, now: datetime) -> None: ...

    async def heard(
        self, campaign_id: int, target_id: int, etr: datetime | None, now: datetime
    ) -> None:
        """The target's message was heard now, speaking `etr` (None: it said there is none)."""
        ...

    async def still_out(self, report: StillOutReport, now: datetime) -> None: ...
