"""`GET /metrics` (Prometheus text format) and the timing of every carrier webhook.

Open by default, as Prometheus scrapes expect; with OUTAGE_VOICE_METRICS_TOKEN set, a scrape
must carry `Authorization: Bearer <that token>` (Prometheus' `authorization` setting).
"""

from __future__ import annotations

import asyncio
import hmac
import time

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from outage_voice.web.keys import METRICS, SETTINGS

routes = web.RouteTableDef()
WEBHOOK_PREFIX = "/twilio/"
UNMATCHED_ROUTE = "unmatched"
CLIENT_GONE = 499  # nginx's status for a client that went before it was answered
GATEWAY_TIMEOUT = 504  # what aiohttp answers for a handler's TimeoutError
UNEXPECTED = 500


def ended_status(error: BaseException) -> int:
    """The status a request that ended in `error` is counted and logged with: the one sent,
    or CLIENT_GONE when nobody was left to send it to (the carrier hung up, or cut its body
    short), which is no fault of the server's."""
    if isinstance(error, web.HTTPException):
        return error.status
    if isinstance(error, asyncio.CancelledError | ConnectionResetError):
        return CLIENT_GONE
    if isinstance(error, TimeoutError):
        return GATEWAY_TIMEOUT
    return UNEXPECTED


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    token = request.app[SETTINGS].metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            # surrogateescape: header bytes that were not UTF-8 are a wrong token, not an error.
            given.strip().encode("utf-8", "surrogateescape"),
            token.encode(),
        ):
            raise web.HTTPUnauthorized(
                text="a metrics token is required (OUTAGE_VOICE_METRICS_TOKEN)",
                headers={"WWW-Authenticate": 'Bearer realm="outage-voice metrics"'},
            )
    body = generate_latest(request.app[METRICS].registry)
    # prometheus_client's content type carries its own charset parameter.
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


@web.middleware
async def webhook_timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each carrier webhook's time to answer, by route (the route's pattern, never the URL
    as sent) and outcome; refused signatures included, so this runs outside their check."""
    if not request.path.startswith(WEBHOOK_PREFIX):
        return await handler(request)
    metrics = request.app.get(METRICS)
    if metrics is None:  # an application built without them (bootstrap always adds them)
        return await handler(request)
    started = time.perf_counter()
    status = UNEXPECTED
    try:
        response = await handler(request)
        status = response.status
        return response
    except BaseException as exc:
        status = ended_status(exc)
        raise
    finally:
        resource = request.match_info.route.resource
        route = UNMATCHED_ROUTE if resource is None else resource.canonical
        metrics.webhook(route, status, time.perf_counter() - started)
