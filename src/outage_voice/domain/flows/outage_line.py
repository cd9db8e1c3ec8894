"""The outage line as a state machine: who is calling, their status, then the menu.

`OutageLine(config).step(state, event, now=...)` returns what the caller hears and what the
line must do. Intents that answer with something (looking a caller up, recording a report,
taking a call-back request) end a step; the service runs them and steps again with the
result. The state rides between webhooks in the action URL (`to_query` / `from_query`,
signed by the carrier with every request), so any instance can answer any step.

Never a dead end: silence, junk keys, unclear speech and a database that is away all lead
back to the menu, and three silences at the menu end the call politely.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from outage_voice.domain.flows.actions import (
    Dial,
    Gather,
    Hangup,
    Input,
    Redirect,
    Say,
    SayMessage,
    SayStatus,
)
from outage_voice.domain.inbound_calls import CallOutcome, ReportOutcome
from outage_voice.domain.languages import DEFAULT_LANGUAGE, catalog_language
from outage_voice.domain.status import AccountStatus, StatusLookup
from outage_voice.domain.windows import DailyWindow

SPANISH = "es"
MAX_MENU_REPEATS = 2
MAX_IDENTIFY_TRIES = 3
MAX_PREMISE_CHOICES = 5
# Longest premise id or account number carried in the URL; longer is junk, not a customer.
MAX_ID_CHARS = 64
MAX_LANGUAGE_CHARS = 16
MAX_COUNTER = 99


class Stage(StrEnum):
    START = "voice"  # the call has just arrived
    IDENTIFY = "identify"  # asking an unknown caller for a phone or account number
    PICK = "pick"  # a phone covering several premises: which one
    MENU = "menu"


@dataclass(frozen=True, kw_only=True, slots=True)
class LineState:
    """Everything the line remembers between two webhooks of one call."""

    stage: Stage = Stage.START
    language: str = DEFAULT_LANGUAGE
    premise_id: str | None = None
    account_number: str | None = None
    attempt: int = 1  # identify: which try this is
    repeat: int = 0  # menu: how many times it has been said to silence
    choices: tuple[str, ...] = ()  # pick: premise ids, in the order offered


@dataclass(frozen=True, kw_only=True, slots=True)
class LineConfig:
    languages: frozenset[str]  # catalogs the line can speak
    agent_number: str | None
    agent_hours: DailyWindow
    timezone: str
    emergency_number: str | None
    public_emergency_number: str


# --- events ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class CallStarted:
    lookup: StatusLookup | None  # None: the caller ID is no phone number (anonymous)


@dataclass(frozen=True, kw_only=True, slots=True)
class Heard:
    keys: str  # keys pressed, or the keys confident speech stands for


@dataclass(frozen=True, kw_only=True, slots=True)
class Unclear:
    """Speech the recognizer was unsure of, or that names no option."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Silence:
    """The prompt ended with nothing keyed or said."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Found:
    lookup: StatusLookup


@dataclass(frozen=True, kw_only=True, slots=True)
class Reported:
    outcome: ReportOutcome | None  # None: spooled while the database is away
    address: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallbackTaken:
    phone: str  # the number we will call back
    address: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreUnavailable:
    """The database is away or slow: answer with what needs none."""


Event = (
    CallStarted | Heard | Unclear | Silence | Found | Reported | CallbackTaken | StoreUnavailable
)

# --- intents: what the line must do ---------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Note:
    """A step of this call, for containment reporting."""

    step: str
    outcome: CallOutcome = CallOutcome.ABANDONED
    account: AccountStatus | None = None
    language: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FindCaller:
    """Answered by `Found`: ten digits are tried as a phone number, then as an account."""

    entered: str


@dataclass(frozen=True, kw_only=True, slots=True)
class FindPremise:
    """Answered by `Found`."""

    premise_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordReport:
    """Answered by `Reported`; spooled when the database is away."""

    premise_id: str | None
    account_number: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordHazard:
    """Spooled when the database is away; nothing to answer."""

    premise_id: str | None
    account_number: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class RequestCallback:
    """Answered by `CallbackTaken`."""

    premise_id: str | None
    account_number: str | None
    language: str


Intent = Note | FindCaller | FindPremise | RecordReport | RecordHazard | RequestCallback
# Intents the service answers with an event; each ends the step that asks for it.
ANSWERED_INTENTS = (FindCaller, FindPremise, RecordReport, RequestCallback)
LineAction = (
    Say | SayStatus | SayMessage | Gather[LineState] | Redirect[LineState] | Dial | Hangup | Intent
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    actions: tuple[LineAction, ...]
    state: LineState  # where the caller's next answer goes


class OutageLine:
    def __init__(self, config: LineConfig) -> None:
        self._config = config

    def language(self, tag: str | None) -> str:
        """The catalog for a customer's language tag: exact, then its base (`es-MX` ->
        `es`), else the line's default."""
        return catalog_language(tag, self._config.languages) or DEFAULT_LANGUAGE

    def step(self, state: LineState, event: Event, *, now: datetime) -> Step:
        """What the caller hears and the line does next. `now` decides only whether the
        agent line is staffed; words with times in them are rendered later, in the catalog."""
        if isinstance(event, StoreUnavailable):
            return self._degraded(state)
        if state.stage is Stage.START:
            return self._start(event)
        if state.stage is Stage.IDENTIFY:
            return self._identify(state, event)
        if state.stage is Stage.PICK:
            return self._pick(state, event)
        return self._menu_choice(state, event, now)

    # --- stages --------------------------------------------------------------------

    def _start(self, event: Event) -> Step:
        if isinstance(event, CallStarted) and event.lookup is not None and event.lookup.found:
            return self._greet(event.lookup)
        then = LineState(stage=Stage.IDENTIFY, language=DEFAULT_LANGUAGE)
        ask = Say(key="ask_phone_or_account", language=then.language)
        return _step(
            Note(step="identify", language=then.language),
            Gather(input=Input.NUMBER, then=then, language=then.language, prompts=(ask,)),
            Redirect(then=then),
        )

    def _greet(self, lookup: StatusLookup) -> Step:
        """Status first for the account with an outage (or the first); then, when the phone
        covers several premises, the choice of one; then the menu about the one heard."""
        lead = lookup.with_outage[0] if lookup.with_outage else lookup.accounts[0]
        language = self.language(lead.premise.language)
        actions: list[LineAction] = [
            Note(step="status", outcome=CallOutcome.SELF_SERVED, account=lead, language=language),
            SayStatus(account=lead, language=language),
        ]
        premises = lookup.premises
        if len(premises) > 1:
            offered = premises[:MAX_PREMISE_CHOICES]
            then = LineState(
                stage=Stage.PICK,
                language=language,
                choices=tuple(premise.premise_id for premise in offered),
            )
            prompts = [
                Say(key="pick_premise", language=language, variables={"count": len(premises)})
            ]
            prompts += (
                Say(
                    key="premise_option",
                    language=language,
                    variables={"address": premise.service_address, "digit": digit},
                )
                for digit, premise in enumerate(offered, start=1)
            )
            actions.append(
                Gather(input=Input.MENU_KEY, then=then, language=language, prompts=tuple(prompts))
            )
        # No choice made: the menu follows, about the premise they just heard.
        return self._then_menu(actions, _menu_state(language, lead))

    def _identify(self, state: LineState, event: Event) -> Step:
        if isinstance(event, Heard) and event.keys:
            return _step(FindCaller(entered=event.keys), state=state)
        if isinstance(event, Found) and event.lookup.found:
            return self._greet(event.lookup)
        if state.attempt >= MAX_IDENTIFY_TRIES:
            # Three misses: the menu still lets them report an outage or reach a person.
            return self._then_menu([Note(step="identify_failed")], _menu_state(state.language))
        then = dataclasses.replace(state, attempt=state.attempt + 1)
        retry = "speech_unclear" if isinstance(event, Unclear) else "not_found_retry"
        prompts = (
            Say(key=retry, language=state.language),
            Say(key="ask_phone_or_account", language=state.language),
        )
        return _step(
            Note(step="identify_miss"),
            Gather(input=Input.NUMBER, then=then, language=state.language, prompts=prompts),
            Redirect(then=then),
        )

    def _pick(self, state: LineState, event: Event) -> Step:
        if isinstance(event, Heard) and event.keys.isdigit():
            choice = int(event.keys)
            if 1 <= choice <= len(state.choices):
                return _step(FindPremise(premise_id=state.choices[choice - 1]), state=state)
        if isinstance(event, Found) and event.lookup.found:
            account = event.lookup.accounts[0]
            language = self.language(account.premise.language)
            actions: list[LineAction] = [
                Note(step="pick", account=account),
                SayStatus(account=account, language=language),
            ]
            return self._then_menu(actions, _menu_state(language, account))
        return self._then_menu(
            [Say(key="invalid_choice", language=state.language)], _menu_state(state.language)
        )

    def _menu_choice(self, state: LineState, event: Event, now: datetime) -> Step:
        language = state.language
        menu = dataclasses.replace(state, stage=Stage.MENU, repeat=0, attempt=1, choices=())
        if isinstance(event, Reported):
            return self._then_menu([_report_words(event, language)], menu)
        if isinstance(event, CallbackTaken):
            variables: dict[str, object] = {"phone": event.phone}
            key = "callback_recorded_no_address"
            if event.address is not None:
                variables["address"] = event.address
                key = "callback_recorded"
            actions: list[LineAction] = [
                Note(step="callback", outcome=CallOutcome.CALLBACK_REQUESTED),
                Say(key=key, language=language, variables=variables),
            ]
            return self._then_menu(actions, menu)
        if isinstance(event, Unclear):
            return self._then_menu(
                [Note(step="unclear"), Say(key="speech_unclear", language=language)], menu
            )
        if not isinstance(event, Heard) or not event.keys:
            # Nothing pressed: say it again rather than hang up on someone still listening.
            if state.repeat > MAX_MENU_REPEATS:
                return _step(Note(step="goodbye"), Say(key="goodbye", language=language), Hangup())
            return self._then_menu([], menu, repeat=state.repeat)
        key = event.keys
        noted = Note(step=f"menu:{key}" if key.isdigit() else "menu:?")
        return self._option(noted, key, menu, now)

    def _option(self, noted: Note, key: str, menu: LineState, now: datetime) -> Step:
        """What each menu key does. A new option is one branch here and its prompt lines."""
        config = self._config
        language = menu.language
        who = {"premise_id": menu.premise_id, "account_number": menu.account_number}
        if key == "1":
            report = Note(step="report", outcome=CallOutcome.REPORTED)
            return _step(noted, report, RecordReport(**who), state=menu)
        if key == "2":
            hazard: list[LineAction] = [
                noted,
                RecordHazard(**who),
                Say(key="hazard", language=language),
            ]
            if config.emergency_number:
                return _step(
                    *hazard,
                    Note(step="hazard_transfer", outcome=CallOutcome.TRANSFERRED),
                    Say(key="hazard_transfer", language=language),
                    Dial(number=config.emergency_number),
                    state=menu,
                )
            # No line of our own to hand a downed wire to: send them to the public one, and
            # never say we are connecting them.
            public = {"phone": config.public_emergency_number}
            hazard += [
                Say(key="hazard_call_emergency", language=language, variables=public),
                Note(step="hazard", outcome=CallOutcome.REPORTED),
            ]
            return self._then_menu(hazard, menu)
        if key == "3":
            return _step(noted, RequestCallback(**who, language=language), state=menu)
        if key == "0":
            if config.agent_number and config.agent_hours.is_open(now, config.timezone):
                return _step(
                    noted,
                    Note(step="agent", outcome=CallOutcome.TRANSFERRED),
                    Say(key="agent_transfer", language=language),
                    Dial(number=config.agent_number),
                    state=menu,
                )
            # No transfer: say why; the menu that follows says what the line still does.
            closed = "agent_after_hours" if config.agent_number else "agent_closed"
            return self._then_menu(
                [noted, Note(step=closed), Say(key=closed, language=language)], menu
            )
        if key == "8":
            return self._then_menu(
                [noted], dataclasses.replace(menu, language=self.language(SPANISH))
            )
        if key == "7":
            return self._then_menu(
                [noted], dataclasses.replace(menu, language=self.language(DEFAULT_LANGUAGE))
            )
        if key == "9":
            return self._then_menu([noted], menu)
        return self._then_menu([noted, Say(key="invalid_choice", language=language)], menu)

    def _degraded(self, state: LineState) -> Step:
        """The database is away or slow: still answer, with what needs no database."""
        menu = _menu_state(DEFAULT_LANGUAGE)
        if state.stage is Stage.MENU:  # keep who the caller is, for a report they make
            menu = dataclasses.replace(
                menu, premise_id=state.premise_id, account_number=state.account_number
            )
        actions: list[LineAction] = [
            Note(step="degraded"),
            Say(key="high_volume", language=DEFAULT_LANGUAGE),
        ]
        return self._then_menu(actions, menu)

    def _then_menu(
        self, actions: Sequence[LineAction], menu: LineState, *, repeat: int = 0
    ) -> Step:
        """`actions`, then the menu; unanswered, it is said again (counted in the URL)."""
        # Without an agent line, "press 0 to speak with someone" would offer what can't happen.
        key = "menu" if self._config.agent_number else "menu_no_agent"
        gather = Gather(
            input=Input.MENU_KEY,
            then=menu,
            language=menu.language,
            prompts=(Say(key=key, language=menu.language),),
        )
        again = Redirect(then=dataclasses.replace(menu, repeat=repeat + 1))
        return _step(*actions, gather, again)


def _report_words(event: Reported, language: str) -> Say:
    if event.outcome is None or event.address is None:
        return Say(key="report_recorded_no_address", language=language)
    key = "report_recorded" if event.outcome is ReportOutcome.RECORDED else "report_already"
    return Say(key=key, language=language, variables={"address": event.address})


def _menu_state(language: str, account: AccountStatus | None = None) -> LineState:
    if account is None:
        return LineState(stage=Stage.MENU, language=language)
    return LineState(
        stage=Stage.MENU,
        language=language,
        premise_id=account.premise.premise_id,
        account_number=account.account_number,
    )


def _step(*actions: LineAction, state: LineState | None = None) -> Step:
    """Actions, and where the caller's next answer goes: the first prompt's step."""
    if state is None:
        gathers = [action.then for action in actions if isinstance(action, Gather)]
        state = gathers[0] if gathers else LineState(stage=Stage.MENU)
    return Step(actions=actions, state=state)


# --- the state in the action URL ------------------------------------------------------


def to_query(state: LineState) -> list[tuple[str, str]]:
    """The state as query parameters (readable in the carrier's logs, signed with them)."""
    query = [("lang", state.language)]
    if state.stage is Stage.IDENTIFY:
        return [*query, ("try", str(state.attempt))]
    if state.stage is Stage.PICK:
        return query + [("choice", premise_id) for premise_id in state.choices]
    if state.premise_id:
        query.append(("premise", state.premise_id))
    if state.account_number:
        query.append(("account", state.account_number))
    if state.repeat:
        query.append(("repeat", str(state.repeat)))
    return query


def from_query(stage: Stage, query: Iterable[tuple[str, str]], *, line: OutageLine) -> LineState:
    """The state a step's URL carries. Never raises: whatever is not a valid value (an edited
    or truncated URL) reads as its default, so the caller is asked again, never cut off."""
    single: dict[str, str] = {}
    choices: list[str] = []
    for name, value in query:
        if name == "choice":
            if len(choices) < MAX_PREMISE_CHOICES and (choice := _identifier(value)):
                choices.append(choice)
        else:
            single.setdefault(name, value)
    return LineState(
        stage=stage,
        language=line.language(single.get("lang", "")[:MAX_LANGUAGE_CHARS] or None),
        premise_id=_identifier(single.get("premise", "")),
        account_number=_identifier(single.get("account", "")),
        attempt=max(1, _counter(single.get("try"))),
        repeat=_counter(single.get("repeat")),
        choices=tuple(choices),
    )


def _identifier(value: str) -> str | None:
    value = value.strip()
    return value if value and len(value) <= MAX_ID_CHARS and value.isprintable() else None


def _counter(value: str | None) -> int:
    if value is None or len(value) > 4:
        return 0
    try:
        return max(0, min(int(value), MAX_COUNTER))
    except ValueError:
        return 0
