"""Daily opening hours in a local time zone: agent hours, and calling windows for campaigns.

Wall-clock times in a named zone, so "08:00-21:00" means the same thing to a customer in
Chicago and one in Denver, and daylight-saving days are handled by the zone rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from outage_voice.domain.errors import DomainError

_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class BadWindow(DomainError):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class DailyWindow:
    """Open from `opens` until `closes` local time each day; closes < opens runs past midnight;
    opens == closes is open all day."""

    opens: time
    closes: time

    @property
    def always(self) -> bool:
        return self.opens == self.closes

    def is_open(self, now: datetime, zone: str) -> bool:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        if self.always:
            return True
        local = now.astimezone(ZoneInfo(zone)).time()
        if self.opens < self.closes:
            return self.opens <= local < self.closes
        return local >= self.opens or local < self.closes

    def next_open(self, now: datetime, zone: str) -> datetime:
        """`now` when open, else the next opening instant (aware, in UTC)."""
        if self.is_open(now, zone):
            return now
        tz = ZoneInfo(zone)
        local = now.astimezone(tz)
        day = local.date()
        for offset in range(3):
            candidate = datetime.combine(day + timedelta(days=offset), self.opens, tzinfo=tz)
            # A wall-clock time skipped by a DST jump resolves forward through UTC.
            candidate = candidate.astimezone(ZoneInfo("UTC")).astimezone(tz)
            if candidate > local:
                return candidate.astimezone(ZoneInfo("UTC"))
        raise AssertionError("a daily window opens within two days")  # pragma: no cover

    def describe(self) -> str:
        return f"{self.opens:%H:%M}-{self.closes:%H:%M}"


ALWAYS = DailyWindow(opens=time(0, 0), closes=time(0, 0))
# The utility's time zone when none is configured (OUTAGE_VOICE_TIMEZONE): windows and
# planned work's schedule keep its clock.
DEFAULT_TIMEZONE = "America/Chicago"


def utc_minute(moment: datetime) -> str:
    """A moment as the ledger and the logs write it: to the minute, in UTC."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def parse_daily_window(text: str) -> DailyWindow:
    """ "08:00-21:00" (24-hour clock); "24h" or empty for always open."""
    if text.strip().lower() in ("", "24h", "always"):
        return ALWAYS
    match = _HOURS.match(text)
    if match is None:
        raise BadWindow(f"expected HH:MM-HH:MM, got {text!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 == 24 and m1 == 0:
        h1 = 0
    if h2 == 24 and m2 == 0:
        h2 = 0
    if not (0 <= h1 < 24 and 0 <= m1 < 60 and 0 <= h2 < 24 and 0 <= m2 < 60):
        raise BadWindow(f"hours are 00:00 to 24:00, got {text!r}")
    return DailyWindow(opens=time(h1, m1), closes=time(h2, m2))
