"""An answered campaign call as a state machine: a person hears the message and a short menu
(1 still out, 2 repeat, 9 stop these calls); a machine, the message after the beep.

`CampaignCallFlow(config).step(state, event)` returns what the caller hears and what the line
must record. The call itself (its message, kind, voicemail policy) is looked up for every
webhook and rides in the event; only the attempt and the repeat count ride in the URL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.flows.actions import (
    Gather,
    Hangup,
    Input,
    Redirect,
    Say,
    SayMessage,
)
from outage_voice.domain.prompts import Segment

DEFAULT_LANGUAGE = "en"
MAX_REPEATS = 2
MAX_ATTEMPT_DIGITS = 18
MAX_COUNTER = 99
VOICEMAIL_HANGUP = "hangup"  # the campaign leaves no voicemail


class AnsweredBy(StrEnum):
    PERSON = "person"
    MACHINE = "machine"
    FAX = "fax"


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignCall:
    kind: CampaignKind
    message: tuple[Segment, ...]
    voicemail: str
    language: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CallMenuState:
    attempt_id: int | None
    repeat: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignCallConfig:
    callback_number: str | None  # said in voicemails: the number to call us back on


# --- events: `call` is None for an attempt we don't know ----------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Answered:
    call: CampaignCall | None
    by: AnsweredBy


@dataclass(frozen=True, kw_only=True, slots=True)
class Pressed:
    call: CampaignCall | None
    key: str


@dataclass(frozen=True, kw_only=True, slots=True)
class NoKey:
    call: CampaignCall | None


CallEvent = Answered | Pressed | NoKey

# --- intents -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Delivered:
    """The message reached the customer or their voicemail."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StillOut:
    """The customer says their power is still out."""


@dataclass(frozen=True, kw_only=True, slots=True)
class OptOut:
    """No more campaign calls to this number."""


CallIntent = Delivered | StillOut | OptOut
CallAction = (
    Say | SayMessage | Gather[CallMenuState] | Redirect[CallMenuState] | Hangup | CallIntent
)


@dataclass(frozen=True, kw_only=True, slots=True)
class CallStep:
    actions: tuple[CallAction, ...]
    state: CallMenuState


class CampaignCallFlow:
    def __init__(self, config: CampaignCallConfig) -> None:
        self._config = config

    def step(self, state: CallMenuState, event: CallEvent) -> CallStep:
        call = event.call
        if call is None:  # an attempt we don't know: end politely
            return _step(state, *_goodbye(DEFAULT_LANGUAGE))
        if isinstance(event, Answered):
            return self._answered(state, call, event.by)
        if isinstance(event, NoKey):
            if state.repeat > MAX_REPEATS:
                return _step(state, *_goodbye(call.language))
            return _step(state, *_menu(state, call))
        return self._option(state, call, event.key)

    def _answered(self, state: CallMenuState, call: CampaignCall, by: AnsweredBy) -> CallStep:
        if by is AnsweredBy.PERSON:
            return _step(state, Delivered(), *_menu(state, call))
        if by is AnsweredBy.FAX or call.voicemail == VOICEMAIL_HANGUP:
            return _step(state, Hangup())
        actions: list[CallAction] = [Delivered(), SayMessage(segments=call.message)]
        if self._config.callback_number:
            phone = {"phone": self._config.callback_number}
            actions.append(Say(key="voicemail_callback", language=call.language, variables=phone))
        return _step(state, *actions, Hangup())

    def _option(self, state: CallMenuState, call: CampaignCall, key: str) -> CallStep:
        """What each key does. A new option is one branch here and its prompt lines."""
        language = call.language
        menu = dataclasses.replace(state, repeat=0)
        if key == "1" and call.kind is CampaignKind.RESTORATION:
            said = Say(key="still_out_recorded", language=language)
            return _step(menu, StillOut(), said, *_goodbye(language))
        if key == "9":
            return _step(menu, OptOut(), Say(key="opted_out", language=language), Hangup())
        if key == "2":
            return _step(menu, *_menu(menu, call))
        return _step(menu, Say(key="invalid_choice", language=language), *_menu(menu, call))


def _menu(state: CallMenuState, call: CampaignCall) -> tuple[CallAction, ...]:
    """The message and the menu; unanswered, said again (counted in the URL)."""
    then = dataclasses.replace(state, repeat=0)
    prompts = (
        SayMessage(segments=call.message),
        Say(key="outbound_menu", language=call.language),
    )
    return (
        Gather(input=Input.KEY, then=then, language=call.language, prompts=prompts),
        Redirect(then=dataclasses.replace(state, repeat=state.repeat + 1)),
    )


def _goodbye(language: str) -> tuple[CallAction, ...]:
    return Say(key="goodbye", language=language), Hangup()


def _step(state: CallMenuState, *actions: CallAction) -> CallStep:
    return CallStep(actions=actions, state=state)


def answered_by(raw: str) -> AnsweredBy:
    """The carrier's AnsweredBy (`human`, `machine_end_beep`, `fax`, `unknown`, or absent)."""
    if raw.startswith("machine"):
        return AnsweredBy.MACHINE
    return AnsweredBy.FAX if raw == "fax" else AnsweredBy.PERSON


# --- the state in the action URL ------------------------------------------------------


def call_to_query(state: CallMenuState) -> list[tuple[str, str]]:
    query = [("attempt", "" if state.attempt_id is None else str(state.attempt_id))]
    return [*query, ("repeat", str(state.repeat))] if state.repeat else query


def call_from_query(query: Iterable[tuple[str, str]]) -> CallMenuState:
    """Never raises: an attempt that is not a number is an attempt we don't know, and a
    repeat count that is not one counts as zero."""
    single: dict[str, str] = {}
    for name, value in query:
        single.setdefault(name, value)
    raw = single.get("attempt", "")
    attempt_id = int(raw) if raw.isdecimal() and len(raw) <= MAX_ATTEMPT_DIGITS else None
    repeat = single.get("repeat", "")
    count = int(repeat) if repeat.isdecimal() and len(repeat) <= 2 else 0
    return CallMenuState(attempt_id=attempt_id, repeat=min(count, MAX_COUNTER))
