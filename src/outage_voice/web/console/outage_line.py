"""The console's outage-line page (`/dashboard/outage-line`) and the JSON it refreshes from
(`GET /api/v1/outage-line`, any role): callers in the menu now, webhooks per second, today's
containment, the outages callers are calling about, and each instance's state."""

from __future__ import annotations

from aiohttp import web

from outage_voice.domain.inbound_calls import CallOutcome
from outage_voice.web.auth import ANY_ROLE, require_page, require_role
from outage_voice.web.console.render import render
from outage_voice.web.jsonio import json_response
from outage_voice.web.keys import OUTAGE_LINE_VIEW

routes = web.RouteTableDef()
# The page asks this often; the server reads the database at most every VIEW_REUSE_S.
REFRESH_S = 5
OUTCOME_LABELS = {
    CallOutcome.SELF_SERVED.value: "Self-served",
    CallOutcome.REPORTED.value: "Reported",
    CallOutcome.TRANSFERRED.value: "Transferred",
    CallOutcome.CALLBACK_REQUESTED.value: "Call-back requested",
    CallOutcome.ABANDONED.value: "Abandoned",
}


@routes.get("/api/v1/outage-line")
async def outage_line_json(request: web.Request) -> web.Response:
    await require_role(request, ANY_ROLE)
    return json_response((await request.app[OUTAGE_LINE_VIEW].now()).as_json())


@routes.get("/dashboard/outage-line")
async def outage_line_page(request: web.Request) -> web.StreamResponse:
    session = await require_page(request)
    now = await request.app[OUTAGE_LINE_VIEW].now()
    return render(
        request,
        "outage_line.html",
        session,
        {
            "nav": "outage_line",
            "line": now.as_json(),
            "outcomes": OUTCOME_LABELS,
            "refresh_s": REFRESH_S,
        },
    )
