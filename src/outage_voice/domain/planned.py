"""Planned outages: when the customers of planned work hear about it, and what a change to
the work sends.

Pure. The OMS feeds planned work (`"planned": true`, `starts_at`, `ends_at`, perhaps an
`alternate_starts_at` for bad weather); `schedule` answers the messages it gets and when:
a notice days ahead (a shorter-notice message at once when the work was fed too late for
it), a reminder the day before inside the calling window, optionally a word when it starts,
and the all-clear at its end when the OMS has not said restored by then. `replan` answers
what a move or a cancellation withdraws and adds; `for_newcomers` what premises added to
the work get. Times of day are kept on the utility's local clock: "three days before" is the
same local time three days earlier, across a daylight-saving change too.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from outage_voice.domain.prompts import (
    Catalog,
    Day,
    Duration,
    Moment,
    Segment,
    WorkWindow,
    render,
)
from outage_voice.domain.rule_fields import (
    DAY_S,
    boolean,
    json_object,
    mapping,
    seconds,
    stored_flag,
    stored_whole,
)
from outage_voice.domain.windows import DailyWindow

# Bounds a supervisor's planned-work rules are kept within: past them a value is a typo.
MAX_NOTICE_S = 30 * DAY_S
MAX_LONG_WORK_S = 7 * DAY_S
MAX_REMINDER_S = 7 * DAY_S
# A message with no deadline of its own (an all-clear, a cancellation) is not worth making
# once a day has passed since it could first be made.
STALE_AFTER_S = DAY_S


class PlannedMessage(StrEnum):
    NOTICE = "notice"
    SHORT_NOTICE = "short_notice"
    REMINDER = "reminder"
    STARTING = "starting"
    ALL_CLEAR = "all_clear"
    MOVED = "moved"
    CANCELLED = "cancelled"


# Messages that tell a customer the work is coming: who heard one is "told", and hears of a
# move or a cancellation.
TELLING = frozenset(
    {
        PlannedMessage.NOTICE,
        PlannedMessage.SHORT_NOTICE,
        PlannedMessage.REMINDER,
        PlannedMessage.STARTING,
        PlannedMessage.MOVED,
    }
)
_NOTICES = frozenset({PlannedMessage.NOTICE, PlannedMessage.SHORT_NOTICE, PlannedMessage.MOVED})

# The catalog message each one speaks (prompts/<lang>.toml).
MESSAGE_KEYS: Mapping[PlannedMessage, str] = {
    PlannedMessage.NOTICE: "planned_advance_notice",
    PlannedMessage.SHORT_NOTICE: "planned_short_notice",
    PlannedMessage.REMINDER: "planned_reminder",
    PlannedMessage.STARTING: "planned_starting",
    PlannedMessage.ALL_CLEAR: "planned_all_clear",
    PlannedMessage.MOVED: "planned_moved",
    PlannedMessage.CANCELLED: "planned_cancelled",
}
ALTERNATE_KEY = "planned_alternate"
RESTORED_KEY = "restored"


class Audience(StrEnum):
    EVERYONE = "everyone"  # every customer on the work when the message is made
    TOLD = "told"  # those a telling message reached (a move, a cancellation)
    ADDED = "added"  # premises the OMS added after the others were told
    # Everyone on the work whom no telling message reached (moved work: the new date's notice)
    UNTOLD = "untold"


# --- the supervisor's rules ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedRules:
    notice_before_s: int = 3 * DAY_S
    # Work longer than this is announced at least long_work_notice_s ahead, whatever
    # notice_before_s says.
    long_work_s: int = 3600
    long_work_notice_s: int = 2 * DAY_S
    reminder_before_s: int = DAY_S  # 0: no reminder
    starting_now: bool = False
    all_clear: bool = True

    def notice_lead_s(self, duration_s: float) -> int:
        if duration_s > self.long_work_s:
            return max(self.notice_before_s, self.long_work_notice_s)
        return self.notice_before_s

    def as_json(self) -> dict[str, Any]:
        """The `planned` section of `GET /api/v1/automation`, every field present."""
        return {
            "notice_before_s": self.notice_before_s,
            "long_work_s": self.long_work_s,
            "long_work_notice_s": self.long_work_notice_s,
            "reminder_before_s": self.reminder_before_s,
            "starting_now": self.starting_now,
            "all_clear": self.all_clear,
        }


_SECONDS_FIELDS: Mapping[str, int] = {
    "notice_before_s": MAX_NOTICE_S,
    "long_work_s": MAX_LONG_WORK_S,
    "long_work_notice_s": MAX_NOTICE_S,
    "reminder_before_s": MAX_REMINDER_S,
}
_FLAG_FIELDS = ("starting_now", "all_clear")
_PLANNED_FIELDS = frozenset({*_SECONDS_FIELDS, *_FLAG_FIELDS})


def merge_planned(current: PlannedRules, patch: object, *, path: str = "planned") -> PlannedRules:
    """A supervisor's partial `planned` section merged into the current rules. Raises
    InvalidField naming the dotted path of the first bad or unknown field
    (`planned.notice_before_s`)."""
    section = json_object(patch, path, known=_PLANNED_FIELDS, prefix=f"{path}.")
    changes: dict[str, Any] = {}
    for name, most in _SECONDS_FIELDS.items():
        if name in section:
            changes[name] = seconds(section, f"{path}.{name}", most)
    for name in _FLAG_FIELDS:
        if name in section:
            changes[name] = boolean(section, f"{path}.{name}")
    return replace(current, **changes)


def planned_from_json(raw: object) -> PlannedRules:
    """Rules as stored (a section `as_json` wrote, perhaps by an older server): what it lacks,
    or holds of the wrong kind or out of bounds, reads as the default."""
    section, default = mapping(raw), PlannedRules()
    values: dict[str, Any] = {}
    for name, most in _SECONDS_FIELDS.items():
        value = stored_whole(section, name, getattr(default, name))
        values[name] = value if 0 <= value <= most else getattr(default, name)
    for name in _FLAG_FIELDS:
        values[name] = stored_flag(section, name, getattr(default, name))
    return PlannedRules(**values)


# --- the work and its schedule -------------------------------------------------------------


def require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


@dataclass(frozen=True, kw_only=True, slots=True)
class PlannedWork:
    starts_at: datetime
    ends_at: datetime
    timezone: str  # the utility's (IANA): schedules keep its local clock
    alternate_starts_at: datetime | None = None  # the bad-weather date; same duration

    def __post_init__(self) -> None:
        for name in ("starts_at", "ends_at", "alternate_starts_at"):
            require_aware(name, getattr(self, name))
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        ZoneInfo(self.timezone)  # an unknown zone fails here, not at the first tick

    @property
    def duration_s(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds()

    def same_time(self, other: PlannedWork) -> bool:
        return (self.starts_at, self.ends_at) == (other.starts_at, other.ends_at)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleEntry:
    """One message to make: its campaign starts at `due_at` (a missed tick makes it late,
    never lost); its calls are placed from `window_open` and not after `window_close`, when
    the message would be stale (a notice once the work has started)."""

    message: PlannedMessage
    due_at: datetime
    window_open: datetime
    window_close: datetime
    audience: Audience = Audience.EVERYONE

    def __post_init__(self) -> None:
        for name in ("due_at", "window_open", "window_close"):
            require_aware(name, getattr(self, name))


@dataclass(frozen=True, kw_only=True, slots=True)
class Replan:
    """What a change to the work does: the messages whose entries not yet made are withdrawn,
    and the entries to add (the new schedule, and a word to those already told)."""

    withdraw: frozenset[PlannedMessage]
    add: tuple[ScheduleEntry, ...]


_NOTHING = Replan(withdraw=frozenset(), add=())


def schedule(
    work: PlannedWork,
    rules: PlannedRules,
    *,
    fed_at: datetime,
    now: datetime,
    window: DailyWindow,
) -> tuple[ScheduleEntry, ...]:
    """The messages planned work gets, in the order they are due. `fed_at` is when the OMS
    first sent it (too late for the notice: the short-notice message, at once); entries that
    can no longer be made usefully at `now` are left out."""
    require_aware("fed_at", fed_at)
    require_aware("now", now)
    notice = _notice(work, rules, fed_at=fed_at, window=window)
    return _schedule_from(work, rules, first_told=notice, now=now, window=window)


def _schedule_from(
    work: PlannedWork,
    rules: PlannedRules,
    *,
    first_told: ScheduleEntry | None,
    now: datetime,
    window: DailyWindow,
) -> tuple[ScheduleEntry, ...]:
    zone = ZoneInfo(work.timezone)
    entries: list[ScheduleEntry] = []
    if first_told is not None and first_told.message is not PlannedMessage.MOVED:
        entries.append(first_told)
    told_day = None if first_told is None else first_told.window_open.astimezone(zone).date()
    reminder = _reminder(work, rules, window)
    # Nobody is reminded on the day they were first told (or after): it would be twice in a day.
    if reminder is not None and told_day is not None and told_day < _local_day(reminder, zone):
        entries.append(reminder)
    if rules.starting_now:
        opens = window.next_open(work.starts_at, work.timezone)
        if opens < work.ends_at:
            entries.append(
                ScheduleEntry(
                    message=PlannedMessage.STARTING,
                    due_at=work.starts_at,
                    window_open=opens,
                    window_close=work.ends_at,
                )
            )
    if rules.all_clear:
        entries.append(at_once(PlannedMessage.ALL_CLEAR, work.ends_at, window, work.timezone))
    return tuple(
        sorted((e for e in entries if e.window_close > now), key=lambda e: (e.due_at, e.message))
    )


def _notice(
    work: PlannedWork, rules: PlannedRules, *, fed_at: datetime, window: DailyWindow
) -> ScheduleEntry | None:
    notice_at = _local_minus(work.starts_at, rules.notice_lead_s(work.duration_s), work.timezone)
    message, due = PlannedMessage.NOTICE, notice_at
    if fed_at > notice_at:
        message, due = PlannedMessage.SHORT_NOTICE, fed_at
    opens = window.next_open(due, work.timezone)
    if opens >= work.starts_at:
        return None  # no calling hour is left before the work starts
    return ScheduleEntry(
        message=message, due_at=due, window_open=opens, window_close=work.starts_at
    )


def _reminder(work: PlannedWork, rules: PlannedRules, window: DailyWindow) -> ScheduleEntry | None:
    """The day before, inside that day's calling window (at its opening when the same time of
    day falls outside it)."""
    if rules.reminder_before_s <= 0:
        return None
    zone = ZoneInfo(work.timezone)
    at = _local_minus(work.starts_at, rules.reminder_before_s, work.timezone)
    opens, closes = _day_window(at.astimezone(zone).date(), window, zone)
    due = at if opens <= at < closes else opens
    closes = min(closes, work.starts_at)
    if due >= closes:
        return None
    return ScheduleEntry(
        message=PlannedMessage.REMINDER, due_at=due, window_open=due, window_close=closes
    )


def at_once(
    message: PlannedMessage,
    at: datetime,
    window: DailyWindow,
    timezone: str,
    *,
    closes: datetime | None = None,
    audience: Audience = Audience.EVERYONE,
) -> ScheduleEntry:
    opens = window.next_open(at, timezone)
    return ScheduleEntry(
        message=message,
        due_at=at,
        window_open=opens,
        window_close=opens + timedelta(seconds=STALE_AFTER_S) if closes is None else closes,
        audience=audience,
    )


def replan(
    old_work: PlannedWork,
    new_work: PlannedWork | None,
    sent: Set[PlannedMessage],
    rules: PlannedRules,
    *,
    now: datetime,
    window: DailyWindow,
    told: bool | None = None,
) -> Replan:
    """The OMS moved the work (`new_work`) or cancelled it (None). `sent`: the messages
    already made for it; `told`: whether a telling message reached anyone (by default, whether
    one was made). Those told hear of the change; everything not yet made is withdrawn
    and the new schedule takes its place: those told hear "moved" rather than a second
    notice, and everyone else on the work (their notice call withdrawn before it was
    placed, premises added) gets the new date's notice."""
    require_aware("now", now)
    if PlannedMessage.ALL_CLEAR in sent:
        return _NOTHING  # the work is over
    if told is None:
        told = bool(sent & TELLING)
    withdraw = frozenset(PlannedMessage)
    if new_work is None:
        if not told:
            return Replan(withdraw=withdraw, add=())
        cancelled = at_once(
            PlannedMessage.CANCELLED, now, window, old_work.timezone, audience=Audience.TOLD
        )
        return Replan(withdraw=withdraw, add=(cancelled,))
    if new_work.same_time(old_work):
        return _NOTHING  # a new bad-weather date is spoken by the messages still to make
    if not told:
        return Replan(
            withdraw=withdraw, add=schedule(new_work, rules, fed_at=now, now=now, window=window)
        )
    moved = at_once(
        PlannedMessage.MOVED,
        now,
        window,
        new_work.timezone,
        # Once the work has started, "it has been moved to today" is no news.
        closes=new_work.starts_at,
        audience=Audience.TOLD,
    )
    notice = _notice(new_work, rules, fed_at=now, window=window)
    untold = () if notice is None else (replace(notice, audience=Audience.UNTOLD),)
    later = _schedule_from(new_work, rules, first_told=moved, now=now, window=window)
    added = [e for e in (moved, *untold) if e.window_open < e.window_close]
    entries = sorted((*added, *later), key=lambda e: (e.due_at, e.message))
    return Replan(withdraw=withdraw, add=tuple(entries))


def for_newcomers(
    work: PlannedWork,
    rules: PlannedRules,
    sent: Set[PlannedMessage],
    *,
    now: datetime,
    window: DailyWindow,
) -> tuple[ScheduleEntry, ...]:
    """Premises the OMS added to the work: they get the notice at once when the others have
    had theirs (the short-notice wording once the usual notice moment has passed); otherwise
    the notice still to make reaches them with everyone."""
    require_aware("now", now)
    if not sent & _NOTICES or PlannedMessage.ALL_CLEAR in sent:
        return ()
    notice = _notice(work, rules, fed_at=now, window=window)
    if notice is None:
        return ()
    return (
        at_once(
            notice.message,
            now,
            window,
            work.timezone,
            closes=work.starts_at,
            audience=Audience.ADDED,
        ),
    )


# --- the words -------------------------------------------------------------------------------


def message_key(message: PlannedMessage, *, restored: bool = False) -> str:
    """The catalog message to speak; an all-clear after the OMS said restored is the usual
    restoration message, which says power is back rather than that it should be."""
    if message is PlannedMessage.ALL_CLEAR and restored:
        return RESTORED_KEY
    return MESSAGE_KEYS[message]


def planned_words(
    catalog: Catalog,
    message: PlannedMessage,
    work: PlannedWork,
    *,
    address: str,
    timezone: str,
    now: datetime,
    previous: PlannedWork | None = None,
    restored: bool = False,
) -> tuple[Segment, ...]:
    """What a customer hears, in their own time zone (`timezone`). `work` is the work as it
    is now (for a cancellation, as it was); `previous` the work as first told, for a move."""
    span = WorkWindow(starts_at=work.starts_at, ends_at=work.ends_at, timezone=timezone)
    first = previous or work
    variables: dict[str, object] = {
        "address": address,
        "work": span,
        "duration": Duration(seconds=round(work.duration_s)),
        "ends": Moment(at=work.ends_at, timezone=timezone),
        "day": Day(at=first.starts_at, timezone=timezone),
    }
    words = render(catalog, message_key(message, restored=restored), variables, now=now)
    if message in (PlannedMessage.NOTICE, PlannedMessage.SHORT_NOTICE) and (
        work.alternate_starts_at is not None
    ):
        alternate = WorkWindow(
            starts_at=work.alternate_starts_at,
            ends_at=work.alternate_starts_at + (work.ends_at - work.starts_at),
            timezone=timezone,
        )
        words += render(catalog, ALTERNATE_KEY, {"alternate": alternate}, now=now)
    return words


# --- the local clock -------------------------------------------------------------------------


def _local_minus(at: datetime, seconds: int, timezone: str) -> datetime:
    """`seconds` before `at` on the local clock: three days before 09:00 is 09:00, even when
    a daylight-saving change lies between. A local time skipped by the change resolves
    forward; a repeated one is its first occurrence."""
    zone = ZoneInfo(timezone)
    wall = at.astimezone(zone).replace(tzinfo=None) - timedelta(seconds=seconds)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _on_clock(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def _day_window(day: date, window: DailyWindow, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The calling window that opens on `day`, local to `zone` (a window past midnight closes
    the next day)."""
    opens = _on_clock(day, window.opens, zone)
    closes_day = day if window.opens < window.closes else day + timedelta(days=1)
    return opens, _on_clock(closes_day, window.closes, zone)


def _local_day(entry: ScheduleEntry, zone: ZoneInfo) -> date:
    return entry.window_open.astimezone(zone).date()
