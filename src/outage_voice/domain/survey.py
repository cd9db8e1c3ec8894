"""Post-outage surveys: what is asked, who is asked, what an answer is, and what the answers
add up to.

Pure. A survey is a few keypad questions (a 1 to 5 scale or yes/no) and perhaps a recorded
comment. The automation sends one a while after an outage is restored to a stable sample of
its customers, never to a number that opted out of calls or of surveys, and at most once per
customer in `per_customer_gap_s`; a supervisor may also send one for any outage. Each answer
is stored as it is given, so a caller who hangs up halfway leaves the answers they gave.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from outage_voice.domain.errors import InvalidField

# The rules document's own checks, shared so a survey field is refused exactly as an
# acknowledgement's is (same wording, same dotted paths).
from outage_voice.domain.rule_fields import (
    DAY_S,
    boolean,
    is_number,
    json_object,
    mapping,
    seconds,
    stored_flag,
    stored_whole,
)

# --- what is asked -------------------------------------------------------------------------


class AnswerKind(StrEnum):
    SCALE_1_5 = "scale_1_5"  # one key, 1 (not at all) to 5 (very)
    YES_NO = "yes_no"  # 1 yes, 2 no
    COMMENT = "comment"  # spoken after the tone, kept as audio


AnswerValue = int | bool  # a scale's 1..5, or yes (True) / no (False)

MAX_COMMENT_S = 60  # a comment, not a voicemail box
# Keys the carrier carries in the call's URL; a longer survey is a questionnaire, not a
# follow-up call, and would lose people halfway.
MAX_QUESTIONS = 9
MAX_KEY_CHARS = 40
OPT_OUT_KEY = "9"  # at any question: no more surveys (never an answer)
YES_KEY, NO_KEY = "1", "2"


@dataclass(frozen=True, kw_only=True, slots=True)
class Question:
    key: str  # what the answer is stored under
    prompt: str  # the catalog message that asks it (and says which keys answer it)
    kind: AnswerKind
    # A yes here puts the customer on the call-back list a supervisor reads.
    callback_on_yes: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Survey:
    id: str
    name: str
    questions: tuple[Question, ...]
    # Adds CLOSING_COMMENT after the questions: "tell us more after the tone".
    closing_comment: bool = False
    comment_cap_s: int = MAX_COMMENT_S

    def __post_init__(self) -> None:
        keys = [question.key for question in self.asked]
        if not keys:
            raise ValueError("a survey asks at least one question")
        if len(keys) > MAX_QUESTIONS:
            raise ValueError(f"a survey asks at most {MAX_QUESTIONS} questions")
        if len(set(keys)) != len(keys):
            raise ValueError("question keys must differ")
        if not all(0 < len(key) <= MAX_KEY_CHARS for key in keys):
            raise ValueError(f"question keys are 1 to {MAX_KEY_CHARS} characters")
        if not 1 <= self.comment_cap_s <= MAX_COMMENT_S:
            raise ValueError(f"a comment is capped at 1 to {MAX_COMMENT_S} s")
        for question in self.asked:
            if question.callback_on_yes and question.kind is not AnswerKind.YES_NO:
                raise ValueError(f"{question.key}: only a yes/no question asks for a call back")

    @property
    def asked(self) -> tuple[Question, ...]:
        """The questions in the order a caller hears them."""
        return (*self.questions, CLOSING_COMMENT) if self.closing_comment else self.questions

    def question(self, key: str) -> Question | None:
        return next((question for question in self.asked if question.key == key), None)


_QUESTION_KEY = re.compile(r"[a-z0-9_]+")


def is_question_key(key: str) -> bool:
    """What a supervisor may name a question: 1 to MAX_KEY_CHARS lowercase letters, digits
    or underscores (it is a CSV column and part of a comment's URL)."""
    return len(key) <= MAX_KEY_CHARS and _QUESTION_KEY.fullmatch(key) is not None


CLOSING_COMMENT = Question(key="comment", prompt="survey_comment", kind=AnswerKind.COMMENT)
DEFAULT_SURVEY = Survey(
    id="post_outage",
    name="After an outage",
    questions=(
        Question(key="informed", prompt="survey_informed", kind=AnswerKind.SCALE_1_5),
        Question(key="etr_accurate", prompt="survey_etr_accurate", kind=AnswerKind.YES_NO),
        Question(
            key="callback",
            prompt="survey_callback",
            kind=AnswerKind.YES_NO,
            callback_on_yes=True,
        ),
    ),
)


_KINDS: Mapping[str, AnswerKind] = {kind.value: kind for kind in AnswerKind}


def survey_as_json(survey: Survey) -> dict[str, Any]:
    """A definition as the `surveys` table keeps it (its id is the row's key)."""
    return {
        "name": survey.name,
        "questions": [
            {
                "key": question.key,
                "prompt": question.prompt,
                "kind": question.kind.value,
                "callback_on_yes": question.callback_on_yes,
            }
            for question in survey.questions
        ],
        "closing_comment": survey.closing_comment,
        "comment_cap_s": survey.comment_cap_s,
    }


def stored_survey(survey_id: str, raw: object) -> Survey | None:
    """A definition as stored (`survey_as_json`), or None when it no longer makes a survey
    (a field of the wrong kind, a question of an unknown kind): an answered call then asks
    the built-in survey rather than nothing."""
    section = mapping(raw)
    questions = section.get("questions")
    cap = section.get("comment_cap_s", MAX_COMMENT_S)
    if not isinstance(questions, list) or type(cap) is not int:
        return None
    asked: list[Question] = []
    for entry in questions:
        fields = mapping(entry)
        key, prompt, kind = fields.get("key"), fields.get("prompt"), fields.get("kind")
        if not isinstance(key, str) or not isinstance(prompt, str) or str(kind) not in _KINDS:
            return None
        callback = fields.get("callback_on_yes", False) is True
        question = Question(
            key=key, prompt=prompt, kind=_KINDS[str(kind)], callback_on_yes=callback
        )
        asked.append(question)
    name = section.get("name")
    try:
        return Survey(
            id=survey_id,
            name=name if isinstance(name, str) else survey_id,
            questions=tuple(asked),
            closing_comment=section.get("closing_comment", False) is True,
            comment_cap_s=cap,
        )
    except ValueError:
        return None


def parse_answer(question: Question, digits: str) -> AnswerValue | None:
    """The answer a key gives to a keypad question; None for anything else (another key,
    several keys, a comment question, which keys never answer)."""
    key = digits.strip()
    if question.kind is AnswerKind.SCALE_1_5:
        return int(key) if len(key) == 1 and key in "12345" else None
    if question.kind is AnswerKind.YES_NO:
        return {YES_KEY: True, NO_KEY: False}.get(key)
    return None


def valid_answer(question: Question, value: object) -> bool:
    """Whether a stored value is one this question's keys can give."""
    if question.kind is AnswerKind.SCALE_1_5:
        return type(value) is int and 1 <= value <= 5
    return question.kind is AnswerKind.YES_NO and type(value) is bool


# --- the supervisor's rules ----------------------------------------------------------------

MAX_SURVEY_DELAY_S = 7 * DAY_S  # a week after the lights came back, nobody remembers the calls
MAX_SURVEY_GAP_S = 365 * DAY_S
SURVEY_FIELDS = frozenset({"enabled", "delay_s", "sample_share", "per_customer_gap_s"})


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyRules:
    enabled: bool = True
    # After `restored`: long enough that the customer has seen the power stay on, soon
    # enough that they remember the calls. Sent within the calling window like any call.
    delay_s: int = 7200
    # The share of an outage's customers asked: enough for a result, few enough that
    # surveys don't become a nuisance of their own.
    sample_share: float = 0.2
    per_customer_gap_s: int = 30 * DAY_S

    def as_json(self) -> dict[str, Any]:
        """The `survey` section of the automation document (DESIGN.md), every field present."""
        return {
            "enabled": self.enabled,
            "delay_s": self.delay_s,
            "sample_share": self.sample_share,
            "per_customer_gap_s": self.per_customer_gap_s,
        }

    def due_at(self, restored_at: datetime) -> datetime:
        return restored_at + timedelta(seconds=self.delay_s)


def merge_survey_rules(current: SurveyRules, patch: object, *, path: str = "survey") -> SurveyRules:
    """A supervisor's partial `survey` section merged into the current rules. Raises
    InvalidField naming the dotted path of the first bad or unknown field
    (`survey.sample_share`); `path` is where the section sits in the document."""
    section = json_object(patch, path, known=SURVEY_FIELDS, prefix=f"{path}.")
    rules = current
    if "enabled" in section:
        rules = replace(rules, enabled=boolean(section, f"{path}.enabled"))
    if "delay_s" in section:
        rules = replace(rules, delay_s=seconds(section, f"{path}.delay_s", MAX_SURVEY_DELAY_S))
    if "sample_share" in section:
        share = section["sample_share"]
        if not is_number(share) or not 0 <= share <= 1:
            raise InvalidField(f"{path}.sample_share", "must be a number from 0 to 1 (0.2 is 20%)")
        rules = replace(rules, sample_share=float(share))
    if "per_customer_gap_s" in section:
        gap = seconds(section, f"{path}.per_customer_gap_s", MAX_SURVEY_GAP_S)
        rules = replace(rules, per_customer_gap_s=gap)
    return rules


def survey_rules_from_json(raw: object) -> SurveyRules:
    """Rules as stored (a section `as_json` wrote, perhaps by an older server): a field that
    is missing or of the wrong kind reads as its default rather than stopping surveys."""
    section, default = mapping(raw), SurveyRules()
    share = section.get("sample_share")
    return SurveyRules(
        enabled=stored_flag(section, "enabled", default.enabled),
        delay_s=stored_whole(section, "delay_s", default.delay_s),
        sample_share=(
            float(share) if is_number(share) and 0 <= share <= 1 else default.sample_share
        ),
        per_customer_gap_s=stored_whole(section, "per_customer_gap_s", default.per_customer_gap_s),
    )


# --- who is asked --------------------------------------------------------------------------

# Why a customer was not surveyed (the ledger's skip reasons).
OPTED_OUT = "opted_out"  # the number opted out of every campaign call
SURVEY_OPTED_OUT = "survey_opted_out"  # pressed 9 in an earlier survey
SURVEYED_RECENTLY = "surveyed_recently"  # within per_customer_gap_s
NOT_SAMPLED = "not_sampled"  # outside this outage's sample

_SAMPLE_SALT = b"outage-voice survey sample v1\x00"
_SAMPLE_SPACE = 2**64


def in_sample(phone: str, outage_id: str, share: float) -> bool:
    """Whether this number (E.164, as stored) is in the outage's survey sample. The same on
    every instance and every replay (a hash, not a random draw), independent from one outage
    to the next, and nested: raising the share keeps everyone already in the sample."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    digest = hashlib.sha256(_SAMPLE_SALT + outage_id.encode() + b"\x00" + phone.encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * _SAMPLE_SPACE


def why_not_surveyed(
    *,
    opted_out: bool,
    survey_opted_out: bool,
    last_survey_at: datetime | None,
    now: datetime,
    rules: SurveyRules,
) -> str | None:
    """The reason this number is not asked now, or None when it may be. Sampling is the
    automatic sending's own choice (`in_sample`); a survey sent on demand skips it."""
    if opted_out:
        return OPTED_OUT
    if survey_opted_out:
        return SURVEY_OPTED_OUT
    gap = timedelta(seconds=rules.per_customer_gap_s)
    if last_survey_at is not None and now - last_survey_at < gap:
        return SURVEYED_RECENTLY
    return None


def eligible(
    *,
    opted_out: bool,
    survey_opted_out: bool,
    last_survey_at: datetime | None,
    now: datetime,
    rules: SurveyRules,
) -> bool:
    return (
        why_not_surveyed(
            opted_out=opted_out,
            survey_opted_out=survey_opted_out,
            last_survey_at=last_survey_at,
            now=now,
            rules=rules,
        )
        is None
    )


# --- what the answers add up to ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class CallAnswers:
    """One survey call as stored: a target called, whether a person answered, and the
    answers given (by question key), however far the caller went."""

    outage_id: str | None
    reached: bool
    answers: Mapping[str, AnswerValue] = field(default_factory=dict)
    comment_s: int | None = None  # the recorded comment's length; None: no comment


@dataclass(frozen=True, kw_only=True, slots=True)
class QuestionResult:
    key: str
    kind: AnswerKind
    count: int  # calls that answered this question
    mean: float | None = None  # scales
    yes_share: float | None = None  # yes/no
    # Scale: "1".."5"; yes/no: "yes", "no". Every possible answer present, 0 or more.
    distribution: Mapping[str, int] = field(default_factory=dict)
    comment_s: int = 0  # comments: their total length

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"key": self.key, "kind": self.kind.value, "count": self.count}
        if self.kind is AnswerKind.SCALE_1_5:
            document["mean"] = _rounded(self.mean)
        if self.kind is AnswerKind.YES_NO:
            document["yes_share"] = _rounded(self.yes_share)
        if self.kind is AnswerKind.COMMENT:
            document["comment_s"] = self.comment_s
        else:
            document["distribution"] = dict(self.distribution)
        return document


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyResults:
    calls: int  # survey calls made (targets called)
    reached: int  # a person answered
    responded: int  # gave at least one answer
    completed: int  # answered every question
    partial: int  # answered some, not all (hung up, or let a question pass)
    response_rate: float | None  # responded / calls; None before any call
    questions: tuple[QuestionResult, ...]
    by_outage: Mapping[str, SurveyResults] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "calls": self.calls,
            "reached": self.reached,
            "responded": self.responded,
            "completed": self.completed,
            "partial": self.partial,
            "response_rate": _rounded(self.response_rate),
            "questions": [question.as_json() for question in self.questions],
        }
        if self.by_outage:
            document["by_outage"] = {
                outage: results.as_json() for outage, results in sorted(self.by_outage.items())
            }
        return document


def summarize(survey: Survey, calls: Iterable[CallAnswers]) -> SurveyResults:
    """Counts per question, the mean of each scale, the share of yes, the response rate,
    and the same per outage. Partial calls count for every question they answered. Stored
    answers the survey's keys could not give (a question since removed, a value out of
    range) are left out."""
    every = list(calls)
    outages = sorted({call.outage_id for call in every if call.outage_id is not None})
    by_outage = {
        outage: _totals(survey, [call for call in every if call.outage_id == outage])
        for outage in outages
    }
    return replace(_totals(survey, every), by_outage=by_outage)


def _totals(survey: Survey, calls: Sequence[CallAnswers]) -> SurveyResults:
    kept = [_kept(survey, call) for call in calls]
    asked = len(survey.asked)
    answered = [len(answers) for answers in kept]
    responded = sum(1 for count in answered if count)
    completed = sum(1 for count in answered if count == asked)
    return SurveyResults(
        calls=len(calls),
        reached=sum(1 for call in calls if call.reached),
        responded=responded,
        completed=completed,
        partial=responded - completed,
        response_rate=_share(responded, len(calls)),
        questions=tuple(_question(question, kept) for question in survey.asked),
    )


def _kept(survey: Survey, call: CallAnswers) -> dict[str, AnswerValue | int]:
    """The answers that count, by question key; a comment counts as its length."""
    kept: dict[str, AnswerValue | int] = {}
    for question in survey.asked:
        if question.kind is AnswerKind.COMMENT:
            if call.comment_s is not None and call.comment_s > 0:
                kept[question.key] = call.comment_s
            continue
        value = call.answers.get(question.key)
        if value is not None and valid_answer(question, value):
            kept[question.key] = value
    return kept


def _question(
    question: Question, kept: Sequence[Mapping[str, AnswerValue | int]]
) -> QuestionResult:
    values = [answers[question.key] for answers in kept if question.key in answers]
    count = len(values)
    if question.kind is AnswerKind.COMMENT:
        return QuestionResult(
            key=question.key, kind=question.kind, count=count, comment_s=int(sum(values))
        )
    if question.kind is AnswerKind.SCALE_1_5:
        distribution = {str(point): values.count(point) for point in range(1, 6)}
        mean = sum(values) / count if count else None
        return QuestionResult(
            key=question.key, kind=question.kind, count=count, mean=mean, distribution=distribution
        )
    yes = sum(1 for value in values if value is True)
    return QuestionResult(
        key=question.key,
        kind=question.kind,
        count=count,
        yes_share=_share(yes, count),
        distribution={"yes": yes, "no": count - yes},
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
