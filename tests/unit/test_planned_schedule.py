"""Planned work: its schedule of messages (notice, short notice, reminder, start, all-clear),
what a move or a cancellation does, the supervisor's rules and the words customers hear.
Pure and on virtual time: every function is given `now`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.domain.errors import InvalidField
from outage_voice.domain.planned import (
    Audience,
    PlannedMessage,
    PlannedRules,
    PlannedWork,
    ScheduleEntry,
    for_newcomers,
    merge_planned,
    message_key,
    planned_from_json,
    planned_words,
    replan,
    schedule,
)
from outage_voice.domain.prompts import Catalog, Duration, render, spoken
from outage_voice.domain.windows import parse_daily_window

CATALOGS = load_catalogs()
EN, ES = CATALOGS["en"], CATALOGS["es"]
CHICAGO = "America/Chicago"
WINDOW = parse_daily_window("08:00-21:00")
RULES = PlannedRules()
M = PlannedMessage
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def local(zone: str, *parts: int) -> datetime:
    year, month, day, hour, *minute = parts
    return datetime(year, month, day, hour, *(minute or [0]), tzinfo=ZoneInfo(zone))


def work(
    starts: datetime, hours: float = 4, *, zone: str = CHICAGO, alternate: datetime | None = None
) -> PlannedWork:
    return PlannedWork(
        starts_at=starts.astimezone(UTC),
        ends_at=(starts + timedelta(hours=hours)).astimezone(UTC),
        timezone=zone,
        alternate_starts_at=alternate,
    )


# Thursday, December 3rd, 2026, 09:00-13:00 in Chicago (15:00-19:00 UTC).
THURSDAY = work(local(CHICAGO, 2026, 12, 3, 9))


def plan(planned: PlannedWork, *, fed_at: datetime, now: datetime | None = None, **rules: object):
    return schedule(
        planned,
        replace(RULES, **rules),
        fed_at=fed_at,
        now=fed_at if now is None else now,
        window=WINDOW,
    )


def by_message(entries: tuple[ScheduleEntry, ...]) -> dict[PlannedMessage, ScheduleEntry]:
    found = {entry.message: entry for entry in entries}
    assert len(found) == len(entries)
    return found


def in_zone(moment: datetime, zone: str = CHICAGO) -> tuple[int, int, int, int, int]:
    at = moment.astimezone(ZoneInfo(zone))
    return (at.year, at.month, at.day, at.hour, at.minute)


# --- the rules ---------------------------------------------------------------------------------


def test_defaults_and_their_document() -> None:
    assert RULES.as_json() == {
        "notice_before_s": 259200,
        "long_work_s": 3600,
        "long_work_notice_s": 172800,
        "reminder_before_s": 86400,
        "starting_now": False,
        "all_clear": True,
    }
    assert planned_from_json(None) == RULES
    assert planned_from_json(RULES.as_json()) == RULES
    changed = replace(RULES, notice_before_s=86400, starting_now=True)
    assert planned_from_json(changed.as_json()) == changed
    # A document edited by hand: what is wrong reads as the default, the rest is kept.
    assert planned_from_json(
        {"notice_before_s": "soon", "reminder_before_s": -5, "all_clear": False}
    ) == replace(RULES, all_clear=False)


def test_a_supervisors_partial_section_is_merged() -> None:
    merged = merge_planned(RULES, {"notice_before_s": 86400, "starting_now": True})
    assert merged == replace(RULES, notice_before_s=86400, starting_now=True)
    assert merge_planned(merged, {}) == merged
    assert merge_planned(merged, {"reminder_before_s": 0}).reminder_before_s == 0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"notice_before": 86400}, "planned.notice_before"),
        ({"reminder": {"enabled": True}}, "planned.reminder"),
        ({"notice_before_s": -1}, "planned.notice_before_s"),
        ({"notice_before_s": 31 * 86400}, "planned.notice_before_s"),
        ({"long_work_s": 1.5}, "planned.long_work_s"),
        ({"long_work_notice_s": True}, "planned.long_work_notice_s"),
        ({"reminder_before_s": "86400"}, "planned.reminder_before_s"),
        ({"starting_now": "yes"}, "planned.starting_now"),
        ({"all_clear": 1}, "planned.all_clear"),
        ("notice_before_s=86400", "planned"),
        ([], "planned"),
    ],
)
def test_a_bad_or_unknown_field_is_named_by_its_dotted_path(patch: object, field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        merge_planned(RULES, patch)
    assert caught.value.field == field


# --- the schedule ------------------------------------------------------------------------------


def test_work_fed_five_days_ahead_gets_notice_reminder_and_all_clear() -> None:
    fed = THURSDAY.starts_at - 5 * DAY
    entries = plan(THURSDAY, fed_at=fed)
    assert [entry.message for entry in entries] == [M.NOTICE, M.REMINDER, M.ALL_CLEAR]
    notice, reminder, all_clear = entries
    # Three days ahead at the same local time, callable until the work starts.
    assert in_zone(notice.due_at) == (2026, 11, 30, 9, 0)
    assert (notice.window_open, notice.window_close) == (notice.due_at, THURSDAY.starts_at)
    # The day before, within that day's calling window.
    assert in_zone(reminder.due_at) == (2026, 12, 2, 9, 0)
    assert in_zone(reminder.window_close) == (2026, 12, 2, 21, 0)
    # The fallback all-clear at the end of the work.
    assert all_clear.due_at == THURSDAY.ends_at
    assert all(entry.audience is Audience.EVERYONE for entry in entries)
    # The schedule is the same whenever it is worked out again, until entries go stale.
    assert plan(THURSDAY, fed_at=fed, now=fed + 3 * DAY) == entries
    assert plan(THURSDAY, fed_at=fed, now=THURSDAY.starts_at + HOUR) == (all_clear,)


def test_work_fed_thirty_hours_ahead_gets_the_short_notice_at_once_and_no_reminder() -> None:
    fed = THURSDAY.starts_at - 30 * HOUR  # Wednesday 03:00 in Chicago
    entries = plan(THURSDAY, fed_at=fed)
    assert [entry.message for entry in entries] == [M.SHORT_NOTICE, M.ALL_CLEAR]
    short = entries[0]
    assert short.due_at == fed
    # Calls wait for the calling window; the reminder would be the same day: left out.
    assert in_zone(short.window_open) == (2026, 12, 2, 8, 0)
    assert short.window_close == THURSDAY.starts_at


def test_no_reminder_in_the_past_and_no_notice_after_the_work_started() -> None:
    late = THURSDAY.starts_at - 11 * HOUR  # Wednesday 22:00: that day's window has closed
    entries = plan(THURSDAY, fed_at=late)
    assert [entry.message for entry in entries] == [M.SHORT_NOTICE, M.ALL_CLEAR]
    assert in_zone(entries[0].window_open) == (2026, 12, 3, 8, 0)
    early = work(local(CHICAGO, 2026, 12, 3, 7, 30))
    # Fed at 01:00 for 07:30: no calling hour is left before it starts.
    assert [e.message for e in plan(early, fed_at=early.starts_at - 6.5 * HOUR)] == [M.ALL_CLEAR]


def test_work_over_an_hour_is_announced_at_least_two_days_ahead() -> None:
    long_job = THURSDAY
    short_job = work(local(CHICAGO, 2026, 12, 3, 9), hours=0.5)
    fed = THURSDAY.starts_at - 5 * DAY
    one_day = {"notice_before_s": 86400}
    assert in_zone(plan(long_job, fed_at=fed, **one_day)[0].due_at) == (2026, 12, 1, 9, 0)
    assert in_zone(plan(short_job, fed_at=fed, **one_day)[0].due_at) == (2026, 12, 2, 9, 0)
    # The reminder is not made the day the notice is.
    assert [e.message for e in plan(short_job, fed_at=fed, **one_day)] == [M.NOTICE, M.ALL_CLEAR]
    # Fed 40 h ahead: in time for the short job's notice, too late for the long one's.
    fed = THURSDAY.starts_at - 40 * HOUR
    assert plan(long_job, fed_at=fed, **one_day)[0].message is M.SHORT_NOTICE
    assert plan(short_job, fed_at=fed, **one_day)[0].message is M.NOTICE
    # Exactly an hour is not long work; the default notice (3 days) is longer anyway.
    hour_job = work(local(CHICAGO, 2026, 12, 3, 9), hours=1)
    assert in_zone(plan(hour_job, fed_at=fed - 5 * DAY, **one_day)[0].due_at) == (
        2026,
        12,
        2,
        9,
        0,
    )


@pytest.mark.parametrize("zone", [CHICAGO, "America/Los_Angeles", "Europe/Madrid"])
def test_the_reminder_is_the_day_before_inside_the_calling_window(zone: str) -> None:
    def reminder(starts: datetime) -> ScheduleEntry:
        planned = work(starts, zone=zone)
        return by_message(plan(planned, fed_at=planned.starts_at - 10 * DAY))[M.REMINDER]

    assert in_zone(reminder(local(zone, 2026, 12, 3, 9)).due_at, zone) == (2026, 12, 2, 9, 0)
    # 06:00 work: reminded when the window opens the day before, not at 06:00.
    early = reminder(local(zone, 2026, 12, 3, 6))
    assert in_zone(early.due_at, zone) == (2026, 12, 2, 8, 0)
    assert in_zone(early.window_close, zone) == (2026, 12, 2, 21, 0)
    # 23:00 work: the same time the day before is past the window: its opening, that day.
    assert in_zone(reminder(local(zone, 2026, 12, 3, 23)).due_at, zone) == (2026, 12, 2, 8, 0)


def test_local_times_stay_right_across_the_autumn_change() -> None:
    # Chicago falls back on Sunday 2026-11-01 at 02:00; the work is Monday 09:00 CST.
    monday = work(local(CHICAGO, 2026, 11, 2, 9))
    assert monday.starts_at == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    entries = by_message(plan(monday, fed_at=monday.starts_at - 10 * DAY))
    notice, reminder = entries[M.NOTICE], entries[M.REMINDER]
    assert in_zone(notice.due_at) == (2026, 10, 30, 9, 0)  # Friday, still CDT
    assert notice.due_at == datetime(2026, 10, 30, 14, 0, tzinfo=UTC)  # 73 h before, not 72
    assert in_zone(reminder.due_at) == (2026, 11, 1, 9, 0)  # Sunday, after the change
    assert spoken(
        planned_words(EN, M.NOTICE, monday, address="9 Elm", timezone=CHICAGO, now=notice.due_at)
    ).startswith(
        "Planned maintenance will turn off power at 9 Elm on Monday, November second, "
        "from nine A M to about one P M."
    )


def test_local_times_stay_right_across_the_spring_change() -> None:
    # Chicago springs forward on Sunday 2026-03-08 at 02:00; the work is Monday 09:00 CDT.
    monday = work(local(CHICAGO, 2026, 3, 9, 9))
    entries = by_message(plan(monday, fed_at=monday.starts_at - 10 * DAY))
    assert in_zone(entries[M.NOTICE].due_at) == (2026, 3, 6, 9, 0)
    assert entries[M.NOTICE].due_at == datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # 71 h before
    assert in_zone(entries[M.REMINDER].due_at) == (2026, 3, 8, 9, 0)
    assert entries[M.REMINDER].due_at == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)
    # A calling window opening at a time the change skips opens at the first instant after.
    small_hours = parse_daily_window("02:30-21:00")
    at_one = work(local(CHICAGO, 2026, 3, 9, 1))  # Monday 01:00: reminded on Sunday the 8th
    fed = at_one.starts_at - 10 * DAY
    entries = schedule(at_one, RULES, fed_at=fed, now=fed, window=small_hours)
    reminder = by_message(entries)[M.REMINDER]
    assert in_zone(reminder.due_at) == (2026, 3, 8, 3, 30)


def test_starting_is_optional_and_said_inside_the_calling_window() -> None:
    fed = THURSDAY.starts_at - 5 * DAY
    starting = by_message(plan(THURSDAY, fed_at=fed, starting_now=True))[M.STARTING]
    assert (starting.due_at, starting.window_open) == (THURSDAY.starts_at, THURSDAY.starts_at)
    assert starting.window_close == THURSDAY.ends_at
    dawn = work(local(CHICAGO, 2026, 12, 3, 6), hours=1)  # over before the window opens
    assert M.STARTING not in by_message(plan(dawn, fed_at=fed, starting_now=True))
    assert M.ALL_CLEAR not in by_message(plan(THURSDAY, fed_at=fed, all_clear=False))
    assert M.REMINDER not in by_message(plan(THURSDAY, fed_at=fed, reminder_before_s=0))


def test_times_must_be_aware() -> None:
    naive = datetime(2026, 12, 3, 9, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        PlannedWork(starts_at=naive, ends_at=naive + HOUR, timezone=CHICAGO)
    with pytest.raises(ValueError, match="timezone-aware"):
        schedule(THURSDAY, RULES, fed_at=naive, now=THURSDAY.starts_at, window=WINDOW)
    with pytest.raises(ValueError, match="after starts_at"):
        PlannedWork(starts_at=THURSDAY.ends_at, ends_at=THURSDAY.starts_at, timezone=CHICAGO)


# --- changes -----------------------------------------------------------------------------------

# Tuesday, December 1st, noon in Chicago: Thursday's notice has gone out.
NOW = local(CHICAGO, 2026, 12, 1, 12).astimezone(UTC)
TUESDAY_NEXT = work(local(CHICAGO, 2026, 12, 8, 9))


def move(new: PlannedWork | None, sent: set[PlannedMessage]):
    return replan(THURSDAY, new, sent, RULES, now=NOW, window=WINDOW)


def test_moved_work_tells_those_told_and_shifts_the_schedule() -> None:
    result = move(TUESDAY_NEXT, {M.NOTICE})
    assert result.withdraw == frozenset(PlannedMessage)  # nothing of Thursday's plan is made
    moved, *later = result.add
    assert (moved.message, moved.audience, moved.due_at) == (M.MOVED, Audience.TOLD, NOW)
    # Closed when the new date's work starts: "moved to today" is no news by then.
    assert moved.window_open == NOW and moved.window_close == TUESDAY_NEXT.starts_at
    # No second notice for those told: the move was their notice. Those not told get the new
    # date's notice at its usual moment; the rest moves with the work.
    assert [(e.message, e.audience, in_zone(e.due_at)) for e in later] == [
        (M.NOTICE, Audience.UNTOLD, (2026, 12, 5, 9, 0)),
        (M.REMINDER, Audience.EVERYONE, (2026, 12, 7, 9, 0)),
        (M.ALL_CLEAR, Audience.EVERYONE, (2026, 12, 8, 13, 0)),
    ]
    assert [(e.message, in_zone(e.due_at)) for e in later[1:]] == [
        (M.REMINDER, (2026, 12, 7, 9, 0)),
        (M.ALL_CLEAR, (2026, 12, 8, 13, 0)),
    ]
    # Nobody told yet: just the new schedule, its notice three days before the new date.
    quiet = move(TUESDAY_NEXT, set())
    assert [(e.message, in_zone(e.due_at)) for e in quiet.add] == [
        (M.NOTICE, (2026, 12, 5, 9, 0)),
        (M.REMINDER, (2026, 12, 7, 9, 0)),
        (M.ALL_CLEAR, (2026, 12, 8, 13, 0)),
    ]
    assert all(e.audience is Audience.EVERYONE for e in quiet.add)


def test_moved_sooner_has_no_reminder_the_day_of_the_move() -> None:
    tomorrow = work(local(CHICAGO, 2026, 12, 2, 9))
    result = move(tomorrow, {M.NOTICE})
    assert [(e.message, e.audience) for e in result.add] == [
        (M.MOVED, Audience.TOLD),
        (M.SHORT_NOTICE, Audience.UNTOLD),  # too late for the usual notice: at once
        (M.ALL_CLEAR, Audience.EVERYONE),
    ]
    # Not told yet, and now too late for the usual notice: the short one, at once.
    assert [e.message for e in move(tomorrow, set()).add] == [M.SHORT_NOTICE, M.ALL_CLEAR]


def test_the_same_hours_or_only_a_new_bad_weather_date_send_nothing() -> None:
    rainy = replace(THURSDAY, alternate_starts_at=TUESDAY_NEXT.starts_at)
    assert move(rainy, {M.NOTICE}).withdraw == frozenset()
    assert move(rainy, {M.NOTICE}).add == ()


def test_cancelled_work_tells_only_those_told() -> None:
    result = move(None, {M.NOTICE})
    assert result.withdraw == frozenset(PlannedMessage)
    (cancelled,) = result.add
    assert (cancelled.message, cancelled.audience) == (M.CANCELLED, Audience.TOLD)
    assert cancelled.due_at == NOW
    silent = move(None, set())
    assert (silent.withdraw, silent.add) == (frozenset(PlannedMessage), ())
    over = move(None, {M.NOTICE, M.REMINDER, M.ALL_CLEAR})
    assert (over.withdraw, over.add) == (frozenset(), ())


def test_premises_added_after_the_notice_get_it_at_once() -> None:
    (added,) = for_newcomers(THURSDAY, RULES, {M.NOTICE}, now=NOW, window=WINDOW)
    assert (added.message, added.audience, added.due_at) == (M.SHORT_NOTICE, Audience.ADDED, NOW)
    assert added.window_close == THURSDAY.starts_at
    early = NOW - 2 * DAY  # before Thursday's usual notice moment: the usual wording
    (on_time,) = for_newcomers(THURSDAY, RULES, {M.NOTICE}, now=early, window=WINDOW)
    assert (on_time.message, on_time.due_at, on_time.window_open) == (M.NOTICE, early, early)
    # The notice has not gone out: it will reach them with everyone.
    assert for_newcomers(THURSDAY, RULES, set(), now=NOW, window=WINDOW) == ()


# --- the words ---------------------------------------------------------------------------------

RAINY = replace(THURSDAY, alternate_starts_at=local(CHICAGO, 2026, 12, 4, 9).astimezone(UTC))
WHEN_EN = "Thursday, December third, from nine A M to about one P M"
WHEN_ES = (
    "el jueves tres de diciembre, de las nueve de la mañana a aproximadamente la una de la tarde"
)


def words(catalog: Catalog, message: PlannedMessage, planned: PlannedWork, **kw: object) -> str:
    return spoken(
        planned_words(
            catalog, message, planned, address="12 Oak Street", timezone=CHICAGO, now=NOW, **kw
        )
    )


def test_the_notice_in_english() -> None:
    assert words(EN, M.NOTICE, RAINY) == (
        f"Planned maintenance will turn off power at 12 Oak Street on {WHEN_EN}. "
        "It should take about four hours, and may end earlier or later than planned. "
        "We are letting you know now so you can plan for the time without power. "
        "If the weather does not allow the work that day, it will be done on "
        "Friday, December fourth, from nine A M to about one P M instead."
    )
    assert words(EN, M.SHORT_NOTICE, THURSDAY).endswith(
        "This is shorter notice than we usually give."
    )


def test_the_notice_in_spanish() -> None:
    assert words(ES, M.NOTICE, RAINY) == (
        f"Por mantenimiento programado, cortaremos la luz en 12 Oak Street {WHEN_ES}. "
        "Debería durar aproximadamente cuatro horas, y puede terminar antes o después de lo "
        "previsto. Le avisamos con tiempo para que pueda prepararse. Si el clima no permite "
        "hacer el trabajo ese día, se hará el viernes cuatro de diciembre, de las nueve de la "
        "mañana a aproximadamente la una de la tarde."
    )


def test_moves_cancellations_and_the_all_clear_in_both_languages() -> None:
    assert words(EN, M.MOVED, TUESDAY_NEXT, previous=THURSDAY) == (
        "The maintenance planned at 12 Oak Street for Thursday, December third has been "
        "moved to Tuesday, December eighth, from nine A M to about one P M. "
        "The work may end earlier or later than planned."
    )
    assert words(ES, M.MOVED, TUESDAY_NEXT, previous=THURSDAY).startswith(
        "El mantenimiento previsto en 12 Oak Street para el jueves tres de diciembre cambió "
        "de fecha: ahora será el martes ocho de diciembre, de las nueve de la mañana"
    )
    assert words(EN, M.CANCELLED, THURSDAY) == (
        "The maintenance planned at 12 Oak Street for Thursday, December third will not "
        "happen. Power will not be turned off for it."
    )
    assert words(ES, M.CANCELLED, THURSDAY).startswith(
        "El mantenimiento previsto en 12 Oak Street para el jueves tres de diciembre no se hará."
    )
    assert words(EN, M.ALL_CLEAR, THURSDAY) == (
        "The planned maintenance at 12 Oak Street should now be complete. "
        "If your power is still out, press 1."
    )
    assert words(ES, M.ALL_CLEAR, THURSDAY).endswith("Si todavía no tiene luz, oprima 1.")
    # After the OMS said restored, the all-clear says power is back.
    assert message_key(M.ALL_CLEAR, restored=True) == "restored"
    assert words(EN, M.ALL_CLEAR, THURSDAY, restored=True).startswith(
        "Power has been restored at 12 Oak Street."
    )
    starting = spoken(
        planned_words(
            EN, M.STARTING, THURSDAY, address="9 Elm", timezone=CHICAGO, now=THURSDAY.starts_at
        )
    )
    assert "Power will be off until about one P M today." in starting


def test_a_customer_in_another_zone_hears_their_own_times() -> None:
    denver = spoken(
        planned_words(EN, M.REMINDER, THURSDAY, address="9 Elm", timezone="America/Denver", now=NOW)
    )
    assert "on Thursday, December third, from eight A M to about noon." in denver
    overnight = work(local(CHICAGO, 2026, 12, 3, 22), hours=5)
    assert "from ten P M to about three A M on December fourth." in words(EN, M.REMINDER, overnight)
    assert (
        "de las diez de la noche a aproximadamente las tres de la madrugada del cuatro de "
        "diciembre." in words(ES, M.REMINDER, overnight)
    )


@pytest.mark.parametrize(
    ("seconds", "english", "spanish"),
    [
        (20 * 60, "fifteen minutes", "quince minutos"),
        (45 * 60, "forty-five minutes", "cuarenta y cinco minutos"),
        (60 * 60, "an hour", "una hora"),
        (95 * 60, "an hour and a half", "una hora y media"),
        (270 * 60, "four and a half hours", "cuatro horas y media"),
        (21 * 3600, "twenty-one hours", "veintiún horas"),
        (3 * 86400, "three days", "tres días"),
    ],
)
def test_durations_are_said_rounded(seconds: int, english: str, spanish: str) -> None:
    for catalog, expected in ((EN, english), (ES, spanish)):
        probe = replace(catalog, messages={"probe": "{duration}"})
        assert spoken(render(probe, "probe", {"duration": Duration(seconds=seconds)}, now=NOW)) == (
            expected
        )


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_every_planned_message_is_in_the_catalog_and_hedges_its_end(language: str) -> None:
    messages = CATALOGS[language].messages
    caveat = {"en": "earlier or later than planned", "es": "antes o después de lo previsto"}
    for message in PlannedMessage:
        assert message_key(message) in messages
    for key, text in messages.items():
        if "{work}" in text or "{ends}" in text:
            assert caveat[language] in text, key
    press = {"en": "press 1", "es": "oprima 1"}[language]
    assert press in messages[message_key(M.ALL_CLEAR)].lower()
