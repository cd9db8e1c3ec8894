"""A tiny application under test, the virtual carrier, and real twilio clients between them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from outage_voice.carrier.clock import VirtualClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.personas import PersonaBook
from outage_voice.carrier.rest import create_carrier_app
from tests.support import T0

SID = "AC" + "1" * 32
TOKEN = "test-auth-token"
Document = str | Callable[[dict[str, str]], str]


@dataclass
class Application:
    """Serves TwiML per path and records every request the carrier makes, signature checked."""

    base_url: str = ""
    documents: dict[str, Document] = field(default_factory=dict)
    status_codes: dict[str, int] = field(default_factory=dict)
    audio: dict[str, tuple[bytes, str, str | None]] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    callbacks: list[dict[str, str]] = field(default_factory=list)
    bad_signatures: int = 0
    never: asyncio.Event = field(default_factory=asyncio.Event)
    fetched: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return self.base_url + path


async def _verify(request: web.Request, app: Application) -> dict[str, str]:
    form = {k: str(v) for k, v in (await request.post()).items()}
    url = str(request.url)
    if not RequestValidator(TOKEN).validate(
        url, form, request.headers.get("X-Twilio-Signature", "")
    ):
        app.bad_signatures += 1
    return form


@pytest.fixture
async def application() -> AsyncIterator[Application]:
    state = Application()

    async def twiml(request: web.Request) -> web.StreamResponse:
        params = await _verify(request, state) | dict(request.query)
        path = request.path
        state.requests.append((path, params))
        state.fetched.set()
        if path in state.hang:
            await state.never.wait()
        if path in state.status_codes:
            return web.Response(status=state.status_codes[path], text="nope")
        document = state.documents.get(path, "<Response><Hangup/></Response>")
        body = document(params) if callable(document) else document
        return web.Response(text=body, content_type="text/xml")

    async def status(request: web.Request) -> web.Response:
        state.callbacks.append(await _verify(request, state))
        return web.Response(status=204)

    async def audio(request: web.Request) -> web.Response:
        body, kind, text = state.audio[request.path]
        headers = {"X-Prompt-Text": text} if text else {}
        return web.Response(body=body, content_type=kind, headers=headers)

    app = web.Application()
    app.router.add_post("/status", status)
    app.router.add_get("/audio/{name}", audio)
    app.router.add_route("*", "/{tail:.*}", twiml)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.base_url = str(server.make_url("")).rstrip("/")
    yield state
    state.never.set()
    await server.close()


@dataclass
class CarrierRig:
    carrier: VirtualCarrier
    clock: VirtualClock
    url: str

    def sync_client(self) -> Any:
        client = Client(SID, TOKEN)
        client.api.base_url = self.url
        return client

    async def settle(self) -> None:
        await asyncio.wait_for(self.clock.settle(), timeout=30)


@pytest.fixture
def carrier_settings() -> CarrierSettings:
    return CarrierSettings(account_sid=SID, auth_token=TOKEN, cps=None, personas=PersonaBook())


@pytest.fixture
async def rig(carrier_settings: CarrierSettings) -> AsyncIterator[CarrierRig]:
    clock = VirtualClock(T0)
    carrier = VirtualCarrier(carrier_settings, clock)
    server = TestServer(create_carrier_app(carrier), host="127.0.0.1")
    await server.start_server()
    yield CarrierRig(carrier=carrier, clock=clock, url=str(server.make_url("")).rstrip("/"))
    await carrier.close()
    await server.close()


@pytest.fixture
async def async_client(rig: CarrierRig) -> AsyncIterator[Any]:
    http = AsyncTwilioHttpClient()
    client = Client(SID, TOKEN, http_client=http)
    client.api.base_url = rig.url
    yield client
    await http.session.close()
