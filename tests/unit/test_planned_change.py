"""One OMS write to planned work and what it does to the work's schedule: scheduled on first
sight, re-planned on a move or a cancellation, the notice at once for premises added, the
all-clear at once on restored. Pure, on given times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from outage_voice.domain.automation import (
    AutomationRules,
    AutomationState,
    OutageChange,
    PlanCampaign,
    Verdict,
    on_change,
    outage_change,
)
from outage_voice.domain.outages import OutageState, OutageStatus
from outage_voice.domain.planned import (
    Audience,
    PlannedMessage,
    PlannedRules,
)
from outage_voice.domain.planned_changes import (
    NO_CHANGE,
    WITHDRAWN_CANCELLED,
    WITHDRAWN_MOVED,
    WITHDRAWN_RESCHEDULED,
    WITHDRAWN_RESTORED,
    WITHDRAWN_UNPLANNED,
    PlannedChange,
    planned_change,
)
from outage_voice.domain.windows import parse_daily_window

CHICAGO = "America/Chicago"
ZONE = ZoneInfo(CHICAGO)
WINDOW = parse_daily_window("08:00-21:00")
RULES = PlannedRules()
M = PlannedMessage
ALL = frozenset(PlannedMessage)
# Thursday, December 3rd, 2026, 09:00-13:00 in Chicago; fed on the Saturday before, at 10:00.
STARTS = datetime(2026, 12, 3, 9, tzinfo=ZONE)
ENDS = STARTS + timedelta(hours=4)
FED = datetime(2026, 11, 28, 10, tzinfo=ZONE)


def state(
    status: OutageStatus = OutageStatus.CONFIRMED,
    *,
    starts: datetime = STARTS,
    ends: datetime = ENDS,
    alternate: datetime | None = None,
    premises: tuple[str, ...] = ("P1", "P2"),
    planned: bool = True,
) -> OutageState:
    return OutageState(
        status=status,
        cause=None,
        etr=None,
        premise_ids=premises,
        feeder_ids=(),
        planned=planned,
        starts_at=starts.astimezone(UTC) if planned else None,
        ends_at=ends.astimezone(UTC) if planned else None,
        alternate_starts_at=alternate,
    )


def change(before: OutageState | None, after: OutageState) -> OutageChange:
    previous = None if before is None else before.canonical()
    # As the worker reads it: from the outbox's JSON.
    return OutageChange.from_json(outage_change(previous, after).as_json())


def decide(
    before: OutageState | None,
    after: OutageState,
    sent: frozenset[PlannedMessage] = frozenset(),
    *,
    now: datetime = FED,
    rules: PlannedRules = RULES,
) -> PlannedChange:
    return planned_change(
        change(before, after), sent, rules, now=now, timezone=CHICAGO, window=WINDOW
    )


def messages(result: PlannedChange) -> list[PlannedMessage]:
    return [row.entry.message for row in result.add]


def local(moment: datetime) -> datetime:
    return moment.astimezone(ZONE)


def test_first_sight_schedules_notice_reminder_and_all_clear() -> None:
    result = decide(None, state(alternate=datetime(2026, 12, 5, 9, tzinfo=ZONE)))
    assert messages(result) == [M.NOTICE, M.REMINDER, M.ALL_CLEAR]
    assert not result.withdraw
    notice, reminder, all_clear = (row.entry for row in result.add)
    assert local(notice.due_at) == datetime(2026, 11, 30, 9, tzinfo=ZONE)
    assert local(reminder.due_at) == datetime(2026, 12, 2, 9, tzinfo=ZONE)
    assert all_clear.due_at == ENDS
    assert {row.entry.audience for row in result.add} == {Audience.EVERYONE}
    details = result.add[0].details
    assert details == {
        "starts_at": "2026-12-03T15:00:00+00:00",
        "ends_at": "2026-12-03T19:00:00+00:00",
        "alternate_starts_at": "2026-12-05T15:00:00+00:00",
        "previous_starts_at": "",
        "previous_ends_at": "",
        "restored": "",
    }
    assert [d.verdict for d in result.decisions] == [Verdict.SCHEDULED] * 3
    assert [d.event for d in result.decisions] == [
        "planned_notice",
        "planned_reminder",
        "planned_all_clear",
    ]


def test_fed_late_gets_the_short_notice_at_once() -> None:
    now = datetime(2026, 12, 2, 15, tzinfo=ZONE)
    result = decide(None, state(), now=now)
    assert messages(result) == [M.SHORT_NOTICE, M.ALL_CLEAR]
    assert result.add[0].entry.due_at == now


def test_fed_after_the_work_ended_gets_nothing_but_a_note() -> None:
    result = decide(None, state(), now=ENDS + timedelta(days=3))
    assert not result.add
    assert [d.verdict for d in result.decisions] == [Verdict.SKIPPED]


def test_a_write_changing_nothing_of_the_work_does_nothing() -> None:
    assert decide(state(), state(OutageStatus.CREW_ON_SITE)) == NO_CHANGE


def test_unplanned_outages_have_no_schedule() -> None:
    assert decide(None, state(planned=False)) == NO_CHANGE
    assert decide(state(planned=False), state(OutageStatus.RESTORED, planned=False)) == NO_CHANGE


def test_moved_after_the_notice_tells_those_told_and_shifts_the_schedule() -> None:
    later = STARTS + timedelta(days=7)
    now = datetime(2026, 12, 1, 11, tzinfo=ZONE)
    result = decide(
        state(),
        state(starts=later, ends=later + timedelta(hours=4)),
        frozenset({M.NOTICE}),
        now=now,
    )
    assert result.withdraw == ALL
    assert result.reason == WITHDRAWN_MOVED
    assert messages(result) == [M.MOVED, M.NOTICE, M.REMINDER, M.ALL_CLEAR]
    moved, notice, reminder, _ = result.add
    assert moved.entry.audience is Audience.TOLD
    assert moved.entry.due_at == now
    # "Moved to Thursday" is no news once Thursday's work has started.
    assert moved.entry.window_close == later
    assert moved.details["previous_starts_at"] == "2026-12-03T15:00:00+00:00"
    assert moved.details["starts_at"] == "2026-12-10T15:00:00+00:00"
    # Those on the work not told yet (their notice call withdrawn before it was placed)
    # get the new date's notice at its usual moment.
    assert notice.entry.audience is Audience.UNTOLD
    assert local(notice.entry.due_at) == datetime(2026, 12, 7, 9, tzinfo=ZONE)
    assert notice.entry.window_close == later
    assert notice.details["starts_at"] == "2026-12-10T15:00:00+00:00"
    # Only the move speaks of the time first told; the others speak of the new one.
    assert notice.details["previous_starts_at"] == ""
    assert reminder.details["previous_starts_at"] == ""
    assert local(reminder.entry.due_at) == datetime(2026, 12, 9, 9, tzinfo=ZONE)
    assert result.decisions[0].verdict is Verdict.WITHDRAWN


def test_moved_soon_after_the_notice_gives_those_not_told_the_short_notice_at_once() -> None:
    # The notice was made at 07:00 for calls from 08:00; the OMS moves the work at 07:30 to
    # the next day: those whose notice call was withdrawn hear of the new date at once.
    now = datetime(2026, 11, 30, 7, 30, tzinfo=ZONE)
    later = datetime(2026, 12, 1, 9, tzinfo=ZONE)
    result = decide(
        state(),
        state(starts=later, ends=later + timedelta(hours=4)),
        frozenset({M.NOTICE}),
        now=now,
    )
    assert result.reason == WITHDRAWN_MOVED
    by_message = {row.entry.message: row for row in result.add}
    short = by_message[M.SHORT_NOTICE]
    assert short.entry.audience is Audience.UNTOLD
    assert short.entry.due_at == now
    assert local(short.entry.window_open) == datetime(2026, 11, 30, 8, tzinfo=ZONE)
    assert short.entry.window_close == later
    assert by_message[M.MOVED].entry.audience is Audience.TOLD
    assert M.NOTICE not in by_message


def test_moved_before_anyone_was_told_is_a_fresh_schedule() -> None:
    later = STARTS + timedelta(days=7)
    result = decide(state(), state(starts=later, ends=later + timedelta(hours=4)))
    assert result.withdraw == ALL
    assert result.reason == WITHDRAWN_RESCHEDULED
    assert messages(result) == [M.NOTICE, M.REMINDER, M.ALL_CLEAR]
    assert local(result.add[0].entry.due_at) == datetime(2026, 12, 7, 9, tzinfo=ZONE)


def test_cancelled_after_the_notice_tells_those_told_of_the_work_as_it_was() -> None:
    now = datetime(2026, 12, 1, 11, tzinfo=ZONE)
    result = decide(state(), state(OutageStatus.CANCELLED), frozenset({M.NOTICE}), now=now)
    assert result.withdraw == ALL
    assert result.reason == WITHDRAWN_CANCELLED
    assert messages(result) == [M.CANCELLED]
    assert result.add[0].entry.audience is Audience.TOLD
    assert result.add[0].details["starts_at"] == "2026-12-03T15:00:00+00:00"


def test_cancelled_before_anyone_was_told_only_withdraws() -> None:
    result = decide(state(), state(OutageStatus.CANCELLED))
    assert result.withdraw == ALL
    assert not result.add
    # Written again while cancelled: nothing more.
    again = decide(state(OutageStatus.CANCELLED), state(OutageStatus.CANCELLED))
    assert again == NO_CHANGE


def test_premises_added_after_the_notice_get_it_at_once() -> None:
    now = datetime(2026, 12, 1, 11, tzinfo=ZONE)
    before, after = state(), state(premises=("P1", "P2", "P3"))
    result = decide(before, after, frozenset({M.NOTICE}), now=now)
    assert not result.withdraw
    assert messages(result) == [M.SHORT_NOTICE]
    row = result.add[0]
    assert row.entry.audience is Audience.ADDED
    assert row.premises == ("P3",)
    assert row.entry.due_at == now
    assert row.entry.window_close == STARTS
    # Before the notice went, the notice to come reaches them with everyone.
    assert decide(before, after, now=now) == NO_CHANGE


def test_restored_sends_the_all_clear_at_once_saying_power_is_back() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=ZONE)
    result = decide(
        state(OutageStatus.CREW_ON_SITE),
        state(OutageStatus.RESTORED),
        frozenset({M.NOTICE, M.REMINDER}),
        now=now,
    )
    assert result.withdraw == ALL
    assert result.reason == WITHDRAWN_RESTORED
    assert messages(result) == [M.ALL_CLEAR]
    assert result.add[0].entry.due_at == now
    assert result.add[0].details["restored"] == "yes"
    # After the all-clear at the work's end went: nothing more to say.
    late = decide(
        state(), state(OutageStatus.RESTORED), frozenset({M.NOTICE, M.ALL_CLEAR}), now=now
    )
    assert not late.add
    assert late.withdraw == ALL
    off = decide(
        state(), state(OutageStatus.RESTORED), now=now, rules=PlannedRules(all_clear=False)
    )
    assert not off.add


def test_restored_before_anyone_was_told_sends_no_all_clear() -> None:
    # Fed five days ahead, marked restored the next day before any notice went.
    now = FED + timedelta(days=1)
    result = decide(state(), state(OutageStatus.RESTORED), now=now)
    assert result.withdraw == ALL
    assert not result.add
    assert [d.verdict for d in result.decisions] == [Verdict.WITHDRAWN, Verdict.SKIPPED]


def _fault_with_times(status: OutageStatus) -> OutageState:
    return OutageState(
        status=status,
        cause="storm",
        etr=None,
        premise_ids=("P1", "P2"),
        feeder_ids=(),
        planned=False,
        starts_at=STARTS.astimezone(UTC),
        ends_at=ENDS.astimezone(UTC),
    )


def test_an_ordinary_outage_carrying_times_gets_nothing_from_the_schedule() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=ZONE)
    fault = _fault_with_times(OutageStatus.CONFIRMED)
    for status in (OutageStatus.RESTORED, OutageStatus.CANCELLED):
        after = _fault_with_times(status)
        assert decide(fault, after, now=now) == NO_CHANGE
        assert decide(fault, after, frozenset({M.NOTICE}), now=now) == NO_CHANGE


def test_planned_work_turned_ordinary_then_restored_gets_only_the_outage_rules_all_clear() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=ZONE)
    fault = _fault_with_times(OutageStatus.CONFIRMED)
    assert decide(state(), fault, frozenset({M.NOTICE}), now=now).reason == WITHDRAWN_UNPLANNED
    restored = decide(fault, _fault_with_times(OutageStatus.RESTORED), frozenset({M.NOTICE}))
    assert restored == NO_CHANGE
    cancelled = decide(fault, _fault_with_times(OutageStatus.CANCELLED), frozenset({M.NOTICE}))
    assert cancelled == NO_CHANGE


def test_a_new_bad_weather_date_is_spoken_by_the_messages_still_to_make() -> None:
    alternate = datetime(2026, 12, 5, 9, tzinfo=ZONE)
    result = decide(state(), state(alternate=alternate), frozenset({M.NOTICE}))
    assert result.alternate == "2026-12-05T15:00:00+00:00"
    assert not result.withdraw and not result.add
    cleared = decide(state(alternate=alternate), state())
    assert cleared.alternate == ""


def test_changes_stored_before_planned_times_were_kept_read_as_none() -> None:
    raw: dict[str, Any] = change(None, state()).as_json()
    for name in (
        "starts_at_before",
        "starts_at",
        "ends_at_before",
        "ends_at",
        "alternate_before",
        "alternate",
    ):
        del raw[name]
    old = OutageChange.from_json(raw)
    assert (old.starts_at, old.ends_at, old.alternate) == (None, None, None)
    assert planned_change(old, frozenset(), RULES, now=FED, timezone=CHICAGO, window=WINDOW) == (
        NO_CHANGE
    )


def test_the_outage_rules_leave_planned_work_s_all_clear_to_its_schedule() -> None:
    restored = change(state(OutageStatus.CREW_ON_SITE), state(OutageStatus.RESTORED))
    outcome = on_change(AutomationState(), restored, event_id=2, rules=AutomationRules(), now=ENDS)
    assert not [a for a in outcome.actions if isinstance(a, PlanCampaign)]
    # No "nobody was told: no all-clear" in the ledger: the schedule's all-clear goes.
    assert not [d for d in outcome.decisions if d.verdict is Verdict.SKIPPED]


def test_work_the_oms_no_longer_calls_planned_loses_its_messages_not_made() -> None:
    fault = OutageState(
        status=OutageStatus.CONFIRMED,
        cause="storm",
        etr=None,
        premise_ids=("P1", "P2"),
        feeder_ids=(),
        planned=False,
        starts_at=None,
        ends_at=None,
    )
    result = decide(state(), fault, frozenset({M.NOTICE}))
    assert result.withdraw == ALL
    assert result.reason == WITHDRAWN_UNPLANNED
    assert not result.add
    # An outage that was never planned work has no schedule to lose.
    assert decide(fault, fault) == NO_CHANGE
