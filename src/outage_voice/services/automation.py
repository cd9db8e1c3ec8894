"""The automation: the OMS's outage changes turned into calls, on the leader.

Work in progress: the public surface the web layer and the CLI use is fixed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from outage_voice.domain.automation import AutomationRules, Decision, OutageChange
from outage_voice.domain.outages import OutageState
from outage_voice.services.automation_ports import Ledger


@dataclass(frozen=True, kw_only=True, slots=True)
class PreviewMessage:
    """One message a change would send."""

    trigger: str  # confirmed, etr_changed, restored...
    kind: str  # the campaign kind: outage_ack, etr_update, restoration
    campaign: str  # "new", or "appended" to the outage's acknowledgement campaign
    sends_at: datetime  # the first call, at the soonest (the blink hold, a coalesced update)
    calls: int  # numbers that would be called
    skipped: Mapping[str, int]  # numbers left out, by reason
    estimated_duration_s: int  # at the trigger's pacing, calling windows aside


@dataclass(frozen=True, kw_only=True, slots=True)
class Preview:
    outage_id: str
    change: OutageChange
    messages: Sequence[PreviewMessage]
    withdrawn: Mapping[str, int]  # pending calls that would be taken back, by reason
    decisions: Sequence[Decision] = field(default_factory=tuple)


class AutomationService:
    async def rules(self) -> AutomationRules:
        raise NotImplementedError

    async def update_rules(self, patch: object, *, actor: str) -> AutomationRules:
        """Merges a supervisor's partial document (domain.automation.merge_rules); raises
        InvalidField naming the field."""
        raise NotImplementedError

    async def preview(self, outage_id: str, state: OutageState) -> Preview:
        """What writing `state` to the outage would send now, nothing sent. An outage not
        known yet previews as new."""
        raise NotImplementedError

    async def notifications(self, outage_id: str, *, account: str | None) -> Ledger:
        """The outage's ledger; NotFound for an unknown outage."""
        raise NotImplementedError

    async def run(self) -> None:
        """The leader job: consumes events and due work until cancelled."""
        raise NotImplementedError

    def wake(self, payload: str = "") -> None:
        raise NotImplementedError

    async def step(self, now: datetime | None = None) -> int:
        """Consumes what is waiting and due now; how many events and dues it handled."""
        raise NotImplementedError
