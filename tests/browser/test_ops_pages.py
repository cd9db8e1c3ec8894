"""The automation and outage-line pages in Chromium: a rule saved from the keyboard on a
phone-wide screen, the API's refusal shown beside its field, what a viewer cannot touch, an
outage's ledger, and the outage line's figures refreshing by themselves."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Page, expect

from outage_voice.domain.auth import Role
from tests.browser.conftest import OUTAGE_ID, SUPERVISOR, VIEWER, Console, shoot, sign_in

pytestmark = pytest.mark.timeout(60)
PHONE = {"width": 390, "height": 844}


async def test_a_supervisor_saves_a_rule_by_keyboard_and_sees_a_refusal_beside_its_field(
    page: Page, console: Console
) -> None:
    await console.add_customers(3)
    await page.set_viewport_size(PHONE)
    await sign_in(page, console, SUPERVISOR, "/dashboard/automation")
    field = page.locator("#rule-etr_update-max_per_outage")
    await field.fill("99")
    await field.press("Enter")  # submits its section's form, as a keyboard user would
    error = page.locator("#rule-etr_update-max_per_outage-error")
    await expect(error).to_contain_text("must be a whole number from 0 to 20")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#status-etr_update")).to_contain_text("Not saved")
    await shoot(page, "automation-refused")
    assert (await console.api("GET", "/api/v1/automation"))["etr_update"]["max_per_outage"] == 3

    await field.fill("5")
    await page.locator("#save-etr_update").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#status-etr_update")).to_contain_text("Saved")
    await expect(error).to_be_empty()
    await expect(
        page.locator('[data-changed-for="rule-etr_update-max_per_outage"]')
    ).to_be_visible()
    assert (await console.api("GET", "/api/v1/automation"))["etr_update"]["max_per_outage"] == 5
    # Nothing overflows the phone's width.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width

    # The ledger of the outage, and the preview of a change to it.
    await page.fill("#ledger-outage", OUTAGE_ID)
    await page.click("#ledger-show")
    await expect(page.locator("#ledger-result")).to_contain_text(f"Outage {OUTAGE_ID}")
    await page.fill("#preview-outage_id", OUTAGE_ID)
    await page.select_option("#preview-status", "confirmed")
    await page.fill("#preview-feeder_ids", "F1")
    await page.click("#preview-run")
    await expect(page.locator("#preview-result")).to_contain_text(f"If outage {OUTAGE_ID}")
    await shoot(page, "automation")


async def test_a_viewer_reads_the_rules_with_every_control_disabled(
    page: Page, console: Console
) -> None:
    await sign_in(page, console, VIEWER, "/dashboard/automation")
    await expect(page.locator("#save-acknowledge")).to_be_disabled()
    await expect(page.locator("#rule-acknowledge-blink_hold_s")).to_be_disabled()
    await expect(page.locator("#preview-run")).to_be_disabled()
    await expect(page.locator("#ledger-show")).to_be_enabled()


async def test_the_outage_line_refreshes_by_itself(page: Page, console: Console) -> None:
    await page.set_viewport_size(PHONE)
    await sign_in(page, console, VIEWER, "/dashboard/outage-line")
    await expect(page.locator("#ol-in-ivr")).to_have_text("0")
    now = console.clock.now()
    await console.services.pool.execute(
        "INSERT INTO inbound_calls (call_sid, started_at, last_step_at)"
        " VALUES ('CAbrowser1', $1, $1), ('CAbrowser2', $1, $1)",
        now - timedelta(seconds=20),
    )
    # The page asks every 5 s; the server reads at most every 5 s.
    await expect(page.locator("#ol-in-ivr")).to_have_text("2", timeout=15_000)
    await expect(page.locator("#ol-instances tbody tr")).to_have_count(1)
    # The row says "leader" within a second of the election; the page reads every 5 s.
    await expect(page.locator("#ol-instances")).to_contain_text("leader", timeout=15_000)
    assert (await console.api("GET", "/api/v1/outage-line", role=Role.VIEWER))["in_ivr"] == 2
    await shoot(page, "outage-line")
