"""Console sign-in, sessions, CSRF and the sign-in rate limit, over real HTTP on loopback,
on the real database, with the injected clock moving time."""

from __future__ import annotations

import io
import logging
import re
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from outage_voice.adapters.clock import ManualClock
from outage_voice.bootstrap import Services, create_app
from outage_voice.config import Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.users import SESSION_ABSOLUTE_S, SIGNIN_WINDOW_S
from outage_voice.web.auth import SESSION_COOKIE
from tests.support import csv_text

Client = TestClient[web.Request, web.Application]
PASSWORD = "Storm-season 2026!"
CUSTOM: dict[str, Any] = {
    "name": "Crews tonight",
    "kind": "custom",
    "audience": {"accounts": ["1001"]},
    "message": {"text": "Crews are working on your street tonight."},
    "pacing": {"cps": 5, "max_concurrent": 50},
}


@pytest.fixture
async def people(services: Services) -> None:
    await services.users.create(username="Ana", password=PASSWORD, role="supervisor")
    await services.users.create(
        username="wall", password=PASSWORD, role="viewer", timezone="America/Denver"
    )


async def sign_in(api: Client, username: str, password: str = PASSWORD, **form: str) -> Any:
    return await api.post(
        "/dashboard/signin",
        data={"username": username, "password": password, **form},
        allow_redirects=False,
    )


def next_of(redirect: Any) -> str:
    """Where the sign-in page sent to by this redirect brings the person back."""
    location = URL(redirect.headers["Location"])
    assert location.path == "/dashboard/signin"
    return location.query["next"]


async def csrf_of(api: Client, path: str = "/dashboard") -> str:
    page = await api.get(path)
    assert page.status == 200, await page.text()
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', await page.text())
    assert found is not None
    return found.group(1)


async def draft_campaign(api: Client, services: Services, tokens: dict[Role, Any]) -> int:
    await services.customers.import_stream(
        io.StringIO(csv_text("1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,"))
    )
    created = await api.post("/api/v1/campaigns", json=CUSTOM, headers=tokens[Role.SUPERVISOR])
    assert created.status == 201, await created.text()
    campaign_id: int = (await created.json())["id"]
    return campaign_id


async def cps_of(pool: asyncpg.Pool, campaign_id: int) -> float:
    answer = await pool.fetchval("SELECT cps FROM campaigns WHERE id = $1", campaign_id)
    return float(answer)


async def test_signing_in_opens_the_console_with_a_strict_http_only_cookie(
    api: Client, people: None, pool: asyncpg.Pool
) -> None:
    away = await api.get("/dashboard", allow_redirects=False)
    assert away.status == 303 and away.headers["Location"] == "/dashboard/signin"
    deep = await api.get("/dashboard/campaigns/7?tab=pacing", allow_redirects=False)
    assert next_of(deep) == "/dashboard/campaigns/7?tab=pacing"
    form = await api.get("/dashboard/signin")
    assert form.status == 200
    assert 'name="password" type="password"' in await form.text()

    answer = await sign_in(api, " ANA ", next="/dashboard/automation")
    assert answer.status == 303, await answer.text()
    assert answer.headers["Location"] == "/dashboard/automation"
    cookie = answer.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # served over http here; https public URLs get Secure
    stored = await pool.fetchrow("SELECT id, csrf_token FROM console_sessions")
    assert cookie.value.encode() not in bytes(stored["id"])  # only its hash is kept
    assert len(bytes(stored["id"])) == 32

    page = await api.get("/dashboard")
    text = await page.text()
    assert page.status == 200
    assert ">ana<" in text and "role-supervisor" in text
    assert 'data-timezone="America/Chicago"' in text  # the utility's: Ana chose none
    assert f'content="{stored["csrf_token"]}"' in text
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    for label in ("Campaigns", "New campaign", "Automation", "Outage line", "Sign out"):
        assert label in text

    elsewhere = await sign_in(api, "ana", next="//evil.example/")
    assert elsewhere.headers["Location"] == "/dashboard"


async def test_a_wrong_password_or_unknown_name_is_refused_alike_and_opens_nothing(
    api: Client, people: None, pool: asyncpg.Pool
) -> None:
    wrong = await sign_in(api, "ana", "Storm-season 2025!")
    unknown = await sign_in(api, "nobody", PASSWORD)
    for answer in (wrong, unknown):
        assert answer.status == 401
        assert SESSION_COOKIE not in answer.cookies
        assert "That username and password do not match an active account." in await answer.text()
    assert await pool.fetchval("SELECT count(*) FROM console_sessions") == 0
    assert (await api.get("/dashboard", allow_redirects=False)).status == 303


async def test_five_failures_per_username_or_address_are_refused_429_until_they_age_out(
    api: Client, people: None, clock: ManualClock, pool: asyncpg.Pool
) -> None:
    for _ in range(5):
        assert (await sign_in(api, "ana", "guess guess guess")).status == 401
        clock.advance(timedelta(seconds=30))
    # The right password now changes nothing: the limit is checked first.
    limited = await sign_in(api, "ana")
    assert limited.status == 429
    # The first failure leaves the 15 minutes 120 s from now.
    assert int(limited.headers["Retry-After"]) == SIGNIN_WINDOW_S - 150
    assert "Too many failed sign-ins" in await limited.text()
    assert SESSION_COOKIE not in limited.cookies
    # The address is limited too, whatever name it tries next.
    assert (await sign_in(api, "wall")).status == 429
    assert await pool.fetchval("SELECT count(*) FROM signin_failures") == 5

    clock.advance(timedelta(seconds=int(limited.headers["Retry-After"])))
    assert (await sign_in(api, "ana")).status == 303


async def test_the_address_limit_holds_across_usernames(
    api: Client, people: None, clock: ManualClock
) -> None:
    for name in ("a1", "a2", "a3", "a4", "a5"):
        assert (await sign_in(api, name, "not the one at all")).status == 401
    assert (await sign_in(api, "wall")).status == 429
    clock.advance(timedelta(seconds=SIGNIN_WINDOW_S + 1))
    assert (await sign_in(api, "wall")).status == 303


async def test_a_session_ends_after_30_idle_minutes(
    api: Client, people: None, clock: ManualClock, tokens: dict[Role, Any]
) -> None:
    assert (await sign_in(api, "wall")).status == 303
    for _ in range(3):  # used every 29 minutes, it stays open
        clock.advance(timedelta(minutes=29))
        assert (await api.get("/dashboard", allow_redirects=False)).status == 200
        assert (await api.get("/api/v1/campaigns")).status == 200
    clock.advance(timedelta(minutes=30, seconds=1))
    ended = await api.get("/dashboard/campaigns", allow_redirects=False)
    assert ended.status == 303
    assert next_of(ended) == "/dashboard/campaigns"
    refused = await api.get("/api/v1/campaigns")
    assert refused.status == 401
    assert "the console session has ended" in (await refused.json())["error"]["message"]


async def test_a_session_ends_after_12_hours_however_busy(
    api: Client, people: None, clock: ManualClock
) -> None:
    assert (await sign_in(api, "wall")).status == 303
    used = timedelta(0)
    while used < timedelta(seconds=SESSION_ABSOLUTE_S) - timedelta(minutes=20):
        clock.advance(timedelta(minutes=20))
        used += timedelta(minutes=20)
        assert (await api.get("/dashboard", allow_redirects=False)).status == 200, used
    clock.advance(timedelta(seconds=SESSION_ABSOLUTE_S) - used)
    assert (await api.get("/dashboard", allow_redirects=False)).status == 303


async def test_a_change_with_the_cookie_and_no_csrf_token_is_refused_and_changes_nothing(
    api: Client,
    people: None,
    services: Services,
    tokens: dict[Role, Any],
    pool: asyncpg.Pool,
) -> None:
    campaign_id = await draft_campaign(api, services, tokens)
    assert (await sign_in(api, "ana")).status == 303
    csrf = await csrf_of(api)
    path = f"/api/v1/campaigns/{campaign_id}"

    bare = await api.patch(path, json={"cps": 2})
    assert bare.status == 403
    assert "CSRF token is missing or wrong" in (await bare.json())["error"]["message"]
    forged = await api.patch(path, json={"cps": 2}, headers={"X-CSRF-Token": csrf[:-1] + "x"})
    assert forged.status == 403
    as_form = await api.post(f"{path}/cancel", data={"csrf_token": "nope"})
    assert as_form.status == 403
    assert await cps_of(pool, campaign_id) == 5.0
    assert (await api.get(path)).status == 200  # reading needs no token

    changed = await api.patch(path, json={"cps": 2}, headers={"X-CSRF-Token": csrf})
    assert changed.status == 200, await changed.text()
    assert await cps_of(pool, campaign_id) == 2.0

    # Sign-out is a change too: without the token the session stays open.
    kept = await api.post("/dashboard/signout", allow_redirects=False)
    assert kept.status == 403
    assert (await api.get("/dashboard", allow_redirects=False)).status == 200
    out = await api.post("/dashboard/signout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 303 and out.headers["Location"] == "/dashboard/signin"
    assert (await api.get("/dashboard", allow_redirects=False)).status == 303
    assert await pool.fetchval("SELECT count(*) FROM console_sessions WHERE ended_at IS NULL") == 0


async def test_a_viewer_signed_in_is_refused_changes_by_the_api_itself(
    settings: Settings,
    clock: ManualClock,
    people: None,
    services: Services,
    tokens: dict[Role, Any],
    pool: asyncpg.Pool,
) -> None:
    async with TestClient(TestServer(create_app(settings, clock=clock), host="127.0.0.1")) as api:
        campaign_id = await draft_campaign(api, services, tokens)
        assert (await sign_in(api, "WALL")).status == 303
        csrf = await csrf_of(api)
        page = await (await api.get("/dashboard")).text()
        assert 'data-role="viewer"' in page and 'data-timezone="America/Denver"' in page
        assert (await api.get(f"/api/v1/campaigns/{campaign_id}")).status == 200
        refused = await api.patch(
            f"/api/v1/campaigns/{campaign_id}", json={"cps": 1}, headers={"X-CSRF-Token": csrf}
        )
        assert refused.status == 403
        assert "the viewer role may not do this" in (await refused.json())["error"]["message"]
        paused = await api.post(
            f"/api/v1/campaigns/{campaign_id}/cancel", headers={"X-CSRF-Token": csrf}
        )
        assert paused.status == 403
        assert await cps_of(pool, campaign_id) == 5.0


async def test_bearer_tokens_work_as_before_and_need_no_csrf_token(
    api: Client,
    people: None,
    services: Services,
    tokens: dict[Role, Any],
    pool: asyncpg.Pool,
) -> None:
    campaign_id = await draft_campaign(api, services, tokens)
    path = f"/api/v1/campaigns/{campaign_id}"
    changed = await api.patch(path, json={"cps": 3}, headers=tokens[Role.SUPERVISOR])
    assert changed.status == 200, await changed.text()
    assert await cps_of(pool, campaign_id) == 3.0
    no_auth = await api.get(path)
    assert no_auth.status == 401 and no_auth.headers["WWW-Authenticate"].startswith("Bearer")
    assert "'Authorization: Bearer <token>' header is required" in await no_auth.text()
    bad = await api.get(path, headers={"Authorization": "Bearer ov_nope"})
    assert bad.status == 401 and "unknown or revoked" in await bad.text()

    # A signed-in viewer's browser sending a supervisor's token is judged by the token alone.
    assert (await sign_in(api, "wall")).status == 303
    by_token = await api.patch(path, json={"cps": 4}, headers=tokens[Role.SUPERVISOR])
    assert by_token.status == 200
    viewer_token = await api.patch(path, json={"cps": 1}, headers=tokens[Role.VIEWER])
    assert viewer_token.status == 403
    assert await cps_of(pool, campaign_id) == 4.0


async def test_old_sessions_are_deleted_a_week_after_their_end(
    api: Client, people: None, clock: ManualClock, pool: asyncpg.Pool
) -> None:
    assert (await sign_in(api, "ana")).status == 303
    clock.advance(timedelta(seconds=SESSION_ABSOLUTE_S) + timedelta(days=7, seconds=1))
    api.session.cookie_jar.clear()
    assert (await sign_in(api, "ana")).status == 303
    assert await pool.fetchval("SELECT count(*) FROM console_sessions") == 1


async def test_a_disabled_account_is_signed_out_and_cannot_sign_in(
    api: Client, people: None, services: Services
) -> None:
    assert (await sign_in(api, "ana")).status == 303
    await services.users.disable("ana")
    assert (await api.get("/dashboard", allow_redirects=False)).status == 303
    assert (await sign_in(api, "ana")).status == 401


async def test_a_sign_in_posted_from_another_site_is_refused(api: Client, people: None) -> None:
    answer = await sign_in(api, "ana")
    assert answer.status == 303
    api.session.cookie_jar.clear()
    cross = await api.post(
        "/dashboard/signin",
        data={"username": "ana", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        allow_redirects=False,
    )
    assert cross.status == 403 and SESSION_COOKIE not in cross.cookies


async def test_passwords_never_reach_the_log(
    api: Client, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await services.users.create(username="cy", password=PASSWORD, role="viewer")
    assert (await sign_in(api, "cy", PASSWORD + "x")).status == 401
    assert (await sign_in(api, "cy")).status == 303
    for _ in range(5):
        await sign_in(api, "cy", PASSWORD + "y")
    assert (await sign_in(api, "cy")).status == 429
    assert "failed console sign-in for 'cy'" in caplog.text
    assert "console sign-in: cy (viewer)" in caplog.text
    assert PASSWORD not in caplog.text
    cookie = api.session.cookie_jar.filter_cookies(api.make_url("/"))[SESSION_COOKIE].value
    assert cookie not in caplog.text


async def test_static_assets_are_served_with_a_long_cache_and_only_by_name(
    api: Client, people: None
) -> None:
    page = await (await api.get("/dashboard/signin")).text()
    css_url = re.search(r'href="(/dashboard/static/console\.css\?v=[0-9a-f]{12})"', page)
    js_url = re.search(r'src="(/dashboard/static/console\.js\?v=[0-9a-f]{12})"', page)
    assert css_url and js_url
    css = await api.get(css_url.group(1))
    assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "immutable" in css.headers["Cache-Control"]
    js = await api.get(js_url.group(1))
    assert js.status == 200 and "window.OV" in await js.text()
    stale = await api.get("/dashboard/static/console.js?v=000000000000")
    assert stale.status == 200 and stale.headers["Cache-Control"] == "no-cache"
    for bad in ("..%2Fpages.py", "..%2F..%2Fconfig.py", "nope.js", "pages.py", "render.py"):
        assert (await api.get(f"/dashboard/static/{bad}")).status == 404, bad
