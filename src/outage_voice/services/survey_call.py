"""Runs an answered survey call's flow for one webhook: finds the call and its survey, steps
the flow, stores each answer as it is given, and hands the web layer only what is heard.

A recorded comment is kept as audio: the carrier's recording is fetched in the background as
soon as the comment arrives, and a sweep on the leader fetches again whatever could not be
had then (a carrier that answers 404 until its recording is ready, a network fault)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from outage_voice.domain.flows.actions import Action
from outage_voice.domain.flows.campaign_call import DEFAULT_LANGUAGE
from outage_voice.domain.flows.survey_call import (
    AnswerGiven,
    CallbackRequested,
    CommentRecorded,
    SurveyCall,
    SurveyCallFlow,
    SurveyEvent,
    SurveyIntent,
    SurveyOptOut,
    SurveyState,
)
from outage_voice.domain.languages import catalog_language
from outage_voice.domain.survey import AnswerValue, Survey
from outage_voice.services.ports import Clock, Timer

logger = logging.getLogger(__name__)

# A comment the instance that took it is still fetching is left to it for this long.
FRESH_COMMENT_S = 30.0
SWEEP_EVERY_S = 60.0
SWEEP_BATCH = 20
# Tried this many times (about an hour of sweeps), a recording is given up on: the carrier
# has lost it, or the account no longer reaches it.
MAX_FETCH_ATTEMPTS = 60


@dataclass(frozen=True, kw_only=True, slots=True)
class SurveyAttempt:
    """An answered call of a survey campaign, with the survey it asks."""

    attempt_id: int
    target_id: int
    campaign_id: int
    phone: str
    language: str | None  # the customer's, as stored
    account_numbers: tuple[str, ...]
    outage_pk: int | None
    survey: Survey


@dataclass(frozen=True, kw_only=True, slots=True)
class CommentRef:
    attempt_id: int
    question: str
    url: str  # the carrier's RecordingUrl


@dataclass(frozen=True, kw_only=True, slots=True)
class RecordingAudio:
    audio: bytes
    content_type: str


@dataclass(frozen=True, kw_only=True, slots=True)
class CommentAudio:
    duration_s: int
    audio: bytes | None  # None: not fetched from the carrier yet
    content_type: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class CommentListing:
    """A comment as supervisors find it: whose, about what, and whether it can be heard."""

    attempt_id: int
    question: str
    campaign_id: int
    survey: str
    outage_id: str | None  # the OMS's id
    phone: str
    duration_s: int
    recorded_at: datetime
    kept: bool  # its audio fetched from the carrier

    def as_json(self) -> dict[str, object]:
        return {
            "attempt_id": self.attempt_id,
            "question": self.question,
            "campaign_id": self.campaign_id,
            "survey": self.survey,
            "outage_id": self.outage_id,
            "phone": self.phone,
            "duration_s": self.duration_s,
            "recorded_at": self.recorded_at,
            "audio": f"/api/v1/surveys/comments/{self.attempt_id}/{self.question}"
            if self.kept
            else None,
        }


class RecordingUnavailable(Exception):
    """The carrier did not hand over the recording this time (not ready, refused, a fault)."""


class SurveyCallStore(Protocol):
    async def attempt(self, attempt_id: int) -> SurveyAttempt | None: ...

    async def answer(
        self, call: SurveyAttempt, question: str, value: int, now: datetime
    ) -> None: ...

    async def comment(
        self, call: SurveyAttempt, question: str, url: str, duration_s: int, now: datetime
    ) -> None: ...

    async def callback(self, call: SurveyAttempt, now: datetime) -> None: ...

    async def survey_opt_out(self, phone: str, now: datetime) -> None: ...


class CommentStore(Protocol):
    async def unfetched(
        self, *, recorded_before: datetime, max_attempts: int, limit: int
    ) -> list[CommentRef]: ...

    async def keep(self, comment: CommentRef, audio: RecordingAudio, now: datetime) -> None: ...

    async def failed(self, comment: CommentRef) -> None: ...

    async def audio(self, attempt_id: int, question: str) -> CommentAudio | None: ...

    async def listing(
        self, *, outage_id: str | None, survey: str | None, limit: int
    ) -> list[CommentListing]: ...


class Recordings(Protocol):
    async def fetch(self, url: str) -> RecordingAudio: ...


Heard = list[Action[SurveyState]]


class CommentAudioService:
    """Fetches comments' audio from the carrier and keeps it, and hands it to supervisors."""

    def __init__(self, store: CommentStore, recordings: Recordings, clock: Clock) -> None:
        self._store = store
        self._recordings = recordings
        self._clock = clock
        self._fetching: set[asyncio.Task[bool]] = set()

    def soon(self, comment: CommentRef) -> None:
        """In the background: the caller is not kept waiting on the carrier's media server."""
        # Keeps the webhook's request id and CallSid on purpose: this call's own comment,
        # fetched once (the leader's sweep retries), so its lines belong to that call.
        task = asyncio.create_task(self._fetch_in_background(comment))
        self._fetching.add(task)
        task.add_done_callback(self._fetching.discard)

    async def _fetch_in_background(self, comment: CommentRef) -> bool:
        try:
            return await self.fetch(comment)
        except Exception as exc:  # the database, most likely: the leader's sweep tries again
            logger.warning("comment audio (attempt %d) left for later: %r", comment.attempt_id, exc)
            return False

    async def fetch(self, comment: CommentRef) -> bool:
        """True when the audio is kept; a failure is counted, for the sweep to try again."""
        try:
            audio = await self._recordings.fetch(comment.url)
        except RecordingUnavailable as exc:
            logger.info("comment audio not fetched (attempt %d): %s", comment.attempt_id, exc)
            await self._store.failed(comment)
            return False
        await self._store.keep(comment, audio, self._clock.now())
        return True

    async def sweep(self) -> int:
        """One pass over comments left unfetched; how many were kept."""
        recorded_before = self._clock.now() - timedelta(seconds=FRESH_COMMENT_S)
        comments = await self._store.unfetched(
            recorded_before=recorded_before, max_attempts=MAX_FETCH_ATTEMPTS, limit=SWEEP_BATCH
        )
        kept = 0
        for comment in comments:
            kept += await self.fetch(comment)
        return kept

    async def audio(self, attempt_id: int, question: str) -> CommentAudio | None:
        return await self._store.audio(attempt_id, question)

    async def listing(
        self, *, outage_id: str | None = None, survey: str | None = None, limit: int = 100
    ) -> list[CommentListing]:
        return await self._store.listing(outage_id=outage_id, survey=survey, limit=limit)

    async def close(self) -> None:
        """Fetches under way finish (they are short, and bounded by the fetch's timeout)."""
        if self._fetching:
            await asyncio.gather(*self._fetching, return_exceptions=True)


class CommentSweeper:
    """The leader's pass over unfetched comments, every SWEEP_EVERY_S."""

    def __init__(
        self,
        comments: CommentAudioService,
        timer: Timer,
        *,
        unavailable: Callable[[BaseException], bool],
    ) -> None:
        self._comments = comments
        self._timer = timer
        self._unavailable = unavailable

    async def run(self) -> None:
        while True:
            try:
                kept = await self._comments.sweep()
                if kept:
                    logger.info("kept the audio of %d survey comment(s) fetched late", kept)
            except Exception as exc:
                if not self._unavailable(exc):
                    raise
                logger.warning("survey comments not swept: the database is unavailable")
            await self._timer.sleep(SWEEP_EVERY_S)


class SurveyCallService:
    def __init__(
        self,
        *,
        flow: SurveyCallFlow,
        store: SurveyCallStore,
        comments: CommentAudioService,
        clock: Clock,
        languages: Collection[str],
    ) -> None:
        self._flow = flow
        self._store = store
        self._comments = comments
        self._clock = clock
        self._languages = languages

    async def run(
        self, state: SurveyState, event: Callable[[SurveyCall | None], SurveyEvent]
    ) -> Heard:
        """`event` makes this webhook's event from the call (None: an attempt we don't know,
        or not a survey's)."""
        attempt = None if state.attempt_id is None else await self._store.attempt(state.attempt_id)
        call = None if attempt is None else self._flow_call(attempt)
        heard: Heard = []
        for action in self._flow.step(state, event(call)).actions:
            if isinstance(action, SurveyIntent):
                if attempt is not None:
                    await self._record(attempt, action)
            else:
                heard.append(action)
        return heard

    async def _record(
        self,
        call: SurveyAttempt,
        intent: SurveyIntent,
    ) -> None:
        now = self._clock.now()
        if isinstance(intent, AnswerGiven):
            await self._store.answer(call, intent.question, stored_value(intent.value), now)
        elif isinstance(intent, CommentRecorded):
            await self._store.comment(call, intent.question, intent.url, intent.duration_s, now)
            ref = CommentRef(attempt_id=call.attempt_id, question=intent.question, url=intent.url)
            self._comments.soon(ref)
        elif isinstance(intent, CallbackRequested):
            await self._store.callback(call, now)
        elif isinstance(intent, SurveyOptOut):
            await self._store.survey_opt_out(call.phone, now)
        # Delivered: a survey speaks of no ETR and answers no call-back request, so nothing
        # of the outage's notifications changes; the call's own status records that a
        # person answered.

    def _flow_call(self, attempt: SurveyAttempt) -> SurveyCall:
        language = catalog_language(attempt.language, self._languages)
        return SurveyCall(survey=attempt.survey, language=language or DEFAULT_LANGUAGE)


def stored_value(value: AnswerValue) -> int:
    """As `survey_answers` keeps it: a scale's 1 to 5; yes 1, no 0."""
    if isinstance(value, bool):
        return 1 if value else 0
    return value
