"""Reports for operations: how the outage line handled its calls."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from outage_voice.domain.errors import InvalidField
from outage_voice.domain.outages import parse_rfc3339
from outage_voice.web.auth import ANY_ROLE, require_role
from outage_voice.web.jsonio import json_response
from outage_voice.web.keys import CALL_RECORDS, CLOCK

routes = web.RouteTableDef()
DEFAULT_PERIOD = timedelta(hours=24)


@routes.get("/api/v1/reports/inbound-calls")
async def inbound_calls(request: web.Request) -> web.Response:
    """Calls by outcome, share contained by the line and average duration, for a period
    (default: the last 24 hours)."""
    await require_role(request, ANY_ROLE)
    now = request.app[CLOCK].now()
    raw_until = request.query.get("until")
    until = now if raw_until is None else parse_rfc3339("until", raw_until)
    raw_since = request.query.get("since")
    since = until - DEFAULT_PERIOD if raw_since is None else parse_rfc3339("since", raw_since)
    if since >= until:
        raise InvalidField("since", "must be before until")
    report = await request.app[CALL_RECORDS].report(since, until)
    return json_response(report.as_json())
