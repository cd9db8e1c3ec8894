"""TwiML from a call flow's actions: the one place words become <Play> or <Say>, and a
flow's next step becomes a URL.

Words are played from cached audio when it can be had (a <Play> URL carrying its signed
recipe, servable by any instance with or without the database), else spoken with <Say>:
never silence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from aiohttp import web

from outage_voice.adapters.twilio.twiml import Gather as GatherVerb
from outage_voice.adapters.twilio.twiml import VoiceResponse
from outage_voice.domain.announcements import status_announcement
from outage_voice.domain.flows.actions import (
    MAX_RECORD_S,
    Action,
    Dial,
    Gather,
    Hangup,
    Input,
    Record,
    Redirect,
    SayMessage,
    SayStatus,
    Speech,
)
from outage_voice.domain.prompts import Catalog, Segment, render, spoken
from outage_voice.web.audio import play_url
from outage_voice.web.keys import CATALOGS, CLOCK, PROMPT_AUDIO, SETTINGS

logger = logging.getLogger(__name__)
S = TypeVar("S")

TWIML = "text/xml"
MENU_TIMEOUT_S = 6
NUMBER_TIMEOUT_S = 10
MAX_NUMBER_KEYS = 12
# Twilio's recognizer class for a run of digits: a phone or account number said aloud.
DIGIT_SEQUENCE_HINT = "$OOV_CLASS_DIGIT_SEQUENCE"
# Seconds of silence that end a recording: a pause to think is not the end of a comment.
RECORD_SILENCE_TIMEOUT_S = 5


def twiml(response: VoiceResponse) -> web.Response:
    return web.Response(text=str(response), content_type=TWIML)


def catalog_for(request: web.Request, language: str | None) -> Catalog:
    catalogs = request.app[CATALOGS]
    return catalogs.get(language or "en") or catalogs["en"]


async def render_twiml(
    request: web.Request, actions: Iterable[Action[S]], url: Callable[[S], str]
) -> web.Response:
    """The response for a flow's actions; `url` says where each next step is answered."""
    response = VoiceResponse()
    now = request.app[CLOCK].now()
    for action in actions:
        if isinstance(action, Gather):
            catalog = catalog_for(request, action.language)
            gather = response.gather(**_gather_attributes(action.input, url(action.then), catalog))
            for prompt in action.prompts:
                await speak(request, gather, words(request, prompt, now))
        elif isinstance(action, Redirect):
            response.redirect(url(action.then), method="POST")
        elif isinstance(action, Record):
            # Trimmed, so a comment's length is what was said, not the silence that ended it.
            response.record(
                action=url(action.then),
                method="POST",
                max_length=min(action.max_length_s, MAX_RECORD_S),
                finish_on_key=action.finish_on_keys,
                timeout=RECORD_SILENCE_TIMEOUT_S,
                play_beep=True,
                trim="trim-silence",
            )
        elif isinstance(action, Dial):
            response.dial(action.number)
        elif isinstance(action, Hangup):
            response.hangup()
        else:
            await speak(request, response, words(request, action, now))
    return twiml(response)


def _gather_attributes(kind: Input, action: str, catalog: Catalog) -> dict[str, object]:
    if kind is Input.KEY:
        return {
            "input": "dtmf",
            "num_digits": 1,
            "action": action,
            "method": "POST",
            "timeout": MENU_TIMEOUT_S,
        }
    if kind is Input.NUMBER:
        return {
            "input": "dtmf speech",
            "num_digits": MAX_NUMBER_KEYS,
            "finish_on_key": "#",
            "action": action,
            "method": "POST",
            "timeout": NUMBER_TIMEOUT_S,
            "speech_timeout": "auto",
            "language": catalog.tts_language,
            "hints": DIGIT_SEQUENCE_HINT,
        }
    return {
        "input": "dtmf speech",
        "num_digits": 1,
        "action": action,
        "method": "POST",
        "timeout": MENU_TIMEOUT_S,
        "speech_timeout": "auto",
        "language": catalog.tts_language,
    }


def words(request: web.Request, speech: Speech, now: datetime) -> tuple[Segment, ...]:
    if isinstance(speech, SayMessage):
        return speech.segments
    catalog = catalog_for(request, speech.language)
    if isinstance(speech, SayStatus):
        return status_announcement(catalog, speech.account, now=now)
    return render(catalog, speech.key, speech.variables, now=now)


async def speak(
    request: web.Request, target: VoiceResponse | GatherVerb, segments: Sequence[Segment]
) -> None:
    """Cached audio when it can be had, else <Say> with the same words: never silence."""
    if not segments:
        return
    audio = None
    try:
        audio = await request.app[PROMPT_AUDIO].playable(tuple(segments))
    except Exception:  # the cache being unwell must not cost the caller the message
        logger.exception("prompt audio unavailable; speaking with <Say>")
    url = None if audio is None else play_url(request.app[SETTINGS], audio)
    if url is not None:
        target.play(url)  # servable by any instance, with or without the database
    else:
        target.say(spoken(tuple(segments)), language=segments[0].language)
