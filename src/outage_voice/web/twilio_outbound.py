"""What an answered campaign call hears: `/twilio/outbound` (signed, like every `/twilio/`
request). A person hears the message and a short menu; a machine, the voicemail version
after the beep. The flow is `domain/flows/campaign_call.py`; this parses and renders."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from outage_voice.domain.flows.campaign_call import (
    Answered,
    CallMenuState,
    NoKey,
    Pressed,
    answered_by,
    call_from_query,
    call_to_query,
)
from outage_voice.web.keys import CAMPAIGN_CALL
from outage_voice.web.voice_twiml import render_twiml

routes = web.RouteTableDef()


def menu_url(state: CallMenuState) -> str:
    return f"/twilio/outbound/menu?{urlencode(call_to_query(state))}"


@routes.post("/twilio/outbound")
async def answered(request: web.Request) -> web.Response:
    form = await request.post()
    by = answered_by(str(form.get("AnsweredBy", "")))
    heard = await request.app[CAMPAIGN_CALL].run(
        call_from_query(request.query.items()),
        lambda call: Answered(call=call, by=by),
        str(form.get("CallSid", ""))[:64],
    )
    return await render_twiml(request, heard, menu_url)


@routes.post("/twilio/outbound/menu")
async def menu(request: web.Request) -> web.Response:
    form = await request.post()
    key = str(form.get("Digits", "")).strip()[:1]
    heard = await request.app[CAMPAIGN_CALL].run(
        call_from_query(request.query.items()),
        lambda call: Pressed(call=call, key=key) if key else NoKey(call=call),
        str(form.get("CallSid", ""))[:64],
    )
    return await render_twiml(request, heard, menu_url)
