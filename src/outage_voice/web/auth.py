"""Who is asking: a Bearer token (machines, as always) or a console session cookie (people).

Both end in the same `Principal` and the same role check, so a viewer signed in to the
console is refused by the JSON API itself, not only by a disabled control.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiDictProxy

from outage_voice.domain.auth import Principal, Role
from outage_voice.domain.users import ConsoleSession
from outage_voice.web.keys import SETTINGS, TOKENS, USERS

ANY_ROLE = frozenset(Role)
SESSION_COOKIE = "ov_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SIGNIN_PATH = "/dashboard/signin"
# Requests that change nothing: the only ones a session cookie may send without its CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="outage-voice"'}
# The session a request's cookie opens, looked up once per request whoever asks.
_SESSION = web.RequestKey("console_session", object)


async def require_role(request: web.Request, allowed: frozenset[Role]) -> Principal:
    """The caller, refused (401/403) unless it holds one of `allowed`. A request with an
    Authorization header is judged by it alone; without one, the console session cookie is
    tried, and on a change (not GET/HEAD) its CSRF token must come with it."""
    header = request.headers.get("Authorization")
    if header is None and SESSION_COOKIE in request.cookies:
        session = await console_session(request)
        if session is None:
            raise web.HTTPUnauthorized(text="the console session has ended; sign in again")
        await require_csrf(request, session)
        principal = session.principal
    else:
        principal = await _bearer(request, header or "")
    if principal.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise web.HTTPForbidden(
            text=f"the {principal.role.value} role may not do this (needs {names})"
        )
    return principal


async def _bearer(request: web.Request, header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise web.HTTPUnauthorized(
            text="an 'Authorization: Bearer <token>' header is required", headers=_CHALLENGE
        )
    principal = await request.app[TOKENS].authenticate(token.strip())
    if principal is None:
        raise web.HTTPUnauthorized(text="the token is unknown or revoked", headers=_CHALLENGE)
    return principal


async def console_session(request: web.Request) -> ConsoleSession | None:
    """The live console session of this request's cookie, or None (no cookie, signed out,
    expired, user disabled). Looked up once per request."""
    if _SESSION in request:
        cached = request[_SESSION]
        return cached if isinstance(cached, ConsoleSession) else None
    return await fresh_console_session(request)


async def fresh_console_session(request: web.Request) -> ConsoleSession | None:
    """The session looked up again, past the per-request cache: a long-lived response (the
    live stream) asks this now and then and ends when the session has (signed out, expired,
    account disabled). Each call also counts as use of the session."""
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await request.app[USERS].session(token) if token else None
    request[_SESSION] = session
    return session


async def require_csrf(request: web.Request, session: ConsoleSession) -> None:
    """403 on a change whose CSRF token (X-CSRF-Token header, or a csrf_token form field) is
    missing or not this session's: another site cannot make a signed-in browser change
    anything. Nothing has been read or changed when it is refused."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        field = (await read_form(request)).get(CSRF_FIELD)
        sent = field if isinstance(field, str) else None
    # Tokens are ASCII: other text (bytes that were not UTF-8) is wrong, not an error.
    if (
        not sent
        or not sent.isascii()
        or not hmac.compare_digest(sent.encode(), session.csrf_token.encode())
    ):
        raise web.HTTPForbidden(
            text="the CSRF token is missing or wrong; reload the page and try again"
        )


async def read_form(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The posted form; 400 when its body is not text in its declared charset."""
    try:
        return await request.post()
    except (UnicodeDecodeError, LookupError, ValueError):
        raise web.HTTPBadRequest(text="the form is not valid text") from None


async def require_page(request: web.Request, allowed: frozenset[Role] = ANY_ROLE) -> ConsoleSession:
    """A console page's reader: without a live session, a 303 to the sign-in page that comes
    back here; with one, 403 unless its role is allowed, and the CSRF check on a change."""
    session = await console_session(request)
    if session is None:
        raise web.HTTPSeeOther(signin_url(request.path_qs))
    await require_csrf(request, session)
    if session.user.role not in allowed:
        raise web.HTTPForbidden(text=f"the {session.user.role.value} role may not do this")
    return session


def signin_url(next_path: str) -> str:
    if not safe_next(next_path) or next_path in ("/dashboard", "/dashboard/"):
        return SIGNIN_PATH
    return f"{SIGNIN_PATH}?{urlencode({'next': next_path})}"


def safe_next(path: str) -> bool:
    """Only a console page of this server: never another host (`//evil`, `/\\evil`)."""
    return (
        path.startswith("/dashboard")
        and not path.startswith(("//", "/\\"))
        and "\\" not in path
        and not path.startswith(SIGNIN_PATH)
        and all(ord(c) >= 0x20 for c in path)
    )


def session_cookie_secure(request: web.Request) -> bool:
    """Secure cookies when the server is reached over https (OUTAGE_VOICE_PUBLIC_URL)."""
    return request.app[SETTINGS].public_url.lower().startswith("https://")
