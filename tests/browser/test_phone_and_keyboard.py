"""The console on a phone-wide screen (390 px) worked with the keyboard alone: signing in,
moving between pages, changing the pace and pausing a campaign, with the focus always shown."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import PASSWORD, SUPERVISOR, Console, landed, shoot

pytestmark = pytest.mark.timeout(60)
PHONE = {"width": 390, "height": 844}
MAX_TABS = 80  # more stops than any console page has


async def tab_to(page: Page, selector: str, *, backwards: bool = False) -> None:
    """Presses Tab (Shift+Tab) until the focus is on `selector`; fails after MAX_TABS."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(MAX_TABS):
        if await page.evaluate("s => document.activeElement.matches(s)", selector):
            break
        await page.keyboard.press(key)
    else:
        pytest.fail(f"{selector} cannot be reached with {key}")
    # The focus is shown: the console's outline, never none.
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", f"no visible focus on {selector}"


async def fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling on a phone."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


async def test_a_phone_and_the_keyboard_alone(page: Page, console: Console) -> None:
    await console.add_customers(300)
    campaign_id = await console.campaign(5)
    await page.set_viewport_size(PHONE)

    await page.goto(f"{console.url}/dashboard")
    await landed(page, console, "/dashboard/signin")
    await fits(page)
    # The name field has the focus as the page opens; Tab to the password, Enter signs in.
    await expect(page.locator("#username")).to_be_focused()
    await page.keyboard.type(SUPERVISOR)
    await page.keyboard.press("Tab")
    await expect(page.locator("#password")).to_be_focused()
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await landed(page, console, "/dashboard")
    card = page.locator(f"#campaign-{campaign_id}")
    await expect(card.locator('[data-field="state"]')).to_have_text("running")
    await fits(page)
    await shoot(page, "campaigns-phone")

    # The first stop skips the header to the page's content.
    await page.keyboard.press("Tab")
    await expect(page.locator("a.skip")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()

    # From the campaign's card to its page.
    await tab_to(page, f'a[href="/dashboard/campaigns/{campaign_id}"]')
    await page.keyboard.press("Enter")
    await landed(page, console, f"/dashboard/campaigns/{campaign_id}")
    await fits(page)

    # The pace, one arrow key at a time: each press is applied.
    await tab_to(page, "#pacing-cps")
    await page.keyboard.press("ArrowLeft")
    await page.keyboard.press("ArrowLeft")
    await expect(page.locator("#pacing-status")).to_contain_text("Applied: 4 calls per second")
    path = f"/api/v1/campaigns/{campaign_id}"
    assert (await console.api("GET", path))["pacing"]["cps"] == 4

    # Pause: the confirmation opens on "Go back", so Enter alone changes nothing.
    await tab_to(page, "#action-pause", backwards=True)
    await page.keyboard.press("Enter")
    await expect(page.locator("#confirm-dialog")).to_be_visible()
    await expect(page.locator("#confirm-no")).to_be_focused()
    await shoot(page, "campaign-phone-confirm", full_page=False)
    await page.keyboard.press("Enter")
    await expect(page.locator("#confirm-dialog")).to_be_hidden()
    await expect(page.locator("#action-pause")).to_be_focused()
    assert (await console.api("GET", path))["state"] == "running"
    # Escape closes it the same way.
    await page.keyboard.press("Enter")
    await expect(page.locator("#confirm-dialog")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("#confirm-dialog")).to_be_hidden()
    await expect(page.locator("#action-pause")).to_be_focused()
    assert (await console.api("GET", path))["state"] == "running"
    # Again, and this time confirmed.
    await page.keyboard.press("Enter")
    await expect(page.locator("#confirm-no")).to_be_focused()
    await tab_to(page, "#confirm-yes", backwards=True)
    await page.keyboard.press("Enter")
    await expect(page.locator("#campaign-state")).to_have_text("paused")
    assert (await console.api("GET", path))["state"] == "paused"
    await shoot(page, "campaign-phone")

    # The nav reaches every page (back up from here; forward from the top of a new page),
    # and each fits the screen.
    for index, (href, heading, shot) in enumerate(
        (
            ("/dashboard/campaigns/new", "New campaign", "new-campaign"),
            ("/dashboard/automation", "Automation", "automation"),
            ("/dashboard/outage-line", "The outage line now", "outage-line"),
        )
    ):
        await tab_to(page, f'header nav a[href="{href}"]', backwards=index == 0)
        await page.keyboard.press("Enter")
        await landed(page, console, href)
        await expect(page.locator("h1")).to_have_text(heading)
        await expect(page.locator(f'header nav a[href="{href}"]')).to_have_attribute(
            "aria-current", "page"
        )
        await fits(page)
        await shoot(page, f"{shot}-phone")
