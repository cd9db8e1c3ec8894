"""The survey call as transcripts: what the customer presses or says, what they hear, and
what the line records, without a server, a database or a carrier.

A transcript lists, in order, the messages said (catalog keys; `@es` when in Spanish), the
recording offered (`record(60s)`), and the intents (`#delivered`, `#<question>=<answer>`,
`#comment=<s>s`, `#call_back_list`, `#survey_opt_out`), then `hangup`. Inputs are a key, None
for silence, or a `Rec` for a comment. A transcript that stops without `hangup` is a caller
who hung up there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.domain.flows.actions import (
    MAX_RECORD_S,
    Gather,
    Hangup,
    Record,
    Redirect,
    Say,
)
from outage_voice.domain.flows.campaign_call import AnsweredBy, Delivered, OptOut
from outage_voice.domain.flows.survey_call import (
    CALLBACK_NOTED,
    GOODBYE,
    INTRO,
    INVALID,
    MACHINE,
    MAX_REASKS,
    OPTED_OUT,
    THANKS,
    Answered,
    AnswerGiven,
    CallbackRequested,
    CommentRecorded,
    NoKey,
    Pressed,
    Recorded,
    SurveyCall,
    SurveyCallFlow,
    SurveyEvent,
    SurveyOptOut,
    SurveyState,
    survey_from_query,
    survey_to_query,
)
from outage_voice.domain.prompts import render, spoken
from outage_voice.domain.survey import CLOSING_COMMENT, DEFAULT_SURVEY, Survey

RECORDING = "https://carrier.example/Recordings/RE1"
NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Rec:
    """The carrier's answer to a recording: its length and the key that ended it."""

    duration_s: int
    key: str = "#"


Given = str | None | Rec


def _call(*, comment: bool = False, language: str = "en") -> SurveyCall:
    survey = dataclasses.replace(DEFAULT_SURVEY, closing_comment=comment)
    return SurveyCall(survey=survey, language=language)


def _token(action: object) -> str | None:
    if isinstance(action, Say):
        return action.key if action.language == "en" else f"{action.key}@{action.language}"
    if isinstance(action, Record):
        return f"record({action.max_length_s}s)"
    if isinstance(action, AnswerGiven):
        value = action.value
        said = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        return f"#{action.question}={said}"
    if isinstance(action, CommentRecorded):
        return f"#{action.question}={action.duration_s}s"
    names = {
        Delivered: "#delivered",
        CallbackRequested: "#call_back_list",
        SurveyOptOut: "#survey_opt_out",
        Hangup: "hangup",
    }
    return names.get(type(action))


def survey_call(first: SurveyEvent, inputs: Sequence[Given]) -> tuple[list[str], list[object]]:
    """The whole call as the carrier runs it: (what was heard and recorded, the intents)."""
    flow = SurveyCallFlow()
    call = first.call
    state, event = SurveyState(attempt_id=7), first
    heard: list[str] = []
    intents: list[object] = []
    pending = list(inputs)
    for _ in range(60):
        actions = flow.step(state, event).actions
        for action in actions:
            prompts = action.prompts if isinstance(action, Gather) else (action,)
            heard += [token for prompt in prompts if (token := _token(prompt))]
            if not isinstance(action, Say | Gather | Redirect | Record | Hangup):
                intents.append(action)
        if any(isinstance(action, Hangup) for action in actions) or not pending:
            return heard, intents
        given = pending.pop(0)
        # Keys go to the gather's step, a recording to the record's, silence to the redirect.
        follow: type = Redirect if given is None else Record if isinstance(given, Rec) else Gather
        state = next(
            a.then
            for a in actions
            if isinstance(a, Gather | Redirect | Record) and isinstance(a, follow)
        )
        if given is None:
            event = NoKey(call=call)
        elif isinstance(given, Rec):
            event = Recorded(call=call, url=RECORDING, duration_s=given.duration_s, key=given.key)
        else:
            event = Pressed(call=call, key=given)
    raise AssertionError("the call never ended")


PERSON = Answered(call=_call(), by=AnsweredBy.PERSON)
WITH_COMMENT = Answered(call=_call(comment=True), by=AnsweredBy.PERSON)
INFORMED, ETR, CALLBACK = "survey_informed", "survey_etr_accurate", "survey_callback"
OPENING = ["#delivered", "survey", INFORMED]
END = ["survey_thanks", "hangup"]
NO_CALLBACK = [CALLBACK, "#callback=no"]

SURVEY_CALLS: list[tuple[str, SurveyEvent, list[Given], list[str]]] = [
    ("every question answered", PERSON, ["4", "1", "2"],
     [*OPENING, "#informed=4", ETR, "#etr_accurate=yes", *NO_CALLBACK, *END]),
    ("yes to a call back puts the customer on the list", PERSON, ["5", "2", "1"],
     [*OPENING, "#informed=5", ETR, "#etr_accurate=no", CALLBACK, "#callback=yes",
      "#call_back_list", "survey_callback_noted", *END]),
    ("silence: the question twice more, then the next one", PERSON, [None, None, None, "1", "2"],
     [*OPENING, INFORMED, INFORMED, ETR, "#etr_accurate=yes", *NO_CALLBACK, *END]),
    ("silence twice, then answered on the last asking", PERSON, [None, None, "2", "1", "2"],
     [*OPENING, INFORMED, INFORMED, "#informed=2", ETR, "#etr_accurate=yes", *NO_CALLBACK,
      *END]),
    ("keys that are no answer: said so, asked again twice, then moved on", PERSON,
     ["7", "0", "6", "1", "2"],
     [*OPENING, "survey_invalid", INFORMED, "survey_invalid", INFORMED, "survey_invalid", ETR,
      "#etr_accurate=yes", *NO_CALLBACK, *END]),
    ("3 is no answer to a yes/no question", PERSON, ["3", "3", "1", "2"],
     [*OPENING, "#informed=3", ETR, "survey_invalid", ETR, "#etr_accurate=yes", *NO_CALLBACK,
      *END]),
    ("silent through every question: thanked all the same", PERSON, [None] * 9,
     [*OPENING, INFORMED, INFORMED, ETR, ETR, ETR, CALLBACK, CALLBACK, CALLBACK, *END]),
    ("hang-up halfway: the answer given before it is recorded", PERSON, ["4"],
     [*OPENING, "#informed=4", ETR]),
    ("9 stops survey calls, at any question", PERSON, ["3", "9"],
     [*OPENING, "#informed=3", ETR, "#survey_opt_out", "survey_opted_out", "hangup"]),
    ("9 during the opening", PERSON, ["9"],
     [*OPENING, "#survey_opt_out", "survey_opted_out", "hangup"]),
    ("a recorded comment", WITH_COMMENT, ["4", "1", "2", Rec(12)],
     [*OPENING, "#informed=4", ETR, "#etr_accurate=yes", *NO_CALLBACK, "survey_comment",
      "record(60s)", "#comment=12s", *END]),
    ("no comment: silence after the tone is not asked again", WITH_COMMENT, ["4", "1", "2", None],
     [*OPENING, "#informed=4", ETR, "#etr_accurate=yes", *NO_CALLBACK, "survey_comment",
      "record(60s)", *END]),
    ("a comment ended by hanging up is kept", WITH_COMMENT, ["4", "1", "2", Rec(30, "hangup")],
     [*OPENING, "#informed=4", ETR, "#etr_accurate=yes", *NO_CALLBACK, "survey_comment",
      "record(60s)", "#comment=30s", "hangup"]),
    ("a comment ended with 9: kept, and no more surveys", WITH_COMMENT,
     ["4", "1", "2", Rec(5, "9")],
     [*OPENING, "#informed=4", ETR, "#etr_accurate=yes", *NO_CALLBACK, "survey_comment",
      "record(60s)", "#comment=5s", "#survey_opt_out", "survey_opted_out", "hangup"]),
    ("a comment the carrier says ran past the cap counts as the cap", WITH_COMMENT,
     ["4", "1", "2", Rec(75, "")],
     [*OPENING, "#informed=4", ETR, "#etr_accurate=yes", *NO_CALLBACK, "survey_comment",
      "record(60s)", "#comment=60s", *END]),
    ("in Spanish", Answered(call=_call(language="es"), by=AnsweredBy.PERSON), ["4", "1", "2"],
     ["#delivered", "survey@es", f"{INFORMED}@es", "#informed=4", f"{ETR}@es",
      "#etr_accurate=yes", f"{CALLBACK}@es", "#callback=no", "survey_thanks@es", "hangup"]),
    ("a machine hears one sentence: no survey on voicemail",
     Answered(call=_call(), by=AnsweredBy.MACHINE), [], ["survey_machine", "hangup"]),
    ("a fax", Answered(call=_call(), by=AnsweredBy.FAX), [], ["hangup"]),
    ("an attempt we don't know", Answered(call=None, by=AnsweredBy.PERSON), [],
     ["goodbye", "hangup"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("first", "inputs", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in SURVEY_CALLS],
)
def test_survey_call_transcripts(
    first: SurveyEvent, inputs: list[Given], expected: list[str]
) -> None:
    assert survey_call(first, inputs)[0] == expected


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
def test_every_key_of_the_scale_is_its_answer(key: str) -> None:
    _, intents = survey_call(PERSON, [key])
    assert intents == [Delivered(), AnswerGiven(question="informed", value=int(key))]


def test_hanging_up_halfway_leaves_the_answers_given() -> None:
    """Each answer is an intent of the step it was given in: nothing waits for the end of
    the call, which a caller who hangs up never reaches."""
    _, intents = survey_call(PERSON, ["2", "1"])
    assert intents == [
        Delivered(),
        AnswerGiven(question="informed", value=2),
        AnswerGiven(question="etr_accurate", value=True),
    ]


def test_the_survey_opt_out_is_its_own_and_not_the_campaigns() -> None:
    _, intents = survey_call(PERSON, ["9"])
    assert SurveyOptOut() in intents
    assert not any(isinstance(intent, OptOut) for intent in intents)


def test_a_machine_is_not_counted_as_reached() -> None:
    _, intents = survey_call(Answered(call=_call(), by=AnsweredBy.MACHINE), [])
    assert intents == []


def test_the_comment_is_recorded_for_at_most_a_minute() -> None:
    step = SurveyCallFlow().step(
        SurveyState(attempt_id=7, question=3), NoKey(call=_call(comment=True))
    )
    assert [a for a in step.actions if isinstance(a, Record)] == []  # past it: thanked
    record = next(
        action
        for action in SurveyCallFlow()
        .step(SurveyState(attempt_id=7, question=2), Pressed(call=_call(comment=True), key="2"))
        .actions
        if isinstance(action, Record)
    )
    assert record.max_length_s == MAX_RECORD_S == 60
    assert "#" in record.finish_on_keys and "9" in record.finish_on_keys
    with pytest.raises(ValueError, match="60"):
        Record(then=None, max_length_s=61)
    short = dataclasses.replace(DEFAULT_SURVEY, closing_comment=True, comment_cap_s=20)
    call = SurveyCall(survey=short, language="en")
    actions = SurveyCallFlow().step(
        SurveyState(attempt_id=7, question=2), Pressed(call=call, key="1")
    )
    assert any(isinstance(a, Record) and a.max_length_s == 20 for a in actions.actions)


def test_reasks_are_bounded() -> None:
    asked = survey_call(PERSON, [None] * (MAX_REASKS + 1))[0].count(INFORMED)
    assert asked == 1 + MAX_REASKS


# --- the state in the URL -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ([("attempt", "42"), ("q", "1")], SurveyState(attempt_id=42, question=1)),
        ([("attempt", "42"), ("q", "2"), ("unanswered", "2")],
         SurveyState(attempt_id=42, question=2, unanswered=2)),
        ([("attempt", "²"), ("q", "x")], SurveyState(attempt_id=None)),
        ([("attempt", "-1"), ("q", "-1"), ("unanswered", "banana")], SurveyState(attempt_id=None)),
        ([("attempt", "9" * 19), ("q", "9" * 500)], SurveyState(attempt_id=None)),
        ([], SurveyState(attempt_id=None)),
    ],
)  # fmt: skip
def test_survey_state_in_the_url(query: list[tuple[str, str]], expected: SurveyState) -> None:
    state = survey_from_query(query)
    assert state == expected
    assert survey_from_query(survey_to_query(state)) == state


@given(
    st.lists(
        st.tuples(st.sampled_from(["attempt", "q", "unanswered", "x"]), st.text(max_size=30)),
        max_size=8,
    ),
    st.one_of(
        st.builds(Pressed, call=st.just(_call(comment=True)), key=st.text(max_size=3)),
        st.builds(NoKey, call=st.just(_call(comment=True))),
        st.builds(
            Recorded,
            call=st.just(_call(comment=True)),
            url=st.text(max_size=20),
            duration_s=st.integers(-5, 500),
            key=st.text(max_size=6),
        ),
    ),
)
def test_any_url_and_any_input_get_an_answer(
    query: list[tuple[str, str]], event: SurveyEvent
) -> None:
    """An edited or junk URL and any input never raise and never leave the caller in
    silence: the step says something, asks something, or ends the call."""
    step = SurveyCallFlow().step(survey_from_query(query), event)
    assert any(isinstance(a, Say | Gather | Record | Hangup) for a in step.actions)
    for action in step.actions:
        if isinstance(action, CommentRecorded):
            assert 0 < action.duration_s <= 60


def test_a_custom_survey_asks_its_own_questions() -> None:
    survey = Survey(id="etr", name="ETR only", questions=DEFAULT_SURVEY.questions[1:2])
    call = SurveyCall(survey=survey, language="en")
    heard, _ = survey_call(Answered(call=call, by=AnsweredBy.PERSON), ["2"])
    assert heard == ["#delivered", "survey", ETR, "#etr_accurate=no", *END]


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_line_of_the_survey_call_is_in_the_catalog(language: str) -> None:
    messages = load_catalogs()[language].messages
    said = {INTRO, INVALID, CALLBACK_NOTED, OPTED_OUT, THANKS, MACHINE, GOODBYE}
    said |= {question.prompt for question in (*DEFAULT_SURVEY.asked, CLOSING_COMMENT)}
    assert said - set(messages) == set()
    # The survey is answered with keys only: every question says which keys answer it.
    press = {"en": "press", "es": "oprima"}[language]
    for question in DEFAULT_SURVEY.asked:
        assert press in messages[question.prompt].lower(), question.key
    assert "9" in messages[INTRO]


@pytest.mark.parametrize(
    ("language", "cap_s", "said", "never"),
    [
        ("en", 15, "for up to fifteen seconds", "minute"),
        ("en", 60, "for up to one minute", "seconds"),
        ("en", 1, "for up to one second", "minute"),
        ("en", 45, "for up to forty-five seconds", "minute"),
        ("es", 15, "durante quince segundos como máximo", "minuto"),
        ("es", 21, "durante veintiún segundos como máximo", "minuto"),
        ("es", 60, "durante un minuto como máximo", "segundos"),
    ],
)
def test_the_comment_prompt_says_the_surveys_own_cap(
    language: str, cap_s: int, said: str, never: str
) -> None:
    """A supervisor's survey may cut a comment at 15 s: the caller is told 15 s, never the
    minute of the built-in one."""
    survey = dataclasses.replace(DEFAULT_SURVEY, closing_comment=True, comment_cap_s=cap_s)
    call = SurveyCall(survey=survey, language=language)
    step = SurveyCallFlow().step(SurveyState(attempt_id=7, question=2), Pressed(call=call, key="1"))
    asked = next(a for a in step.actions if isinstance(a, Say) and a.key == CLOSING_COMMENT.prompt)
    words = spoken(render(load_catalogs()[language], asked.key, asked.variables, now=NOW))
    assert said in words.lower()
    assert never not in words.lower()
    assert any(isinstance(a, Record) and a.max_length_s == cap_s for a in step.actions)
