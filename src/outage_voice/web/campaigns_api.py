"""Campaigns for supervisors: `/api/v1/campaigns`."""

from __future__ import annotations

from aiohttp import web

from outage_voice.domain.auth import Role
from outage_voice.domain.errors import NotFound
from outage_voice.web.auth import ANY_ROLE, require_role
from outage_voice.web.campaign_json import (
    parse_campaign_id,
    parse_campaign_spec,
    parse_pacing_change,
    wants_force,
)
from outage_voice.web.jsonio import json_response, query_bool, read_json
from outage_voice.web.keys import CAMPAIGNS

routes = web.RouteTableDef()
SUPERVISOR = frozenset({Role.SUPERVISOR})
ACTIONS = ("start", "pause", "resume", "cancel")


def _campaign_id(request: web.Request) -> int:
    raw = request.match_info["campaign_id"]
    campaign_id = parse_campaign_id(raw)
    if campaign_id is None:
        raise NotFound("campaign", raw)
    return campaign_id


@routes.post("/api/v1/campaigns")
async def create(request: web.Request) -> web.Response:
    principal = await require_role(request, SUPERVISOR)
    body = await read_json(request)
    spec = parse_campaign_spec(body)
    view = await request.app[CAMPAIGNS].create(spec, actor=principal.actor, force=wants_force(body))
    return json_response(view, status=201)


@routes.post("/api/v1/campaigns/estimate")
async def estimate(request: web.Request) -> web.Response:
    """What POST /api/v1/campaigns would plan with this body, nothing stored; any role, so
    viewers can size a campaign a supervisor will launch (the console's form offers it to
    them). Bounded instead: one at a time per server (409 Busy otherwise), each stopped after
    ESTIMATE_TIMEOUT_S (503)."""
    principal = await require_role(request, ANY_ROLE)
    body = await read_json(request)
    spec = parse_campaign_spec(body)
    answer = await request.app[CAMPAIGNS].estimate(
        spec, actor=principal.actor, force=wants_force(body)
    )
    return json_response(answer)


@routes.get("/api/v1/campaigns")
async def recent(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    return json_response({"campaigns": await request.app[CAMPAIGNS].recent()})


@routes.get("/api/v1/campaigns/{campaign_id}")
async def show(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    # Dashboards polling a big campaign share one count every PROGRESS_REUSE_S; `?fresh=1`
    # counts now (an exact figure for a report, a test waiting for the end).
    reuse = not query_bool(request, "fresh")
    return json_response(await request.app[CAMPAIGNS].show(_campaign_id(request), reuse=reuse))


@routes.post("/api/v1/campaigns/{campaign_id}/{action}")
async def act(request: web.Request) -> web.Response:
    await require_role(request, SUPERVISOR)
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound(text=f"no such action: {action} (one of {', '.join(ACTIONS)})")
    return json_response(await request.app[CAMPAIGNS].act(_campaign_id(request), action))


@routes.patch("/api/v1/campaigns/{campaign_id}")
async def pace(request: web.Request) -> web.Response:
    await require_role(request, SUPERVISOR)
    change = parse_pacing_change(await read_json(request))
    return json_response(await request.app[CAMPAIGNS].pace(_campaign_id(request), change))
