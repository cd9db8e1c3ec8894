"""The console's campaign pages: campaigns now, one campaign, a new campaign; and the live
stream (server-sent events) every open console listens to.

Pages are rendered on the server with what is known now, then kept current by the stream;
changes go through the JSON API (`/api/v1/campaigns...`) with the session's CSRF token, so
a viewer is refused by the API itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.errors import NotFound
from outage_voice.services.console_feed import CHART_BUCKET_S, CHART_SPAN_S, TooManyWatched
from outage_voice.web.auth import fresh_console_session, require_page
from outage_voice.web.campaign_json import parse_campaign_id
from outage_voice.web.console.render import render
from outage_voice.web.keys import CAMPAIGNS, CONSOLE_FEED

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

STREAM_PATH = "/dashboard/stream"
# The browser's EventSource waits this long before reconnecting (after a restart, say).
STREAM_RETRY_MS = 2000
# A comment line this often keeps proxies from closing a quiet stream.
KEEPALIVE_S = 15.0
# A write to a console longer than this: it has stopped reading, and its stream is ended.
WRITE_TIMEOUT_S = KEEPALIVE_S
# The session is looked up again every this many updates (about a minute at one a second):
# a console left open ends when its session has (signed out, expired, account disabled).
SESSION_RECHECK_UPDATES = 60
KIND_LABELS = {
    CampaignKind.OUTAGE_ACK.value: "Outage acknowledged",
    CampaignKind.ETR_UPDATE.value: "Restoration time changed",
    CampaignKind.RESTORATION.value: "Power restored",
    CampaignKind.PLANNED_NOTICE.value: "Planned outage notice",
    CampaignKind.CUSTOM.value: "Custom message",
    CampaignKind.SURVEY.value: "Survey",
}
# What a supervisor may launch from the form (surveys are sent from an outage).
FORM_KINDS = tuple(kind for kind in KIND_LABELS if kind != CampaignKind.SURVEY.value)


@routes.get("/dashboard")
async def campaigns_now(request: web.Request) -> web.StreamResponse:
    session = await require_page(request)
    current = await request.app[CONSOLE_FEED].current()
    return render(
        request,
        "campaigns.html",
        session,
        {"nav": "campaigns", "campaigns": current["campaigns"], "kinds": KIND_LABELS},
    )


@routes.get("/dashboard/campaigns/new")
async def new_campaign(request: web.Request) -> web.StreamResponse:
    session = await require_page(request)
    outage_id = request.query.get("outage", "")[:200]
    return render(
        request,
        "new_campaign.html",
        session,
        {
            "nav": "new_campaign",
            "kinds": KIND_LABELS,
            "form_kinds": FORM_KINDS,
            "outage_id": outage_id,
        },
    )


@routes.get(r"/dashboard/campaigns/{campaign_id:\d+}")
async def campaign_page(request: web.Request) -> web.StreamResponse:
    session = await require_page(request)
    raw = request.match_info["campaign_id"]
    try:
        campaign_id = parse_campaign_id(raw)
        if campaign_id is None:
            raise NotFound("campaign", raw)
        view = await request.app[CAMPAIGNS].show(campaign_id, reuse=True)
    except NotFound:
        return render(
            request,
            "not_found.html",
            session,
            {"nav": "campaigns", "what": f"campaign {raw}"},
            status=404,
        )
    return render(
        request,
        "campaign.html",
        session,
        {
            "nav": "campaigns",
            "campaign": view,
            "kinds": KIND_LABELS,
            "chart_span_s": CHART_SPAN_S,
            "chart_bucket_s": CHART_BUCKET_S,
        },
    )


@routes.get(STREAM_PATH)
async def stream(request: web.Request) -> web.StreamResponse:
    """`text/event-stream`: an `update` event (JSON: `at`, `campaigns`, and with
    `?campaign=ID` that campaign's `campaign` detail) at most once a second, the same for
    every console; `signedout` when the session has ended; `superseded` when the same
    session opened more than MAX_STREAMS_PER_SESSION streams and this is the oldest."""
    session = await require_page(request)
    campaign_id = _campaign_param(request.query.get("campaign"))
    feed = request.app[CONSOLE_FEED]
    if campaign_id is not None:
        try:
            # Only a campaign there is is read for the console, again and again.
            await request.app[CAMPAIGNS].show(campaign_id, reuse=True)
        except NotFound:
            raise web.HTTPNotFound(text="no such campaign") from None
    try:
        # Keyed on the session's CSRF token: unique to it, and held only in memory here.
        subscription = feed.subscribe(campaign_id, owner=session.csrf_token)
    except TooManyWatched:
        raise web.HTTPServiceUnavailable(
            text="consoles here already watch as many campaigns as they may",
            headers={"Retry-After": str(STREAM_RETRY_MS // 1000)},
        ) from None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy in front must pass each event on at once
        }
    )
    sent = 0
    try:
        await response.prepare(request)
        await _send(response, f"retry: {STREAM_RETRY_MS}\n\n".encode())
        while True:
            try:
                text = await asyncio.wait_for(subscription.next(), KEEPALIVE_S)
            except TimeoutError:
                await _send(response, b": keep-alive\n\n")
                continue
            if text is None:
                if subscription.superseded:
                    await _send(response, b"event: superseded\ndata: {}\n\n")
                break  # else this instance is shutting down: the browser reconnects
            await _send(response, b"event: update\ndata: " + text.encode() + b"\n\n")
            sent += 1
            if sent % SESSION_RECHECK_UPDATES == 0 and await fresh_console_session(request) is None:
                await _send(response, b"event: signedout\ndata: {}\n\n")
                break
    except (ConnectionResetError, TimeoutError):
        # The console was closed, or stopped reading: nothing is left waiting on it.
        return response
    finally:
        feed.unsubscribe(subscription)
    with contextlib.suppress(ConnectionResetError, TimeoutError):
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            await response.write_eof()
    return response


async def _send(response: web.StreamResponse, data: bytes) -> None:
    """A write that gives up on a console that stopped reading (its socket buffer full), so
    it cannot hold its stream, or a graceful shutdown, open for ever."""
    async with asyncio.timeout(WRITE_TIMEOUT_S):
        await response.write(data)


def _campaign_param(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    campaign_id = parse_campaign_id(raw)
    if campaign_id is None:
        raise web.HTTPBadRequest(text="campaign must be a campaign's id")
    return campaign_id


async def close_feed(app: web.Application) -> None:
    """On shutdown, before open requests are waited for: every stream ends at once."""
    if CONSOLE_FEED in app:
        await app[CONSOLE_FEED].close()
