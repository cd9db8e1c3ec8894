"""Planned work under the OMS's changes: what one write to planned work does to its
schedule of messages (the schedule on first sight, a re-plan when the work moves or is
cancelled, the notice at once for premises added, the all-clear when the OMS says restored),
with the decisions a supervisor reads in the outage's ledger.

Pure. The schedule's own rules are domain.planned; the outage's change and the ledger's
decisions are domain.automation's.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from outage_voice.domain.automation import (
    PLANNED_TRIGGERS,
    Decision,
    OutageChange,
    Verdict,
)
from outage_voice.domain.outages import OutageStatus
from outage_voice.domain.planned import (
    TELLING,
    Audience,
    PlannedMessage,
    PlannedRules,
    PlannedWork,
    ScheduleEntry,
    at_once,
    for_newcomers,
    replan,
    require_aware,
    schedule,
)
from outage_voice.domain.windows import DailyWindow, utc_minute

# Why a schedule entry not yet made was taken back (the row's reason).
WITHDRAWN_MOVED = "moved"
WITHDRAWN_CANCELLED = "cancelled"
WITHDRAWN_RESTORED = "restored"
WITHDRAWN_RESCHEDULED = "rescheduled"  # planned work moved before anyone was told
WITHDRAWN_UNPLANNED = "no_longer_planned"  # the OMS now sends it as a fault


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedRow:
    """A schedule entry as kept: what its message speaks of (`details`, the message
    variables: the work's times as ISO strings, "" when absent) and, for premises added, which."""

    entry: ScheduleEntry
    details: Mapping[str, str]
    premises: tuple[str, ...] = ()
    feeders: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedChange:
    """What one outage change does to its planned work's schedule: entries not yet made
    withdrawn (`withdraw`, with `reason`), entries added, the bad-weather date the pending
    ones speak of (`alternate`, an ISO string or "", when it changed), and the decisions."""

    add: tuple[PlannedRow, ...] = ()
    withdraw: frozenset[PlannedMessage] = frozenset()
    reason: str = ""
    alternate: str | None = None
    decisions: tuple[Decision, ...] = ()


NO_CHANGE = PlannedChange()


def planned_change(
    change: OutageChange,
    sent: Set[PlannedMessage],
    rules: PlannedRules,
    *,
    now: datetime,
    timezone: str,
    window: DailyWindow,
    told: Set[PlannedMessage] | None = None,
) -> PlannedChange:
    """From one OMS write to planned work: the schedule on first sight, a re-plan when the
    work moves or is cancelled, the notice at once for premises added after the others had
    theirs, the all-clear at once when the OMS says restored. `sent`: the messages already
    made for the outage; `told`: the telling messages a call of which was placed (by default,
    those of `sent`); `timezone`: the utility's."""
    require_aware("now", now)
    heard = bool((sent if told is None else told) & TELLING)
    old = _work_of(
        change.starts_at_before, change.ends_at_before, change.alternate_before, timezone
    )
    new = _work_of(change.starts_at, change.ends_at, change.alternate, timezone)
    before, status = change.status_before, change.status
    # Cancelled or restored: only work that was planned work until this write has a schedule
    # to answer for; an ordinary outage that carries times (or planned work the OMS turned
    # into one) is the outage rules' alone.
    if status is OutageStatus.CANCELLED:
        work = old or new
        if (
            change.created
            or not change.planned_before
            or before is OutageStatus.CANCELLED
            or work is None
        ):
            return NO_CHANGE
        return _replanned(work, None, sent, rules, now=now, window=window, told=heard)
    if status is OutageStatus.RESTORED:
        work = new or old
        if (
            change.created
            or not change.planned_before
            or before is OutageStatus.RESTORED
            or work is None
        ):
            return NO_CHANGE
        return _restored(work, sent, rules, now=now, window=window, told=heard)
    if not change.planned or new is None:
        if change.planned_before and not change.created:
            return _no_longer_planned()
        return NO_CHANGE
    if old is None or (before is OutageStatus.CANCELLED):
        entries = schedule(new, rules, fed_at=now, now=now, window=window)
        rows = tuple(PlannedRow(entry=e, details=_details(new)) for e in entries)
        if not rows:
            return PlannedChange(
                decisions=(_decision("planned", "skipped", "too late for any message"),)
            )
        return PlannedChange(add=rows, decisions=tuple(_scheduled(row) for row in rows))
    if before is OutageStatus.RESTORED:
        return NO_CHANGE  # the work is over; the OMS reopening it is not ours to word
    if not new.same_time(old):
        return _replanned(old, new, sent, rules, now=now, window=window, told=heard)
    result = NO_CHANGE
    if new.alternate_starts_at != old.alternate_starts_at:
        result = replace(result, alternate=_iso_or_empty(new.alternate_starts_at))
    if change.grew:
        newcomers = for_newcomers(new, rules, sent, now=now, window=window)
        rows = tuple(
            PlannedRow(
                entry=e,
                details=_details(new),
                premises=change.premises_added,
                feeders=change.feeders_added,
            )
            for e in newcomers
        )
        result = replace(result, add=rows, decisions=tuple(_scheduled(row) for row in rows))
    return result


def _replanned(
    old: PlannedWork,
    new: PlannedWork | None,
    sent: Set[PlannedMessage],
    rules: PlannedRules,
    *,
    now: datetime,
    window: DailyWindow,
    told: bool,
) -> PlannedChange:
    plan = replan(old, new, sent, rules, now=now, window=window, told=told)
    if not plan.withdraw and not plan.add:
        return NO_CHANGE
    rows = []
    for entry in plan.add:
        if entry.message is PlannedMessage.CANCELLED:
            details = _details(old)  # "the work planned for ..." speaks of the work as it was
        elif entry.message is PlannedMessage.MOVED:
            assert new is not None
            details = _details(new, previous=old)
        else:
            assert new is not None
            details = _details(new)
        rows.append(PlannedRow(entry=entry, details=details))
    if new is None:
        reason, why = WITHDRAWN_CANCELLED, "the work was cancelled"
    elif told:
        reason, why = WITHDRAWN_MOVED, "the work was moved"
    else:
        reason, why = WITHDRAWN_RESCHEDULED, "the work was moved before anyone was told"
    decisions = [_decision("planned", "withdrawn", f"{why}: messages not made yet are withdrawn")]
    decisions.extend(_scheduled(row) for row in rows)
    return PlannedChange(
        add=tuple(rows), withdraw=plan.withdraw, reason=reason, decisions=tuple(decisions)
    )


def _no_longer_planned() -> PlannedChange:
    """The OMS turned planned work into an ordinary outage: the planned-work messages not made
    yet would be wrong; the outage's own rules speak for it from now on."""
    reason = "no longer planned work: its messages not made yet are withdrawn"
    return PlannedChange(
        withdraw=frozenset(PlannedMessage),
        reason=WITHDRAWN_UNPLANNED,
        decisions=(_decision("planned", "withdrawn", reason),),
    )


def _restored(
    work: PlannedWork,
    sent: Set[PlannedMessage],
    rules: PlannedRules,
    *,
    now: datetime,
    window: DailyWindow,
    told: bool,
) -> PlannedChange:
    """The OMS says the power is back: the messages not made yet are moot, and the all-clear
    goes at once, saying power is back (unless the one at the work's end went already)."""
    withdraw = frozenset(PlannedMessage)
    reason = "the OMS reported the work restored: messages not made yet are withdrawn"
    decisions = [_decision("planned", "withdrawn", reason)]
    if PlannedMessage.ALL_CLEAR in sent:
        decisions.append(_decision("planned_all_clear", "skipped", "the all-clear went already"))
        return PlannedChange(
            withdraw=withdraw, reason=WITHDRAWN_RESTORED, decisions=tuple(decisions)
        )
    if not told:
        # As for an outage's blink: an all-clear would be the first anyone hears of the work.
        decisions.append(
            _decision("planned_all_clear", "skipped", "nobody was told of the work: no all-clear")
        )
        return PlannedChange(
            withdraw=withdraw, reason=WITHDRAWN_RESTORED, decisions=tuple(decisions)
        )
    if not rules.all_clear:
        decisions.append(_decision("planned_all_clear", "skipped", "all-clear calls are off"))
        return PlannedChange(
            withdraw=withdraw, reason=WITHDRAWN_RESTORED, decisions=tuple(decisions)
        )
    row = PlannedRow(
        entry=at_once(PlannedMessage.ALL_CLEAR, now, window, work.timezone),
        details=_details(work, restored=True),
    )
    decisions.append(_scheduled(row))
    return PlannedChange(
        add=(row,), withdraw=withdraw, reason=WITHDRAWN_RESTORED, decisions=tuple(decisions)
    )


def _work_of(
    starts_at: datetime | None,
    ends_at: datetime | None,
    alternate: datetime | None,
    timezone: str,
) -> PlannedWork | None:
    if starts_at is None or ends_at is None or ends_at <= starts_at:
        return None
    return PlannedWork(
        starts_at=starts_at, ends_at=ends_at, timezone=timezone, alternate_starts_at=alternate
    )


def _iso_or_empty(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat()


def _details(
    work: PlannedWork, *, previous: PlannedWork | None = None, restored: bool = False
) -> dict[str, str]:
    """The message variables a planned campaign's calls are worded from."""
    return {
        "starts_at": _iso_or_empty(work.starts_at),
        "ends_at": _iso_or_empty(work.ends_at),
        "alternate_starts_at": _iso_or_empty(work.alternate_starts_at),
        "previous_starts_at": "" if previous is None else _iso_or_empty(previous.starts_at),
        "previous_ends_at": "" if previous is None else _iso_or_empty(previous.ends_at),
        "restored": "yes" if restored else "",
    }


def _decision(event: str, verdict: str, reason: str) -> Decision:
    return Decision(event=event, verdict=Verdict(verdict), reason=reason)


def _scheduled(row: PlannedRow) -> Decision:
    entry = row.entry
    whom = {
        Audience.EVERYONE: "everyone on the work",
        Audience.TOLD: "those already told",
        Audience.ADDED: "the premises added",
        Audience.UNTOLD: "those on the work not told yet",
    }[entry.audience]
    reason = (
        f"{entry.message.value.replace('_', ' ')} for {whom}: due {utc_minute(entry.due_at)}, "
        f"calls from {utc_minute(entry.window_open)} until {utc_minute(entry.window_close)}"
    )
    return _decision(PLANNED_TRIGGERS[entry.message].value, "scheduled", reason)
