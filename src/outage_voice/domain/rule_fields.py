"""Fields of the supervisor's rules documents (automation, planned work, surveys): how a
partial document's fields are checked, with errors naming their dotted path, and how a stored
document is read back leniently. One place, so every section refuses a bad value with the
same words.

Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard

from outage_voice.domain.errors import InvalidField

DAY_S = 86_400


def json_object(value: object, path: str, *, known: frozenset[str], prefix: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidField(path, "must be a JSON object")
    for name in value:
        if name not in known:
            raise InvalidField(f"{prefix}{name}", "unknown field")
    return value


def is_whole(value: object) -> TypeGuard[int]:
    # JSON's true and false are ints to Python; a switch is not a count.
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def boolean(section: Mapping[str, Any], path: str) -> bool:
    value = section[path.rsplit(".", 1)[1]]
    if not isinstance(value, bool):
        raise InvalidField(path, "must be true or false")
    return value


def seconds(section: Mapping[str, Any], path: str, most: int) -> int:
    value = section[path.rsplit(".", 1)[1]]
    if not is_whole(value) or not 0 <= value <= most:
        raise InvalidField(
            path, f"must be a whole number of seconds from 0 to {most} ({span(most)})"
        )
    return int(value)


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def stored_flag(section: Mapping[str, Any], name: str, default: bool) -> bool:
    # A value of the wrong kind (a document edited by hand) reads as the default rather
    # than stopping the automation.
    value = section.get(name)
    return value if isinstance(value, bool) else default


def stored_whole(section: Mapping[str, Any], name: str, default: int) -> int:
    value = section.get(name)
    return value if is_whole(value) else default


def span(seconds: float) -> str:
    """A duration as an operator reads it: "30 min", "1 h 30 min", "7 days"."""
    whole = round(seconds)
    if whole >= DAY_S and whole % DAY_S == 0:
        days = whole // DAY_S
        return f"{days} day" if days == 1 else f"{days} days"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes else "",
        f"{secs} s" if secs else "",
    ]
    return " ".join(part for part in parts if part) or "0 s"
