"""What a call flow asks for: words to say, input to take, where the call goes next.

Only data: the web layer renders these to TwiML (one renderer), the service executes the
intents. `S` is the flow's own state, carried by a gather or redirect to the next step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from outage_voice.domain.prompts import Segment
from outage_voice.domain.status import AccountStatus

S = TypeVar("S")


@dataclass(frozen=True, kw_only=True, slots=True)
class Say:
    """A catalog message, in `language`, with its variables."""

    key: str
    language: str
    variables: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class SayStatus:
    """The status announcement for one account (what we know, cause, crew, when)."""

    account: AccountStatus
    language: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SayMessage:
    """Words already rendered (a campaign's message)."""

    segments: tuple[Segment, ...]


Speech = Say | SayStatus | SayMessage


class Input(StrEnum):
    MENU_KEY = "menu_key"  # one key, or speech that names one
    NUMBER = "number"  # a phone or account number, keyed (ending in #) or said
    KEY = "key"  # one key, keypad only


@dataclass(frozen=True, kw_only=True, slots=True)
class Gather(Generic[S]):
    """Take `input` while `prompts` play; what the caller gave goes to step `then`."""

    input: Input
    then: S
    language: str
    prompts: tuple[Speech, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class Redirect(Generic[S]):
    """Nothing was given at the gather before: go on to step `then`."""

    then: S


MAX_RECORD_S = 60  # a caller's comment, not a voicemail box


@dataclass(frozen=True, kw_only=True, slots=True)
class Record(Generic[S]):
    """Record what the caller says after a tone, up to `max_length_s`, ended early by one of
    `finish_on_keys`; the recording goes to step `then`. Nothing recorded: the call goes on
    to the next action, as after a gather left in silence."""

    then: S
    max_length_s: int = MAX_RECORD_S
    finish_on_keys: str = "#"

    def __post_init__(self) -> None:
        if not 1 <= self.max_length_s <= MAX_RECORD_S:
            raise ValueError(f"a recording lasts 1 to {MAX_RECORD_S} s")


@dataclass(frozen=True, kw_only=True, slots=True)
class Dial:
    number: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Hangup:
    pass


Action = Say | SayStatus | SayMessage | Gather[S] | Redirect[S] | Record[S] | Dial | Hangup
