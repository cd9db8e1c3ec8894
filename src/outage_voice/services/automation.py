"""The automation: the OMS's outage changes turned into calls, on the leader.

Each outbox event is read in order and fed through the rules (domain.automation) with what
the automation knows of its outage; the actions they return are carried out (a campaign
planned, customers appended or withdrawn), and only then is the event marked consumed, with
the outage's new state, in one transaction. A crash in between replays the event: every
campaign it asks for is named by its trigger and event id, so the replay finds the campaign
instead of making another, and appending or withdrawing twice changes nothing more.

A campaign of a large outage starts calling from its first batch of numbers while the rest
are written behind it; a leader that dies mid-plan leaves the campaign marked `planning`,
and the next one finishes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from outage_voice.domain.automation import (
    ACKNOWLEDGING,
    PLANNED_TRIGGERS,
    AppendTargets,
    AutomationRules,
    AutomationState,
    Decision,
    OutageChange,
    OutageFacts,
    Outcome,
    PlanCampaign,
    Trigger,
    Verdict,
    Withdraw,
    merge_rules,
    on_change,
    on_due,
    outage_change,
)
from outage_voice.domain.campaign_records import OutageRef
from outage_voice.domain.campaigns import (
    CampaignKind,
    CampaignSpec,
    estimate_duration_s,
    new_campaign_spec,
)
from outage_voice.domain.errors import NotFound
from outage_voice.domain.outages import OutageRecord, OutageState, OutageStatus, check_outage_id
from outage_voice.domain.planned import (
    TELLING,
    Audience,
    PlannedMessage,
)
from outage_voice.domain.planned_changes import (
    WITHDRAWN_MOVED,
    WITHDRAWN_RESCHEDULED,
    WITHDRAWN_RESTORED,
    WITHDRAWN_UNPLANNED,
    planned_change,
)
from outage_voice.domain.windows import DEFAULT_TIMEZONE, utc_minute
from outage_voice.services.automation_ports import (
    NEW_OUTAGE,
    SCHEDULE_SURVEY,
    AutomaticCampaignStore,
    AutomaticPlan,
    AutomationStore,
    Ledger,
    LedgerDecision,
    OutageEvent,
    ProposedMembership,
    ScheduleRow,
    ScheduleWrite,
)
from outage_voice.services.instruments import NO_INSTRUMENTS, Instruments
from outage_voice.services.ports import Clock, OutageStore, Timer

logger = logging.getLogger(__name__)

# Numbers written before an automatic campaign starts calling: the rest are written behind
# the first calls. Small enough to take well under a second for any outage.
FIRST_BATCH_PREMISES = 500
EVENTS_PER_STEP = 100
DUES_PER_STEP = 100
# Wake-ups come by NOTIFY from the outage write, and due work is slept until; this is the
# fallback when a NOTIFY is missed (as the dialer's). Shorter, an idle worker's reads added
# up on virtual time, where a simulated hour passes in seconds.
IDLE_POLL_S = 30.0
# A preview's event id: no event, no campaign; never stored.
PREVIEW_EVENT_ID = 0
# An outage change whose actions keep failing (the database there all along) is tried this
# many times, then consumed with a decision saying so: it must not hold up every other
# outage's changes behind it.
MAX_EVENT_ATTEMPTS = 3
# Writing the rest of a plan that failed is tried again after this, doubling to the most.
PLAN_RETRY_S = 2.0
MAX_PLAN_RETRY_S = 60.0

TRIGGER_NAMES: Mapping[Trigger, str] = {
    Trigger.CONFIRMED: "acknowledgement",
    Trigger.CREW_DISPATCHED: "acknowledgement",
    Trigger.ETR_CHANGED: "ETR update",
    Trigger.RESTORED: "all-clear",
    Trigger.PLANNED_NOTICE: "planned work notice",
    Trigger.PLANNED_SHORT_NOTICE: "planned work notice",
    Trigger.PLANNED_REMINDER: "planned work reminder",
    Trigger.PLANNED_STARTING: "planned work starting",
    Trigger.PLANNED_ALL_CLEAR: "planned work all-clear",
    Trigger.PLANNED_MOVED: "planned work moved",
    Trigger.PLANNED_CANCELLED: "planned work cancelled",
    Trigger.SURVEY: "survey",
}
# The campaigns of planned-work messages that speak of the work's date.
PLANNED_CALLS = tuple(
    PLANNED_TRIGGERS[m] for m in PlannedMessage if m is not PlannedMessage.ALL_CLEAR
)
# Once the OMS says power is back, "the work is starting", "it has been moved" or "it is
# tomorrow" would be wrong; a notice or a cancellation still to place is left to its window.
RESTORED_CALLS = (
    PLANNED_TRIGGERS[PlannedMessage.STARTING],
    PLANNED_TRIGGERS[PlannedMessage.MOVED],
    PLANNED_TRIGGERS[PlannedMessage.REMINDER],
)
_WHY: Mapping[str, str] = {
    WITHDRAWN_MOVED: "the work was moved",
    WITHDRAWN_UNPLANNED: "no longer planned work",
    WITHDRAWN_RESTORED: "the OMS reported the work restored",
}
# The planned-work calls not placed yet that a schedule change takes back, and why.
_CALLS_WITHDRAWN: Mapping[str, tuple[str, tuple[Trigger, ...]]] = {
    WITHDRAWN_MOVED: (WITHDRAWN_MOVED, PLANNED_CALLS),
    WITHDRAWN_RESCHEDULED: (WITHDRAWN_MOVED, PLANNED_CALLS),
    WITHDRAWN_UNPLANNED: (WITHDRAWN_UNPLANNED, PLANNED_CALLS),
    WITHDRAWN_RESTORED: (WITHDRAWN_RESTORED, RESTORED_CALLS),
}
# A survey is placed within this long after its window first opens, or not at all: asked
# days later, customers no longer remember the calls.
SURVEY_OPEN_S = 2 * 24 * 3600


class OutageRefs(Protocol):
    """Outages by the OMS's id (the campaign store answers it)."""

    async def outage(self, oms_id: str) -> OutageRef | None: ...


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


def automatic_spec(
    trigger: Trigger, kind: CampaignKind, outage_id: str, rules: AutomationRules
) -> CampaignSpec:
    """The campaign a trigger starts: the outage as its audience, the trigger's pacing, the
    rules' calling window."""
    pacing = rules.pacing_for(trigger)
    spec = new_campaign_spec(
        name=f"{outage_id}: {TRIGGER_NAMES[trigger]} (automatic)",
        kind=kind,
        outage_id=outage_id,
        cps=pacing.cps,
        max_concurrent=pacing.max_concurrent,
        window=rules.calling_window().describe(),
    )
    if kind is CampaignKind.OUTAGE_ACK and rules.etr_update.enabled:
        # "We will call when we have an estimate" is said only when an ETR update will follow.
        message = dataclasses.replace(spec.message, variables={"etr_follow_up": "yes"})
        spec = dataclasses.replace(spec, message=message)
    return spec


def recent_since(rules: AutomationRules, now: datetime) -> datetime | None:
    """Acknowledgements leave out numbers that called or reported since this moment."""
    skip_s = rules.acknowledge.skip_recent_callers_s
    return None if skip_s <= 0 else now - timedelta(seconds=skip_s)


def automatic_plan(
    action: PlanCampaign,
    *,
    outage_pk: int,
    outage_id: str,
    etr: datetime | None,
    rules: AutomationRules,
    now: datetime,
) -> AutomaticPlan:
    """What the campaign store needs to plan the campaign the rules asked for."""
    return AutomaticPlan(
        spec=automatic_spec(action.trigger, action.kind, outage_id, rules),
        outage_pk=outage_pk,
        trigger=action.trigger,
        event_id=action.event_id,
        audience=action.audience,
        premises=action.premises,
        feeders=action.feeders,
        recent_since=recent_since(rules, now) if action.trigger in ACKNOWLEDGING else None,
        etr=etr,
        etr_min_change_s=rules.etr_update.min_change_s,
        etr_gap_s=rules.etr_update.per_customer_gap_s,
    )


def record_state(record: OutageRecord) -> OutageState:
    """The full state an outage was last written with, as the OMS sent it."""
    return OutageState(
        status=record.status,
        cause=record.cause,
        etr=record.etr,
        premise_ids=record.premise_ids,
        feeder_ids=record.feeder_ids,
        planned=record.planned,
        starts_at=record.starts_at,
        ends_at=record.ends_at,
        customers_affected=record.customers_affected if record.customers_from_oms else None,
        alternate_starts_at=record.alternate_starts_at,
    )


class AutomationService:
    """What supervisors and the OMS ask of the automation: its rules, an outage's ledger, a
    preview of a change. Any instance answers."""

    def __init__(
        self,
        store: AutomationStore,
        campaigns: AutomaticCampaignStore,
        outages: OutageStore,
        refs: OutageRefs,
        clock: Clock,
    ) -> None:
        self._store = store
        self._campaigns = campaigns
        self._outages = outages
        self._refs = refs
        self._clock = clock

    async def rules(self) -> AutomationRules:
        return await self._store.rules()

    async def update_rules(self, patch: object, *, actor: str) -> AutomationRules:
        merged = merge_rules(await self._store.rules(), patch)
        await self._store.save_rules(merged, actor=actor, now=self._clock.now())
        return merged

    async def notifications(self, outage_id: str, *, account: str | None) -> Ledger:
        ledger = await self._store.ledger(check_outage_id(outage_id), account=account)
        if ledger is None:
            raise NotFound("outage", outage_id)
        return ledger

    async def preview(self, outage_id: str, state: OutageState) -> Preview:
        """What writing `state` to the outage would send now, nothing sent. An outage not
        known yet previews as new."""
        check_outage_id(outage_id)
        now = self._clock.now()
        rules = await self._store.rules()
        ref = await self._refs.outage(outage_id)
        record = None if ref is None else await self._outages.get(outage_id)
        previous = None if record is None else record_state(record).canonical()
        change = outage_change(previous, state)
        current = AutomationState() if ref is None else await self._store.state(ref.pk)
        outcome = on_change(current, change, event_id=PREVIEW_EVENT_ID, rules=rules, now=now)
        # Counted over the premises and feeders the change would give the outage.
        proposed = None
        if change.created or change.grew or change.shrank:
            proposed = ProposedMembership(premises=state.premise_ids, feeders=state.feeder_ids)
        messages: list[PreviewMessage] = []
        withdrawn: dict[str, int] = {}
        for action in outcome.actions:
            if isinstance(action, PlanCampaign):
                messages.append(
                    await self._preview_plan(action, ref, outage_id, state, rules, now, proposed)
                )
            elif isinstance(action, AppendTargets) and ref is not None:
                _, added = await self._campaigns.append(
                    ref.pk,
                    action.premises,
                    action.feeders,
                    now=now,
                    recent_since=recent_since(rules, now),
                    dry_run=True,
                )
                acknowledging = current.ack_trigger or Trigger.CONFIRMED
                pacing = rules.pacing_for(acknowledging)
                messages.append(
                    PreviewMessage(
                        trigger=acknowledging.value,
                        kind=CampaignKind.OUTAGE_ACK.value,
                        campaign="appended",
                        sends_at=now,
                        calls=added,
                        skipped={},
                        estimated_duration_s=_duration_s(added, pacing.cps, pacing.max_concurrent),
                    )
                )
            elif isinstance(action, Withdraw) and ref is not None:
                count = await self._campaigns.withdraw(
                    ref.pk,
                    reason=action.reason,
                    triggers=action.triggers,
                    only_unaffected=action.only_unaffected,
                    now=now,
                    dry_run=True,
                    proposed=proposed,
                )
                withdrawn[action.reason] = withdrawn.get(action.reason, 0) + count
        held = outcome.state.ack_due_at
        if held is not None and current.ack_due_at is None:
            # The acknowledgement is held: what it will send, at the end of the hold.
            trigger = outcome.state.ack_trigger or Trigger.CONFIRMED
            plan = PlanCampaign(
                trigger=trigger, event_id=PREVIEW_EVENT_ID, kind=CampaignKind.OUTAGE_ACK
            )
            message = await self._preview_plan(plan, ref, outage_id, state, rules, now, proposed)
            messages.append(dataclasses.replace(message, sends_at=held))
        return Preview(
            outage_id=outage_id,
            change=change,
            messages=messages,
            withdrawn=withdrawn,
            decisions=outcome.decisions,
        )

    async def _preview_plan(
        self,
        action: PlanCampaign,
        ref: OutageRef | None,
        outage_id: str,
        state: OutageState,
        rules: AutomationRules,
        now: datetime,
        proposed: ProposedMembership | None,
    ) -> PreviewMessage:
        pacing = rules.pacing_for(action.trigger)
        plan = automatic_plan(
            action,
            outage_pk=NEW_OUTAGE if ref is None else ref.pk,
            outage_id=outage_id,
            etr=state.etr,
            rules=rules,
            now=now,
        )
        counts = await self._campaigns.count(plan, now=now, proposed=proposed)
        calls, skipped = counts.targets, counts.excluded
        return PreviewMessage(
            trigger=action.trigger.value,
            kind=action.kind.value,
            campaign="new",
            sends_at=now,
            calls=calls,
            skipped=skipped,
            estimated_duration_s=_duration_s(calls, pacing.cps, pacing.max_concurrent),
        )


class AutomationWorker:
    """The leader job: consumes the outbox and due work, carrying out what the rules decide."""

    def __init__(
        self,
        store: AutomationStore,
        campaigns: AutomaticCampaignStore,
        timer: Timer,
        *,
        first_batch: int = FIRST_BATCH_PREMISES,
        idle_poll_s: float = IDLE_POLL_S,
        unavailable: Callable[[BaseException], bool] = lambda _: False,
        timezone: str = DEFAULT_TIMEZONE,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self._store = store
        self._campaigns = campaigns
        self._timer = timer
        self._instruments = instruments
        self._timezone = timezone  # the utility's: planned work's schedule keeps its clock
        self._first_batch = first_batch
        self._idle_poll_s = idle_poll_s
        # Failures that say the database is away: retried for as long as it takes.
        self._unavailable = unavailable
        self._failures: dict[int, int] = {}  # by event id, kept across restarts of the job
        self._wake = asyncio.Event()
        # The rest of each campaign's numbers being written, by outage: anything else done to
        # the outage's campaigns waits for them (a withdrawal must see every target).
        self._planning: dict[int, set[asyncio.Task[None]]] = {}

    def wake(self, payload: str = "") -> None:
        self._wake.set()

    async def run(self) -> None:
        """The leader job: finishes plans a previous leader left, then consumes events and
        due work until cancelled."""
        try:
            for campaign_id, plan in await self._campaigns.still_planning():
                logger.info("campaign %d: finishing the plan a previous leader began", campaign_id)
                self._plan_rest_behind(campaign_id, plan)
            while True:
                self._wake.clear()
                if await self.step():
                    continue
                await self._idle()
        finally:
            tasks = [task for tasks in self._planning.values() for task in tasks]
            for task in tasks:
                task.cancel()
            if tasks:
                await self._timer.wait(asyncio.gather(*tasks, return_exceptions=True))
            self._planning.clear()

    async def _idle(self) -> None:
        wait_s = self._idle_poll_s
        next_due = await self._store.next_due_at()
        if next_due is not None:
            wait_s = min(wait_s, max(0.0, (next_due - self._timer.now()).total_seconds()))
        sleeper = asyncio.ensure_future(self._timer.sleep(wait_s))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await self._timer.wait(
                asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            )
        finally:
            sleeper.cancel()
            waker.cancel()

    async def step(self, now: datetime | None = None) -> int:
        """Consumes what is waiting and due now; how many events and dues it handled."""
        handled = 0
        events = await self._store.waiting_events(EVENTS_PER_STEP)
        at = now or self._timer.now()
        due = await self._store.due_outages(at, DUES_PER_STEP)
        if not events and not due:
            return 0
        rules = await self._store.rules()
        # Read together, then kept as each event leaves them: only this worker writes them.
        states = await self._store.states(sorted({event.outage_pk for event in events}))
        for event in events:
            at = now or self._timer.now()
            # Planned work's decisions wait for a row of the outage the tick is making, and
            # hold the tick off until they are written: "told" and the calls withdrawn then
            # see each of its campaigns whole or not at all.
            change = event.change
            async with (
                self._store.planned_lock(event.outage_pk)
                if change.planned or change.planned_before
                else contextlib.nullcontext()
            ):
                states[event.outage_pk] = await self._event(
                    event, states[event.outage_pk], rules, at
                )
            handled += 1
        for outage_pk in due:
            facts = await self._store.facts(outage_pk)
            if facts is None:
                continue
            state = await self._store.state(outage_pk)
            outcome = on_due(state, facts, rules=rules, now=at)
            oms_id = await self._oms_id(outage_pk, outcome)
            decisions = await self._carry_out(
                outcome, outage_pk, oms_id, rules, at, event_id=None, facts=facts
            )
            await self._store.consume(outage_pk, outcome.state, decisions, event_id=None, now=at)
            handled += 1
        return handled

    async def _event(
        self, event: OutageEvent, state: AutomationState, rules: AutomationRules, at: datetime
    ) -> AutomationState:
        """One change carried out and consumed; the outage's state after it."""
        outcome = on_change(state, event.change, event_id=event.event_id, rules=rules, now=at)
        schedule: ScheduleWrite | None = None
        try:
            decisions = await self._carry_out(
                outcome, event.outage_pk, event.outage_id, rules, at, event_id=event.event_id
            )
            schedule, scheduled = await self._schedule(event, state, rules, at)
            decisions.extend(scheduled)
        except Exception as exc:
            if self._unavailable(exc) or not self._gives_up(event.event_id):
                raise  # the job starts again after a pause, with this event first
            logger.exception(
                "outage %s: change %d could not be carried out after %d attempts; consumed "
                "without its effects so that other outages' changes go on",
                event.outage_id,
                event.event_id,
                MAX_EVENT_ATTEMPTS,
            )
            outcome = Outcome(state=state)
            decisions = [_failed(event.event_id, exc, at)]
            schedule = None
        self._failures.pop(event.event_id, None)
        consumed = await self._store.consume(
            event.outage_pk,
            outcome.state,
            decisions,
            event_id=event.event_id,
            now=at,
            schedule=schedule,
        )
        if consumed:
            # Only here: an event another leader consumed already is counted by that one.
            self._instruments.automation_consumed((at - event.at).total_seconds())
            return outcome.state
        logger.warning("event %d was consumed already: its effects stand", event.event_id)
        return await self._store.state(event.outage_pk)

    async def _schedule(
        self, event: OutageEvent, state: AutomationState, rules: AutomationRules, now: datetime
    ) -> tuple[ScheduleWrite | None, list[LedgerDecision]]:
        """What the change does to the outage's schedule (planned work's messages, the survey
        after a restoration), written with the event's consumption."""
        change = event.change
        window = rules.calling_window()
        rows: list[ScheduleRow] = []
        decisions: list[Decision] = []
        write = ScheduleWrite()
        told: frozenset[PlannedMessage] = frozenset()
        # Only planned work (or work that was planned until this write) has a schedule.
        if change.planned or change.planned_before:
            # Read under the outage's schedule lock (step): no row of it is being made.
            made = await self._store.planned_sent(event.outage_pk)
            sent: frozenset[PlannedMessage] = frozenset(
                m for m in PlannedMessage if m.value in made
            )
            heard = await self._store.planned_told(event.outage_pk)
            told = frozenset(m for m in PlannedMessage if m.value in heard)
            result = planned_change(
                change,
                sent,
                rules.planned,
                now=now,
                timezone=self._timezone,
                window=window,
                told=told,
            )
            rows.extend(
                ScheduleRow(
                    message=row.entry.message.value,
                    audience=row.entry.audience.value,
                    due_at=row.entry.due_at,
                    window_open=row.entry.window_open,
                    window_close=row.entry.window_close,
                    details=row.details,
                    premises=row.premises,
                    feeders=row.feeders,
                )
                for row in result.add
            )
            write = ScheduleWrite(
                withdraw=tuple(sorted(m.value for m in result.withdraw)),
                reason=result.reason,
                alternate=result.alternate,
            )
            decisions.extend(result.decisions)
            withdrawn = _CALLS_WITHDRAWN.get(result.reason)
            if withdrawn is not None:
                # Calls not placed yet would speak of the old date (those customers get the
                # new date's notice), or of work the OMS says is over.
                why, triggers = withdrawn
                count = await self._campaigns.withdraw(
                    event.outage_pk,
                    reason=why,
                    triggers=triggers,
                    only_unaffected=False,
                    now=now,
                )
                decisions.append(
                    Decision(
                        event="planned",
                        verdict=Verdict.WITHDRAWN,
                        reason=(
                            f"{_WHY[why]}: calls of its messages not placed yet are withdrawn "
                            f"({count})"
                        ),
                    )
                )
        survey = _survey_row(change, state, told, rules, now=now, timezone=self._timezone)
        if survey is not None:
            rows.append(survey)
            decisions.append(
                Decision(
                    event=Trigger.SURVEY.value,
                    verdict=Verdict.SCHEDULED,
                    reason=(
                        f"survey after the restoration: due {utc_minute(survey.due_at)}, calls "
                        f"from {utc_minute(survey.window_open)} until "
                        f"{utc_minute(survey.window_close)}"
                    ),
                )
            )
        write = dataclasses.replace(write, add=tuple(rows))
        ledger = [
            LedgerDecision(at=now, event_id=event.event_id, decision=d, campaign_id=None)
            for d in decisions
        ]
        return (None if write.empty else write), ledger

    def _gives_up(self, event_id: int) -> bool:
        """Counts a failed attempt at the event; True once it has failed too often."""
        self._failures[event_id] = self._failures.get(event_id, 0) + 1
        return self._failures[event_id] >= MAX_EVENT_ATTEMPTS

    async def _oms_id(self, outage_pk: int, outcome: Outcome) -> str:
        if not outcome.actions:
            return ""
        return await self._store.outage_id(outage_pk)

    async def _carry_out(
        self,
        outcome: Outcome,
        outage_pk: int,
        outage_id: str,
        rules: AutomationRules,
        now: datetime,
        *,
        event_id: int | None,
        facts: OutageFacts | None = None,
    ) -> list[LedgerDecision]:
        """Does what the rules asked, in order; the decisions to keep, each with the campaign
        it planned or appended to and the numbers it moved. `facts`: the outage now, when
        the caller has read it (read here otherwise, once, for the ETR a plan speaks)."""
        results: dict[Verdict, list[tuple[int | None, int]]] = {}
        for action in outcome.actions:
            await self._settle_plans(outage_pk)
            if isinstance(action, PlanCampaign):
                if facts is None:
                    facts = await self._store.facts(outage_pk)
                etr = None if facts is None else facts.etr
                plan = automatic_plan(
                    action, outage_pk=outage_pk, outage_id=outage_id, etr=etr, rules=rules, now=now
                )
                started = await self._campaigns.start(plan, first_batch=self._first_batch, now=now)
                results.setdefault(Verdict.PLANNED, []).append(
                    (started.campaign_id, started.targets)
                )
                if started.planning:
                    self._plan_rest_behind(started.campaign_id, plan)
                logger.info(
                    "outage %s: %s campaign %d %s (%d numbers so far)",
                    outage_id,
                    action.trigger.value,
                    started.campaign_id,
                    "planned" if started.created else "found (replayed event)",
                    started.targets,
                )
            elif isinstance(action, AppendTargets):
                appended = await self._campaigns.append(
                    outage_pk,
                    action.premises,
                    action.feeders,
                    now=now,
                    recent_since=recent_since(rules, now),
                )
                results.setdefault(Verdict.APPENDED, []).append(appended)
            elif isinstance(action, Withdraw):
                count = await self._campaigns.withdraw(
                    outage_pk,
                    reason=action.reason,
                    triggers=action.triggers,
                    only_unaffected=action.only_unaffected,
                    now=now,
                )
                results.setdefault(Verdict.WITHDRAWN, []).append((None, count))
                logger.info(
                    "outage %s: %d pending calls withdrawn (%s)", outage_id, count, action.reason
                )
        # The rules give one decision per action of each kind, in the same order.
        done = []
        for decision in outcome.decisions:
            taken = results.get(decision.verdict)
            campaign_id, count = taken.pop(0) if taken else (None, -1)
            if count >= 0:
                decision = dataclasses.replace(
                    decision, reason=f"{decision.reason} ({count} {_NUMBERS[decision.verdict]})"
                )
            done.append(
                LedgerDecision(
                    at=now, event_id=event_id, decision=decision, campaign_id=campaign_id
                )
            )
        return done

    def _plan_rest_behind(self, campaign_id: int, plan: AutomaticPlan) -> None:
        async def rest() -> None:
            pause_s = PLAN_RETRY_S
            while True:
                try:
                    written = await self._campaigns.plan_rest(
                        campaign_id, plan, now=self._timer.now()
                    )
                except Exception as exc:
                    # Still `planning`: the customers past the first batch wait for this.
                    logger.warning(
                        "campaign %d: writing the rest of its plan failed (%r); again in %.0f s",
                        campaign_id,
                        exc,
                        pause_s,
                    )
                    await self._timer.sleep(pause_s)
                    pause_s = min(pause_s * 2, MAX_PLAN_RETRY_S)
                    continue
                logger.info("campaign %d: the rest of its plan written (%d)", campaign_id, written)
                return

        tasks = self._planning.setdefault(plan.outage_pk, set())
        # Its lines carry no request id with nothing done here: the worker is a leader job,
        # run outside any request (an outage event posted only wakes it, through NOTIFY).
        task = self._timer.spawn(rest())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _settle_plans(self, outage_pk: int) -> None:
        tasks = list(self._planning.get(outage_pk, ()))
        if tasks:
            await self._timer.wait(asyncio.gather(*tasks, return_exceptions=True))


_NUMBERS: Mapping[Verdict, str] = {
    Verdict.PLANNED: "numbers in its first batch",
    Verdict.APPENDED: "numbers added",
    Verdict.WITHDRAWN: "pending calls withdrawn",
}


def _survey_row(
    change: OutageChange,
    state: AutomationState,
    told: frozenset[PlannedMessage],
    rules: AutomationRules,
    *,
    now: datetime,
    timezone: str,
) -> ScheduleRow | None:
    """The survey after an outage the OMS says is restored, when customers were told of it: a
    survey about calls nobody got (a blink, restored within the hold) is noise."""
    if (
        change.status is not OutageStatus.RESTORED
        or change.created
        or change.status_before in (OutageStatus.RESTORED, OutageStatus.CANCELLED)
        or not rules.survey.enabled
    ):
        return None
    if not (state.acknowledged or state.etr_told or told & TELLING):
        return None
    due = rules.survey.due_at(now)
    opens = rules.calling_window().next_open(due, timezone)
    return ScheduleRow(
        message=SCHEDULE_SURVEY,
        audience=Audience.EVERYONE.value,
        due_at=due,
        window_open=opens,
        window_close=opens + timedelta(seconds=SURVEY_OPEN_S),
    )


def _failed(event_id: int, error: BaseException, now: datetime) -> LedgerDecision:
    reason = (
        f"could not be carried out after {MAX_EVENT_ATTEMPTS} attempts "
        f"({type(error).__name__}); nothing was sent for it: see the server log"
    )
    return LedgerDecision(
        at=now,
        event_id=event_id,
        decision=Decision(event="change", verdict=Verdict.SKIPPED, reason=reason),
        campaign_id=None,
    )


def _duration_s(calls: int, cps: float, max_concurrent: int) -> int:
    return round(estimate_duration_s(targets=calls, cps=cps, max_concurrent=max_concurrent))
