"""What the automation needs from storage: the outbox and the per-outage state, the
supervisor's rules, and automatic campaigns (planned in pieces, appended to, withdrawn from).
Implemented under adapters/db/; frozen records in and out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from outage_voice.domain.automation import (
    AudienceRule,
    AutomationRules,
    AutomationState,
    Decision,
    OutageChange,
    OutageFacts,
    Trigger,
)
from outage_voice.domain.campaigns import CampaignSpec


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageEvent:
    """One outbox entry: a change the OMS wrote to one outage."""

    event_id: int
    outage_pk: int
    outage_id: str  # the OMS's id
    at: datetime
    change: OutageChange


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerDecision:
    at: datetime
    event_id: int | None
    decision: Decision
    campaign_id: int | None


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerCounts:
    """One trigger's line in an outage's ledger: customers (phone numbers) called, reached
    (a person or a voicemail heard it), and left out by reason."""

    sent: int = 0
    reached: int = 0
    pending: int = 0  # not called yet
    skipped: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerLine:
    """What one phone number of an account heard about one outage, call by call."""

    trigger: str
    campaign_id: int
    phone: str
    account_numbers: tuple[str, ...]
    state: str  # the target's: pending, calling, done, excluded
    outcome: str | None
    attempts: int
    last_call_at: datetime | None
    heard_at: datetime | None
    heard_etr: datetime | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Ledger:
    outage_id: str
    counts: Mapping[str, LedgerCounts]  # by trigger
    campaigns: Sequence[int]
    decisions: Sequence[LedgerDecision]
    lines: Sequence[LedgerLine] = ()  # for one account, when asked


class AutomationStore(Protocol):
    """The outbox, the per-outage state and the rules."""

    async def rules(self) -> AutomationRules: ...

    async def save_rules(self, rules: AutomationRules, *, actor: str, now: datetime) -> None: ...

    async def waiting_events(self, limit: int) -> list[OutageEvent]:
        """Events not consumed yet, oldest first."""
        ...

    async def state(self, outage_pk: int) -> AutomationState:
        """The outage's automation state; the initial one when it has none."""
        ...

    async def states(self, outage_pks: Sequence[int]) -> dict[int, AutomationState]:
        """Several outages' states in one read (each outage named gets one)."""
        ...

    async def facts(self, outage_pk: int) -> OutageFacts | None: ...

    async def outage_id(self, outage_pk: int) -> str:
        """The OMS's id of the outage."""
        ...

    async def consume(
        self,
        outage_pk: int,
        state: AutomationState,
        decisions: Sequence[LedgerDecision],
        *,
        event_id: int | None,
        now: datetime,
        schedule: ScheduleWrite | None = None,
    ) -> bool:
        """In one transaction: the new state (and its due time), the decisions, the event
        marked consumed, and what the event does to the outage's schedule (its rows named by
        the event: a replay adds none twice). False, with nothing written, when the event was
        consumed already."""
        ...

    async def planned_sent(self, outage_pk: int) -> frozenset[str]:
        """The planned-work messages whose campaigns have been made for the outage."""
        ...

    async def planned_told(self, outage_pk: int) -> frozenset[str]:
        """The telling planned-work messages (notice, reminder, starting, moved) a call of
        which was placed about the outage: by the rule of the TOLD audience."""
        ...

    def planned_lock(self, outage_pk: int) -> AbstractAsyncContextManager[None]:
        """The outage's schedule lock, waited for and held until the block ends: the tick
        makes none of the outage's rows meanwhile, so a decision on its planned work sees
        each made whole or not at all."""
        ...

    async def due_outages(self, now: datetime, limit: int) -> list[int]:
        """Outages with something due at or before `now`, earliest first."""
        ...

    async def next_due_at(self) -> datetime | None: ...

    async def ledger(self, outage_id: str, *, account: str | None) -> Ledger | None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class AutomaticPlan:
    """An automatic campaign to plan (or find, when its trigger and event have one already)."""

    spec: CampaignSpec  # its name, kind, audience (the outage), message, pacing, window
    outage_pk: int
    trigger: Trigger
    event_id: int
    audience: AudienceRule
    premises: tuple[str, ...] = ()  # AudienceRule.REMOVED
    feeders: tuple[str, ...] = ()
    # Acknowledgements leave out numbers that called the outage line, or reported this
    # outage, at or after this moment.
    recent_since: datetime | None = None
    # ETR updates: the outage's ETR now, the change under which a customer who heard an ETR
    # already is left out, and the least time between two ETR calls to one number (a number
    # called sooner is given a due time that keeps the gap).
    etr: datetime | None = None
    etr_min_change_s: int = 0
    etr_gap_s: int = 0
    # No call is placed at or after this (planned-work messages: a notice once the work
    # has started is no notice).
    expires_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class ProposedMembership:
    """A preview's premises and feeders for the outage, in place of those stored (for an
    outage not stored yet, `AutomaticPlan.outage_pk` is NEW_OUTAGE)."""

    premises: tuple[str, ...]
    feeders: tuple[str, ...]


NEW_OUTAGE = 0  # an AutomaticPlan's outage_pk in the preview of an outage not stored yet


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanStarted:
    campaign_id: int
    created: bool  # False: the trigger's campaign existed already
    targets: int  # written so far
    planning: bool  # more targets to write (plan_rest)


@dataclass(frozen=True, kw_only=True, slots=True)
class PlanCounts:
    """What a plan would write, without writing it (the preview)."""

    targets: int  # numbers that would be called
    excluded: Mapping[str, int]  # numbers left out, by reason


class AutomaticCampaignStore(Protocol):
    async def start(self, plan: AutomaticPlan, *, first_batch: int, now: datetime) -> PlanStarted:
        """The campaign row, running, with its first `first_batch` numbers written and
        committed so the dialer can begin; `planning` left set when more are to come. Found
        instead of made when the trigger and event have a campaign already."""
        ...

    async def plan_rest(self, campaign_id: int, plan: AutomaticPlan, *, now: datetime) -> int:
        """Writes every number of the audience not yet a target of the campaign, then clears
        `planning`; returns how many were written. Safe to run again (after a crash)."""
        ...

    async def still_planning(self) -> list[tuple[int, AutomaticPlan]]:
        """Campaigns left planning (a leader died mid-plan), with what to finish them with."""
        ...

    async def append(
        self,
        outage_pk: int,
        premises: Sequence[str],
        feeders: Sequence[str],
        *,
        now: datetime,
        recent_since: datetime | None,
        dry_run: bool = False,
    ) -> tuple[int | None, int]:
        """Numbers at those premises or feeders not yet targets of the outage's
        acknowledgement campaign join it (a finished one runs again). Returns the campaign
        (None when the outage has none) and the numbers added (would add, with `dry_run`)."""
        ...

    async def withdraw(
        self,
        outage_pk: int,
        *,
        reason: str,
        triggers: Sequence[Trigger],
        only_unaffected: bool,
        now: datetime,
        dry_run: bool = False,
        proposed: ProposedMembership | None = None,
    ) -> int:
        """Pending targets of the outage's automatic campaigns excluded with `reason`; how
        many (would be, with `dry_run`, and with the outage's membership `proposed`)."""
        ...

    async def count(
        self, plan: AutomaticPlan, *, now: datetime, proposed: ProposedMembership | None = None
    ) -> PlanCounts:
        """What `start` + `plan_rest` would write, nothing written; with the outage's premises
        and feeders as `proposed` when given."""
        ...


class SurveyCampaigns(Protocol):
    """Post-outage surveys, as the schedule starts them."""

    async def start_automatic(
        self,
        *,
        outage_pk: int,
        schedule_id: int,
        rules: AutomationRules,
        expires_at: datetime,
        now: datetime,
    ) -> int:
        """The outage's survey campaign for the schedule row `schedule_id` (automatic,
        trigger 'survey', its event the row's id): made with its sampled audience, or found
        when a replay made it already. Returns the campaign id."""
        ...


# --- the schedule of planned work (and surveys) -----------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleRow:
    """One message to keep in an outage's schedule: a planned-work message
    (domain.planned.PlannedMessage's value) or "survey"."""

    message: str
    audience: str  # domain.planned.Audience's value
    due_at: datetime
    window_open: datetime
    window_close: datetime
    details: Mapping[str, str] = field(default_factory=dict)
    premises: tuple[str, ...] = ()  # Audience.ADDED: the premises and feeders added
    feeders: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleWrite:
    """What one outage change does to the outage's schedule: pending rows of the messages
    `withdraw` taken back with `reason`, the pending rows' bad-weather date (`alternate`, ISO
    or "") replaced, and rows added."""

    add: tuple[ScheduleRow, ...] = ()
    withdraw: tuple[str, ...] = ()
    reason: str = ""
    alternate: str | None = None

    @property
    def empty(self) -> bool:
        return not self.add and not self.withdraw and self.alternate is None


SCHEDULE_SURVEY = "survey"  # a schedule row's message for the survey after a restoration


@dataclass(frozen=True, kw_only=True, slots=True)
class DueEntry:
    """A schedule row whose moment has come."""

    entry_id: int
    outage_pk: int
    outage_id: str  # the OMS's id
    message: str
    generation: int  # the event that scheduled it
    audience: str
    premises: tuple[str, ...]
    feeders: tuple[str, ...]
    due_at: datetime
    window_open: datetime
    window_close: datetime
    details: Mapping[str, str]


class ScheduleHold(Protocol):
    """A due row held in its own transaction, under its outage's schedule lock, until the
    block ends: a second tick racing this one, or the automation worker deciding on the
    outage's planned work, waits for it or passes it over."""

    @property
    def entry(self) -> DueEntry:
        """The row as it is now (a new bad-weather date written since it was listed)."""
        ...

    async def made(self, entry: DueEntry, campaign_id: int, decision: LedgerDecision) -> None:
        """The row made (its campaign exists), with the decision for the ledger."""
        ...

    async def expired(self, entry: DueEntry, decision: LedgerDecision) -> None:
        """The row past its window: expired, with the decision for the ledger."""
        ...

    async def withdrawn(self, entry: DueEntry, decision: LedgerDecision) -> None:
        """The row not to be made (its message was turned off since it was scheduled)."""
        ...


class ScheduleStore(Protocol):
    async def due(self, now: datetime, limit: int, *, passed: Collection[int]) -> list[DueEntry]:
        """Pending rows due at or before `now`, earliest first, not held; the ids in
        `passed` (rows the tick passed over already) left out."""
        ...

    def take(self, entry: DueEntry) -> AbstractAsyncContextManager[ScheduleHold | None]:
        """The row held in a transaction of its own that commits what `made` / `expired` /
        `withdrawn` wrote when the block ends without an error; None when it is no longer
        pending, or another tick or the automation worker holds its outage's lock (taken at a
        later tick)."""
        ...

    async def expire_campaigns(self, now: datetime) -> int:
        """Pending targets of campaigns at or past their `expires_at` excluded as
        `expired` (the dialer then completes them); how many."""
        ...
