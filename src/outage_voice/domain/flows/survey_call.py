"""An answered survey call as a state machine: a short introduction, each question in turn
answered with one key, perhaps a comment after the tone, then a thank-you.

`SurveyCallFlow().step(state, event)` returns what the caller hears and what the line must
record. The survey itself rides in the event (looked up for every webhook, like a campaign
call's message); only the attempt, the question and how often it went unanswered ride in
the URL. Every answer is an intent of the step it is given in, so a caller who hangs up
halfway leaves every answer given before: a hang-up at a keypad question reaches no step at
all, and one during a comment still delivers the recording. Pressing 9 at any question stops
survey calls to the number (its own choice, apart from stopping campaign calls). A machine
hears one short sentence: a survey is never left on voicemail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from outage_voice.domain.flows.actions import (
    Gather,
    Hangup,
    Input,
    Record,
    Redirect,
    Say,
)
from outage_voice.domain.flows.campaign_call import (
    DEFAULT_LANGUAGE,
    MAX_ATTEMPT_DIGITS,
    AnsweredBy,
    Delivered,
)
from outage_voice.domain.prompts import Seconds
from outage_voice.domain.survey import (
    OPT_OUT_KEY,
    AnswerKind,
    AnswerValue,
    Question,
    Survey,
    parse_answer,
)

# An unanswered question (silence, or a key that is no answer) is asked again at most this
# many times, then the survey moves on: a caller who lets one question pass may answer the
# next.
MAX_REASKS = 2
MAX_COUNTER = 99
# Keys that end a comment: pound when done, 9 to stop surveys as at every question.
COMMENT_FINISH_KEYS = "#" + OPT_OUT_KEY
HUNG_UP = "hangup"  # the carrier's Digits when a recording ended with the caller hanging up

INTRO = "survey"
INVALID = "survey_invalid"
CALLBACK_NOTED = "survey_callback_noted"
OPTED_OUT = "survey_opted_out"
THANKS = "survey_thanks"
MACHINE = "survey_machine"
GOODBYE = "goodbye"


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyCall:
    survey: Survey
    language: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyState:
    attempt_id: int | None
    question: int = 0  # index into the survey's questions, as asked
    unanswered: int = 0  # times this question has gone unanswered


# --- events: `call` is None for an attempt we don't know ----------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Answered:
    call: SurveyCall | None
    by: AnsweredBy


@dataclass(frozen=True, kw_only=True, slots=True)
class Pressed:
    call: SurveyCall | None
    key: str


@dataclass(frozen=True, kw_only=True, slots=True)
class NoKey:
    """The question (or the comment's tone) passed with nothing given."""

    call: SurveyCall | None


@dataclass(frozen=True, kw_only=True, slots=True)
class Recorded:
    call: SurveyCall | None
    url: str  # the carrier's RecordingUrl
    duration_s: int
    key: str = ""  # what ended it: a finish key, HUNG_UP, or "" (the length cap, silence)


SurveyEvent = Answered | Pressed | NoKey | Recorded

# --- intents -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class AnswerGiven:
    question: str  # the question's key
    value: AnswerValue


@dataclass(frozen=True, kw_only=True, slots=True)
class CommentRecorded:
    question: str
    url: str
    duration_s: int  # within the survey's comment cap


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyOptOut:
    """No more surveys to this number; campaign calls about outages go on as before."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CallbackRequested:
    """The customer would like someone to call them back: onto the supervisor's list."""


SurveyIntent = Delivered | AnswerGiven | CommentRecorded | SurveyOptOut | CallbackRequested
SurveyAction = (
    Say | Gather[SurveyState] | Redirect[SurveyState] | Record[SurveyState] | Hangup | SurveyIntent
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyStep:
    actions: tuple[SurveyAction, ...]
    state: SurveyState


class SurveyCallFlow:
    def step(self, state: SurveyState, event: SurveyEvent) -> SurveyStep:
        call = event.call
        if call is None:  # an attempt we don't know: end politely
            return _step(state, Say(key=GOODBYE, language=DEFAULT_LANGUAGE), Hangup())
        if isinstance(event, Answered):
            return self._answered(state, call, event.by)
        questions = call.survey.asked
        if not 0 <= state.question < len(questions):  # a URL past the last question
            return _step(state, *_thanks(call))
        question = questions[state.question]
        if isinstance(event, Recorded):
            return self._recorded(state, call, question, event)
        if isinstance(event, NoKey):
            return self._unanswered(state, call, question, invalid=False)
        if event.key.strip() == OPT_OUT_KEY:
            return _step(state, *_opt_out(call))
        value = parse_answer(question, event.key)
        if value is None:
            return self._unanswered(state, call, question, invalid=True)
        given: list[SurveyAction] = [AnswerGiven(question=question.key, value=value)]
        if question.callback_on_yes and value is True:
            given += [CallbackRequested(), Say(key=CALLBACK_NOTED, language=call.language)]
        return _step(state, *given, *_ask(_next(state), call))

    def _answered(self, state: SurveyState, call: SurveyCall, by: AnsweredBy) -> SurveyStep:
        if by is AnsweredBy.PERSON:
            first = dataclasses.replace(state, question=0, unanswered=0)
            return _step(first, Delivered(), *_ask(first, call, intro=True))
        if by is AnsweredBy.MACHINE:
            return _step(state, Say(key=MACHINE, language=call.language), Hangup())
        return _step(state, Hangup())

    def _unanswered(
        self, state: SurveyState, call: SurveyCall, question: Question, *, invalid: bool
    ) -> SurveyStep:
        """Asked again, at most MAX_REASKS times; a comment is never asked for twice (it is
        the caller's to give or not)."""
        said = (Say(key=INVALID, language=call.language),) if invalid else ()
        # A silence arrives already counted (the redirect's URL); a wrong key counts here.
        unanswered = state.unanswered + 1 if invalid else state.unanswered
        if question.kind is AnswerKind.COMMENT or unanswered > MAX_REASKS:
            return _step(state, *said, *_ask(_next(state), call))
        again = dataclasses.replace(state, unanswered=min(unanswered, MAX_COUNTER))
        return _step(again, *said, *_ask(again, call))

    def _recorded(
        self, state: SurveyState, call: SurveyCall, question: Question, event: Recorded
    ) -> SurveyStep:
        actions: list[SurveyAction] = []
        if question.kind is AnswerKind.COMMENT and event.url and event.duration_s > 0:
            duration_s = min(event.duration_s, call.survey.comment_cap_s)
            actions.append(
                CommentRecorded(question=question.key, url=event.url, duration_s=duration_s)
            )
        if event.key.strip() == OPT_OUT_KEY:
            return _step(state, *actions, *_opt_out(call))
        if event.key == HUNG_UP:  # nobody is left to hear anything
            return _step(state, *actions, Hangup())
        return _step(state, *actions, *_ask(_next(state), call))


def _ask(state: SurveyState, call: SurveyCall, *, intro: bool = False) -> tuple[SurveyAction, ...]:
    """The question at `state` (keys go to `state`, silence to the same question counted
    once more), or the thank-you after the last."""
    questions = call.survey.asked
    if state.question >= len(questions):
        return _thanks(call)
    question, language = questions[state.question], call.language
    unheard = dataclasses.replace(state, unanswered=min(state.unanswered + 1, MAX_COUNTER))
    if question.kind is AnswerKind.COMMENT:  # told the cap the recording stops at
        cap = Seconds(seconds=call.survey.comment_cap_s)
        said = Say(key=question.prompt, language=language, variables={"cap": cap})
    else:
        said = Say(key=question.prompt, language=language)
    prompts = (Say(key=INTRO, language=language), said) if intro else (said,)
    if question.kind is AnswerKind.COMMENT:
        # The tone follows the words: keys during them would be lost, so none are asked for.
        record = Record(
            then=state, max_length_s=call.survey.comment_cap_s, finish_on_keys=COMMENT_FINISH_KEYS
        )
        return (*prompts, record, Redirect(then=unheard))
    return (
        Gather(input=Input.KEY, then=state, language=language, prompts=prompts),
        Redirect(then=unheard),
    )


def _next(state: SurveyState) -> SurveyState:
    return dataclasses.replace(state, question=min(state.question + 1, MAX_COUNTER), unanswered=0)


def _thanks(call: SurveyCall) -> tuple[SurveyAction, ...]:
    return Say(key=THANKS, language=call.language), Hangup()


def _opt_out(call: SurveyCall) -> tuple[SurveyAction, ...]:
    return SurveyOptOut(), Say(key=OPTED_OUT, language=call.language), Hangup()


def _step(state: SurveyState, *actions: SurveyAction) -> SurveyStep:
    return SurveyStep(actions=actions, state=state)


# --- the state in the action URL ------------------------------------------------------


def survey_to_query(state: SurveyState) -> list[tuple[str, str]]:
    query = [("attempt", "" if state.attempt_id is None else str(state.attempt_id))]
    query.append(("q", str(state.question)))
    return [*query, ("unanswered", str(state.unanswered))] if state.unanswered else query


def survey_from_query(query: Iterable[tuple[str, str]]) -> SurveyState:
    """Never raises: an attempt that is not a number is an attempt we don't know, and a
    question or count that is not one reads as zero (the first question, asked afresh)."""
    single: dict[str, str] = {}
    for name, value in query:
        single.setdefault(name, value)
    raw = single.get("attempt", "")
    attempt_id = int(raw) if raw.isdecimal() and len(raw) <= MAX_ATTEMPT_DIGITS else None
    return SurveyState(
        attempt_id=attempt_id,
        question=_counter(single.get("q", "")),
        unanswered=_counter(single.get("unanswered", "")),
    )


def _counter(raw: str) -> int:
    return min(int(raw), MAX_COUNTER) if raw.isdecimal() and len(raw) <= 2 else 0
