"""Signing in to the console, and what a session can no longer do: a change without its CSRF
token, anything once it has expired."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import Page, expect

from outage_voice.domain.users import SESSION_IDLE_S
from tests.browser.conftest import PASSWORD, SUPERVISOR, Console, landed, shoot, sign_in

pytestmark = pytest.mark.timeout(60)

# fetch() from the signed-in page, the cookie going with it; the answer's status and JSON.
FETCH = """async ([method, path, body, headers]) => {
  const init = {method, credentials: "same-origin", headers: {"Content-Type": "application/json",
                ...headers}};
  if (body !== null) init.body = JSON.stringify(body);
  const answer = await fetch(path, init);
  return {status: answer.status, body: await answer.text()};
}"""


async def page_fetch(
    page: Page, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = await page.evaluate(FETCH, [method, path, body, headers or {}])
    return answer


async def test_sign_in_and_a_wrong_password(page: Page, console: Console) -> None:
    await page.goto(f"{console.url}/dashboard/campaigns/new")
    # Sent to sign in, and brought back where they were going.
    await landed(page, console, "/dashboard/signin?next=%2Fdashboard%2Fcampaigns%2Fnew")
    await shoot(page, "signin")
    await page.fill("#username", SUPERVISOR)
    await page.fill("#password", PASSWORD + "x")
    await page.click("button[type=submit]")
    await expect(page.locator("#signin-error")).to_be_visible()
    assert "/dashboard/signin" in page.url
    assert await page.context.cookies() == []
    # The name typed stays; the password does not.
    await expect(page.locator("#username")).to_have_value(SUPERVISOR)
    await expect(page.locator("#password")).to_have_value("")

    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await landed(page, console, "/dashboard/campaigns/new")
    await expect(page.locator("header .user")).to_have_text(SUPERVISOR)
    await expect(page.locator("header .badge")).to_have_text("supervisor")
    (cookie,) = await page.context.cookies()
    assert cookie["name"] == "ov_session"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"

    await page.get_by_role("button", name="Sign out").click()
    await landed(page, console, "/dashboard/signin")
    await page.goto(f"{console.url}/dashboard")
    await landed(page, console, "/dashboard/signin")


async def test_a_change_without_the_csrf_token_is_refused(page: Page, console: Console) -> None:
    await console.add_customers(3)
    campaign_id = await console.campaign(4, start=False)
    await sign_in(page, console, SUPERVISOR)
    path = f"/api/v1/campaigns/{campaign_id}"

    # The session cookie goes with these, but no token, or another: refused, nothing changed.
    without = await page_fetch(page, "PATCH", path, {"cps": 2})
    wrong = await page_fetch(page, "PATCH", path, {"cps": 2}, {"X-CSRF-Token": "not-the-token"})
    assert (without["status"], wrong["status"]) == (403, 403), (without, wrong)
    shown = await console.api("GET", path)
    assert shown["pacing"]["cps"] == 4

    # The console's own helper sends the page's token: the same change goes through.
    changed = await page.evaluate(f"OV.api('PATCH', '{path}', {{cps: 2}})")
    assert changed["pacing"]["cps"] == 2
    assert (await console.api("GET", path))["pacing"]["cps"] == 2

    # A form posted without the token (sign-out) is refused too, and the session lives on.
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    await page.evaluate("document.querySelector('form.signout input[name=csrf_token]').value = ''")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("CSRF", exact=False).first).to_be_visible()
    await page.goto(f"{console.url}/dashboard")
    assert page.url == f"{console.url}/dashboard"


async def test_an_expired_session_is_refused(page: Page, console: Console) -> None:
    await console.add_customers(3)
    campaign_id = await console.campaign(4, start=False)
    await sign_in(page, console, SUPERVISOR)
    path = f"/api/v1/campaigns/{campaign_id}"
    assert (await page_fetch(page, "GET", path))["status"] == 200

    # Left idle past the limit (the application's clock moved, no waiting).
    console.clock.advance(timedelta(seconds=SESSION_IDLE_S + 1))
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = await page_fetch(page, "PATCH", path, {"cps": 2}, {"X-CSRF-Token": token or ""})
    assert refused["status"] == 401, refused
    assert (await page_fetch(page, "GET", path))["status"] == 401
    assert (await console.api("GET", path))["pacing"]["cps"] == 4

    # The page itself sends them to sign in again, and back here after.
    await page.reload()
    await landed(page, console, "/dashboard/signin")
    await page.fill("#username", SUPERVISOR)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await landed(page, console, "/dashboard")
