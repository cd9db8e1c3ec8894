"""The console's campaign pages and their live stream, over real HTTP on loopback, on the
real database. The feed's one-second tick is driven by the test (no waiting for time)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.services import console_feed
from outage_voice.services.console_feed import (
    CHART_BUCKET_S,
    FEED_INTERVAL_S,
    MAX_STREAMS_PER_SESSION,
    ConsoleFeed,
)
from outage_voice.web import keys
from outage_voice.web.auth import SESSION_COOKIE
from outage_voice.web.console import campaigns as console_campaigns
from tests.support import T0, csv_text

Client = TestClient[web.Request, web.Application]
PASSWORD = "Storm-season 2026!"
NAME = '<script>alert("x")</script> & Oak St'
ROWS = (
    "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
    "1002,Ann Lee,(512) 555-0103,,P3,16 Oak Street,F1,,",
    "1003,Bo Chen,(512) 555-0105,,P4,18 Oak Street,F1,,",
    "1004,Cy Diaz,(512) 555-0106,,P5,20 Oak Street,F1,,",
)
BODY: dict[str, Any] = {
    "name": NAME,
    "kind": "custom",
    "audience": {"feeders": ["F1"]},
    "message": {"text": "Crews are working on your street tonight."},
    "pacing": {"cps": 20, "max_concurrent": 40},
}
SUBSCRIBERS = 20


class Ticks:
    """The feed's sleep, released by the test one tick at a time."""

    def __init__(self) -> None:
        self.requested: list[float] = []
        self._released: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.requested.append(seconds)
        await self._released.get()

    def release(self) -> None:
        self._released.put_nowait(None)


@pytest.fixture
async def signed_in(api: Client, services: Services) -> Client:
    await services.users.create(username="ana", password=PASSWORD, role="supervisor")
    answer = await api.post(
        "/dashboard/signin",
        data={"username": "ana", "password": PASSWORD},
        allow_redirects=False,
    )
    assert answer.status == 303, await answer.text()
    return api


@pytest.fixture
def ticks(api: Client) -> Ticks:
    ticks = Ticks()
    api.server.app[keys.CONSOLE_FEED].sleep = ticks.sleep
    return ticks


async def campaign(api: Client, services: Services, tokens: dict[Role, dict[str, str]]) -> int:
    await services.customers.import_stream(io.StringIO(csv_text(*ROWS)))
    created = await api.post("/api/v1/campaigns", json=BODY, headers=tokens[Role.SUPERVISOR])
    assert created.status == 201, await created.text()
    campaign_id: int = (await created.json())["id"]
    return campaign_id


async def event(response: ClientResponse) -> tuple[str, Any]:
    """The next event of a stream (comments and the retry line skipped)."""
    for _ in range(10):
        block = (await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)).decode()
        fields = dict(
            line.split(": ", 1) for line in block.strip().split("\n") if not line.startswith(":")
        )
        if "data" in fields:
            return fields.get("event", "message"), json.loads(fields["data"])
    raise AssertionError("no event")


async def open_stream(api: Client, query: str = "") -> ClientResponse:
    response = await api.get("/dashboard/stream" + query)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    assert await response.content.readuntil(b"\n\n") == b"retry: 2000\n\n"
    return response


async def until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_one_read_per_tick_whatever_the_number_of_consoles_and_none_once_all_leave(
    signed_in: Client,
    services: Services,
    tokens: dict[Role, dict[str, str]],
    ticks: Ticks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One session stands for many people here.
    monkeypatch.setattr(console_feed, "MAX_STREAMS_PER_SESSION", SUBSCRIBERS)
    campaign_id = await campaign(signed_in, services, tokens)
    feed: ConsoleFeed = signed_in.server.app[keys.CONSOLE_FEED]
    assert not feed.running and feed.reads == 0

    first = await open_stream(signed_in)
    name, data = await event(first)
    assert name == "update" and feed.reads == 1
    assert [c["id"] for c in data["campaigns"]] == [campaign_id]
    assert data["campaigns"][0]["name"] == NAME
    assert data["campaigns"][0]["progress"]["targets"] == 4
    assert "audience" not in data["campaigns"][0]  # a long account list stays on its page

    # More consoles are given the last update at once, with no read of their own.
    others = [await open_stream(signed_in) for _ in range(SUBSCRIBERS - 1)]
    streams = [first, *others]
    for response in others:
        assert (await event(response))[1] == data
    assert feed.reads == 1 and feed.subscribers == SUBSCRIBERS

    for tick in range(1, 4):
        ticks.release()
        seen = [await event(response) for response in streams]
        assert feed.reads == 1 + tick
        assert all(update == seen[0] for update in seen)  # the same text for everyone
    # Each wait is what is left of the second after a read: never more than one a second.
    assert ticks.requested and all(0 <= s <= FEED_INTERVAL_S for s in ticks.requested)

    for response in streams:
        response.close()
    ticks.release()  # the next update finds every console gone
    await until(lambda: not feed.running)
    assert feed.subscribers == 0
    reads = feed.reads
    ticks.release()
    await asyncio.sleep(0)
    assert feed.reads == reads

    # A console opened later starts it again.
    again = await open_stream(signed_in)
    assert (await event(again))[0] == "update" and feed.running
    again.close()


async def test_a_campaigns_detail_charts_calls_per_second_and_counts_those_waiting(
    signed_in: Client,
    services: Services,
    tokens: dict[Role, dict[str, str]],
    ticks: Ticks,
    pool: asyncpg.Pool,
) -> None:
    campaign_id = await campaign(signed_in, services, tokens)
    targets = [
        row["id"]
        for row in await pool.fetch(
            "SELECT id FROM campaign_targets WHERE campaign_id = $1 ORDER BY id", campaign_id
        )
    ]
    # Ten calls placed 7 s ago, five 62 s ago, three 11 minutes ago (off the chart).
    for count, age_s in ((10, 7), (5, 62), (3, 660)):
        await pool.execute(
            """INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, status,
                                          created_at, placed_at, ended_at)
               SELECT $1, $2, 1, '+15125550100', 'completed', $3, $3, $3
               FROM generate_series(1, $4)""",
            targets[0],
            campaign_id,
            T0 - timedelta(seconds=age_s),
            count,
        )
    retry_at = T0 + timedelta(minutes=5, seconds=20)
    window_at = T0 + timedelta(hours=14)
    await pool.execute(
        "UPDATE campaign_targets SET attempts = 1, next_attempt_at = $2 WHERE id = ANY($1)",
        targets[:2],
        retry_at,
    )
    await pool.execute(
        "UPDATE campaign_targets SET next_attempt_at = $2 WHERE id = $1", targets[2], window_at
    )
    stream = await open_stream(signed_in, f"?campaign={campaign_id}")
    _, data = await event(stream)
    detail = data["campaign"]
    assert detail["id"] == campaign_id and detail["name"] == NAME
    chart = detail["chart"]
    assert chart["bucket_s"] == CHART_BUCKET_S and len(chart["cps"]) == 600 // CHART_BUCKET_S
    last = len(chart["cps"]) - 1
    # 7 s ago falls in the bucket before the last (5 s buckets ending now); 62 s ago 13 back.
    assert chart["cps"][last - 1] == 10 / CHART_BUCKET_S
    assert chart["cps"][last - 12] == 5 / CHART_BUCKET_S
    assert sum(chart["cps"]) * CHART_BUCKET_S == pytest.approx(15)
    waiting = detail["waiting"]
    assert waiting["retries"] == 2 and waiting["out_of_window"] == 1
    assert waiting["next_retry_at"].startswith("2026-11-23T18:05:20")
    assert [d["targets"] for d in waiting["retries_due"]] == [2]
    assert waiting["retries_due"][0]["at"].startswith("2026-11-23T18:05:00")
    assert waiting["next_window_at"].startswith("2026-11-24T08:00:00")

    # The list stream carries no detail; an unknown campaign is not watched at all.
    plain = await open_stream(signed_in)
    assert "campaign" not in (await event(plain))[1]
    assert (await signed_in.get("/dashboard/stream?campaign=987654")).status == 404
    for response in (stream, plain):
        response.close()
    assert (await signed_in.get("/dashboard/stream?campaign=x")).status == 400


async def test_a_stream_ends_with_its_session_and_needs_one_to_open(
    signed_in: Client,
    services: Services,
    tokens: dict[Role, dict[str, str]],
    ticks: Ticks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(console_campaigns, "SESSION_RECHECK_UPDATES", 2)
    stream = await open_stream(signed_in)
    assert (await event(stream))[0] == "update"
    cookie = signed_in.session.cookie_jar.filter_cookies(signed_in.make_url("/"))
    await services.users.sign_out(cookie[SESSION_COOKIE].value)
    ticks.release()
    # The second update is sent, then the session is looked up again: it has ended.
    assert (await event(stream))[0] == "update"
    assert (await event(stream))[0] == "signedout"
    await until(lambda: signed_in.server.app[keys.CONSOLE_FEED].subscribers == 0)

    away = await signed_in.get("/dashboard/stream", allow_redirects=False)
    assert away.status == 303
    assert away.headers["Location"].startswith("/dashboard/signin")


async def test_one_session_cannot_make_the_feed_read_without_bound(
    signed_in: Client,
    services: Services,
    tokens: dict[Role, dict[str, str]],
    ticks: Ticks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first_id = await campaign(signed_in, services, tokens)
    created = await signed_in.post("/api/v1/campaigns", json=BODY, headers=tokens[Role.SUPERVISOR])
    second_id = (await created.json())["id"]
    feed: ConsoleFeed = signed_in.server.app[keys.CONSOLE_FEED]

    # A campaign that isn't there is refused, not read again and again.
    missing = await signed_in.get(f"/dashboard/stream?campaign={second_id + 1000}")
    assert missing.status == 404
    assert feed.subscribers == 0

    # One session's streams are capped: a new one ends the oldest.
    streams = [
        await open_stream(signed_in, f"?campaign={first_id}")
        for _ in range(MAX_STREAMS_PER_SESSION)
    ]
    assert feed.subscribers == MAX_STREAMS_PER_SESSION
    newest = await open_stream(signed_in, f"?campaign={first_id}")
    # The oldest may still have its first update to read, then it is told and ends.
    names = [(await event(streams[0]))[0]]
    if names[0] == "update":
        names.append((await event(streams[0]))[0])
    assert names[-1] == "superseded"
    await until(lambda: feed.subscribers == MAX_STREAMS_PER_SESSION)
    assert (await event(newest))[0] == "update"
    for response in [*streams, newest]:
        response.close()
    ticks.release()
    await until(lambda: feed.subscribers == 0)

    # The campaigns watched across an instance are capped too; one already watched is not new.
    monkeypatch.setattr(console_feed, "MAX_WATCHED_CAMPAIGNS", 1)
    watching = await open_stream(signed_in, f"?campaign={first_id}")
    refused = await signed_in.get(f"/dashboard/stream?campaign={second_id}")
    assert refused.status == 503 and "Retry-After" in refused.headers
    also = await open_stream(signed_in, f"?campaign={first_id}")
    assert {c for c in feed._watched()} == {first_id}
    watching.close()
    also.close()


async def test_pages_render_escaped_names_for_a_phone_and_disable_changes_for_viewers(
    signed_in: Client,
    services: Services,
    tokens: dict[Role, dict[str, str]],
    ticks: Ticks,
) -> None:
    campaign_id = await campaign(signed_in, services, tokens)
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Oak St"
    pages = {
        "/dashboard": ("campaigns-list", f'href="/dashboard/campaigns/{campaign_id}"'),
        f"/dashboard/campaigns/{campaign_id}": (
            "pacing-cps",
            'id="confirm-dialog"',
            'id="action-start"',
            'id="cps-chart"',
            'id="pacing-apply"',
        ),
        "/dashboard/campaigns/new": ("estimate-button", 'id="launch-start"', 'id="launch-draft"'),
    }
    for path, marks in pages.items():
        page = await signed_in.get(path)
        text = await page.text()
        assert page.status == 200, text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
        for mark in marks:
            assert mark in text, (path, mark)
        assert "<script>alert" not in text
        if path != "/dashboard/campaigns/new":
            assert escaped in text
        assert " disabled" not in text.split("<main", 1)[1]  # a supervisor may change

    missing = await signed_in.get("/dashboard/campaigns/987654")
    assert missing.status == 404 and "There is no campaign 987654" in await missing.text()

    await services.users.create(username="wall", password=PASSWORD, role="viewer")
    signed_in.session.cookie_jar.clear()
    answer = await signed_in.post(
        "/dashboard/signin", data={"username": "wall", "password": PASSWORD}, allow_redirects=False
    )
    assert answer.status == 303
    page = await (await signed_in.get(f"/dashboard/campaigns/{campaign_id}")).text()
    for control in ("pacing-cps", "pacing-apply", "action-start", "action-cancel"):
        tag = page.split(f'id="{control}"', 1)[1].split(">", 1)[0]
        assert "disabled" in tag, control


async def test_a_console_that_stopped_reading_cannot_hold_its_stream_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Stuck(web.StreamResponse):
        """A client whose socket buffer is full: a write never completes."""

        async def write(self, data: Any) -> None:
            await asyncio.Event().wait()

    monkeypatch.setattr(console_campaigns, "WRITE_TIMEOUT_S", 0.01)
    send = asyncio.create_task(console_campaigns._send(Stuck(), b": keep-alive\n\n"))
    done, _ = await asyncio.wait({send}, timeout=5)
    if not done:
        send.cancel()
    assert send in done, "the write to a stuck console never gave up"
    assert isinstance(send.exception(), TimeoutError)
