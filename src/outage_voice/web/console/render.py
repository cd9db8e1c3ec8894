"""Console pages rendered with Jinja2 (autoescaped) inside one layout, `base.html`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from outage_voice.domain.users import ConsoleSession
from outage_voice.web.keys import SETTINGS

CONSOLE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = CONSOLE_DIR / "templates"
STATIC_DIR = CONSOLE_DIR / "static"
STATIC_PREFIX = "/dashboard/static/"
# Scripts and styles only from this server; nothing from a CDN, no inline script. Inline
# style attributes are allowed (progress bars' widths), scripts and frames are not.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages carry the session's CSRF token and live data: never from a shared cache.
    "Cache-Control": "no-store",
}
# The nav's entries: (key, label, path). Pages pass `nav=<key>` to mark theirs current.
NAV = (
    ("campaigns", "Campaigns", "/dashboard"),
    ("new_campaign", "New campaign", "/dashboard/campaigns/new"),
    ("automation", "Automation", "/dashboard/automation"),
    ("outage_line", "Outage line", "/dashboard/outage-line"),
)


@cache
def static_version(name: str) -> str:
    """A content hash in each asset's URL, so assets are cached for a year and a new
    release's are fetched at once."""
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"{STATIC_PREFIX}{name}?v={static_version(name)}"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    env.globals["nav_items"] = NAV
    return env


def page_context(request: web.Request, session: ConsoleSession | None) -> dict[str, Any]:
    """What base.html needs: the signed-in person (or None), their role, CSRF token and the
    time zone their times are shown in."""
    utility_zone = request.app[SETTINGS].timezone
    return {
        "session": session,
        "user": session.user if session else None,
        "role": session.user.role.value if session else "",
        "can_change": bool(session and session.user.role.value == "supervisor"),
        "csrf_token": session.csrf_token if session else "",
        "timezone": (session.user.timezone if session else None) or utility_zone,
        "utility_timezone": utility_zone,
        "path": request.path,
    }


def render(
    request: web.Request,
    template: str,
    session: ConsoleSession | None,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    values = page_context(request, session)
    values.update(context or {})
    text = environment().get_template(template).render(values)
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    response.headers.update(PAGE_HEADERS)
    if headers:
        response.headers.update(headers)
    return response
