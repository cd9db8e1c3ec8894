"""How long call records and spoken audio are kept: ages as an operator writes them."""

from __future__ import annotations

import re
from datetime import timedelta

# What `outage-voice prune` keeps when asked for nothing else: a year and a season, so the
# same storm last year is still there to compare with.
DEFAULT_RETENTION = timedelta(days=400)
# Spoken audio is a cache: a message not served for a month is made again from its URL's
# recipe if it is ever asked for. A month outlasts a storm's restoration and the survey
# calls after it (the survey gap is 30 days by default), and keeps the audio folder to
# about one storm's messages instead of a year's.
DEFAULT_AUDIO_RETENTION = timedelta(days=30)
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


def audio_age(older_than: timedelta, audio_older_than: timedelta | None) -> timedelta:
    """How long unused audio is kept: `audio_older_than`, else DEFAULT_AUDIO_RETENTION, but
    never longer than the call records (`older_than`). Messages speak what the records hold
    (a caller's street, when power comes back), so they do not outlive them: BadAge for an
    audio age longer than `older_than`."""
    if audio_older_than is None:
        return min(DEFAULT_AUDIO_RETENTION, older_than)
    if audio_older_than > older_than:
        raise BadAge(
            f"{_written(audio_older_than)} is longer than the call records are kept "
            f"({_written(older_than)}): audio speaks what those records hold, so it goes "
            "no later than they do"
        )
    return audio_older_than


def _written(age: timedelta) -> str:
    if age % timedelta(days=1):
        return f"{age // timedelta(hours=1)}h"
    return f"{age.days}d"
