"""Prompt catalogs and rendering: a message key and its variables become spoken segments.

Catalog text is shared by every customer; the per-customer parts (times, dates, counts,
digits) are built only from catalog fragments. So a million personalised restoration calls
are assembled from a few hundred distinct pieces of audio, synthesized once. Only free text
(a street name, a cause) is a segment of its own; an address's house number is fragments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from string import Formatter
from zoneinfo import ZoneInfo

from outage_voice.domain.addresses import house_number_keys, spoken_address
from outage_voice.domain.errors import DomainError
from outage_voice.domain.numbers import (
    EN_FRAGMENTS,
    ES_FRAGMENTS,
    Approximate,
    _below_thousand_en,
    _below_thousand_es,
    about_en,
    about_es,
)


class CatalogError(DomainError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"prompt catalog: {key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True, kw_only=True, slots=True)
class Catalog:
    language: str
    tts_language: str
    messages: Mapping[str, str]
    fragments: Mapping[str, str]
    causes: Mapping[str, str] = field(default_factory=dict)
    speak_unknown_causes: bool = False

    def cause_words(self, oms_cause: str) -> str | None:
        """How this language says an OMS cause, or None when it is better left unsaid."""
        cleaned = " ".join(oms_cause.split())
        known = self.causes.get(cleaned.lower())
        if known is not None:
            return known
        return cleaned if self.speak_unknown_causes and cleaned else None


@dataclass(frozen=True, kw_only=True, slots=True)
class Segment:
    """One piece of a spoken message. `key` names catalog text shared by every customer;
    free text (an address) has none and is synthesized on its own."""

    text: str
    language: str
    key: str | None
    # What a transcript shows for this piece when it is not `text`: a house number said from
    # fragments shows "4512" on its first piece and nothing on the others.
    shown: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Moment:
    """A point in time, to be spoken in the customer's own time zone."""

    at: datetime
    timezone: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Window:
    starts_at: datetime
    ends_at: datetime
    timezone: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Day:
    """A date said in full ("Thursday, December third"), never "tomorrow": a planned-work
    message heard days later from voicemail still names the right day."""

    at: datetime
    timezone: str


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkWindow:
    """Planned work: its date in full and its hours, the end said as approximate ("Thursday,
    December third, from nine A M to about one P M")."""

    starts_at: datetime
    ends_at: datetime
    timezone: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Duration:
    """How long something should take, said rounded: quarter hours below an hour, half hours
    below two days, then days."""

    seconds: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Seconds:
    """A short span said exactly ("fifteen seconds", "one minute"): how long a caller may
    speak, which a rounded Duration would overstate."""

    seconds: int


# What each placeholder a message may use holds; the renderer fills exactly these.
VARIABLE_TYPES: Mapping[str, type] = {
    "address": str,
    "cause": str,
    "etr": Moment,
    "window": Window,
    # Planned work: its date and hours, the bad-weather date, how long, the day first
    # planned (what a move or a cancellation is about), the end as a moment.
    "work": WorkWindow,
    "alternate": WorkWindow,
    "duration": Duration,
    # A survey's comment cap (1 to 60 s).
    "cap": Seconds,
    "day": Day,
    "ends": Moment,
    "count": int,
    "customers": Approximate,
    "digit": int,
    "phone": str,
}
_FORMATTER = Formatter()


def placeholders(template: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name is not None]


# --- time phrases, per language ------------------------------------------------------


def _local(at: datetime, timezone: str, now: datetime) -> tuple[datetime, int]:
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    return local, (local.date() - now.astimezone(zone).date()).days


def _clock_en(local: datetime) -> list[str]:
    if (local.hour, local.minute) == (12, 0):
        return ["time.noon"]
    if (local.hour, local.minute) == (0, 0):
        return ["time.midnight"]
    keys = [f"hour.{local.hour % 12 or 12}"]
    if local.minute:
        keys.append(f"minute.{local.minute}")
    keys.append("time.am" if local.hour < 12 else "time.pm")
    return keys


def _moment_en(moment: Moment, now: datetime) -> list[str]:
    local, days = _local(moment.at, moment.timezone, now)
    clock = _clock_en(local)
    if days == 1 and clock == ["time.midnight"]:
        return ["time.midnight", "day.tonight"]  # 00:00 tomorrow is "midnight tonight"
    if days <= 0:
        return [*clock, "day.today"]
    if days == 1:
        return [*clock, "day.tomorrow"]
    if days < 7:
        return [f"weekday.{local.weekday()}", "word.at", *clock]
    return [f"month.{local.month}", f"ordinal.{local.day}", "word.at", *clock]


def _day_en(local: datetime, days: int) -> list[str]:
    if days <= 0:
        return ["day.today"]
    if days == 1:
        return ["day.tomorrow"]
    if days < 7:
        return ["word.on", f"weekday.{local.weekday()}"]
    return ["word.on", f"month.{local.month}", f"ordinal.{local.day}"]


def _window_en(window: Window, now: datetime) -> list[str]:
    start, days = _local(window.starts_at, window.timezone, now)
    end, _ = _local(window.ends_at, window.timezone, now)
    return [*_day_en(start, days), "word.from", *_clock_en(start), "word.to", *_clock_en(end)]


def _period_es(hour: int) -> str:
    if hour < 6:
        return "period.early"
    if hour < 12:
        return "period.morning"
    if hour < 20:
        return "period.afternoon"
    return "period.night"


def _hour_es(local: datetime) -> list[str]:
    """ "las cuatro y media de la tarde", with its article, without a preposition."""
    keys = [f"hour.{local.hour % 12 or 12}"]
    if local.minute:
        keys.append(f"minute.{local.minute}")
    keys.append(_period_es(local.hour))
    return keys


def _day_es(local: datetime, days: int) -> list[str]:
    if days <= 0:
        return ["day.today"]
    if days == 1:
        return ["day.tomorrow"]
    if days < 7:
        return [f"weekday.{local.weekday()}"]
    return ["word.the", f"ordinal.{local.day}", "word.of", f"month.{local.month}"]


def _moment_es(moment: Moment, now: datetime) -> list[str]:
    local, days = _local(moment.at, moment.timezone, now)
    if (local.hour, local.minute) == (0, 0) and days == 1:
        return ["day.today", "time.midnight"]  # "hoy a la medianoche"
    if (local.hour, local.minute) == (12, 0):
        clock = ["time.noon"]
    elif (local.hour, local.minute) == (0, 0):
        clock = ["time.midnight"]
    else:
        clock = ["word.at", *_hour_es(local)]
    return [*_day_es(local, days), *clock]


def _bare_es(local: datetime) -> list[str]:
    if (local.hour, local.minute) == (12, 0):
        return ["time.noon_bare"]
    if (local.hour, local.minute) == (0, 0):
        return ["time.midnight_bare"]
    return _hour_es(local)


def _window_es(window: Window, now: datetime) -> list[str]:
    start, days = _local(window.starts_at, window.timezone, now)
    end, _ = _local(window.ends_at, window.timezone, now)
    return [*_day_es(start, days), "word.from", *_bare_es(start), "word.to", *_bare_es(end)]


# --- planned work: dates in full, approximate ends, durations --------------------------


def _in_zone(at: datetime, timezone: str) -> datetime:
    return at.astimezone(ZoneInfo(timezone))


def _rounded_duration(seconds: int) -> tuple[str, int, bool]:
    """(unit, count, and a half): quarter hours below an hour, half hours below two days."""
    minutes = max(1, -(-seconds // 60))
    if minutes < 53:
        return "minutes", max(15, round(minutes / 15) * 15), False
    if minutes < 48 * 60:
        hours, half = divmod(max(2, round(minutes / 30)), 2)
        return "hours", hours, bool(half)
    return "days", round(minutes / 1440), False


def _date_en(local: datetime) -> list[str]:
    return [f"dated.weekday.{local.weekday()}", f"month.{local.month}", f"ordinal.{local.day}"]


def _named_day_en(day: Day) -> list[str]:
    return _date_en(_in_zone(day.at, day.timezone))


def _work_en(work: WorkWindow) -> list[str]:
    start, end = _in_zone(work.starts_at, work.timezone), _in_zone(work.ends_at, work.timezone)
    until = _clock_en(end)
    if end.date() != start.date():
        until += ["word.on", f"month.{end.month}", f"ordinal.{end.day}"]
    return [*_date_en(start), "dated.from", *_clock_en(start), "word.to", "word.about", *until]


def _duration_en(duration: Duration) -> list[str]:
    unit, count, half = _rounded_duration(duration.seconds)
    if unit == "minutes":
        return [*_below_thousand_en(count), "duration.minutes"]
    if count == 1:  # "an hour and a half", "a day"
        return [f"duration.one_{unit[:-1]}", *(["duration.and_a_half"] if half else [])]
    return [
        *_below_thousand_en(count),
        *(["duration.and_a_half"] if half else []),
        f"duration.{unit}",
    ]


def _date_es(local: datetime) -> list[str]:
    """ "el jueves tres de diciembre"."""
    return [f"weekday.{local.weekday()}", f"ordinal.{local.day}", "word.of", f"month.{local.month}"]


def _named_day_es(day: Day) -> list[str]:
    return _date_es(_in_zone(day.at, day.timezone))


def _work_es(work: WorkWindow) -> list[str]:
    start, end = _in_zone(work.starts_at, work.timezone), _in_zone(work.ends_at, work.timezone)
    until = _bare_es(end)
    if end.date() != start.date():  # "... de la madrugada del cuatro de diciembre"
        until += ["dated.of_the", f"ordinal.{end.day}", "word.of", f"month.{end.month}"]
    return [*_date_es(start), "dated.from", *_bare_es(start), "word.to", "word.about", *until]


def _duration_es(duration: Duration) -> list[str]:
    unit, count, half = _rounded_duration(duration.seconds)
    if unit == "minutes":
        return [*_below_thousand_es(count), "duration.minutes"]
    if count == 1:  # "una hora y media", "un día"
        return [f"duration.one_{unit[:-1]}", *(["duration.and_a_half"] if half else [])]
    # "veintiún horas", "cuatro horas y media"
    return [
        *_below_thousand_es(count),
        f"duration.{unit}",
        *(["duration.and_a_half"] if half else []),
    ]


def _exact_seconds(span: Seconds, number: Callable[[int], list[str]]) -> list[str]:
    """Whole minutes as minutes, else seconds; one of either said with its article-like
    fragment ("one minute", "un minuto")."""
    minutes, seconds = divmod(span.seconds, 60)
    if minutes and not seconds:
        return ["duration.one_minute"] if minutes == 1 else [*number(minutes), "duration.minutes"]
    if span.seconds == 1:
        return ["duration.one_second"]
    return [*number(span.seconds), "duration.seconds"]


def _seconds_en(span: Seconds) -> list[str]:
    return _exact_seconds(span, _below_thousand_en)


def _seconds_es(span: Seconds) -> list[str]:
    return _exact_seconds(span, _below_thousand_es)


_SPAN_FRAGMENTS = ("duration.seconds", "duration.one_second", "duration.one_minute")
_PLANNED_FRAGMENTS = (
    "dated.from",
    "word.about",
    "duration.minutes",
    "duration.hours",
    "duration.days",
    "duration.one_hour",
    "duration.one_day",
    "duration.and_a_half",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class LanguageRules:
    moment: Callable[[Moment, datetime], list[str]]
    window: Callable[[Window, datetime], list[str]]
    day: Callable[[Day], list[str]]
    work: Callable[[WorkWindow], list[str]]
    duration: Callable[[Duration], list[str]]
    seconds: Callable[[Seconds], list[str]]
    fixed_fragments: tuple[str, ...]
    approximate: Callable[[int], list[str]] = about_en


_SHARED_FRAGMENTS = (
    *(f"weekday.{d}" for d in range(7)),
    *(f"month.{m}" for m in range(1, 13)),
    *(f"ordinal.{d}" for d in range(1, 32)),
    *(f"hour.{h}" for h in range(1, 13)),
    *(f"minute.{m}" for m in range(1, 60)),
    *(f"number.{n}" for n in range(100)),
    *(f"digit.{n}" for n in range(10)),
    "word.at",
    "word.from",
    "word.to",
    "time.noon",
    "time.midnight",
    "day.today",
    "day.tomorrow",
)
RULES: Mapping[str, LanguageRules] = {
    "en": LanguageRules(
        moment=_moment_en,
        window=_window_en,
        day=_named_day_en,
        work=_work_en,
        duration=_duration_en,
        seconds=_seconds_en,
        fixed_fragments=(
            *_SHARED_FRAGMENTS,
            *_PLANNED_FRAGMENTS,
            *_SPAN_FRAGMENTS,
            *(f"dated.weekday.{d}" for d in range(7)),
            *EN_FRAGMENTS,
            "word.on",
            "time.am",
            "time.pm",
            "day.tonight",
        ),
        approximate=about_en,
    ),
    "es": LanguageRules(
        moment=_moment_es,
        window=_window_es,
        day=_named_day_es,
        work=_work_es,
        duration=_duration_es,
        seconds=_seconds_es,
        fixed_fragments=(
            *_SHARED_FRAGMENTS,
            *_PLANNED_FRAGMENTS,
            *_SPAN_FRAGMENTS,
            "dated.of_the",
            "word.the",
            "word.of",
            "time.noon_bare",
            "time.midnight_bare",
            "period.early",
            "period.morning",
            "period.afternoon",
            "period.night",
            *ES_FRAGMENTS,
        ),
        approximate=about_es,
    ),
}


# --- checking and rendering ----------------------------------------------------------


def validate_catalogs(catalogs: Mapping[str, Catalog]) -> None:
    """Every language says every message, uses only variables the renderer fills, and has
    every fragment its time and number wording needs. The first problem names its key."""
    if not catalogs:
        raise CatalogError("*", "no catalogs found")
    all_keys = set().union(*(set(c.messages) for c in catalogs.values()))
    for language, catalog in sorted(catalogs.items()):
        if language not in RULES:
            raise CatalogError(language, f"no wording rules for language {language!r}")
        for key in sorted(all_keys - set(catalog.messages)):
            raise CatalogError(key, f"missing in {language}")
        for key, template in sorted(catalog.messages.items()):
            try:
                names = placeholders(template)
            except ValueError as exc:
                raise CatalogError(key, f"{language}: malformed template ({exc})") from None
            for name in names:
                if name not in VARIABLE_TYPES:
                    raise CatalogError(key, f"{language}: unknown variable {{{name}}}")
        for fragment in RULES[language].fixed_fragments:
            if not catalog.fragments.get(fragment, "").strip():
                raise CatalogError(fragment, f"fragment missing in {language}")


def _fragment(catalog: Catalog, key: str) -> Segment:
    return Segment(
        text=catalog.fragments[key], language=catalog.tts_language, key=f"fragment.{key}"
    )


def _number_keys(value: int) -> list[str]:
    if 0 <= value < 100:
        return [f"number.{value}"]
    return [f"digit.{d}" for d in str(abs(value))]


def _digit_keys(text: str) -> list[str]:
    digits = [ch for ch in text if ch.isdigit()]
    if text.startswith("+1") and len(digits) == 11:
        digits = digits[1:]  # a North American number is read without its country code
    return [f"digit.{d}" for d in digits]


def render(
    catalog: Catalog, key: str, variables: Mapping[str, object], *, now: datetime
) -> tuple[Segment, ...]:
    """The segments of one message, in order."""
    template = catalog.messages.get(key)
    if template is None:
        raise CatalogError(key, f"no such message in {catalog.language}")
    rules = RULES[catalog.language]
    segments: list[Segment] = []
    for index, (literal, name, _, _) in enumerate(_FORMATTER.parse(template)):
        if literal.strip():
            segments.append(
                Segment(text=literal.strip(), language=catalog.tts_language, key=f"{key}.{index}")
            )
        if name is None:
            continue
        if name not in variables:
            raise CatalogError(key, f"variable {{{name}}} was not given")
        value = variables[name]
        expected = VARIABLE_TYPES[name]
        if not isinstance(value, expected) or isinstance(value, bool):
            raise CatalogError(key, f"{{{name}}} must be a {expected.__name__}")
        if isinstance(value, Moment):
            keys = rules.moment(value, now)
        elif isinstance(value, Window):
            keys = rules.window(value, now)
        elif isinstance(value, WorkWindow):
            keys = rules.work(value)
        elif isinstance(value, Day):
            keys = rules.day(value)
        elif isinstance(value, Duration):
            keys = rules.duration(value)
        elif isinstance(value, Seconds):
            keys = rules.seconds(value)
        elif isinstance(value, Approximate):
            keys = rules.approximate(value.count)
        elif isinstance(value, int):
            keys = _number_keys(value)
        elif name == "phone":
            keys = _digit_keys(str(value))
        elif name == "address":
            segments += address_segments(catalog, str(value))
            continue
        else:
            text = str(value).strip()
            if text:
                segments.append(Segment(text=text, language=catalog.tts_language, key=None))
            continue
        segments.extend(_fragment(catalog, fragment) for fragment in keys)
    return tuple(segments)


def address_segments(catalog: Catalog, address: str) -> tuple[Segment, ...]:
    """An address as spoken: its house number from the catalog's number fragments (shown as
    written), the street as one piece of free text shared by every address on it."""
    parts = spoken_address(address.strip())
    if not parts.street:
        return ()
    street = Segment(text=parts.street, language=catalog.tts_language, key=None)
    if parts.house_number is None:
        return (street,)
    first, *rest = (_fragment(catalog, key) for key in house_number_keys(parts.house_number))
    return (
        replace(first, shown=parts.house_number),
        *(replace(piece, shown="") for piece in rest),
        street,
    )


def spoken(segments: tuple[Segment, ...]) -> str:
    """The words of a rendered message, as a listener hears them (transcripts, <Say>)."""
    shown = (segment.text if segment.shown is None else segment.shown for segment in segments)
    text = " ".join(words for words in shown if words)
    for mark in (".", ",", "?", ":"):
        text = text.replace(f" {mark}", mark)
    return text


def fixed_segments(catalog: Catalog) -> tuple[Segment, ...]:
    """Every piece of catalog audio that does not depend on a customer: what to synthesize
    ahead of a storm."""
    segments = [
        Segment(text=text, language=catalog.tts_language, key=f"fragment.{key}")
        for key, text in sorted(catalog.fragments.items())
    ]
    for key, template in sorted(catalog.messages.items()):
        for index, (literal, _, _, _) in enumerate(_FORMATTER.parse(template)):
            if literal.strip():
                segments.append(
                    Segment(
                        text=literal.strip(), language=catalog.tts_language, key=f"{key}.{index}"
                    )
                )
    return tuple(segments)
