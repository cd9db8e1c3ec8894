"""The outage line's webhooks under `/twilio/`: signed, stateless, never a dead end.

State rides in the action URL (`lang`, `try`, `premise`, `account`), which the carrier signs
with every request, so any instance can answer any step. Every prompt takes keys or speech;
speech is turned into the key it stands for, so both share one path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from outage_voice.adapters.db.errors import is_database_unavailable
from outage_voice.adapters.twilio.signature import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    Params,
    Verdict,
    check_webhook,
)
from outage_voice.adapters.twilio.twiml import Gather, VoiceResponse
from outage_voice.config import Settings
from outage_voice.domain.announcements import status_announcement
from outage_voice.domain.inbound_calls import CallEnd, CallOutcome, CallStep
from outage_voice.domain.phones import InvalidPhone, mask_phone
from outage_voice.domain.prompts import Catalog, Segment, render, spoken
from outage_voice.domain.speech_input import Heard, heard_menu_choice, heard_number
from outage_voice.domain.status import AccountStatus, StatusLookup
from outage_voice.services.ivr import ReportOutcome
from outage_voice.web.audio import play_url
from outage_voice.web.keys import (
    CALL_RECORDS,
    CATALOGS,
    CLOCK,
    IVR,
    LOOKUP,
    OUTBOUND,
    PROMPT_AUDIO,
    SETTINGS,
    SPOOL,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
routes = web.RouteTableDef()

LOOKUP_BUDGET_S = 2.0
MENU_TIMEOUT_S = 6
MAX_MENU_REPEATS = 2
MAX_IDENTIFY_TRIES = 3
MAX_PREMISE_CHOICES = 5
TWIML = "text/xml"
MAX_NUMBER_DIGITS = 20
# Twilio's recognizer class for a run of digits: a phone or account number said aloud.
DIGIT_SEQUENCE_HINT = "$OOV_CLASS_DIGIT_SEQUENCE"
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


async def _write_or_spool(
    request: web.Request, kind: str, write: Callable[..., Awaitable[T]], **fields: Any
) -> T | None:
    """Writes the caller's request now, or, with the database away, spools it to local disk
    to be replayed later (None). Either way nothing the caller asked for is lost."""
    try:
        async with asyncio.timeout(LOOKUP_BUDGET_S):
            return await write(**fields)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        await request.app[SPOOL].add(kind, **fields)
        logger.warning(
            "database away: spooled a %s request from %s", kind, mask_phone(fields["phone"])
        )
        return None


def twiml(response: VoiceResponse) -> web.Response:
    return web.Response(text=str(response), content_type=TWIML)


def note(
    request: web.Request,
    form: Mapping[str, object],
    step: str,
    outcome: CallOutcome = CallOutcome.ABANDONED,
    *,
    account: AccountStatus | None = None,
    language: str | None = None,
) -> None:
    """Records a step of this call for containment reporting (written in the background)."""
    call_sid = str(form.get("CallSid", ""))[:64]
    if not call_sid:
        return
    request.app[CALL_RECORDS].step(
        CallStep(
            call_sid=call_sid,
            caller=str(form.get("From", ""))[:20],
            at=request.app[CLOCK].now(),
            step=step,
            outcome=outcome,
            account_number=account.account_number if account else None,
            premise_id=account.premise.premise_id if account else None,
            language=language,
        )
    )


def ask(response: VoiceResponse, catalog: Catalog, *, action: str, number: bool = False) -> Gather:
    """A prompt that takes keys or speech in the caller's language."""
    if number:
        return response.gather(
            input="dtmf speech",
            num_digits=12,
            finish_on_key="#",
            action=action,
            method="POST",
            timeout=10,
            speech_timeout="auto",
            language=catalog.tts_language,
            hints=DIGIT_SEQUENCE_HINT,
        )
    return response.gather(
        input="dtmf speech",
        num_digits=1,
        action=action,
        method="POST",
        timeout=MENU_TIMEOUT_S,
        speech_timeout="auto",
        language=catalog.tts_language,
    )


def heard_key(form: Mapping[str, object], catalog: Catalog) -> Heard:
    return heard_menu_choice(
        digits=str(form.get("Digits", ""))[:MAX_NUMBER_DIGITS],
        speech=str(form.get("SpeechResult", ""))[:200],
        confidence=_str_or_none(form.get("Confidence")),
        language=catalog.language,
    )


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)[:16]


async def speak(
    request: web.Request, target: VoiceResponse | Gather, segments: Sequence[Segment]
) -> None:
    """Cached audio when it can be had, else <Say> with the same words: never silence."""
    if not segments:
        return
    audio = None
    try:
        audio = await request.app[PROMPT_AUDIO].message(tuple(segments))
    except Exception:  # the cache being unwell must not cost the caller the message
        logger.exception("prompt audio unavailable; speaking with <Say>")
    url = None if audio is None else play_url(request.app[SETTINGS], audio)
    if url is not None:
        target.play(url)  # servable by any instance, with or without the database
    else:
        target.say(spoken(tuple(segments)), language=segments[0].language)


def catalog_for(request: web.Request, language: str | None) -> Catalog:
    catalogs = request.app[CATALOGS]
    return catalogs.get(language or "en") or catalogs["en"]


async def menu(
    request: web.Request,
    response: VoiceResponse,
    catalog: Catalog,
    *,
    repeat: int = 0,
    account: AccountStatus | None = None,
) -> None:
    now = request.app[CLOCK].now()
    # Who the caller is rides in the action URL, which the carrier signs with every request.
    state = {"lang": catalog.language}
    if account is not None:
        state |= {"premise": account.premise.premise_id, "account": account.account_number}
    else:
        state |= {k: v for k in ("premise", "account") if (v := request.query.get(k))}
    action = f"/twilio/menu?{urlencode(state)}"
    gather = ask(response, catalog, action=action)
    # Without an agent line, "press 0 to speak with someone" would offer what can't happen.
    key = "menu" if request.app[SETTINGS].agent_number else "menu_no_agent"
    await speak(request, gather, render(catalog, key, {}, now=now))
    # No key pressed: say it again rather than hang up on someone who may still be listening.
    response.redirect(f"{action}&repeat={repeat + 1}", method="POST")


def _int_query(request: web.Request, name: str) -> int:
    try:
        return max(0, min(int(request.query.get(name, "0")), 99))
    except ValueError:
        return 0


async def _lookup(request: web.Request, caller: str) -> StatusLookup | None:
    try:
        async with asyncio.timeout(LOOKUP_BUDGET_S):
            return await request.app[LOOKUP].by_phone(caller)
    except InvalidPhone:
        return None


@routes.post("/twilio/voice")
async def voice(request: web.Request) -> web.Response:
    form = await request.post()
    caller = str(form.get("From", ""))
    response = VoiceResponse()
    now = request.app[CLOCK].now()
    try:
        lookup = await _lookup(request, caller)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        logger.warning("status lookup unavailable for %s: %r", mask_phone(caller), exc)
        return await degraded(request, form)
    if lookup is None or not lookup.found:
        catalog = catalog_for(request, None)
        note(request, form, "identify", language=catalog.language)
        gather = ask(response, catalog, action="/twilio/identify?lang=en&try=1", number=True)
        await speak(request, gather, render(catalog, "ask_phone_or_account", {}, now=now))
        response.redirect("/twilio/identify?lang=en&try=1", method="POST")
        return twiml(response)
    await greet(request, response, lookup, form)
    return twiml(response)


async def greet(
    request: web.Request,
    response: VoiceResponse,
    lookup: StatusLookup,
    form: Mapping[str, object],
) -> None:
    """Status first for the account with an outage (or the first); then, when the phone
    covers several premises, let the caller pick one; then the menu."""
    now = request.app[CLOCK].now()
    lead = lookup.with_outage[0] if lookup.with_outage else lookup.accounts[0]
    catalog = catalog_for(request, lead.premise.language)
    note(request, form, "status", CallOutcome.SELF_SERVED, account=lead, language=catalog.language)
    await speak(request, response, status_announcement(catalog, lead, now=now))
    premises = lookup.premises
    if len(premises) > 1:
        choices = premises[:MAX_PREMISE_CHOICES]
        query = urlencode(
            [("lang", catalog.language), *(("choice", p.premise_id) for p in choices)]
        )
        gather = ask(response, catalog, action=f"/twilio/pick?{query}")
        await speak(
            request, gather, render(catalog, "pick_premise", {"count": len(premises)}, now=now)
        )
        for digit, premise in enumerate(choices, start=1):
            variables = {"address": premise.service_address, "digit": digit}
            await speak(request, gather, render(catalog, "premise_option", variables, now=now))
    # No choice made: the menu follows, about the premise they just heard.
    await menu(request, response, catalog, account=lead)


@routes.post("/twilio/pick")
async def pick(request: web.Request) -> web.Response:
    form = await request.post()
    catalog = catalog_for(request, request.query.get("lang"))
    choices = request.query.getall("choice", [])[:MAX_PREMISE_CHOICES]
    digits = heard_key(form, catalog).keys
    response = VoiceResponse()
    now = request.app[CLOCK].now()
    if digits.isdigit() and 1 <= int(digits) <= len(choices):
        try:
            async with asyncio.timeout(LOOKUP_BUDGET_S):
                chosen = await request.app[LOOKUP].by_premise(choices[int(digits) - 1])
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            return await degraded(request, form)
        if chosen.found:
            account = chosen.accounts[0]
            catalog = catalog_for(request, account.premise.language)
            note(request, form, "pick", account=account)
            await speak(request, response, status_announcement(catalog, account, now=now))
            await menu(request, response, catalog, account=account)
            return twiml(response)
    await speak(request, response, render(catalog, "invalid_choice", {}, now=now))
    await menu(request, response, catalog)
    return twiml(response)


async def degraded(request: web.Request, form: Mapping[str, object]) -> web.Response:
    """The database is away or slow: still answer, with what needs no database."""
    catalog = catalog_for(request, None)
    note(request, form, "degraded")
    now = request.app[CLOCK].now()
    response = VoiceResponse()
    await speak(request, response, render(catalog, "high_volume", {}, now=now))
    await menu(request, response, catalog)
    return twiml(response)


@routes.post("/twilio/voice/fallback")
async def fallback(request: web.Request) -> web.Response:
    """The number's fallback URL: valid TwiML, no database, no synthesis. Audio this
    process already holds is played (the caller hears the line's usual voice); the rest is
    spoken with <Say>."""
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


@routes.post("/twilio/menu")
async def menu_choice(request: web.Request) -> web.Response:
    form = await request.post()
    catalog = catalog_for(request, request.query.get("lang"))
    heard = heard_key(form, catalog)
    digits = heard.keys
    response = VoiceResponse()
    now = request.app[CLOCK].now()
    repeat = _int_query(request, "repeat") if not digits and not heard.unclear else 0
    if repeat > MAX_MENU_REPEATS:
        note(request, form, "goodbye")
        await speak(request, response, render(catalog, "goodbye", {}, now=now))
        response.hangup()
        return twiml(response)
    if heard.unclear:
        note(request, form, "unclear")
        await speak(request, response, render(catalog, "speech_unclear", {}, now=now))
        await menu(request, response, catalog)
        return twiml(response)
    if digits:
        note(request, form, f"menu:{digits}" if digits.isdigit() else "menu:?")
    try:
        if digits == "8":
            catalog = catalog_for(request, "es")
        elif digits == "7":
            catalog = catalog_for(request, "en")
        elif digits in ("1", "2", "3", "0"):
            if await _act(request, response, catalog, digits, form):
                return twiml(response)  # handed over to a person: the call leaves the menu
        elif digits and digits != "9":
            await speak(request, response, render(catalog, "invalid_choice", {}, now=now))
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        logger.warning("database unavailable on the outage line menu: %r", exc)
        return await degraded(request, form)
    await menu(request, response, catalog, repeat=repeat)
    return twiml(response)


async def _address(request: web.Request, premise_id: str | None) -> str | None:
    if not premise_id:
        return None
    try:
        async with asyncio.timeout(LOOKUP_BUDGET_S):
            found = await request.app[LOOKUP].by_premise(premise_id)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        return None
    return found.accounts[0].premise.service_address if found.found else None


async def _act(
    request: web.Request,
    response: VoiceResponse,
    catalog: Catalog,
    digit: str,
    form: Mapping[str, object],
) -> bool:
    """Does what the caller chose; True when the call was handed to a person."""
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    ivr = request.app[IVR]
    premise = request.query.get("premise") or None
    account = request.query.get("account") or None
    caller = str(form.get("From", ""))[:20]
    call_sid = str(form.get("CallSid", ""))[:64]
    who = {"premise_id": premise, "account_number": account, "phone": caller, "call_sid": call_sid}
    if digit == "1":
        note(request, form, "report", CallOutcome.REPORTED)
        outcome = await _write_or_spool(request, "outage", ivr.report_outage, **who)
        address = await _address(request, premise) if outcome is not None else None
        if address is None:
            await speak(
                request, response, render(catalog, "report_recorded_no_address", {}, now=now)
            )
        else:
            key = "report_recorded" if outcome is ReportOutcome.RECORDED else "report_already"
            await speak(request, response, render(catalog, key, {"address": address}, now=now))
        return False
    if digit == "2":
        await _write_or_spool(request, "hazard", ivr.report_hazard, **who)
        await speak(request, response, render(catalog, "hazard", {}, now=now))
        if settings.emergency_number:
            note(request, form, "hazard_transfer", CallOutcome.TRANSFERRED)
            await speak(request, response, render(catalog, "hazard_transfer", {}, now=now))
            response.dial(settings.emergency_number)
            return True
        # No line of our own to hand a downed wire to: send them to the public one, and
        # never say we are connecting them.
        public = {"phone": settings.public_emergency_number}
        await speak(request, response, render(catalog, "hazard_call_emergency", public, now=now))
        note(request, form, "hazard", CallOutcome.REPORTED)
        return False
    if digit == "3":
        await ivr.request_callback(
            premise_id=premise,
            account_number=account,
            phone=caller,
            language=catalog.language,
            call_sid=call_sid,
        )
        note(request, form, "callback", CallOutcome.CALLBACK_REQUESTED)
        address = await _address(request, premise)
        variables: dict[str, object] = {"phone": caller}
        key = "callback_recorded_no_address"
        if address is not None:
            variables["address"] = address
            key = "callback_recorded"
        await speak(request, response, render(catalog, key, variables, now=now))
        return False
    if settings.agent_number and settings.agent_hours.is_open(now, settings.timezone):
        note(request, form, "agent", CallOutcome.TRANSFERRED)
        await speak(request, response, render(catalog, "agent_transfer", {}, now=now))
        response.dial(settings.agent_number)
        return True
    # No transfer: say why and what the menu (which follows) still does; never "connecting".
    closed = "agent_after_hours" if settings.agent_number else "agent_closed"
    note(request, form, closed)
    await speak(request, response, render(catalog, closed, {}, now=now))
    return False


def transfer_warnings(settings: Settings) -> list[str]:
    """What an operator must know at start about transfers the outage line will not make."""
    if settings.emergency_number:
        return []
    return [
        "OUTAGE_VOICE_EMERGENCY_NUMBER is unset: hazard transfers are off; callers who "
        "report a downed wire are told to stay away, hang up and call "
        f"{settings.public_emergency_number} (OUTAGE_VOICE_PUBLIC_EMERGENCY_NUMBER)"
    ]


async def _find(request: web.Request, entered: str) -> StatusLookup:
    """Ten digits are tried as a phone number first, anything else as an account number."""
    service = request.app[LOOKUP]
    if len(entered) == 10:
        with contextlib.suppress(InvalidPhone):
            by_phone = await service.by_phone(entered)
            if by_phone.found:
                return by_phone
    return await service.by_account(entered)


@routes.post("/twilio/identify")
async def identify(request: web.Request) -> web.Response:
    """A caller we could not find by caller ID enters a phone or account number."""
    form = await request.post()
    catalog = catalog_for(request, request.query.get("lang"))
    attempt = max(1, _int_query(request, "try"))
    heard = heard_number(
        digits=str(form.get("Digits", ""))[:64],
        speech=str(form.get("SpeechResult", ""))[:200],
        confidence=_str_or_none(form.get("Confidence")),
        limit=MAX_NUMBER_DIGITS,
    )
    entered = heard.keys
    now = request.app[CLOCK].now()
    response = VoiceResponse()
    lookup = None
    if entered:
        try:
            async with asyncio.timeout(LOOKUP_BUDGET_S):
                lookup = await _find(request, entered)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            return await degraded(request, form)
    if lookup is not None and lookup.found:
        await greet(request, response, lookup, form)
        return twiml(response)
    if attempt >= MAX_IDENTIFY_TRIES:
        # Three misses: the menu still lets them report an outage or reach a person.
        note(request, form, "identify_failed")
        await menu(request, response, catalog)
        return twiml(response)
    note(request, form, "identify_miss")
    next_try = f"/twilio/identify?lang={catalog.language}&try={attempt + 1}"
    gather = ask(response, catalog, action=next_try, number=True)
    retry_key = "speech_unclear" if heard.unclear else "not_found_retry"
    await speak(request, gather, render(catalog, retry_key, {}, now=now))
    await speak(request, gather, render(catalog, "ask_phone_or_account", {}, now=now))
    response.redirect(next_try, method="POST")
    return twiml(response)


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
