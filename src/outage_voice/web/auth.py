"""Bearer-token checks for the JSON API."""

from __future__ import annotations

from aiohttp import web

from outage_voice.domain.auth import Principal, Role
from outage_voice.web.keys import TOKENS

ANY_ROLE = frozenset(Role)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="outage-voice"'}


async def require_role(request: web.Request, allowed: frozenset[Role]) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise web.HTTPUnauthorized(
            text="an 'Authorization: Bearer <token>' header is required", headers=_CHALLENGE
        )
    principal = await request.app[TOKENS].authenticate(token.strip())
    if principal is None:
        raise web.HTTPUnauthorized(text="the token is unknown or revoked", headers=_CHALLENGE)
    if principal.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed))
        raise web.HTTPForbidden(
            text=f"the {principal.role.value} role may not do this (needs {names})"
        )
    return principal
