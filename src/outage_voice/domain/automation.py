"""Outage lifecycle automation: what the OMS's changes to an outage make the product send.

Pure. The automation worker feeds each outage change (an outbox event) and each due moment
through `on_change` / `on_due` with the outage's `AutomationState`; they return the new
state and the actions to take (plan a campaign, append targets, withdraw pending calls) with
the decisions behind them, which are kept so a supervisor can see why something was, or was
not, sent. Every action carries the event it comes from, so replaying an event after a crash
asks for the same campaign again and finds it instead of making a second one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.outages import OutageState, OutageStatus
from outage_voice.domain.windows import DailyWindow


class Trigger(StrEnum):
    """The events a campaign the automation creates is started by (DESIGN.md's names)."""

    CONFIRMED = "confirmed"
    CREW_DISPATCHED = "crew_dispatched"
    ETR_CHANGED = "etr_changed"
    RESTORED = "restored"


# The message each trigger sends.
TRIGGER_KINDS: Mapping[Trigger, CampaignKind] = {
    Trigger.CONFIRMED: CampaignKind.OUTAGE_ACK,
    Trigger.CREW_DISPATCHED: CampaignKind.OUTAGE_ACK,
    Trigger.ETR_CHANGED: CampaignKind.ETR_UPDATE,
    Trigger.RESTORED: CampaignKind.RESTORATION,
}
ACKNOWLEDGING = frozenset({Trigger.CONFIRMED, Trigger.CREW_DISPATCHED})

# Why a customer was left out of an automatic campaign, or had a pending call withdrawn:
# the `outcome` of an excluded target, and the ledger's skip reasons.
RECENT_CALLER = "recent_caller"  # called the outage line or reported this outage lately
RESTORED_FIRST = "restored_first"  # power came back before the call went out
OUTAGE_CANCELLED = "outage_cancelled"
NO_LONGER_AFFECTED = "no_longer_affected"  # the OMS took their premise off the outage
ALREADY_HEARD = "already_heard"  # their last call already spoke this ETR (within the threshold)
CALL_PENDING = "call_pending"  # a call not yet made will speak the latest ETR anyway
NOT_TOLD = "not_told"  # all-clear: never heard of the outage (their call was withdrawn)
ALREADY_CLEARED = "already_cleared"  # all-clear: had it already (a partial restoration)
ELSEWHERE = "still_out_elsewhere"  # all-clear: their premise is on another active outage
SUPERSEDED = "superseded"  # an earlier ETR update's pending call: the new one replaces it


# --- the supervisor's rules ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AcknowledgeRule:
    enabled: bool = True
    # The statuses that start the acknowledgement; an outage first seen at a later status
    # (a crew already on site) is acknowledged too.
    on: tuple[OutageStatus, ...] = (OutageStatus.CONFIRMED,)
    blink_hold_s: int = 300
    skip_recent_callers_s: int = 1800


@dataclass(frozen=True, kw_only=True, slots=True)
class EtrUpdateRule:
    enabled: bool = True
    min_change_s: int = 1800
    per_customer_gap_s: int = 3600
    max_per_outage: int = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class AllClearRule:
    enabled: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class EventPacing:
    cps: float
    max_concurrent: int


DEFAULT_PACING = EventPacing(cps=20.0, max_concurrent=200)


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationRules:
    acknowledge: AcknowledgeRule = field(default_factory=AcknowledgeRule)
    etr_update: EtrUpdateRule = field(default_factory=EtrUpdateRule)
    all_clear: AllClearRule = field(default_factory=AllClearRule)
    # Per trigger; a trigger not named here uses DEFAULT_PACING.
    pacing: Mapping[Trigger, EventPacing] = field(default_factory=dict)
    # The calling window every automatic campaign keeps (in each customer's own time zone).
    window: DailyWindow | None = None  # None: domain.campaigns.DEFAULT_WINDOW

    def pacing_for(self, trigger: Trigger) -> EventPacing:
        return self.pacing.get(trigger, DEFAULT_PACING)

    def as_json(self) -> dict[str, Any]:
        """The document `GET /api/v1/automation` answers (DESIGN.md), every field present."""
        raise NotImplementedError


def merge_rules(current: AutomationRules, patch: object) -> AutomationRules:
    """A supervisor's partial document merged into the current rules. Raises InvalidField
    naming the dotted path of the first bad or unknown field (`etr_update.min_change_s`)."""
    raise NotImplementedError


def rules_from_json(raw: Mapping[str, Any] | None) -> AutomationRules:
    """Rules as stored (a document `as_json` wrote, perhaps by an older server): fields it
    lacks read as their defaults. None: the defaults."""
    raise NotImplementedError


# --- what changed --------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageChange:
    """One write of the OMS to one outage, as the outbox records it."""

    created: bool
    status_before: OutageStatus | None  # None: the outage is new
    status: OutageStatus
    etr_before: datetime | None
    etr: datetime | None
    cause_changed: bool
    planned: bool
    premises_added: tuple[str, ...] = ()
    premises_removed: tuple[str, ...] = ()
    feeders_added: tuple[str, ...] = ()
    feeders_removed: tuple[str, ...] = ()

    @property
    def grew(self) -> bool:
        return not self.created and bool(self.premises_added or self.feeders_added)

    @property
    def shrank(self) -> bool:
        return bool(self.premises_removed or self.feeders_removed)

    def as_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> OutageChange:
        raise NotImplementedError


def outage_change(previous: Mapping[str, Any] | None, current: OutageState) -> OutageChange:
    """From the canonical state stored before the write (`OutageState.canonical()`; None or
    an empty mapping for a new outage) to the state written."""
    raise NotImplementedError


# --- what the automation knows of one outage -----------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomationState:
    # The acknowledgement: held until `ack_due_at` (the blink hold), then planned.
    ack_due_at: datetime | None = None
    ack_event_id: int | None = None
    ack_trigger: Trigger | None = None
    acknowledged: bool = False  # its campaign has been asked for
    # The ETR customers were last told about (the ack's or the last ETR update's, as it was
    # when that campaign was planned; calls speak the outage's ETR at the time they are
    # answered); `etr_told`: whether any such campaign has been planned.
    announced_etr: datetime | None = None
    etr_told: bool = False
    etr_updates: int = 0
    last_etr_update_at: datetime | None = None
    # An ETR update coalesced under the churn cap, due when the cap allows.
    etr_due_at: datetime | None = None
    etr_event_id: int | None = None
    closed: bool = False  # restored or cancelled: nothing more is sent (until reopened)

    def due_at(self) -> datetime | None:
        dues = [at for at in (self.ack_due_at, self.etr_due_at) if at is not None]
        return min(dues) if dues else None

    def as_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def from_json(raw: Mapping[str, Any] | None) -> AutomationState:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageFacts:
    """The outage as it is now, for decisions taken when something falls due."""

    status: OutageStatus
    etr: datetime | None
    planned: bool


# --- what to do ----------------------------------------------------------------------------


class AudienceRule(StrEnum):
    OUTAGE = "outage"  # everyone the outage covers now
    # The all-clear: everyone the outage covers now and everyone told about it before,
    # less those never told (NOT_TOLD), cleared already, or out on another outage.
    ALL_CLEAR = "all_clear"
    # A partial all-clear: customers at the premises or feeders just taken off the outage
    # who were told about it, less those out on another outage.
    REMOVED = "removed"


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanCampaign:
    trigger: Trigger
    event_id: int  # with `trigger`, the campaign's identity: asked for again, it is found
    kind: CampaignKind
    audience: AudienceRule = AudienceRule.OUTAGE
    premises: tuple[str, ...] = ()  # AudienceRule.REMOVED only
    feeders: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class AppendTargets:
    """Newly affected customers join the outage's acknowledgement campaign (not a second
    campaign calling everyone again)."""

    event_id: int
    premises: tuple[str, ...]
    feeders: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Withdraw:
    """Pending calls of the outage's automatic campaigns are taken back (excluded with
    `reason`). `triggers` empty: every automatic campaign of the outage."""

    reason: str
    triggers: tuple[Trigger, ...] = ()
    # Only targets none of whose premises is on the outage any more.
    only_unaffected: bool = False


Action = PlanCampaign | AppendTargets | Withdraw


class Verdict(StrEnum):
    PLANNED = "planned"
    HELD = "held"  # waiting for the blink hold
    COALESCED = "coalesced"  # folded into a later call
    APPENDED = "appended"
    WITHDRAWN = "withdrawn"
    SKIPPED = "skipped"


@dataclass(frozen=True, kw_only=True, slots=True)
class Decision:
    event: str  # a Trigger's value, or "cancelled" / "premises_removed"...
    verdict: Verdict
    reason: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    state: AutomationState
    actions: tuple[Action, ...] = ()
    decisions: tuple[Decision, ...] = ()


def on_change(
    state: AutomationState,
    change: OutageChange,
    *,
    event_id: int,
    rules: AutomationRules,
    now: datetime,
) -> Outcome:
    """What one outage change sends, withdraws or schedules."""
    raise NotImplementedError


def on_due(
    state: AutomationState, outage: OutageFacts, *, rules: AutomationRules, now: datetime
) -> Outcome:
    """What falls due now: a held acknowledgement, a coalesced ETR update."""
    raise NotImplementedError
