"""Exceptions become clear JSON errors at the edge; nothing leaks a traceback to a client."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from outage_voice.adapters.db.errors import is_database_unavailable
from outage_voice.domain.campaigns import BadTransition, OutageNotRestored
from outage_voice.domain.errors import Busy, InvalidField, NotFound, TookTooLong
from outage_voice.domain.phones import InvalidPhone
from outage_voice.web.jsonio import error_response

logger = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except InvalidField as exc:
        return error_response(422, "invalid_field", exc.message, field=exc.field)
    except InvalidPhone as exc:
        return error_response(422, "invalid_phone", str(exc), field="phone")
    except NotFound as exc:
        return error_response(404, "not_found", str(exc))
    except BadTransition as exc:
        return error_response(409, "conflict", str(exc))
    except Busy as exc:
        return error_response(409, "busy", str(exc), headers={"Retry-After": "1"})
    except TookTooLong as exc:
        return error_response(503, "took_too_long", str(exc))
    except OutageNotRestored as exc:
        message = f'{exc}; send "force": true to create it anyway'
        return error_response(409, "outage_not_restored", message, field="audience.outage_id")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        headers = {
            k: v for k, v in exc.headers.items() if k.lower() in ("www-authenticate", "allow")
        }
        return error_response(exc.status, code, exc.text or exc.reason, headers=headers)
    except Exception as exc:
        if is_database_unavailable(exc):
            logger.warning(
                "database unavailable during %s %s: %r", request.method, request.path, exc
            )
            return error_response(
                503,
                "database_unavailable",
                "the database is unavailable; try again shortly",
                headers={"Retry-After": "5"},
            )
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error; it has been logged")
