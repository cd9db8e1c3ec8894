"""Console sign-in, sessions, CSRF and the sign-in rate limit, over real HTTP on loopback,
on the real database, with the injected clock moving time."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import ipaddress
import logging
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db.admin import drop_database
from outage_voice.adapters.db.users import PgUserStore
from outage_voice.adapters.passwords import ScryptHasher
from outage_voice.bootstrap import Services, create_app
from outage_voice.config import Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.users import (
    SESSION_ABSOLUTE_S,
    SIGNIN_ADDRESS_LIMIT,
    SIGNIN_FAILURE_LIMIT,
    SIGNIN_USERNAME_LIMIT,
    SIGNIN_WINDOW_S,
)
from outage_voice.services.users import SignInBusy, SignInLimited, SignInRefused, UserService
from outage_voice.web import keys
from outage_voice.web.auth import SESSION_COOKIE
from outage_voice.web.campaign_json import parse_campaign_id
from outage_voice.web.client_address import forwarded_client
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


OUTSIDER = "203.0.113.9"
INSIDER = "198.51.100.7"


def fast_users(services: Services, clock: ManualClock, **kwargs: Any) -> UserService:
    """The accounts on the same database, with a cheap scrypt so that limits of tens of
    attempts are quick to reach (passwords made by the console's keep their own cost)."""
    return UserService(PgUserStore(services.pool), ScryptHasher(n=2**4), clock, **kwargs)


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


async def test_five_failures_per_username_from_one_address_are_refused_429_until_they_age_out(
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
    assert await pool.fetchval("SELECT count(*) FROM signin_failures") == 5
    # Another account from the same address is not locked out by ana's failures.
    assert (await sign_in(api, "wall")).status == 303
    assert await pool.fetchval("SELECT count(*) FROM signin_failures") == 5

    clock.advance(timedelta(seconds=int(limited.headers["Retry-After"])))
    assert (await sign_in(api, "ana")).status == 303


async def test_the_address_limit_holds_across_usernames(
    people: None, services: Services, clock: ManualClock
) -> None:
    users = fast_users(services, clock)
    for n in range(SIGNIN_ADDRESS_LIMIT):
        with pytest.raises(SignInRefused):
            await users.sign_in(f"a{n}", "not the one at all", address=OUTSIDER)
    with pytest.raises(SignInLimited):
        await users.sign_in("wall", PASSWORD, address=OUTSIDER)
    clock.advance(timedelta(seconds=SIGNIN_WINDOW_S + 1))
    assert (await users.sign_in("wall", PASSWORD, address=OUTSIDER)).session.user.username == "wall"


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


class CountingHasher:
    """A real scrypt (cheap parameters) that counts the passwords checked and holds each
    check until released, so that every attempt is in flight at once."""

    def __init__(self) -> None:
        self.real = ScryptHasher(n=2**4)
        self.verified = 0
        self.release = asyncio.Event()

    async def hash(self, password: str) -> str:
        return await self.real.hash(password)

    async def verify(self, password: str, encoded: str | None) -> bool:
        self.verified += 1
        await self.release.wait()
        return await self.real.verify(password, encoded)


async def test_parallel_guesses_count_before_any_password_is_checked(
    people: None, services: Services, clock: ManualClock, pool: asyncpg.Pool
) -> None:
    hasher = CountingHasher()
    users = UserService(PgUserStore(services.pool), hasher, clock, max_in_flight=100)
    guesses = [
        asyncio.create_task(users.sign_in("ana", f"guess number {n}", address=OUTSIDER))
        for n in range(20)
    ]
    for _ in range(200):  # until the limited ones have been answered
        if sum(task.done() for task in guesses) >= 20 - SIGNIN_FAILURE_LIMIT:
            break
        await asyncio.sleep(0.01)
    hasher.release.set()
    answers = await asyncio.gather(*guesses, return_exceptions=True)
    assert hasher.verified == SIGNIN_FAILURE_LIMIT
    assert sum(isinstance(a, SignInLimited) for a in answers) == 20 - SIGNIN_FAILURE_LIMIT
    assert sum(isinstance(a, SignInRefused) for a in answers) == SIGNIN_FAILURE_LIMIT
    assert await pool.fetchval("SELECT count(*) FROM signin_failures") == SIGNIN_FAILURE_LIMIT


async def test_sign_ins_beyond_a_small_queue_are_refused_429_without_hashing(
    people: None, services: Services, clock: ManualClock
) -> None:
    hasher = CountingHasher()
    users = UserService(PgUserStore(services.pool), hasher, clock, max_in_flight=3)
    held = [
        asyncio.create_task(users.sign_in(f"user{n}", "a wrong password", address=f"192.0.2.{n}"))
        for n in range(3)
    ]
    for _ in range(200):
        if hasher.verified == 3:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(SignInBusy) as busy:
        await users.sign_in("ana", PASSWORD, address=INSIDER)
    assert busy.value.retry_after_s > 0
    assert hasher.verified == 3
    hasher.release.set()
    for answer in await asyncio.gather(*held, return_exceptions=True):
        assert isinstance(answer, SignInRefused)
    assert (await users.sign_in("ana", PASSWORD, address=INSIDER)).session.user.username == "ana"


async def test_a_busy_sign_in_page_answers_429_with_retry_after(
    settings: Settings, clock: ManualClock, people: None
) -> None:
    app = create_app(settings, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as api:
        users = app[keys.USERS]
        users._in_flight = users._max_in_flight  # every slot taken by sign-ins being checked
        busy = await sign_in(api, "ana")
        assert busy.status == 429 and busy.headers["Retry-After"] == "5"
        assert "Too many sign-ins at once" in await busy.text()
        users._in_flight = 0
        assert (await sign_in(api, "ana")).status == 303


def proxied(settings: Settings) -> Settings:
    return dataclasses.replace(settings, trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))


async def test_behind_a_trusted_proxy_an_outsider_cannot_lock_a_named_supervisor_out(
    settings: Settings, clock: ManualClock, people: None, pool: asyncpg.Pool
) -> None:
    async with TestClient(
        TestServer(create_app(proxied(settings), clock=clock), host="127.0.0.1")
    ) as api:
        outsider = {"X-Forwarded-For": f"10.9.9.9, {OUTSIDER}"}
        for _ in range(SIGNIN_FAILURE_LIMIT):
            answer = await api.post(
                "/dashboard/signin",
                data={"username": "ana", "password": "guess guess guess"},
                headers=outsider,
                allow_redirects=False,
            )
            assert answer.status == 401
        again = await api.post(
            "/dashboard/signin", data={"username": "ana", "password": PASSWORD},
            headers=outsider, allow_redirects=False,
        )  # fmt: skip
        assert again.status == 429
        # The rightmost hop the proxy did not add is the client; what it wrote left is ignored.
        assert await pool.fetchval("SELECT DISTINCT address FROM signin_failures") == OUTSIDER
        ana = await api.post(
            "/dashboard/signin", data={"username": "ana", "password": PASSWORD},
            headers={"X-Forwarded-For": INSIDER}, allow_redirects=False,
        )  # fmt: skip
        assert ana.status == 303


async def test_forwarded_for_is_ignored_from_a_peer_not_trusted(
    api: Client, people: None, pool: asyncpg.Pool
) -> None:
    for n in range(SIGNIN_FAILURE_LIMIT):
        answer = await api.post(
            "/dashboard/signin",
            data={"username": "ana", "password": "guess guess guess"},
            headers={"X-Forwarded-For": f"192.0.2.{n}"},
            allow_redirects=False,
        )
        assert answer.status == 401
    assert await pool.fetchval("SELECT DISTINCT address FROM signin_failures") == "127.0.0.1"
    assert (await sign_in(api, "ana")).status == 429


async def test_guessing_one_username_from_many_addresses_is_capped(
    people: None, services: Services, clock: ManualClock
) -> None:
    users = fast_users(services, clock)
    for n in range(SIGNIN_USERNAME_LIMIT):
        with pytest.raises(SignInRefused):
            await users.sign_in("nobody", "guess guess guess", address=f"10.0.{n // 5}.{n % 5}")
    with pytest.raises(SignInLimited):
        await users.sign_in("nobody", "guess guess guess", address="10.1.0.1")
    assert (await users.sign_in("ana", PASSWORD, address="10.1.0.1")).session.user.username == "ana"


def test_the_client_is_the_rightmost_hop_no_trusted_proxy_added() -> None:
    trusted = [ipaddress.ip_network("10.0.0.0/8")]
    assert forwarded_client("10.0.0.1", ["6.6.6.6", "1.2.3.4", "10.0.0.2"], trusted) == "1.2.3.4"
    assert forwarded_client("10.0.0.1", ["10.0.0.3"], trusted) == "10.0.0.3"
    assert forwarded_client("10.0.0.1", ["1.2.3.4", "junk"], trusted) == "10.0.0.1"
    assert forwarded_client("10.0.0.1", [], trusted) == "10.0.0.1"


async def test_bytes_that_are_not_text_are_refused_4xx_never_500(
    settings: Settings, clock: ManualClock, people: None, pool: asyncpg.Pool
) -> None:
    metered = dataclasses.replace(settings, metrics_token="metrics-token-for-tests")
    async with TestClient(TestServer(create_app(metered, clock=clock), host="127.0.0.1")) as api:
        url = api.make_url("/dashboard")
        async with aiohttp.ClientSession() as raw:
            # A cookie holding a byte that is not UTF-8: no session, sign in again.
            page = await raw.get(
                url, headers={"Cookie": b"ov_session=\xff".decode("latin-1")}, allow_redirects=False
            )
            assert page.status == 303
            api_call = await raw.get(
                api.make_url("/api/v1/campaigns"), headers={"Cookie": "ov_session=\udcff"}
            )
            assert api_call.status == 401
            metrics = await raw.get(
                api.make_url("/metrics"),
                headers={"Authorization": b"Bearer \xff".decode("latin-1")},
            )
            assert metrics.status == 401
            bearer = await raw.get(
                api.make_url("/api/v1/campaigns"),
                headers={"Authorization": b"Bearer \xff".decode("latin-1")},
            )
            assert bearer.status == 401
            # A sign-in body that is not UTF-8, or names a charset that does not exist.
            for content_type in (
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded; charset=bogus",
            ):
                body = await raw.post(
                    api.make_url("/dashboard/signin"),
                    data=b"username=\xff&password=\xfe",
                    headers={"Content-Type": content_type},
                    allow_redirects=False,
                )
                assert body.status == 400, content_type
        # A NUL or a lone surrogate in the form: refused like a wrong password, counted.
        for username, password in (("ana\x00", PASSWORD), ("ana", "pass\x00word and more")):
            assert (await sign_in(api, username, password)).status == 401
        assert await pool.fetchval("SELECT count(*) FROM signin_failures") == 2
        # A CSRF header with a byte that is not UTF-8, on a change with the cookie: 403.
        assert (await sign_in(api, "ana")).status == 303
        for path in ("/api/v1/automation/preview", "/dashboard/signout"):
            async with api.session.post(
                api.make_url(path),
                headers={"X-CSRF-Token": b"\xff".decode("latin-1")},
                allow_redirects=False,
            ) as forged:
                assert forged.status == 403, path


async def test_unknown_usernames_are_not_logged_as_typed(
    api: Client, people: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert (await sign_in(api, "Storm-season-2027", PASSWORD)).status == 401
    assert "storm-season-2027" not in caplog.text.lower()
    assert "failed console sign-in for <unknown user>" in caplog.text


async def test_signing_in_again_ends_the_session_the_browser_carried(
    api: Client, people: None, pool: asyncpg.Pool
) -> None:
    assert (await sign_in(api, "ana")).status == 303
    assert (await sign_in(api, "wall")).status == 303
    open_sessions = await pool.fetch(
        "SELECT u.username FROM console_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.ended_at IS NULL"
    )
    assert [row["username"] for row in open_sessions] == ["wall"]


async def test_console_pages_answer_503_with_retry_after_when_the_database_is_gone(
    api: Client, people: None, database_dsn: str, admin_dsn: str
) -> None:
    assert (await sign_in(api, "ana")).status == 303
    await drop_database(admin_dsn, urlsplit(database_dsn).path.lstrip("/"))
    page = await api.get("/dashboard", allow_redirects=False)
    assert page.status == 503
    assert page.headers["Retry-After"] == "5"
    assert "cannot reach its database" in await page.text()


async def test_a_viewer_gets_every_campaign_action_disabled_by_the_server(
    api: Client, people: None, services: Services, tokens: dict[Role, Any]
) -> None:
    campaign_id = await draft_campaign(api, services, tokens)
    assert (await sign_in(api, "wall")).status == 303
    page = await (await api.get(f"/dashboard/campaigns/{campaign_id}")).text()
    for action in ("start", "pause", "resume", "cancel"):
        tag = page.split(f'id="action-{action}"', 1)[1].split(">", 1)[0]
        assert " disabled" in tag, action


def test_campaign_ids_are_parsed_in_one_place() -> None:
    assert parse_campaign_id("42") == 42
    for bad in ("", "-1", "4.2", "٤٢", "1" * 19, "12a"):
        assert parse_campaign_id(bad) is None, bad
