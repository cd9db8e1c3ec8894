"""The outage line's webhooks under `/twilio/`: signed, stateless, never a dead end.

Each step: the signature is checked (middleware), the form becomes an event, the service
runs the flow (`domain/flows/outage_line.py`) and its intents, and the actions become TwiML.
State rides in the action URL (`lang`, `try`, `premise`, `account`), which the carrier signs
with every request, so any instance can answer any step. Every prompt takes keys or speech;
speech is turned into the key it stands for, so both share one path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from outage_voice.adapters.twilio.signature import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    Params,
    Verdict,
    check_webhook,
)
from outage_voice.adapters.twilio.twiml import VoiceResponse
from outage_voice.config import Settings
from outage_voice.domain.flows.outage_line import (
    Event,
    Heard,
    LineState,
    Silence,
    Stage,
    Unclear,
    from_query,
    to_query,
)
from outage_voice.domain.inbound_calls import CallEnd
from outage_voice.domain.prompts import render, spoken
from outage_voice.domain.speech_input import heard_menu_choice, heard_number
from outage_voice.services.outage_line import CallContext
from outage_voice.web.audio import play_url
from outage_voice.web.keys import (
    CALL_RECORDS,
    CATALOGS,
    CLOCK,
    METRICS,
    OUTAGE_LINE,
    OUTBOUND,
    PROMPT_AUDIO,
    SETTINGS,
)
from outage_voice.web.voice_twiml import render_twiml, twiml

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

MAX_NUMBER_DIGITS = 20
STEP_PATHS = {
    Stage.IDENTIFY: "/twilio/identify",
    Stage.PICK: "/twilio/pick",
    Stage.MENU: "/twilio/menu",
    Stage.START: "/twilio/voice",
}
# Bodies read as a form; any other body (Twilio's JSON webhooks) is checked as raw text.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@web.middleware
async def twilio_signatures(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every `/twilio/` request must be signed over OUTAGE_VOICE_PUBLIC_URL + path + query
    (never the Host header: behind a proxy it is not what the carrier signed), with or
    without the scheme's default port, by the Auth Token or the webhook shared key, exactly
    as the twilio package's RequestValidator accepts."""
    if not request.path.startswith("/twilio/"):
        return await handler(request)
    settings = request.app[SETTINGS]
    params: Params
    if request.method == "POST" and request.content_type not in FORM_TYPES:
        # A JSON webhook is signed through its body's SHA-256 (`bodySHA256` in the URL).
        # Bytes that are not UTF-8 stay unencodable, so the check refuses them.
        params = (await request.read()).decode(errors="surrogateescape")
    else:
        form = await request.post() if request.method == "POST" else {}
        params = [(key, str(value)) for key, value in form.items()]
    verdict = check_webhook(
        auth_token=settings.webhook_auth_token,
        shared_key=settings.webhook_shared_key,
        url=settings.public_url + request.path_qs,
        params=params,
        signature=request.headers.get(SIGNATURE_HEADER, ""),
        signature_settings=request.headers.get(SIGNATURE_SETTINGS_HEADER, ""),
    )
    if verdict is not Verdict.SIGNED:
        if verdict is Verdict.NO_SHARED_KEY:
            logger.warning(
                "refused a request to %s signed with a webhook shared key: "
                "set TWILIO_WEBHOOK_SHARED_KEY to its secret",
                request.path,
            )
        else:
            logger.warning("refused a request to %s: %s", request.path, verdict.value)
        raise web.HTTPForbidden(text="invalid X-Twilio-Signature")
    return await handler(request)


def line_url(state: LineState) -> str:
    return f"{STEP_PATHS[state.stage]}?{urlencode(to_query(state))}"


def _call(form: Mapping[str, object]) -> CallContext:
    return CallContext(
        call_sid=str(form.get("CallSid", ""))[:64], caller=str(form.get("From", ""))[:20]
    )


def _event(stage: Stage, form: Mapping[str, object], language: str) -> Event:
    """What the caller gave at a prompt: keys (speech turned into the keys it stands for),
    unclear speech, or nothing."""
    speech = str(form.get("SpeechResult", ""))[:200]
    confidence = None if (raw := form.get("Confidence")) is None else str(raw)[:16]
    if stage is Stage.IDENTIFY:
        digits = str(form.get("Digits", ""))[:64]
        heard = heard_number(
            digits=digits, speech=speech, confidence=confidence, limit=MAX_NUMBER_DIGITS
        )
    else:
        digits = str(form.get("Digits", ""))[:MAX_NUMBER_DIGITS]
        heard = heard_menu_choice(
            digits=digits, speech=speech, confidence=confidence, language=language
        )
    if heard.keys:
        return Heard(keys=heard.keys)
    return Unclear() if heard.unclear else Silence()


@routes.post("/twilio/voice")
async def voice(request: web.Request) -> web.Response:
    form = await request.post()
    heard = await request.app[OUTAGE_LINE].start(_call(form))
    return await render_twiml(request, heard, line_url)


async def _next_step(request: web.Request, stage: Stage) -> web.Response:
    form = await request.post()
    service = request.app[OUTAGE_LINE]
    state = from_query(stage, request.query.items(), line=service.line)
    heard = await service.run(state, _event(stage, form, state.language), _call(form))
    return await render_twiml(request, heard, line_url)


@routes.post("/twilio/identify")
async def identify(request: web.Request) -> web.Response:
    """A caller we could not find by caller ID enters a phone or account number."""
    return await _next_step(request, Stage.IDENTIFY)


@routes.post("/twilio/pick")
async def pick(request: web.Request) -> web.Response:
    return await _next_step(request, Stage.PICK)


@routes.post("/twilio/menu")
async def menu_choice(request: web.Request) -> web.Response:
    return await _next_step(request, Stage.MENU)


@routes.post("/twilio/voice/fallback")
async def fallback(request: web.Request) -> web.Response:
    """The number's fallback URL: valid TwiML, no database, no synthesis. Audio this
    process already holds is played (the caller hears the line's usual voice); the rest is
    spoken with <Say>."""
    if (metrics := request.app.get(METRICS)) is not None:
        metrics.degraded_answer("fallback")
    response = VoiceResponse()
    for language in ("en", "es"):
        catalog = request.app[CATALOGS].get(language)
        if catalog is None:
            continue
        segments = render(catalog, "high_volume", {}, now=request.app[CLOCK].now())
        known = request.app[PROMPT_AUDIO].known_message(segments)
        url = None if known is None else play_url(request.app[SETTINGS], known)
        if url is not None:
            response.play(url)
        else:
            response.say(spoken(segments), language=catalog.tts_language)
    response.hangup()
    return twiml(response)


def transfer_warnings(settings: Settings) -> list[str]:
    """What an operator must know at start about transfers the outage line will not make."""
    if settings.emergency_number:
        return []
    return [
        "OUTAGE_VOICE_EMERGENCY_NUMBER is unset: hazard transfers are off; callers who "
        "report a downed wire are told to stay away, hang up and call "
        f"{settings.public_emergency_number} (OUTAGE_VOICE_PUBLIC_EMERGENCY_NUMBER)"
    ]


@routes.post("/twilio/status")
async def status_callback(request: web.Request) -> web.Response:
    """Call status callbacks: for campaign calls (their URL names the attempt) the attempt
    moves forward; for inbound calls the final one gives the call's duration. Duplicates and
    late copies change nothing."""
    form = await request.post()
    call_sid = str(form.get("CallSid", ""))[:64]
    status = str(form.get("CallStatus", ""))[:32]
    if not call_sid or not status:
        raise web.HTTPBadRequest(text="CallSid and CallStatus are required")
    duration_s = _optional_int(form.get("CallDuration"))
    attempt = request.query.get("attempt", "")
    if attempt:
        if not attempt.isdigit() or len(attempt) > 18:
            raise web.HTTPBadRequest(text="attempt must be a number")
        await request.app[OUTBOUND].status(
            int(attempt),
            status=status,
            sequence=_optional_int(form.get("SequenceNumber")) or 0,
            call_sid=call_sid,
            answered_by=str(form["AnsweredBy"])[:32] if form.get("AnsweredBy") else None,
            error_code=_optional_int(form.get("ErrorCode")),
            duration_s=duration_s,
            placed_as=_placed_as(request.query),
        )
        return web.Response(status=204)
    if status in FINAL_CALL_STATUSES and form.get("Direction") == "inbound":
        request.app[CALL_RECORDS].end(
            CallEnd(
                call_sid=call_sid,
                at=request.app[CLOCK].now(),
                duration_s=duration_s,
                status=status,
            )
        )
    return web.Response(status=204)


def _placed_as(query: Mapping[str, str]) -> tuple[int, int] | None:
    """The campaign and attempt number a call was placed with, when its URL names them."""
    campaign = _optional_int(query.get("campaign"))
    attempt_no = _optional_int(query.get("attempt_no"))
    if campaign is None or attempt_no is None:
        return None
    return campaign, attempt_no


def _optional_int(value: object) -> int | None:
    try:
        return max(0, int(str(value))) if value is not None else None
    except ValueError:
        return None
