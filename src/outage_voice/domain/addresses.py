"""A service address as it is spoken: the house number from number fragments, the rest once
per street.

A utility has far fewer streets than customers, so "4512 Oak Street" is the catalog's number
fragments and one piece of audio, "Oak Street", shared by everyone on Oak Street. A storm's
first callers then need no new audio at all once their streets have been spoken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A house number is a run of digits followed by a space; anything else ("12B Oak", "N12W3 Rd",
# "Apt 4, ...") is spoken whole, as before.
MAX_HOUSE_NUMBER_DIGITS = 6
_NUMBERED = re.compile(rf"(\d{{1,{MAX_HOUSE_NUMBER_DIGITS}}}) +(\S.*)", re.DOTALL)


@dataclass(frozen=True, kw_only=True, slots=True)
class SpokenAddress:
    house_number: str | None  # digits as written ("0012" keeps its zeros), or None
    street: str  # the rest, said as one piece


def spoken_address(address: str) -> SpokenAddress:
    """`address` (already stripped) split into the house number and the street."""
    match = _NUMBERED.fullmatch(address)
    if match is None:
        return SpokenAddress(house_number=None, street=address)
    number, street = match.groups()
    return SpokenAddress(house_number=number, street=street.strip())


def house_number_keys(number: str) -> list[str]:
    """Fragment keys saying a house number: below 100 as a number ("twelve"), otherwise
    digit by digit ("four five one two"), as the catalog says every other long number."""
    if len(number) <= 2 and not (len(number) == 2 and number.startswith("0")):
        return [f"number.{int(number)}"]
    return [f"digit.{digit}" for digit in number]
