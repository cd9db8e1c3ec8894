"""The console in a real browser: Debian's Chromium driven by Playwright against the real
server on loopback, with its dialer and the in-process virtual carrier on the wall clock.

Chromium is never downloaded: `scripts/check.py` (or these tests, run as root) installs
Debian's `chromium` with apt. Without it the tests fail as root (CI must run them) and skip
otherwise, saying why. Screenshots of every page go to $OUTAGE_VOICE_SCREENSHOTS or
build/screenshots/.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import io
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout
from yarl import URL

from outage_voice.adapters.clock import SystemClock
from outage_voice.bootstrap import Services, build_services, create_app
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import Settings
from outage_voice.domain.auth import Role
from outage_voice.domain.outages import parse_outage_state
from outage_voice.web.auth import signin_url
from outage_voice.web.keys import VIRTUAL_CARRIER
from tests.integration.test_server import free_port
from tests.support import REPO_ROOT, csv_text

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "Storm-season 2026!"
SUPERVISOR = "ana"
VIEWER = "wall"
OUTAGE_ID = "STORM-9"
FEEDER = "F1"
# Every number the carrier is asked to ring is busy: the call ends at once, so a campaign's
# pace is the dialer's alone, and nothing is retried (see CAMPAIGN's retry rule).
BUSY = PersonaBook(mix=((1.0, Persona(behaviour=Behaviour.BUSY)),))
# Waits on the page and the server: generous for a loaded machine, still far under a minute.
STEP_TIMEOUT_MS = 10_000


def _screenshot_dir() -> Path:
    chosen = os.environ.get("OUTAGE_VOICE_SCREENSHOTS")
    return Path(chosen) if chosen else REPO_ROOT / "build" / "screenshots"


SCREENSHOTS = _screenshot_dir()


class ShiftedClock:
    """The wall clock, which a test may move forward (sessions expiring) without sleeping.
    The dialer and the carrier keep real time; only the application's clock moves."""

    def __init__(self) -> None:
        self._real = SystemClock()
        self.offset = timedelta()

    def now(self) -> datetime:
        return self._real.now() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def customers_csv(count: int) -> str:
    """`count` customers on one feeder, numbers +15125560000 upwards."""
    rows = (
        f"{2000 + n},Customer {n},+1512556{n:04d},,P{n},{n} Oak Street,{FEEDER},,"
        for n in range(count)
    )
    return csv_text(*rows)


def restoration(cps: float, **extra: Any) -> dict[str, Any]:
    """A restoration campaign to everyone on the outage, always inside its window."""
    return {
        "name": "Storm 9 restored",
        "kind": "restoration",
        "audience": {"outage_id": OUTAGE_ID},
        "pacing": {"cps": cps, "max_concurrent": 500},
        "window": "24h",
        "retry": {"busy": {"max_attempts": 1}},
        **extra,
    }


@dataclasses.dataclass
class Console:
    """The running server and what a test needs to set it up and check it."""

    url: str
    settings: Settings
    clock: ShiftedClock
    services: Services
    http: aiohttp.ClientSession
    tokens: dict[Role, dict[str, str]]
    server: TestServer | None = None

    @property
    def app(self) -> web.Application:
        assert self.server is not None, "the server is stopped"
        return self.server.app

    @property
    def carrier(self) -> VirtualCarrier:
        return self.app[VIRTUAL_CARRIER]

    async def start(self) -> None:
        """The server on its port, on this test's database: a new process would be the same."""
        app = create_app(
            self.settings,
            clock=self.clock,
            timer=SystemClock(),
            run_dialer=True,
            carrier_settings=CarrierSettings(cps=None, personas=BUSY),
        )
        self.server = TestServer(app, host="127.0.0.1", port=URL(self.url).port)
        await self.server.start_server()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.close()
            self.server = None

    async def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        status: int = 200,
        role: Role = Role.SUPERVISOR,
    ) -> Any:
        """The JSON API with a machine's Bearer token."""
        async with self.http.request(
            method, f"{self.url}{path}", json=body, headers=self.tokens[role]
        ) as answer:
            payload = await answer.json()
            assert answer.status == status, payload
            return payload

    async def add_customers(self, count: int) -> None:
        await self.services.customers.import_stream(io.StringIO(customers_csv(count)))
        await self.services.outages.put(
            OUTAGE_ID,
            parse_outage_state(
                {"status": "restored", "feeder_ids": [FEEDER]}, now=self.clock.now()
            ),
            actor="test",
        )

    async def campaign(self, cps: float, *, start: bool = True, **extra: Any) -> int:
        created = await self.api("POST", "/api/v1/campaigns", restoration(cps, **extra), status=201)
        campaign_id: int = created["id"]
        if start:
            await self.api("POST", f"/api/v1/campaigns/{campaign_id}/start")
        return campaign_id

    def placed_at(self) -> list[datetime]:
        """When the carrier created each call: its own record, not the dialer's."""
        return sorted(call.created_at for call in self.carrier.calls.values())


def pytest_configure(config: pytest.Config) -> None:
    """Installs Debian's chromium, as scripts/check.py does, when pytest is run directly as
    root without it: before any test starts, so no test's time limit covers apt."""
    if CHROMIUM.exists() or os.geteuid() != 0:
        return
    spec = importlib.util.spec_from_file_location("check_script", REPO_ROOT / "scripts/check.py")
    assert spec is not None and spec.loader is not None
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    check.ensure_chromium()


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.geteuid() == 0:
        pytest.fail(f"{CHROMIUM} is missing: run scripts/check.py, which installs it with apt")
    pytest.skip(f"{CHROMIUM} is missing and only root can install it (apt-get install chromium)")


@pytest.fixture
async def console(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Console]:
    clock = ShiftedClock()
    services = build_services(pool, settings, clock)
    # Campaigns a supervisor starts only: the automation's acknowledgement would call too.
    await services.automation.update_rules({"acknowledge": {"enabled": False}}, actor="test")
    await services.users.create(username=SUPERVISOR, password=PASSWORD, role="supervisor")
    await services.users.create(
        username=VIEWER, password=PASSWORD, role="viewer", timezone="America/Denver"
    )
    tokens = {}
    for role in Role:
        token = await services.tokens.create(role=role, name=f"storm desk {role.value}")
        tokens[role] = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{free_port()}"
    async with aiohttp.ClientSession() as http:
        console = Console(
            url=url,
            settings=dataclasses.replace(settings, public_url=url),
            clock=clock,
            services=services,
            http=http,
            tokens=tokens,
        )
        await console.start()
        try:
            yield console
            # Campaigns left calling would dial a closed server while it stops.
            if console.server is not None:
                for campaign in (await console.api("GET", "/api/v1/campaigns"))["campaigns"]:
                    if campaign["state"] in ("running", "paused"):
                        await console.api("POST", f"/api/v1/campaigns/{campaign['id']}/cancel")
        finally:
            await console.stop()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """Chromium with a profile of its own, made fresh for this test."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
            timezone_id="America/Chicago",
            locale="en-US",
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def page(browser: BrowserContext) -> Page:
    return browser.pages[0] if browser.pages else await browser.new_page()


async def sign_in(page: Page, console: Console, username: str, path: str = "/dashboard") -> None:
    """Signs in through the form, as a person would, and lands on `path`."""
    await page.goto(f"{console.url}{path}")
    await landed(page, console, signin_url(path))
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await landed(page, console, path)


async def landed(page: Page, console: Console, path_qs: str) -> None:
    """Waits until the page is at this path (and query) of the console."""
    wanted = unquote(f"{console.url}{path_qs}")
    try:
        await page.wait_for_url(lambda url: unquote(url) == wanted)
    except PlaywrightTimeout:
        pytest.fail(f"the page stayed at {page.url}, not {wanted}")


async def shoot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """A screenshot for review, kept after the run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"console-{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within_s: float, every_s: float = 0.1
) -> float:
    """Polls `check` until it holds; the seconds it took. Bounded: fails after `within_s`."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > within_s:
            pytest.fail(f"not within {within_s} s")
        # The server runs on the wall clock: a bounded wait between looks, not a sleep
        # standing in for time passing.
        await asyncio.sleep(every_s)
