"""What an answered campaign call hears: `/twilio/outbound` (signed, like every `/twilio/`
request). A person hears the message and a short menu; a machine, the voicemail version
after the beep."""

from __future__ import annotations

import logging

from aiohttp import web

from outage_voice.adapters.twilio.twiml import VoiceResponse
from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.prompts import render
from outage_voice.services.outbound import AnsweredCall
from outage_voice.web.keys import CLOCK, OUTBOUND, SETTINGS
from outage_voice.web.voice_twiml import MENU_TIMEOUT_S, catalog_for, speak, twiml

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_REPEATS = 2


def _attempt_id(request: web.Request) -> int | None:
    raw = request.query.get("attempt", "")
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


async def _this_call(request: web.Request) -> AnsweredCall | None:
    attempt_id = _attempt_id(request)
    return None if attempt_id is None else await request.app[OUTBOUND].answered(attempt_id)


async def _goodbye(request: web.Request, response: VoiceResponse, language: str | None) -> None:
    catalog = catalog_for(request, language)
    await speak(request, response, render(catalog, "goodbye", {}, now=request.app[CLOCK].now()))
    response.hangup()


async def _menu(
    request: web.Request, response: VoiceResponse, call: AnsweredCall, repeat: int
) -> None:
    now = request.app[CLOCK].now()
    action = f"/twilio/outbound/menu?attempt={call.attempt_id}"
    gather = response.gather(
        input="dtmf", num_digits=1, action=action, method="POST", timeout=MENU_TIMEOUT_S
    )
    await speak(request, gather, call.message)
    await speak(request, gather, render(call.catalog, "outbound_menu", {}, now=now))
    response.redirect(f"{action}&repeat={repeat + 1}", method="POST")


@routes.post("/twilio/outbound")
async def answered(request: web.Request) -> web.Response:
    form = await request.post()
    response = VoiceResponse()
    call = await _this_call(request)
    if call is None:
        await _goodbye(request, response, None)  # an attempt we don't know: end politely
        return twiml(response)
    answered_by = str(form.get("AnsweredBy", ""))
    if answered_by.startswith("machine") or answered_by == "fax":
        if call.voicemail == "hangup" or answered_by == "fax":
            response.hangup()
            return twiml(response)
        await request.app[OUTBOUND].delivered(call)
        await speak(request, response, call.message)
        settings = request.app[SETTINGS]
        callback_number = settings.twilio.from_number if settings.twilio else None
        if callback_number:
            now = request.app[CLOCK].now()
            variables = {"phone": callback_number}
            await speak(
                request, response, render(call.catalog, "voicemail_callback", variables, now=now)
            )
        response.hangup()
        return twiml(response)
    await request.app[OUTBOUND].delivered(call)
    await _menu(request, response, call, 0)
    return twiml(response)


@routes.post("/twilio/outbound/menu")
async def menu(request: web.Request) -> web.Response:
    form = await request.post()
    response = VoiceResponse()
    call = await _this_call(request)
    if call is None:
        await _goodbye(request, response, None)  # an attempt we don't know: end politely
        return twiml(response)
    digit = str(form.get("Digits", "")).strip()[:1]
    now = request.app[CLOCK].now()
    service = request.app[OUTBOUND]
    if digit == "1" and call.kind is CampaignKind.RESTORATION:
        await service.still_out(call, str(form.get("CallSid", ""))[:64])
        await speak(request, response, render(call.catalog, "still_out_recorded", {}, now=now))
        await _goodbye(request, response, call.catalog.language)
        return twiml(response)
    if digit == "9":
        await service.opt_out(call)
        await speak(request, response, render(call.catalog, "opted_out", {}, now=now))
        response.hangup()
        return twiml(response)
    if digit and digit != "2":
        await speak(request, response, render(call.catalog, "invalid_choice", {}, now=now))
    try:
        repeat = int(request.query.get("repeat", "0")) if not digit else 0
    except ValueError:
        repeat = 0
    if repeat > MAX_REPEATS:
        await _goodbye(request, response, call.catalog.language)
        return twiml(response)
    await _menu(request, response, call, repeat)
    return twiml(response)
