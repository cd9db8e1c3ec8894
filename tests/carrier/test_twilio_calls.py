"""Placing, finding and fetching calls through `TwilioCalls` (the real `twilio` package with
its lean HTTP client) against the virtual carrier, and what an unclear answer becomes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from outage_voice.adapters.twilio.calls import TwilioCalls
from outage_voice.carrier.calls import CallStatus
from outage_voice.services.ports import (
    CarrierCallUnknown,
    CarrierRefused,
    CarrierThrottled,
    CarrierUnclear,
)
from tests.carrier.conftest import SID, TOKEN, Application, CarrierRig
from tests.support import T0

TO = "+15125550100"
FROM = "+15125550000"


@pytest.fixture
async def calls(rig: CarrierRig) -> AsyncIterator[TwilioCalls]:
    placer = TwilioCalls(account_sid=SID, auth_token=TOKEN, api_url=rig.url)
    yield placer
    await placer.close()


async def place(calls: TwilioCalls, application: Application, to: str = TO) -> str:
    return await calls.place(
        to=to,
        from_=FROM,
        url=application.url("/voice?attempt=7"),
        status_callback=application.url("/status?attempt=7&campaign=1&attempt_no=1"),
        timeout_s=30,
        machine_detection=True,
    )


async def test_a_placed_call_reports_answered_and_completed_only(
    rig: CarrierRig, calls: TwilioCalls, application: Application
) -> None:
    sid = await place(calls, application)
    await place(calls, application, to="+15125550101")
    await rig.settle()
    mine = [c for c in application.callbacks if c["CallSid"] == sid]
    # Both events reached the carrier as repeated form fields, as twilio's own client sends them.
    assert [c["CallStatus"] for c in mine] == ["in-progress", "completed"]
    assert application.bad_signatures == 0
    record = rig.carrier.calls[sid]
    assert record.to == TO and record.from_ == FROM
    assert record.machine_detection == "DetectMessageEnd"
    assert application.requests[0][1]["attempt"] == "7"  # the query string survived

    found = await calls.find(to=TO, started_after=T0 - timedelta(minutes=1))
    assert [call.sid for call in found] == [sid]
    assert await calls.find(to="+15125550199", started_after=T0 - timedelta(minutes=1)) == []
    fetched = await calls.fetch(sid)
    assert (fetched.status, fetched.to) == ("completed", TO)
    assert fetched.duration_s is not None and fetched.duration_s >= 1


async def test_throttled_refused_and_wrong_credentials(
    rig: CarrierRig, calls: TwilioCalls, application: Application
) -> None:
    rig.carrier.settings.reject_429_share = 1.0
    with pytest.raises(CarrierThrottled):
        await place(calls, application)
    rig.carrier.settings.reject_429_share = 0.0
    with pytest.raises(CarrierRefused) as refused:
        await place(calls, application, to="12")
    assert refused.value.code == 21211
    wrong = TwilioCalls(account_sid=SID, auth_token="not-the-token", api_url=rig.url)
    try:
        with pytest.raises(CarrierRefused) as denied:
            await place(wrong, application)
        assert denied.value.code == 20003
    finally:
        await wrong.close()
    assert rig.carrier.calls == {}


@pytest.fixture
async def silent_carrier() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """Takes requests and answers none, until released: then 503 to all."""
    release = asyncio.Event()

    async def anything(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=503, text="carrier trouble")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), release
    release.set()
    await server.close()


async def test_a_carrier_that_never_answers_is_unclear_within_the_timeout(
    silent_carrier: tuple[str, asyncio.Event], application: Application
) -> None:
    url, _ = silent_carrier
    placer = TwilioCalls(account_sid=SID, auth_token=TOKEN, api_url=url, request_timeout_s=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(CarrierUnclear):
            await place(placer, application)
        assert time.monotonic() - started < 5  # twilio's own client waited 300 s
    finally:
        await placer.close()


async def test_a_server_error_is_unclear_not_refused(
    silent_carrier: tuple[str, asyncio.Event], application: Application
) -> None:
    url, release = silent_carrier
    release.set()
    placer = TwilioCalls(account_sid=SID, auth_token=TOKEN, api_url=url)
    try:
        with pytest.raises(CarrierUnclear):
            await place(placer, application)
    finally:
        await placer.close()


async def test_a_call_the_carrier_does_not_know_and_cancelling_one_still_queued(
    rig: CarrierRig, calls: TwilioCalls, application: Application
) -> None:
    """404 / 20404 is told apart from a lookup that failed (the dialer settles such a call
    as lost); cancelling ends a call still queued, with its final callback."""
    with pytest.raises(CarrierCallUnknown):
        await calls.fetch("CA" + "f" * 32)
    with pytest.raises(CarrierCallUnknown):
        await calls.cancel("CA" + "f" * 32)
    with rig.clock.hold():  # still queued: time stands still
        queued = await place(calls, application)
        await calls.cancel(queued)
    assert rig.carrier.calls[queued].status is CallStatus.CANCELED
    await rig.settle()
    [final] = [c for c in application.callbacks if c["CallSid"] == queued]
    assert final["CallStatus"] == "canceled"


async def test_the_account_is_read_with_its_credentials_and_refused_without(
    rig: CarrierRig, calls: TwilioCalls
) -> None:
    """What `doctor` asks the carrier: a read of the account that places and changes nothing."""
    from twilio.base.exceptions import TwilioRestException

    assert await calls.account_status() == ("outage-voice virtual carrier", "active")
    wrong = TwilioCalls(account_sid=SID, auth_token="not-the-token", api_url=rig.url)
    other = TwilioCalls(account_sid="AC" + "9" * 32, auth_token=TOKEN, api_url=rig.url)
    try:
        with pytest.raises(TwilioRestException) as denied:
            await wrong.account_status()
        assert (denied.value.status, denied.value.code) == (401, 20003)
        with pytest.raises(TwilioRestException) as unknown:
            await other.account_status()
        assert unknown.value.status in (401, 404)
    finally:
        await wrong.close()
        await other.close()
    assert rig.carrier.calls == {}
