"""What an answered survey call hears: `/twilio/survey` when answered, `/twilio/survey/step`
for each key (or silence), `/twilio/survey/recorded` for a comment's recording; signed, like
every `/twilio/` request. The flow is `domain/flows/survey_call.py`; this parses and renders.

Whatever the carrier posts, the caller hears words, never an application error: odd keys
are no answer, an attempt we don't know is ended politely, and a database that is away ends
the call with thanks rather than a 5xx."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from aiohttp import web

from outage_voice.adapters.db.errors import is_database_unavailable
from outage_voice.domain.flows.actions import Hangup, Record, Say
from outage_voice.domain.flows.campaign_call import DEFAULT_LANGUAGE, answered_by
from outage_voice.domain.flows.survey_call import (
    HUNG_UP,
    THANKS,
    Answered,
    NoKey,
    Pressed,
    Recorded,
    SurveyCall,
    SurveyEvent,
    SurveyState,
    survey_from_query,
    survey_to_query,
)
from outage_voice.web.keys import SURVEY_CALL
from outage_voice.web.voice_twiml import render_twiml

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

STEP_PATH = "/twilio/survey/step"
RECORDED_PATH = "/twilio/survey/recorded"
# One key answers a question; a few more are kept only to be told apart from an answer.
MAX_DIGITS = 8
MAX_RECORDING_URL_CHARS = 500
MAX_DURATION_DIGITS = 5


def step_url(state: SurveyState) -> str:
    return f"{STEP_PATH}?{urlencode(survey_to_query(state))}"


def recorded_url(state: SurveyState) -> str:
    return f"{RECORDED_PATH}?{urlencode(survey_to_query(state))}"


@routes.post("/twilio/survey")
async def answered(request: web.Request) -> web.Response:
    form = await request.post()
    by = answered_by(str(form.get("AnsweredBy", "")))
    return await _step(request, lambda call: Answered(call=call, by=by))


@routes.post(STEP_PATH)
async def step(request: web.Request) -> web.Response:
    form = await request.post()
    key = _digits(form)
    return await _step(
        request, lambda call: Pressed(call=call, key=key) if key else NoKey(call=call)
    )


@routes.post(RECORDED_PATH)
async def recorded(request: web.Request) -> web.Response:
    form = await request.post()
    url = str(form.get("RecordingUrl", "")).strip()
    if (
        len(url) > MAX_RECORDING_URL_CHARS
        or not url.startswith(("https://", "http://"))
        or not _url_characters(url)
    ):
        url = ""
    raw_duration = str(form.get("RecordingDuration", "")).strip()
    duration_s = (
        int(raw_duration)
        if raw_duration.isdecimal() and len(raw_duration) <= MAX_DURATION_DIGITS
        else 0
    )
    raw_key = str(form.get("Digits", "")).strip()
    key = HUNG_UP if raw_key == HUNG_UP else raw_key[:MAX_DIGITS]
    return await _step(
        request,
        lambda call: Recorded(call=call, url=url, duration_s=duration_s, key=key),
    )


def _url_characters(url: str) -> bool:
    """What a URL may hold: printable ASCII, no space. A NUL would fail the database's
    write, a line break could split the fetch's request line."""
    return url.isascii() and url.isprintable() and " " not in url


def _digits(form: Mapping[str, object]) -> str:
    return str(form.get("Digits", "")).strip()[:MAX_DIGITS]


async def _step(
    request: web.Request, event: Callable[[SurveyCall | None], SurveyEvent]
) -> web.Response:
    state = survey_from_query(request.query.items())
    try:
        heard = await request.app[SURVEY_CALL].run(state, event)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        logger.warning("survey call step without the database: %r", exc)
        return await render_twiml(
            request, [Say(key=THANKS, language=DEFAULT_LANGUAGE), Hangup()], step_url
        )
    # A comment's recording is posted to its own path; every other next step (a key, a
    # silence after the tone) to the step path. A step never both records and gathers at
    # the same state.
    recording = [action.then for action in heard if isinstance(action, Record)]
    return await render_twiml(
        request, heard, lambda then: recorded_url(then) if then in recording else step_url(then)
    )
