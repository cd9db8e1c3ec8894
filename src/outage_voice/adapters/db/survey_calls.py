"""Answered survey calls in PostgreSQL: the call and its survey, each answer, comment,
call-back request and survey opt-out as it is given, and the comments' audio."""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.domain.survey import DEFAULT_SURVEY, Survey, stored_survey
from outage_voice.services.survey_call import (
    CommentAudio,
    CommentListing,
    CommentRef,
    RecordingAudio,
    SurveyAttempt,
)

logger = logging.getLogger(__name__)


class PgSurveyCallStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def attempt(self, attempt_id: int) -> SurveyAttempt | None:
        row = await self._pool.fetchrow(q("survey_call_context"), attempt_id)
        if row is None:
            return None
        return SurveyAttempt(
            attempt_id=row["id"],
            target_id=row["target_id"],
            campaign_id=row["campaign_id"],
            phone=row["phone"],
            language=row["language"],
            account_numbers=tuple(row["account_numbers"] or ()),
            outage_pk=row["outage_id"],
            survey=_survey(row["survey_id"], row["definition"]),
        )

    async def answer(self, call: SurveyAttempt, question: str, value: int, now: datetime) -> None:
        await self._pool.execute(
            q("survey_answer_save"), call.attempt_id, question, call.campaign_id, value, now
        )

    async def comment(
        self, call: SurveyAttempt, question: str, url: str, duration_s: int, now: datetime
    ) -> None:
        await self._pool.execute(
            q("survey_comment_save"),
            call.attempt_id,
            question,
            call.campaign_id,
            url,
            duration_s,
            now,
        )

    async def callback(self, call: SurveyAttempt, now: datetime) -> None:
        await self._pool.execute(
            q("survey_callback_save"),
            call.attempt_id,
            call.campaign_id,
            call.outage_pk,
            call.phone,
            list(call.account_numbers),
            now,
        )

    async def survey_opt_out(self, phone: str, now: datetime) -> None:
        await self._pool.execute(q("survey_opt_out"), phone, now)

    async def unfetched(
        self, *, recorded_before: datetime, max_attempts: int, limit: int
    ) -> list[CommentRef]:
        rows = await self._pool.fetch(
            q("survey_comments_unfetched"), recorded_before, max_attempts, limit
        )
        return [
            CommentRef(attempt_id=r["attempt_id"], question=r["question"], url=r["recording_url"])
            for r in rows
        ]

    async def keep(self, comment: CommentRef, audio: RecordingAudio, now: datetime) -> None:
        await self._pool.execute(
            q("survey_comment_keep"),
            comment.attempt_id,
            comment.question,
            comment.url,
            audio.audio,
            audio.content_type,
            now,
        )

    async def failed(self, comment: CommentRef) -> None:
        await self._pool.execute(
            q("survey_comment_failed"), comment.attempt_id, comment.question, comment.url
        )

    async def audio(self, attempt_id: int, question: str) -> CommentAudio | None:
        row = await self._pool.fetchrow(q("survey_comment_audio"), attempt_id, question)
        if row is None:
            return None
        return CommentAudio(
            duration_s=row["duration_s"], audio=row["audio"], content_type=row["content_type"]
        )

    async def listing(
        self, *, outage_id: str | None, survey: str | None, limit: int
    ) -> list[CommentListing]:
        rows = await self._pool.fetch(
            q("survey_comments_list"), outage_id, survey, limit, DEFAULT_SURVEY.id
        )
        return [
            CommentListing(
                attempt_id=row["attempt_id"],
                question=row["question"],
                campaign_id=row["campaign_id"],
                survey=row["survey"],
                outage_id=row["oms_id"],
                phone=row["phone"],
                duration_s=row["duration_s"],
                recorded_at=row["recorded_at"],
                kept=row["kept"],
            )
            for row in rows
        ]


def _survey(survey_id: str | None, definition: object) -> Survey:
    """The campaign's survey: its stored definition, else the built-in one (a campaign made
    without naming one, or a definition since deleted or unreadable)."""
    if survey_id is None or survey_id == DEFAULT_SURVEY.id:
        return DEFAULT_SURVEY
    survey = None if definition is None else stored_survey(survey_id, definition)
    if survey is None:
        logger.warning("survey %r has no usable definition: asking the built-in survey", survey_id)
        return DEFAULT_SURVEY
    return survey
