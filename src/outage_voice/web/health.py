from __future__ import annotations

import asyncio

from aiohttp import web

from outage_voice.adapters.db.queries import q
from outage_voice.web.jsonio import json_response
from outage_voice.web.keys import POOL

HEALTH_DB_TIMEOUT_S = 2.0
routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        async with asyncio.timeout(HEALTH_DB_TIMEOUT_S):
            await request.app[POOL].fetchval(q("health_check"))
    except Exception as exc:
        return json_response({"status": "unhealthy", "database": type(exc).__name__}, status=503)
    return json_response({"status": "ok", "database": "ok"})
