"""The campaign pages in Chromium, with the dialer calling through the in-process virtual
carrier on the wall clock: a viewer's controls and the API refusing them, the cps slider
slowing the carrier's calls, pause and resume, live progress, and the new-campaign estimate."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import (
    OUTAGE_ID,
    SUPERVISOR,
    VIEWER,
    Console,
    eventually,
    landed,
    shoot,
    sign_in,
)

pytestmark = pytest.mark.timeout(60)


def campaign_path(campaign_id: int) -> str:
    return f"/dashboard/campaigns/{campaign_id}"


async def api_error_status(page: Page, method: str, path: str, body: Any) -> int:
    """What the console's own API helper (cookie and CSRF token) gets from the server."""
    status: int = await page.evaluate(
        "([m, p, b]) => OV.api(m, p, b).then(() => 200, (e) => e.status)", [method, path, body]
    )
    return status


async def test_a_viewer_cannot_change_pacing(page: Page, console: Console) -> None:
    await console.add_customers(40)
    campaign_id = await console.campaign(2)
    await sign_in(page, console, VIEWER, campaign_path(campaign_id))
    await expect(page.locator("header .badge")).to_have_text("viewer")

    for control in (
        "#pacing-cps",
        "#pacing-max-concurrent",
        "#pacing-priority",
        "#pacing-window-opens",
        "#pacing-apply",
        "#action-pause",
        "#action-cancel",
    ):
        await expect(page.locator(control)).to_be_disabled()
    await shoot(page, "campaign-viewer")

    # Enabling the control by hand changes nothing: the API itself refuses the viewer.
    await page.evaluate("document.getElementById('pacing-cps').disabled = false")
    path = f"/api/v1/campaigns/{campaign_id}"
    assert await api_error_status(page, "PATCH", path, {"cps": 1}) == 403
    assert await api_error_status(page, "POST", f"{path}/pause", None) == 403
    shown = await console.api("GET", path)
    assert (shown["pacing"]["cps"], shown["state"]) == (2, "running")


async def drag_slider(page: Page, selector: str, value: float) -> None:
    """Drags the range's thumb with the mouse until the range reads `value`, then lets go."""
    slider = page.locator(selector)
    await slider.scroll_into_view_if_needed()
    box = await slider.bounding_box()
    assert box is not None
    low, high, now = await slider.evaluate("el => [el.min, el.max, el.value].map(Number)")

    def x_of(v: float) -> float:
        return box["x"] + (v - low) / (high - low) * box["width"]

    y = box["y"] + box["height"] / 2
    await page.mouse.move(x_of(now), y)
    await page.mouse.down()
    x = x_of(value)
    await page.mouse.move(x, y, steps=8)
    # The thumb's own width skews the mapping by a few pixels: nudge until it reads `value`.
    for _ in range(40):
        read = float(await slider.input_value())
        if read == value:
            break
        x += -1 if read > value else 1
        await page.mouse.move(x, y)
    await page.mouse.up()
    assert float(await slider.input_value()) == value


def per_second(placed: list[datetime], start: datetime, end: datetime) -> float:
    return sum(1 for at in placed if start <= at < end) / (end - start).total_seconds()


async def test_dragging_cps_from_20_to_5_slows_the_carriers_calls(
    page: Page, console: Console
) -> None:
    await console.add_customers(400)
    campaign_id = await console.campaign(20, start=False)
    await sign_in(page, console, SUPERVISOR, campaign_path(campaign_id))
    await expect(page.locator("#pacing-cps")).to_have_value("20")

    await page.click("#action-start")
    await expect(page.locator("#confirm-text")).to_contain_text("20 calls per second")
    await page.click("#confirm-yes")
    await expect(page.locator("#campaign-state")).to_have_text("running")

    async def calling_fast() -> bool:
        return len(console.placed_at()) >= 40

    await eventually(calling_fast, within_s=15)
    await drag_slider(page, "#pacing-cps", 5)
    let_go = console.clock.now()
    await expect(page.locator("#pacing-status")).to_contain_text("Applied: 5 calls per second")
    await expect(page.locator("#cap-cps")).to_have_text("5")
    # Three seconds to slow down, then two at the new pace, watched on the carrier's side.
    await asyncio.sleep(
        max(0.0, (let_go + timedelta(seconds=5) - console.clock.now()).total_seconds())
    )
    placed = console.placed_at()
    before = per_second(placed, let_go - timedelta(seconds=2), let_go)
    after = per_second(placed, let_go + timedelta(seconds=3), let_go + timedelta(seconds=5))
    assert before >= 15, f"{before} calls/s before the change"
    assert after <= 5 * 1.2, f"{after} calls/s from 3 s after the change"
    # The moment the carrier's pace fell: its last two calls spaced as at 20/s (0.05 s apart,
    # against 0.2 s at 5/s).
    fell = timedelta()
    for earlier, later in itertools.pairwise(placed):
        if later > let_go and later - earlier < timedelta(seconds=0.125):
            fell = later - let_go
    assert fell <= timedelta(seconds=3), fell
    print(f"cps 20 -> 5: {before:.1f}/s before, {after:.1f}/s from 3 s after, fell in {fell}")
    shown = await console.api("GET", f"/api/v1/campaigns/{campaign_id}")
    assert shown["pacing"]["cps"] == 5
    await shoot(page, "campaign")


async def test_pause_and_resume(page: Page, console: Console) -> None:
    await console.add_customers(200)
    campaign_id = await console.campaign(5)
    await sign_in(page, console, SUPERVISOR, campaign_path(campaign_id))

    async def some_placed() -> bool:
        return len(console.placed_at()) >= 3

    await eventually(some_placed, within_s=10)
    # Only what can be done now is offered.
    await expect(page.locator("#action-start")).to_be_hidden()
    await expect(page.locator("#action-resume")).to_be_hidden()
    await page.click("#action-pause")
    dialog = page.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    await expect(page.locator("#confirm-text")).to_contain_text("Pausing stops new calls")
    await shoot(page, "campaign-pause-confirm", full_page=False)
    await page.click("#confirm-yes")
    await expect(page.locator("#campaign-state")).to_have_text("paused")
    await expect(page.locator("#action-resume")).to_be_visible()
    await expect(page.locator("#action-pause")).to_be_hidden()
    assert (await console.api("GET", f"/api/v1/campaigns/{campaign_id}"))["state"] == "paused"

    # Calls already asked of the carrier may still arrive for a moment; then none.
    settled = len(console.placed_at())
    for _ in range(20):
        await asyncio.sleep(0.5)
        if len(console.placed_at()) == settled:
            break
        settled = len(console.placed_at())
    await asyncio.sleep(1.5)
    assert len(console.placed_at()) == settled, "calls placed while paused"

    await page.click("#action-resume")
    await expect(page.locator("#confirm-text")).to_contain_text("Resuming places calls again")
    await page.click("#confirm-yes")
    await expect(page.locator("#campaign-state")).to_have_text("running")
    await expect(page.locator("#action-resume")).to_be_hidden()
    await expect(page.locator("#action-pause")).to_be_visible()

    async def calling_again() -> bool:
        return len(console.placed_at()) >= settled + 3

    await eventually(calling_again, within_s=10)


async def test_live_progress_advances_while_the_campaign_runs(page: Page, console: Console) -> None:
    await console.add_customers(30)
    campaign_id = await console.campaign(6, start=False)
    await sign_in(page, console, SUPERVISOR)
    card = page.locator(f"#campaign-{campaign_id}")
    await expect(card.locator('[data-field="state"]')).to_have_text("draft")
    await expect(card.locator('[data-field="done"]')).to_have_text("0 of 30")
    await expect(page.locator("#live-status")).to_have_text("Live")
    # Marks this page: a reload would lose it, so what follows came over the live stream.
    await page.evaluate("window.sameDocument = true")

    await console.api("POST", f"/api/v1/campaigns/{campaign_id}/start")
    await expect(card.locator('[data-field="state"]')).to_have_text("running")
    bar = card.locator('[data-field="bar"]')
    seen: set[int] = set()
    started = time.monotonic()
    while time.monotonic() - started < 20:
        value = int(await bar.evaluate("el => el.value"))
        seen.add(value)
        if value == 30:
            break
        await asyncio.sleep(0.2)
    # Several steps between none and all: it moved while calls were made, not once at the end.
    assert 30 in seen
    assert len(seen - {0, 30}) >= 2, seen
    await expect(card.locator('[data-field="state"]')).to_have_text("completed")
    await expect(card.locator('[data-field="unreached"]')).to_have_text("30")
    assert await page.evaluate("window.sameDocument") is True
    await shoot(page, "campaigns")


async def test_the_estimate_matches_the_api(page: Page, console: Console) -> None:
    await console.add_customers(25)
    # Two numbers that opted out: the estimate leaves them out and says why.
    await console.services.pool.execute(
        "UPDATE phones SET opted_out_at = now() WHERE e164 IN ('+15125560003', '+15125560007')"
    )
    await sign_in(page, console, SUPERVISOR, "/dashboard/campaigns/new")
    await page.fill("#campaign-name-input", "Storm 9 all clear")
    await page.select_option("#campaign-kind", "restoration")
    await page.check("#audience-outage")
    await page.fill("#audience-outage-id", OUTAGE_ID)
    await page.fill("#campaign-cps", "2")
    await page.fill("#campaign-max-concurrent", "20")

    async with page.expect_request("**/api/v1/campaigns/estimate") as asked:
        await page.click("#estimate-button")
    body = (await asked.value).post_data_json
    await expect(page.locator("#estimate-figures")).to_be_visible()
    api = await console.api("POST", "/api/v1/campaigns/estimate", body, status=200)
    assert api["targets"] == 23
    assert api["excluded"] == {"opted_out": 2}
    await expect(page.locator("#estimate-targets")).to_have_text(str(api["targets"]))
    await expect(page.locator("#estimate-excluded-total")).to_have_text("2")
    await expect(page.locator('#estimate-excluded li[data-reason="opted_out"]')).to_contain_text(
        "2"
    )
    duration = await page.locator("#estimate-duration").get_attribute("data-seconds")
    assert duration is not None
    assert float(duration) == api["estimated_duration_s"]
    await shoot(page, "new-campaign")

    # Saved as a draft, the campaign has exactly the numbers estimated.
    await page.click("#launch-draft")
    await page.wait_for_url(re.compile(r"/dashboard/campaigns/[0-9]+$"))
    campaign_id = int(page.url.rsplit("/", 1)[1])
    await landed(page, console, campaign_path(campaign_id))
    draft = await console.api("GET", f"/api/v1/campaigns/{campaign_id}?fresh=1")
    assert draft["state"] == "draft"
    assert draft["progress"]["targets"] - sum(draft["progress"]["excluded"].values()) == 23
    assert draft["progress"]["excluded"] == {"opted_out": 2}


async def test_campaigns_now_picks_up_again_after_a_server_restart(
    page: Page, console: Console
) -> None:
    await console.add_customers(20)
    campaign_id = await console.campaign(4, start=False)
    await sign_in(page, console, SUPERVISOR)
    card = page.locator(f"#campaign-{campaign_id}")
    await expect(card.locator('[data-field="state"]')).to_have_text("draft")
    await expect(page.locator("#live-status")).to_have_text("Live")
    await page.evaluate("window.sameDocument = true")

    await console.stop()
    await expect(page.locator("#live-status")).to_have_text("Reconnecting…")
    await console.start()  # the same database: the session is still there
    await expect(page.locator("#live-status")).to_have_text("Live", timeout=15_000)

    await console.api("POST", f"/api/v1/campaigns/{campaign_id}/start")
    await expect(card.locator('[data-field="state"]')).to_have_text("running")
    await expect(card.locator('[data-field="done"]')).to_have_text("20 of 20", timeout=15_000)
    assert await page.evaluate("window.sameDocument") is True


HIDE_TAB = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW_TAB = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
# More console tabs than a browser's 6 connections per host over HTTP/1.1.
BACKGROUND_TABS = 8


async def test_hidden_tabs_leave_connections_for_a_pause(
    page: Page, console: Console, browser: Any
) -> None:
    await console.add_customers(200)
    campaign_id = await console.campaign(2)
    await sign_in(page, console, SUPERVISOR, "/dashboard")
    tabs = [page]
    for index in range(BACKGROUND_TABS):
        tab = page if index == 0 else await browser.new_page()
        if index > 0:
            tabs.append(tab)
        await tab.goto(f"{console.url}{campaign_path(campaign_id) if index % 2 else '/dashboard'}")
        await expect(tab.locator("#live-status")).to_have_text("Live")
        # Put in the background, as when another tab is chosen: its stream closes.
        await tab.evaluate(HIDE_TAB)

    front = await browser.new_page()
    await front.goto(f"{console.url}{campaign_path(campaign_id)}")
    await expect(front.locator("#live-status")).to_have_text("Live")
    await front.click("#action-pause")
    await front.click("#confirm-yes")
    await expect(front.locator("#campaign-state")).to_have_text("paused")
    assert (await console.api("GET", f"/api/v1/campaigns/{campaign_id}"))["state"] == "paused"

    # A background tab brought forward opens its stream again and shows the pause at once.
    back = tabs[1]
    await front.evaluate(HIDE_TAB)
    await back.evaluate(SHOW_TAB)
    await expect(back.locator("#campaign-state")).to_have_text("paused")
    await expect(back.locator("#live-status")).to_have_text("Live")


async def test_an_always_open_window_is_said_to_be_any_hour(page: Page, console: Console) -> None:
    await console.add_customers(5)
    campaign_id = await console.campaign(2, start=False)  # its window: 24 h
    await sign_in(page, console, SUPERVISOR, campaign_path(campaign_id))
    await page.click("#action-start")
    text = page.locator("#confirm-text")
    await expect(text).to_contain_text("at any hour.")
    await expect(text).not_to_contain_text("between")
    await page.click("#confirm-no")


async def test_a_start_that_fails_leaves_one_draft_and_shows_it(
    page: Page, console: Console
) -> None:
    await console.add_customers(5)
    await sign_in(page, console, SUPERVISOR, "/dashboard/campaigns/new")
    await page.fill("#campaign-name-input", "Storm 9 all clear")
    await page.select_option("#campaign-kind", "restoration")
    await page.check("#audience-outage")
    await page.fill("#audience-outage-id", OUTAGE_ID)
    await page.fill("#campaign-cps", "2")
    # The network drops the start: the draft was made all the same.
    await page.route(re.compile(r".*/api/v1/campaigns/[0-9]+/start$"), lambda r: r.abort())
    await page.click("#launch-start")
    await page.wait_for_url(re.compile(r"/dashboard/campaigns/[0-9]+$"))
    await expect(page.locator("#action-status")).to_contain_text("Saved as a draft, not started")
    campaigns = (await console.api("GET", "/api/v1/campaigns"))["campaigns"]
    assert [(c["id"], c["state"]) for c in campaigns] == [
        (int(page.url.rsplit("/", 1)[1]), "draft")
    ]
