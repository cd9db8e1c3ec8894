"""The schedule's tick, on the leader: due rows of the outage schedule (planned work's
notices, reminders, all-clears, moves and cancellations; the survey after a restoration)
turned into campaigns.

The rows live in PostgreSQL, written with the outage change that scheduled them, so a
restart, a takeover or a server down at the due minute neither loses nor doubles a message:
each row's campaign is named by the row (its trigger and the row's id), so a tick replayed
after a crash finds the campaign instead of making another, and a tick that was missed is
caught up by the next, which takes every row due by then. A row whose window closed before it
could be made (a server down for days) is expired, never sent stale.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from outage_voice.domain.automation import (
    PLANNED_TRIGGERS,
    TRIGGER_KINDS,
    AudienceRule,
    AutomationRules,
    Decision,
    Trigger,
    Verdict,
)
from outage_voice.domain.campaigns import Message
from outage_voice.domain.planned import Audience, PlannedMessage, message_key
from outage_voice.domain.windows import utc_minute
from outage_voice.services.automation import FIRST_BATCH_PREMISES, automatic_spec
from outage_voice.services.automation_ports import (
    SCHEDULE_SURVEY,
    AutomaticCampaignStore,
    AutomaticPlan,
    AutomationStore,
    DueEntry,
    LedgerDecision,
    ScheduleStore,
    SurveyCampaigns,
)
from outage_voice.services.ports import Timer

logger = logging.getLogger(__name__)

ROWS_PER_BATCH = 50
# A tick takes at most this many batches; what is left is due still and taken by the next.
MAX_BATCHES_PER_TICK = 20
# A row whose making failed this many ticks running (not for the database being away) is
# given up, expired with the error in the ledger, so that it stops costing every tick.
MAX_ROW_ATTEMPTS = 3

# The variables a planned-work campaign's calls are worded from (services.outbound).
PLANNED_MESSAGE = "planned_message"
DETAIL_NAMES = (
    "starts_at",
    "ends_at",
    "alternate_starts_at",
    "previous_starts_at",
    "previous_ends_at",
    "restored",
)
_AUDIENCES = {
    Audience.EVERYONE: AudienceRule.OUTAGE,
    Audience.TOLD: AudienceRule.TOLD,
    Audience.ADDED: AudienceRule.PREMISES,
    Audience.UNTOLD: AudienceRule.UNTOLD,
}


class Ticker(Protocol):
    """When the schedule ticks (adapters.cron: a cron expression on real or virtual time)."""

    async def next(self) -> None:
        """Returns at the next fire time."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class TickResult:
    made: int = 0
    expired: int = 0
    withdrawn: int = 0  # turned off since they were scheduled
    calls_expired: int = 0  # pending calls of campaigns past their end


def planned_plan(entry: DueEntry, rules: AutomationRules) -> AutomaticPlan:
    """The campaign of a planned-work row: the message's trigger, named by the row; its calls
    from the row's window opening until it closes; the words' variables from the row."""
    message = PlannedMessage(entry.message)
    trigger = PLANNED_TRIGGERS[message]
    spec = automatic_spec(trigger, TRIGGER_KINDS[trigger], entry.outage_id, rules)
    variables = {name: entry.details.get(name, "") for name in DETAIL_NAMES}
    variables[PLANNED_MESSAGE] = message.value
    words = Message(
        key=message_key(message, restored=variables["restored"] == "yes"), variables=variables
    )
    spec = dataclasses.replace(spec, message=words, starts_at=entry.window_open)
    return AutomaticPlan(
        spec=spec,
        outage_pk=entry.outage_pk,
        trigger=trigger,
        event_id=entry.entry_id,
        audience=_AUDIENCES[Audience(entry.audience)],
        premises=entry.premises,
        feeders=entry.feeders,
        expires_at=entry.window_close,
    )


class ScheduleWorker:
    """The leader job: at each tick of the ticker, the rows due made into campaigns."""

    def __init__(
        self,
        schedule: ScheduleStore,
        automation: AutomationStore,
        campaigns: AutomaticCampaignStore,
        surveys: SurveyCampaigns,
        ticker: Ticker,
        timer: Timer,
        *,
        first_batch: int = FIRST_BATCH_PREMISES,
        rows_per_batch: int = ROWS_PER_BATCH,
        unavailable: Callable[[BaseException], bool] = lambda _: False,
    ) -> None:
        self._schedule = schedule
        self._automation = automation
        self._campaigns = campaigns
        self._surveys = surveys
        self._ticker = ticker
        self._timer = timer
        self._first_batch = first_batch
        self._rows_per_batch = rows_per_batch
        # Failures that say the database is away: the tick stops, and the next takes the row.
        self._unavailable = unavailable
        self._failures: dict[int, int] = {}  # by row id, kept across ticks and restarts

    async def run(self) -> None:
        """Ticks at once (rows that fell due while no leader ran are not kept waiting for
        the first fire time), then at every fire time until cancelled."""
        while True:
            await self.tick(self._timer.now())
            await self._ticker.next()

    async def tick(self, now: datetime) -> TickResult:
        """Expires the calls of campaigns past their end, then makes every row due by `now`
        (expiring those past their window)."""
        result = TickResult(calls_expired=await self._schedule.expire_campaigns(now))
        if result.calls_expired:
            logger.info("%d pending calls expired with their campaigns", result.calls_expired)
        rules: AutomationRules | None = None
        passed: set[int] = set()  # rows taken, failed or held elsewhere: not listed again
        for _ in range(MAX_BATCHES_PER_TICK):
            entries = await self._schedule.due(now, self._rows_per_batch, passed=passed)
            if entries and rules is None:
                rules = await self._automation.rules()
            for listed in entries:
                assert rules is not None
                passed.add(listed.entry_id)
                try:
                    done = await self._one(listed, rules, now)
                except Exception as exc:
                    if self._unavailable(exc):
                        raise  # the job starts again after a pause; the row is due still
                    done = await self._failed(listed, exc, now)
                if done is not None:
                    result = _counted(result, done)
            if len(entries) < self._rows_per_batch:
                break
        return result

    async def _one(self, listed: DueEntry, rules: AutomationRules, now: datetime) -> str | None:
        """The row made, expired or withdrawn, in a transaction of its own under its outage's
        lock; which, or None when another tick or the automation worker holds the outage
        (the row is taken at a later tick) or the row is no longer pending."""
        async with self._schedule.take(listed) as held:
            if held is None:
                return None
            entry = held.entry
            if now >= entry.window_close:
                await held.expired(entry, _expired(entry, now))
                return _EXPIRED
            off = turned_off(entry, rules)
            if off is not None:
                await held.withdrawn(entry, _skipped(entry, off, now))
                return _WITHDRAWN
            campaign_id, decision = await self._make(entry, rules, now)
            await held.made(entry, campaign_id, decision)
        self._failures.pop(entry.entry_id, None)
        return _MADE

    async def _failed(self, entry: DueEntry, error: Exception, now: datetime) -> str | None:
        """A row whose making failed: left due for the next tick, or given up once it has
        failed MAX_ROW_ATTEMPTS times; the other rows go on either way."""
        count = self._failures.get(entry.entry_id, 0) + 1
        self._failures[entry.entry_id] = count
        logger.exception(
            "outage %s: %s row %d could not be made (attempt %d of %d)",
            entry.outage_id,
            entry.message,
            entry.entry_id,
            count,
            MAX_ROW_ATTEMPTS,
        )
        if count < MAX_ROW_ATTEMPTS:
            return None
        reason = (
            f"due {utc_minute(entry.due_at)} but could not be made after {MAX_ROW_ATTEMPTS} "
            f"attempts ({type(error).__name__}): not sent; see the server log"
        )
        async with self._schedule.take(entry) as held:
            if held is None:
                return None  # held elsewhere: tried again at a later tick
            await held.expired(held.entry, _skipped(held.entry, reason, now))
        self._failures.pop(entry.entry_id, None)
        return _EXPIRED

    async def _make(
        self, entry: DueEntry, rules: AutomationRules, now: datetime
    ) -> tuple[int, LedgerDecision]:
        if entry.message == SCHEDULE_SURVEY:
            campaign_id = await self._surveys.start_automatic(
                outage_pk=entry.outage_pk,
                schedule_id=entry.entry_id,
                rules=rules,
                expires_at=entry.window_close,
                now=now,
            )
            logger.info("outage %s: survey campaign %d", entry.outage_id, campaign_id)
            reason = f"survey campaign made; calls until {utc_minute(entry.window_close)}"
            return campaign_id, _ledger(entry, Trigger.SURVEY, reason, now, campaign_id)
        plan = planned_plan(entry, rules)
        started = await self._campaigns.start(plan, first_batch=self._first_batch, now=now)
        if started.planning:
            # Written before the row is marked made: a failure leaves the row due, and the
            # next tick finds the campaign and writes the rest.
            await self._campaigns.plan_rest(started.campaign_id, plan, now=now)
        logger.info(
            "outage %s: %s campaign %d %s",
            entry.outage_id,
            plan.trigger.value,
            started.campaign_id,
            "made" if started.created else "found (a tick replayed)",
        )
        reason = (
            f"{entry.message.replace('_', ' ')} campaign made; calls from "
            f"{utc_minute(entry.window_open)} until {utc_minute(entry.window_close)}"
        )
        return started.campaign_id, _ledger(entry, plan.trigger, reason, now, started.campaign_id)


_MADE, _EXPIRED, _WITHDRAWN = "made", "expired", "withdrawn"


def _counted(result: TickResult, done: str) -> TickResult:
    return dataclasses.replace(result, **{done: getattr(result, done) + 1})


def turned_off(entry: DueEntry, rules: AutomationRules) -> str | None:
    """Why a row due now is no longer to be made (a supervisor turned its message off after
    it was scheduled), or None when it is."""
    if entry.message == SCHEDULE_SURVEY:
        return None if rules.survey.enabled else "surveys were turned off since it was scheduled"
    message, planned = PlannedMessage(entry.message), rules.planned
    if message is PlannedMessage.REMINDER and planned.reminder_before_s <= 0:
        return "reminders were turned off since it was scheduled"
    if message is PlannedMessage.STARTING and not planned.starting_now:
        return "starting-now messages were turned off since it was scheduled"
    if message is PlannedMessage.ALL_CLEAR and not planned.all_clear:
        return "planned-work all-clears were turned off since it was scheduled"
    return None


def _trigger_of(entry: DueEntry) -> Trigger:
    if entry.message == SCHEDULE_SURVEY:
        return Trigger.SURVEY
    return PLANNED_TRIGGERS[PlannedMessage(entry.message)]


def _expired(entry: DueEntry, now: datetime) -> LedgerDecision:
    reason = (
        f"due {utc_minute(entry.due_at)} but not made before its window closed at "
        f"{utc_minute(entry.window_close)}: not sent"
    )
    return _skipped(entry, reason, now)


def _skipped(entry: DueEntry, reason: str, now: datetime) -> LedgerDecision:
    return LedgerDecision(
        at=now,
        event_id=entry.generation,
        decision=Decision(event=_trigger_of(entry).value, verdict=Verdict.SKIPPED, reason=reason),
        campaign_id=None,
    )


def _ledger(
    entry: DueEntry, trigger: Trigger, reason: str, now: datetime, campaign_id: int
) -> LedgerDecision:
    return LedgerDecision(
        at=now,
        event_id=entry.generation,
        decision=Decision(event=trigger.value, verdict=Verdict.PLANNED, reason=reason),
        campaign_id=campaign_id,
    )
