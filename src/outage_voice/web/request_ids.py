"""Each request's id: the reverse proxy's `X-Request-Id` when it is a sane one, else one made
here; echoed in the response's `X-Request-Id` and carried by every log line written while the
request is handled (see outage_voice.logs), with the carrier's CallSid for a webhook, so a
call's trail can be followed from the proxy's log and the carrier's call log alike."""

from __future__ import annotations

import asyncio
import logging
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from outage_voice.logs import REQUEST_ID_HEADER, new_request_id, sane_request_id
from outage_voice.services.request_context import bind_request, unbind_request
from outage_voice.web.metrics import CLIENT_GONE, UNEXPECTED, WEBHOOK_PREFIX, ended_status

logger = logging.getLogger(__name__)

REQUEST_ID = web.RequestKey("request_id", str)
FORM = "application/x-www-form-urlencoded"
# A carrier webhook's form is a few hundred bytes; a bigger body is left for the handler
# (and its size limit) to read, never read twice.
MAX_PEEKED_FORM_BYTES = 64 * 1024
_CALL_SID = re.compile(r"[A-Za-z0-9]{1,64}")


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or new_request_id()
    request[REQUEST_ID] = request_id
    tokens = bind_request(request_id, await _call_sid(request))
    started = time.perf_counter()
    status = UNEXPECTED
    try:
        response = await handler(request)
        status = response.status
        return response
    except ConnectionResetError:
        # The body was cut short (a carrier giving up, a drain closing the connection): a
        # 400 nobody may read, rather than an error with a traceback in the log (aiohttp
        # logs any other exception as one), which during a rolling restart pages for nothing.
        status = CLIENT_GONE
        raise web.HTTPBadRequest(text="the request was cut short") from None
    except (web.HTTPException, TimeoutError, asyncio.CancelledError) as exc:
        status = ended_status(exc)
        raise
    except Exception:
        # Logged here, not by aiohttp after the request's context is gone, so the traceback
        # carries the request id the proxy and the response show.
        logger.exception("unhandled error in %s %s", request.method, request.path)
        raise web.HTTPInternalServerError() from None
    finally:
        if logger.isEnabledFor(logging.DEBUG):
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            logger.debug(
                "%s %s %d in %.1f ms",
                request.method,
                request.path,  # never the query: step URLs are the carrier's, not a log's
                status,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )
        unbind_request(tokens)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, an error raised past the middleware included."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id


async def _call_sid(request: web.Request) -> str | None:
    """A webhook's CallSid (the form aiohttp keeps for the handler), when it is sane."""
    if not request.path.startswith(WEBHOOK_PREFIX):
        return None
    sid = request.query.get("CallSid")
    if (
        sid is None
        and request.method == "POST"
        and request.content_type == FORM
        and request.content_length is not None
        and request.content_length <= MAX_PEEKED_FORM_BYTES
    ):
        try:
            sid = str((await request.post()).get("CallSid", ""))
        except (ValueError, ConnectionResetError):
            # Not UTF-8, or cut short: the handler meets (and answers) the same error.
            return None
    return sid if sid and _CALL_SID.fullmatch(sid) else None
