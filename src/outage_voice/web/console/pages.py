"""The console's shell: sign-in, sign-out, the landing page and its static assets."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from outage_voice.adapters.db.errors import is_database_unavailable
from outage_voice.domain.users import SESSION_ABSOLUTE_S
from outage_voice.services.users import SignInBusy, SignInLimited, SignInRefused
from outage_voice.web.auth import (
    SESSION_COOKIE,
    SIGNIN_PATH,
    console_session,
    read_form,
    require_csrf,
    safe_next,
    session_cookie_secure,
    signin_url,
)
from outage_voice.web.client_address import client_address
from outage_voice.web.console.render import STATIC_DIR, render, static_version
from outage_voice.web.jsonio import _UNSTORABLE
from outage_voice.web.keys import SETTINGS, USERS

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()

HOME = "/dashboard"
# A year: asset URLs carry their content hash, so a changed file has a new URL.
STATIC_MAX_AGE_S = 365 * 24 * 3600
_STATIC_NAME = re.compile(r"^[a-z0-9_-]+\.(css|js|svg|png|ico|woff2)$")
_STATIC_TYPES = {
    "css": "text/css",
    "js": "text/javascript",
    "svg": "image/svg+xml",
    "png": "image/png",
    "ico": "image/x-icon",
    "woff2": "font/woff2",
}
MAX_FIELD_CHARS = 2048
UNAVAILABLE_RETRY_S = 5
_UNAVAILABLE_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Console unavailable</title></head><body><main><h1>The console cannot reach its "
    "database</h1><p>Nothing was changed. Calls already under way carry on; reload this page "
    "in a few seconds.</p></main></body></html>"
)


# Console paths open to anyone: the sign-in page itself, sign-out, and the CSS and JS it uses.
_OPEN_PATHS = (SIGNIN_PATH, "/dashboard/signout", "/dashboard/static/")


@web.middleware
async def signin_required(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every console page, existing or not, sends a visitor with no live session to the
    sign-in page, which brings them back; handlers still take their session (and check the
    role and CSRF) with require_page()."""
    path = request.path
    console = path == HOME or path.startswith(HOME + "/")
    if not console:
        return await handler(request)
    try:
        if not path.startswith(_OPEN_PATHS) and await console_session(request) is None:
            raise web.HTTPSeeOther(signin_url(request.path_qs))
        return await handler(request)
    except Exception as exc:
        if not is_database_unavailable(exc):
            raise
        logger.warning("database unavailable during %s %s: %r", request.method, path, exc)
        return web.Response(
            status=503,
            text=_UNAVAILABLE_PAGE,
            content_type="text/html",
            headers={"Retry-After": str(UNAVAILABLE_RETRY_S), "Cache-Control": "no-store"},
        )


@routes.get(SIGNIN_PATH)
async def signin_form(request: web.Request) -> web.StreamResponse:
    next_path = _next(request.query.get("next", ""))
    if await console_session(request) is not None:
        raise web.HTTPSeeOther(next_path)
    return render(request, "signin.html", None, {"next": next_path, "error": "", "username": ""})


@routes.post(SIGNIN_PATH)
async def signin(request: web.Request) -> web.StreamResponse:
    if not _same_origin(request):
        raise web.HTTPForbidden(text="sign-in is accepted only from this server's own page")
    form = await read_form(request)
    username = _field(form.get("username"))
    password = _field(form.get("password"))
    next_path = _next(_field(form.get("next")))
    address = client_address(request, request.app[SETTINGS].trusted_proxies)
    # The name typed is shown again only when it is one that could be an account's.
    context = {"next": next_path, "username": "" if _UNSTORABLE.search(username) else username}
    try:
        signed_in = await request.app[USERS].sign_in(username, password, address=address)
    except (SignInLimited, SignInBusy) as exc:
        return render(
            request,
            "signin.html",
            None,
            {**context, "error": str(exc).capitalize() + "."},
            status=429,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    except SignInRefused as exc:
        return render(
            request, "signin.html", None, {**context, "error": str(exc).capitalize() + "."},
            status=401,
        )  # fmt: skip
    # A browser signing in again (a shared workstation) ends the session it carried.
    previous = request.cookies.get(SESSION_COOKIE, "")
    if previous:
        await request.app[USERS].sign_out(previous)
    response = web.HTTPSeeOther(next_path)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=session_cookie_secure(request),
        max_age=SESSION_ABSOLUTE_S,
    )
    raise response


@routes.post("/dashboard/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    session = await console_session(request)
    if session is not None:
        await require_csrf(request, session)
        await request.app[USERS].sign_out(request.cookies.get(SESSION_COOKIE, ""))
        logger.info("console sign-out: %s", session.user.username)
    response = web.HTTPSeeOther(SIGNIN_PATH)
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.get("/dashboard/static/{name}")
async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC_DIR / name
    if not _STATIC_NAME.fullmatch(name) or not path.is_file():
        raise web.HTTPNotFound()
    immutable = request.query.get("v") == static_version(name)
    cache = f"public, max-age={STATIC_MAX_AGE_S}, immutable" if immutable else "no-cache"
    return web.FileResponse(
        path,
        headers={
            "Cache-Control": cache,
            "Content-Type": _STATIC_TYPES[name.rsplit(".", 1)[1]],
            "X-Content-Type-Options": "nosniff",
        },
    )


def _field(value: object) -> str:
    return value[:MAX_FIELD_CHARS] if isinstance(value, str) else ""


def _next(raw: str) -> str:
    return raw if safe_next(raw) else HOME


def _same_origin(request: web.Request) -> bool:
    """A sign-in form posted from another site is refused (it could sign a browser in to an
    account of the attacker's choosing). Browsers send Origin on every POST."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    public = urlsplit(request.app[SETTINGS].public_url).netloc
    return urlsplit(origin).netloc in (request.host, public)
