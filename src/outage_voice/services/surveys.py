"""Post-outage surveys: sent after a restoration by the schedule (a sample of the outage's
customers) or on demand by a supervisor (everyone on an outage), and what they answered.

A survey campaign is an ordinary campaign of kind `survey` whose calls ask the survey named in
its message (`variables["survey"]`). Its audience is everyone at the outage's premises and on
its feeders, and everyone its automatic campaigns called (the OMS may empty an outage's
premises when it is restored); each number left out is written as an excluded target with
the reason (domain.survey's reasons), so a supervisor can see why a customer was not asked.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from outage_voice.domain.automation import AutomationRules, Trigger
from outage_voice.domain.campaigns import (
    DEFAULT_RETRY,
    Audience,
    CampaignKind,
    CampaignSpec,
    Message,
    check_name,
    check_priority,
    pacing_change,
)
from outage_voice.domain.errors import InvalidField, NotFound
from outage_voice.domain.survey import (
    DEFAULT_SURVEY,
    AnswerKind,
    AnswerValue,
    CallAnswers,
    Survey,
    SurveyResults,
    stored_survey,
    summarize,
    survey_as_json,
)
from outage_voice.services.ports import Clock
from outage_voice.services.survey_ports import (
    SurveyAudience,
    SurveyCall,
    SurveyCallback,
    SurveyOutage,
    SurveyStarted,
    SurveyStore,
)

logger = logging.getLogger(__name__)

AUTOMATIC_ACTOR = "automation"
# The call-back list as one page: a supervisor works through it, oldest first.
MAX_CALLBACKS_LISTED = 1000
# What a stored answer means for a yes/no question (survey_answers.value).
YES_VALUE, NO_VALUE = 1, 0


class RulesSource(Protocol):
    """The automation's rules (services.automation_ports.AutomationStore answers it)."""

    async def rules(self) -> AutomationRules: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveySend:
    """A supervisor's survey of one outage, sent now to everyone on it who may be asked."""

    outage_id: str
    survey: str = DEFAULT_SURVEY.id
    name: str | None = None
    cps: float | None = None
    max_concurrent: int | None = None
    window: str | None = None  # None: the automation's calling window
    priority: int = 0
    starts_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyExport:
    """The calls as a table: a header and one row per number called."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


def survey_spec(
    *,
    name: str,
    outage_id: str,
    survey_id: str,
    rules: AutomationRules,
    cps: float | None = None,
    max_concurrent: int | None = None,
    window: str | None = None,
    priority: int = 0,
    starts_at: datetime | None = None,
) -> CampaignSpec:
    """A survey campaign: the outage as its audience, the survey in its message, the
    survey's pacing and the rules' calling window unless the supervisor names others.
    Raises InvalidField naming the API's field."""
    pacing = rules.pacing_for(Trigger.SURVEY)
    change = pacing_change(
        cps=cps, max_concurrent=max_concurrent, window=window, priority=check_priority(priority)
    )
    return CampaignSpec(
        name=check_name(name),
        kind=CampaignKind.SURVEY,
        audience=Audience(outage_id=outage_id),
        message=Message(variables={"survey": survey_id}),
        cps=pacing.cps if change.cps is None else change.cps,
        max_concurrent=(
            pacing.max_concurrent if change.max_concurrent is None else change.max_concurrent
        ),
        window=rules.calling_window() if change.window is None else change.window,
        urgent=False,  # a survey never calls outside the window
        retry=dict(DEFAULT_RETRY),
        voicemail="message",  # a machine hears one sentence: we called, no reply needed
        priority=priority,
        starts_at=starts_at,
    )


def call_answers(survey: Survey | None, call: SurveyCall) -> CallAnswers:
    """A call as domain.survey.summarize counts it: yes/no answers as booleans (a value
    neither yes nor no stays a number, which summarize leaves out)."""
    answers: dict[str, AnswerValue] = {}
    for key, value in call.answers.items():
        question = None if survey is None else survey.question(key)
        if question is not None and question.kind is AnswerKind.YES_NO:
            answers[key] = {YES_VALUE: True, NO_VALUE: False}.get(value, value)
        else:
            answers[key] = value
    reached = call.answered or bool(call.answers) or bool(call.comment_s)
    return CallAnswers(
        outage_id=call.outage_id, reached=reached, answers=answers, comment_s=call.comment_s
    )


def _cell(survey: Survey | None, key: str, value: int | None) -> str:
    if value is None:
        return ""
    question = None if survey is None else survey.question(key)
    if question is not None and question.kind is AnswerKind.YES_NO:
        return {YES_VALUE: "yes", NO_VALUE: "no"}.get(value, str(value))
    return str(value)


# The export's own columns, around one per question: no question may be named like them
# (web/surveys_api.py refuses the key), or the file would have two columns of one name.
LEADING_COLUMNS = (
    "survey",
    "outage",
    "campaign",
    "called_at",
    "account_numbers",
    "phone",
    "language",
    "reached",
)
# Not "callback": the default survey asks a question of that name.
TRAILING_COLUMNS = ("comment_s", "callback_requested")
FIXED_COLUMNS = frozenset((*LEADING_COLUMNS, *TRAILING_COLUMNS))


def export_table(surveys: Mapping[str, Survey | None], calls: Sequence[SurveyCall]) -> SurveyExport:
    """One row per number called; a column per keypad question of the surveys exported (in
    the order they are asked; answers to questions no definition has any longer after them)."""
    keys: list[str] = []
    for survey in surveys.values():
        for question in () if survey is None else survey.asked:
            if question.kind is not AnswerKind.COMMENT and question.key not in keys:
                keys.append(question.key)
    extra = sorted({key for call in calls for key in call.answers} - set(keys))
    columns = (*keys, *extra)
    header = (*LEADING_COLUMNS, *columns, *TRAILING_COLUMNS)
    rows = []
    for call in calls:
        survey = surveys.get(call.survey)
        counted = call_answers(survey, call)
        rows.append(
            (
                call.survey,
                call.outage_id or "",
                str(call.campaign_id),
                "" if call.called_at is None else call.called_at.isoformat(),
                " ".join(call.account_numbers),
                call.phone,
                call.language,
                "yes" if counted.reached else "no",
                *(_cell(survey, key, call.answers.get(key)) for key in columns),
                "" if call.comment_s is None else str(call.comment_s),
                "yes" if call.callback else "no",
            )
        )
    return SurveyExport(header=header, rows=tuple(rows))


class SurveyService:
    """Surveys for supervisors, and for the schedule (services.automation_ports.SurveyCampaigns)."""

    def __init__(
        self,
        store: SurveyStore,
        rules: RulesSource,
        clock: Clock,
        *,
        prompts: frozenset[str] = frozenset(),
    ) -> None:
        """`prompts`: the catalog messages every language has, which a question may ask."""
        self._store = store
        self._rules = rules
        self._clock = clock
        self._prompts = prompts

    async def start_automatic(
        self,
        *,
        outage_pk: int,
        schedule_id: int,
        rules: AutomationRules,
        expires_at: datetime,
        now: datetime,
    ) -> int:
        outage = await self._store.outage_by_pk(outage_pk)
        if outage is None:
            raise NotFound("outage", str(outage_pk))
        spec = survey_spec(
            name=f"{outage.oms_id}: survey (automatic)",
            outage_id=outage.oms_id,
            survey_id=DEFAULT_SURVEY.id,
            rules=rules,
        )
        audience = SurveyAudience(
            outage=outage,
            gap_s=rules.survey.per_customer_gap_s,
            share=rules.survey.sample_share,
        )
        started = await self._store.start(
            spec,
            audience,
            schedule_id=schedule_id,
            expires_at=expires_at,
            actor=AUTOMATIC_ACTOR,
            now=now,
        )
        if started.created:
            logger.info(
                "survey of outage %s: campaign %d, %d to call, left out %s",
                outage.oms_id,
                started.campaign_id,
                started.targets,
                dict(started.excluded),
            )
        return started.campaign_id

    async def send(self, request: SurveySend, *, actor: str) -> SurveyStarted:
        """A survey campaign for the whole outage (no sample), running now."""
        rules = await self._rules.rules()
        await self.survey(request.survey)  # an unknown survey is named before anything
        spec = survey_spec(
            name=request.name or f"{request.outage_id}: survey",
            outage_id=request.outage_id,
            survey_id=request.survey,
            rules=rules,
            cps=request.cps,
            max_concurrent=request.max_concurrent,
            window=request.window,
            priority=request.priority,
            starts_at=request.starts_at,
        )
        outage = await self._outage(request.outage_id)
        audience = SurveyAudience(outage=outage, gap_s=rules.survey.per_customer_gap_s, share=None)
        started = await self._store.start(
            spec, audience, schedule_id=None, expires_at=None, actor=actor, now=self._clock.now()
        )
        logger.info(
            "survey of outage %s sent by %s: campaign %d, %d to call",
            outage.oms_id,
            actor,
            started.campaign_id,
            started.targets,
        )
        return started

    async def survey(self, survey_id: str) -> Survey:
        """The built-in survey or a supervisor's stored one; NotFound otherwise."""
        found = await self._definition(survey_id)
        if found is None:
            raise NotFound("survey", survey_id)
        return found

    async def definitions(self) -> list[Survey]:
        """The built-in survey, then those supervisors defined (one no longer readable left
        out), by id."""
        stored = [stored_survey(key, raw) for key, raw in await self._store.definitions()]
        return [DEFAULT_SURVEY, *(survey for survey in stored if survey is not None)]

    async def define(self, survey: Survey, *, actor: str) -> bool:
        """A supervisor's survey stored under its id (replacing the one there: calls already
        placed keep their answers, by question key); True when it is new. Every prompt must be
        a message of every language's catalog, and the built-in survey is not changed."""
        if survey.id == DEFAULT_SURVEY.id:
            raise InvalidField(
                "survey_id", f"{DEFAULT_SURVEY.id} is the built-in survey: give yours another id"
            )
        for index, question in enumerate(survey.questions):
            if question.prompt not in self._prompts:
                raise InvalidField(
                    f"questions[{index}].prompt",
                    f"no message {question.prompt!r} in every prompt catalog (prompts/<lang>.toml)",
                )
        created = await self._store.save_definition(
            survey.id, survey_as_json(survey), actor=actor, now=self._clock.now()
        )
        logger.info("survey %s %s by %s", survey.id, "defined" if created else "changed", actor)
        return created

    async def results(self, survey_id: str, *, outage_id: str | None = None) -> SurveyResults:
        survey = await self.survey(survey_id)
        if outage_id is not None:
            await self._outage(outage_id)
        calls = await self._store.calls(survey_id=survey_id, outage_id=outage_id)
        return summarize(survey, [call_answers(survey, call) for call in calls])

    async def export(
        self, *, survey_id: str | None = None, outage_id: str | None = None
    ) -> SurveyExport:
        if survey_id is not None:
            await self.survey(survey_id)
        if outage_id is not None:
            await self._outage(outage_id)
        calls = await self._store.calls(survey_id=survey_id, outage_id=outage_id)
        surveys: dict[str, Survey | None] = {}
        for survey_key in [survey_id] if survey_id is not None else []:
            surveys[survey_key] = await self._definition(survey_key)
        for call in calls:
            if call.survey not in surveys:
                surveys[call.survey] = await self._definition(call.survey)
        return export_table(surveys, calls)

    async def callbacks(self, *, open_only: bool) -> list[SurveyCallback]:
        return await self._store.callbacks(open_only=open_only, limit=MAX_CALLBACKS_LISTED)

    async def handle_callback(self, callback_id: int, *, actor: str) -> SurveyCallback:
        handled = await self._store.handle_callback(callback_id, actor=actor, now=self._clock.now())
        if handled is None:
            raise NotFound("call-back request", str(callback_id))
        return handled

    async def _definition(self, survey_id: str) -> Survey | None:
        if survey_id == DEFAULT_SURVEY.id:
            return DEFAULT_SURVEY
        raw = await self._store.definition(survey_id)
        return None if raw is None else stored_survey(survey_id, raw)

    async def _outage(self, oms_id: str) -> SurveyOutage:
        outage = await self._store.outage(oms_id)
        if outage is None:
            raise NotFound("outage", oms_id)
        return outage
