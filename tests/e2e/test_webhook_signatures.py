"""Webhooks signed as Twilio signs them reach the outage line; nothing else does."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.twilio.signature import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    body_sha256,
    compute_signature,
    settings_header,
)
from outage_voice.bootstrap import create_app
from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import Behaviour, Persona, PersonaBook
from outage_voice.config import VIRTUAL_AUTH_TOKEN, Settings
from tests.integration.test_server import free_port
from tests.support import T0

# Behind a TLS-terminating load balancer: the carrier reaches https://ivr.example.com, the
# load balancer reaches this server on loopback.
PUBLIC_URL = "https://ivr.example.com"
SHARED_KEY = "whsk-secret-0123456789abcdef"
FALLBACK = "/twilio/voice/fallback"
FORM = {"CallSid": "CA" + "7" * 32, "From": "+15125550100", "To": "+15125550000"}
Post = Callable[..., Awaitable[int]]


@pytest.fixture
async def post(settings: Settings, clock: ManualClock) -> AsyncIterator[Post]:
    """POSTs to a path of the server, the headers given, answering the HTTP status."""
    app = create_app(
        dataclasses.replace(settings, public_url=PUBLIC_URL, webhook_shared_key=SHARED_KEY),
        clock=clock,
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as session:

        async def send(
            path: str, headers: dict[str, str], body: str | dict[str, str] = FORM
        ) -> int:
            data = body if isinstance(body, str) else urlencode(body)
            kind = (
                "application/json"
                if isinstance(body, str)
                else ("application/x-www-form-urlencoded")
            )
            headers = {"Content-Type": kind} | headers
            async with session.post(server.make_url(path), data=data, headers=headers) as answer:
                await answer.read()
                return answer.status

        yield send
    await server.close()


async def test_a_url_signed_with_the_default_port_is_answered(post: Post) -> None:
    with_port = compute_signature(VIRTUAL_AUTH_TOKEN, f"{PUBLIC_URL}:443{FALLBACK}", FORM)
    assert await post(FALLBACK, {SIGNATURE_HEADER: with_port}) == 200
    without = compute_signature(VIRTUAL_AUTH_TOKEN, f"{PUBLIC_URL}{FALLBACK}", FORM)
    assert await post(FALLBACK, {SIGNATURE_HEADER: without}) == 200
    other_host = compute_signature(VIRTUAL_AUTH_TOKEN, f"https://evil.example{FALLBACK}", FORM)
    assert await post(FALLBACK, {SIGNATURE_HEADER: other_host}) == 403


async def test_shared_key_signatures_are_answered(
    post: Post, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"{PUBLIC_URL}{FALLBACK}"
    named = {SIGNATURE_SETTINGS_HEADER: settings_header("webhooks_sharedkey_1", HMAC_SHA256)}
    signed = compute_signature(SHARED_KEY, url, FORM, HMAC_SHA256)
    assert await post(FALLBACK, {SIGNATURE_HEADER: signed} | named) == 200
    # The same signature without the settings header is checked against the Auth Token.
    assert await post(FALLBACK, {SIGNATURE_HEADER: signed}) == 403
    by_token = compute_signature(VIRTUAL_AUTH_TOKEN, url, FORM, HMAC_SHA256)
    assert await post(FALLBACK, {SIGNATURE_HEADER: by_token} | named) == 403
    sha1 = compute_signature(SHARED_KEY, url, FORM, HMAC_SHA1)
    assert await post(FALLBACK, {SIGNATURE_HEADER: sha1} | named) == 403
    unknown = {SIGNATURE_SETTINGS_HEADER: "key=k,algorithm=HMAC_SHA512"}
    with caplog.at_level(logging.WARNING):
        assert await post(FALLBACK, {SIGNATURE_HEADER: signed} | unknown) == 403
    assert "an algorithm this server does not know" in caplog.text


async def test_a_shared_key_signature_without_the_key_configured_says_what_to_set(
    settings: Settings, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(dataclasses.replace(settings, public_url=PUBLIC_URL), clock=clock)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    named = {SIGNATURE_SETTINGS_HEADER: settings_header("webhooks_sharedkey_1", HMAC_SHA256)}
    signed = compute_signature(SHARED_KEY, f"{PUBLIC_URL}{FALLBACK}", FORM, HMAC_SHA256)
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                server.make_url(FALLBACK), data=FORM, headers={SIGNATURE_HEADER: signed} | named
            ) as answer,
        ):
            assert answer.status == 403
    finally:
        await server.close()
    assert "set TWILIO_WEBHOOK_SHARED_KEY to its secret" in caplog.text


async def test_a_json_body_is_checked_through_its_body_hash(post: Post) -> None:
    body = json.dumps({"CallSid": "CA1", "nota": "sin luz ☂"}, ensure_ascii=False)
    path = f"{FALLBACK}?bodySHA256={body_sha256(body)}"
    signed = compute_signature(VIRTUAL_AUTH_TOKEN, f"{PUBLIC_URL}{path}")
    assert await post(path, {SIGNATURE_HEADER: signed}, body) == 200
    assert await post(path, {SIGNATURE_HEADER: signed}, body.replace("CA1", "CA2")) == 403
    # A raw body without its hash in the URL is never taken as signed.
    bare = compute_signature(VIRTUAL_AUTH_TOKEN, f"{PUBLIC_URL}{FALLBACK}")
    assert await post(FALLBACK, {SIGNATURE_HEADER: bare}, body) == 403


@pytest.mark.parametrize("server_has_key", [True, False])
async def test_the_virtual_carrier_signs_with_a_shared_key(
    settings: Settings, clock: ManualClock, server_has_key: bool
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    app = create_app(
        dataclasses.replace(
            settings, public_url=public, webhook_shared_key=SHARED_KEY if server_has_key else None
        ),
        clock=clock,
    )
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    virtual = VirtualClock(T0)
    carrier = VirtualCarrier(
        CarrierSettings(
            cps=None,
            webhook_shared_key=SHARED_KEY,
            personas=PersonaBook(mix=((1.0, Persona(behaviour=Behaviour.SILENT)),)),
        ),
        virtual,
    )
    try:
        with virtual.hold():
            (call,) = carrier.dial_in(
                voice_url=f"{public}{FALLBACK}",
                to="+15125550000",
                callers=["+15125550188"],
                arrivals_per_s=1,
            )
        await asyncio.wait_for(virtual.settle(), timeout=30)
    finally:
        await carrier.close()
        await server.close()
    if server_has_key:
        assert call.error_code is None
        assert call.spoken_text().startswith("We are receiving many calls")
    else:
        assert call.error_code is not None  # refused: what a caller must never hear
