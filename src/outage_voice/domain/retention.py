"""How long call records and spoken audio are kept: ages as an operator writes them."""

from __future__ import annotations

import re
from datetime import timedelta

# What `outage-voice prune` keeps when asked for nothing else: a year and a season, so the
# same storm last year is still there to compare with.
DEFAULT_RETENTION = timedelta(days=400)
# Younger rows are what live calls, the dialer and the automation's rules read.
MIN_RETENTION = timedelta(days=1)
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_AGE = re.compile(r"^\s*(?P<count>[0-9]{1,6})\s*(?P<unit>[hdw])\s*$")


class BadAge(ValueError):
    """An age that is not a whole number of hours, days or weeks, or is too short."""


def parse_age(text: str) -> timedelta:
    """`400d`, `12h`, `2w` as a duration; BadAge for anything else, or under a day."""
    match = _AGE.match(text.lower())
    if match is None:
        raise BadAge(f"{text!r} is not an age: a whole number with h, d or w (400d, 36h, 2w)")
    age = int(match.group("count")) * _UNITS[match.group("unit")]
    if age < MIN_RETENTION:
        raise BadAge(
            f"{text!r} is under a day: rows that young are what live calls and campaigns read"
        )
    return age
