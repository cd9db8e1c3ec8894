"""Every console page at a desktop width, with a campaign calling: each opens with no script
error in the browser, and is photographed for review and for the operator guide."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import ConsoleMessage, Error, Page, expect

from tests.browser.conftest import OUTAGE_ID, SUPERVISOR, Console, eventually, shoot, sign_in

pytestmark = pytest.mark.timeout(60)


async def test_every_page_opens_without_a_script_error(page: Page, console: Console) -> None:
    errors: list[str] = []

    def console_error(message: ConsoleMessage) -> None:
        # The layout names an empty icon, so the browser asks for no /favicon.ico either.
        if message.type == "error":
            errors.append(f"{page.url}: {message.text} ({message.location['url']})")

    def page_error(error: Error) -> None:
        errors.append(f"{page.url}: {error.message}")

    page.on("console", console_error)
    page.on("pageerror", page_error)

    await console.add_customers(200)
    await console.api(
        "POST",
        "/api/v1/campaigns",
        {
            "name": "Feeder 12 crews tonight",
            "kind": "custom",
            "audience": {"feeders": ["F1"]},
            "message": {"text": "Crews are working on your street tonight."},
            "pacing": {"cps": 2, "max_concurrent": 50},
        },
        status=201,
    )
    campaign_id = await console.campaign(8)
    now = console.clock.now()
    await console.services.pool.execute(
        "INSERT INTO inbound_calls (call_sid, started_at, last_step_at)"
        " VALUES ('CApage1', $1, $1), ('CApage2', $1, $1), ('CApage3', $1, $1)",
        now - timedelta(seconds=20),
    )

    async def under_way() -> bool:
        return len(console.placed_at()) >= 16

    await eventually(under_way, within_s=15)
    await sign_in(page, console, SUPERVISOR)
    await expect(page.locator(f"#campaign-{campaign_id} [data-field='state']")).to_have_text(
        "running"
    )
    await expect(page.locator("#live-status")).to_have_text("Live")
    await shoot(page, "page-campaigns", full_page=False)

    await page.goto(f"{console.url}/dashboard/campaigns/{campaign_id}")
    await expect(page.locator("#campaign-state")).to_have_text("running")
    await expect(page.locator("#cps-chart path, #cps-chart polyline").first).to_be_attached()
    await shoot(page, "page-campaign")

    await page.goto(f"{console.url}/dashboard/campaigns/new")
    await page.fill("#campaign-name-input", "Storm 9 all clear")
    await page.select_option("#campaign-kind", "restoration")
    await page.check("#audience-outage")
    await page.fill("#audience-outage-id", OUTAGE_ID)
    await page.click("#estimate-button")
    await expect(page.locator("#estimate-figures")).to_be_visible()
    await shoot(page, "page-new-campaign")

    await page.goto(f"{console.url}/dashboard/automation")
    await expect(page.locator("#save-acknowledge")).to_be_enabled()
    await shoot(page, "page-automation", full_page=False)

    await page.goto(f"{console.url}/dashboard/outage-line")
    await expect(page.locator("#ol-in-ivr")).to_have_text("3")
    await expect(page.locator("#ol-instances tbody tr")).to_have_count(1)
    # This instance leads: its next heartbeat (every 10 s) says so and the warning goes.
    await expect(page.locator("#ol-no-leader")).to_be_hidden(timeout=25_000)
    await shoot(page, "page-outage-line", full_page=False)

    assert errors == []
