"""Post-outage surveys, the pure rules: the supervisor's survey settings, who is asked
(a stable sample, opt-outs, one survey a month), what a key means, and what the answers
add up to. No database, no clock."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from outage_voice.domain.errors import InvalidField
from outage_voice.domain.survey import (
    CLOSING_COMMENT,
    DEFAULT_SURVEY,
    NOT_SAMPLED,
    OPTED_OUT,
    SURVEY_OPTED_OUT,
    SURVEYED_RECENTLY,
    AnswerKind,
    CallAnswers,
    Question,
    Survey,
    SurveyRules,
    eligible,
    in_sample,
    merge_survey_rules,
    parse_answer,
    summarize,
    survey_rules_from_json,
    why_not_surveyed,
)

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
NUMBERS = [f"+1512{n:07d}" for n in range(10_000)]
INFORMED, ETR, CALLBACK = DEFAULT_SURVEY.questions


# --- what is asked -------------------------------------------------------------------------


def test_the_default_survey() -> None:
    assert [(q.key, q.prompt, q.kind) for q in DEFAULT_SURVEY.asked] == [
        ("informed", "survey_informed", AnswerKind.SCALE_1_5),
        ("etr_accurate", "survey_etr_accurate", AnswerKind.YES_NO),
        ("callback", "survey_callback", AnswerKind.YES_NO),
    ]
    assert [q.callback_on_yes for q in DEFAULT_SURVEY.asked] == [False, False, True]
    assert DEFAULT_SURVEY.comment_cap_s == 60
    with_comment = Survey(
        id="s", name="n", questions=DEFAULT_SURVEY.questions, closing_comment=True
    )
    assert with_comment.asked[-1] == CLOSING_COMMENT
    assert CLOSING_COMMENT.kind is AnswerKind.COMMENT


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"questions": ()}, "at least one"),
        ({"questions": (INFORMED, INFORMED)}, "differ"),
        ({"comment_cap_s": 61}, "60"),
        ({"comment_cap_s": 0}, "60"),
        ({"questions": (Question(key="", prompt="p", kind=AnswerKind.YES_NO),)}, "characters"),
        ({"questions": (INFORMED,) * 10}, "at most 9"),
        (
            {"questions": (Question(key="a", prompt="p", kind=AnswerKind.SCALE_1_5,
                                    callback_on_yes=True),)},
            "yes/no",
        ),
    ],
)  # fmt: skip
def test_a_survey_that_cannot_be_asked_is_refused(changes: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"id": "s", "name": "n", "questions": DEFAULT_SURVEY.questions}
    with pytest.raises(ValueError, match=message):
        Survey(**{**base, **changes})


@pytest.mark.parametrize(
    ("question", "digits", "expected"),
    [
        *[(INFORMED, str(n), n) for n in range(1, 6)],
        (INFORMED, " 3 ", 3),
        (INFORMED, "0", None),
        (INFORMED, "6", None),
        (INFORMED, "9", None),
        (INFORMED, "*", None),
        (INFORMED, "12", None),
        (INFORMED, "", None),
        (INFORMED, "٣", None),  # a digit, but not a key on the keypad
        (ETR, "1", True),
        (ETR, "2", False),
        (ETR, "3", None),
        (ETR, "#", None),
        (CALLBACK, "1", True),
        (CLOSING_COMMENT, "1", None),
    ],
)
def test_parse_answer(question: Question, digits: str, expected: object) -> None:
    value = parse_answer(question, digits)
    assert value == expected
    assert type(value) is type(expected)  # a yes is True, not the scale's 1


# --- the supervisor's rules ----------------------------------------------------------------


def test_rules_defaults_as_the_design_names_them() -> None:
    assert SurveyRules().as_json() == {
        "enabled": True,
        "delay_s": 7200,
        "sample_share": 0.2,
        "per_customer_gap_s": 2592000,
    }
    assert SurveyRules().due_at(NOW) == NOW + timedelta(hours=2)


def test_a_partial_document_changes_only_what_it_names() -> None:
    merged = merge_survey_rules(SurveyRules(), {"sample_share": 0.5, "enabled": False})
    assert merged == SurveyRules(sample_share=0.5, enabled=False)
    merged = merge_survey_rules(merged, {"delay_s": 0, "per_customer_gap_s": 86400})
    assert merged == SurveyRules(
        sample_share=0.5, enabled=False, delay_s=0, per_customer_gap_s=86400
    )
    assert merge_survey_rules(merged, {}) == merged
    assert merge_survey_rules(SurveyRules(), {"sample_share": 1}).sample_share == 1.0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ([], "survey"),
        ("off", "survey"),
        ({"enabeld": True}, "survey.enabeld"),
        ({"enabled": 1}, "survey.enabled"),
        ({"enabled": "true"}, "survey.enabled"),
        ({"delay_s": -1}, "survey.delay_s"),
        ({"delay_s": 1.5}, "survey.delay_s"),
        ({"delay_s": True}, "survey.delay_s"),
        ({"delay_s": 8 * 86400}, "survey.delay_s"),
        ({"sample_share": 1.2}, "survey.sample_share"),
        ({"sample_share": -0.1}, "survey.sample_share"),
        ({"sample_share": "20%"}, "survey.sample_share"),
        ({"sample_share": True}, "survey.sample_share"),
        ({"per_customer_gap_s": None}, "survey.per_customer_gap_s"),
        ({"sample_share": 0.3, "gap": 1}, "survey.gap"),
    ],
)
def test_a_bad_or_unknown_field_is_named_by_its_dotted_path(patch: object, field: str) -> None:
    with pytest.raises(InvalidField) as raised:
        merge_survey_rules(SurveyRules(), patch)
    assert raised.value.field == field


def test_the_section_is_named_where_it_sits() -> None:
    with pytest.raises(InvalidField) as raised:
        merge_survey_rules(SurveyRules(), {"delay_s": -1}, path="rules.survey")
    assert raised.value.field == "rules.survey.delay_s"


def test_stored_rules_read_back_and_junk_reads_as_defaults() -> None:
    rules = SurveyRules(enabled=False, delay_s=60, sample_share=0.05, per_customer_gap_s=0)
    assert survey_rules_from_json(rules.as_json()) == rules
    assert survey_rules_from_json(None) == SurveyRules()
    assert survey_rules_from_json({"sample_share": 7, "delay_s": "x", "enabled": 1}) == (
        SurveyRules()
    )


# --- who is asked --------------------------------------------------------------------------


def test_the_sample_is_the_share_asked_for() -> None:
    for share in (0.05, 0.2, 0.5):
        chosen = sum(in_sample(phone, "STORM-7", share) for phone in NUMBERS)
        # ±1.5 points: beyond four standard deviations for 10,000 numbers at any share.
        assert abs(chosen / len(NUMBERS) - share) < 0.015, share
    assert not any(in_sample(phone, "STORM-7", 0) for phone in NUMBERS)
    assert all(in_sample(phone, "STORM-7", 1) for phone in NUMBERS)


def test_the_sample_is_stable_and_nested() -> None:
    """Asked twice, the same numbers; a larger share keeps everyone already chosen, so a
    supervisor raising it mid-way never un-chooses anybody."""
    first = {phone for phone in NUMBERS if in_sample(phone, "STORM-7", 0.2)}
    assert first == {phone for phone in NUMBERS if in_sample(phone, "STORM-7", 0.2)}
    assert first <= {phone for phone in NUMBERS if in_sample(phone, "STORM-7", 0.3)}


def test_each_outage_draws_its_own_sample() -> None:
    """The same customers are not surveyed after every outage: two outages' samples overlap
    about as much as chance would have them (share squared)."""
    a = {phone for phone in NUMBERS if in_sample(phone, "STORM-7", 0.2)}
    b = {phone for phone in NUMBERS if in_sample(phone, "STORM-8", 0.2)}
    assert abs(len(a & b) / len(NUMBERS) - 0.04) < 0.01


def test_the_sample_is_the_same_on_every_instance() -> None:
    """Another process, with another string hash seed, chooses exactly the same numbers: any
    instance may plan the survey, and a replay after a crash plans the same one."""
    script = (
        "from outage_voice.domain.survey import in_sample\n"
        f"numbers = [f'+1512{{n:07d}}' for n in range({len(NUMBERS)})]\n"
        "print(','.join(p for p in numbers if in_sample(p, 'STORM-7', 0.2)))\n"
    )
    here = [phone for phone in NUMBERS if in_sample(phone, "STORM-7", 0.2)]
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        assert out.split(",") == here


@pytest.mark.parametrize(
    ("opted_out", "survey_opted_out", "last_ago", "reason"),
    [
        (False, False, None, None),
        (True, False, None, OPTED_OUT),
        (False, True, None, SURVEY_OPTED_OUT),
        (True, True, None, OPTED_OUT),
        (False, False, timedelta(days=29, hours=23), SURVEYED_RECENTLY),
        (False, False, timedelta(days=30), None),
        (False, False, timedelta(days=90), None),
        (False, True, timedelta(days=90), SURVEY_OPTED_OUT),
    ],
)
def test_who_may_be_surveyed(
    opted_out: bool, survey_opted_out: bool, last_ago: timedelta | None, reason: str | None
) -> None:
    facts: dict[str, Any] = {
        "opted_out": opted_out,
        "survey_opted_out": survey_opted_out,
        "last_survey_at": None if last_ago is None else NOW - last_ago,
        "now": NOW,
        "rules": SurveyRules(),
    }
    assert why_not_surveyed(**facts) == reason
    assert eligible(**facts) is (reason is None)
    assert reason != NOT_SAMPLED  # sampling is the automatic sending's own step


def test_the_gap_is_the_supervisors() -> None:
    facts: dict[str, Any] = {"opted_out": False, "survey_opted_out": False, "now": NOW}
    week_ago = NOW - timedelta(days=7)
    assert not eligible(**facts, last_survey_at=week_ago, rules=SurveyRules())
    assert eligible(**facts, last_survey_at=week_ago, rules=SurveyRules(per_customer_gap_s=0))


# --- what the answers add up to ------------------------------------------------------------


def _calls() -> list[CallAnswers]:
    return [
        CallAnswers(outage_id="A", reached=True, answers={"informed": 5, "etr_accurate": True,
                                                          "callback": False}),
        CallAnswers(outage_id="A", reached=True, answers={"informed": 2, "etr_accurate": False,
                                                          "callback": True}),
        # Hung up after the first question: a partial answer, counted where it was given.
        CallAnswers(outage_id="A", reached=True, answers={"informed": 4}),
        CallAnswers(outage_id="A", reached=True),  # answered, pressed nothing
        CallAnswers(outage_id="A", reached=False),  # no answer
        CallAnswers(outage_id="B", reached=True, answers={"informed": 3, "etr_accurate": True,
                                                          "callback": False}),
        CallAnswers(outage_id="B", reached=False),
        # Values the survey's keys cannot give are no answers.
        CallAnswers(outage_id="B", reached=True, answers={"informed": 7, "etr_accurate": 1,
                                                          "retired": 3}),
    ]  # fmt: skip


def test_summarize_counts_means_shares_and_partial_answers() -> None:
    results = summarize(DEFAULT_SURVEY, _calls())
    assert (results.calls, results.reached, results.responded) == (8, 6, 4)
    assert (results.completed, results.partial) == (3, 1)
    assert results.response_rate == 4 / 8
    informed, etr, callback = results.questions
    assert (informed.count, informed.mean) == (4, (5 + 2 + 4 + 3) / 4)
    assert informed.distribution == {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}
    assert (etr.count, etr.yes_share, etr.distribution) == (3, 2 / 3, {"yes": 2, "no": 1})
    assert (callback.count, callback.yes_share) == (3, 1 / 3)


def test_summarize_by_outage() -> None:
    by_outage = summarize(DEFAULT_SURVEY, _calls()).by_outage
    assert sorted(by_outage) == ["A", "B"]
    a, b = by_outage["A"], by_outage["B"]
    assert (a.calls, a.reached, a.responded, a.completed, a.partial) == (5, 4, 3, 2, 1)
    assert a.questions[0].mean == (5 + 2 + 4) / 3
    assert (b.calls, b.responded, b.response_rate) == (3, 1, 1 / 3)
    assert b.questions[0].distribution["3"] == 1 and b.questions[0].count == 1
    assert b.by_outage == {}


def test_summarize_comments_and_nothing_at_all() -> None:
    survey = Survey(id="s", name="n", questions=(INFORMED,), closing_comment=True)
    calls = [
        CallAnswers(outage_id=None, reached=True, answers={"informed": 4}, comment_s=12),
        CallAnswers(outage_id=None, reached=True, comment_s=30),  # only a comment: partial
        CallAnswers(outage_id=None, reached=True, answers={"informed": 1}, comment_s=0),
    ]
    results = summarize(survey, calls)
    assert (results.responded, results.completed, results.partial) == (3, 1, 2)
    assert results.questions[1].count == 2 and results.questions[1].comment_s == 42
    assert results.by_outage == {}
    empty = summarize(DEFAULT_SURVEY, [])
    assert (empty.calls, empty.response_rate, empty.questions[0].mean) == (0, None, None)
    assert empty.as_json()["questions"][1] == {
        "key": "etr_accurate",
        "kind": "yes_no",
        "count": 0,
        "yes_share": None,
        "distribution": {"yes": 0, "no": 0},
    }


def test_results_as_json() -> None:
    document = summarize(DEFAULT_SURVEY, _calls()).as_json()
    assert document["response_rate"] == 0.5
    assert document["questions"][0] == {
        "key": "informed",
        "kind": "scale_1_5",
        "count": 4,
        "mean": 3.5,
        "distribution": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1},
    }
    assert document["questions"][1]["yes_share"] == 0.6667
    assert sorted(document["by_outage"]) == ["A", "B"]
    assert "by_outage" not in document["by_outage"]["A"]
