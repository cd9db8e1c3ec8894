"""`outage-voice carrier-sim --webhook-shared-key`: webhooks signed as a Twilio Webhooks rule
signs them, checked here by the twilio package itself."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client

from outage_voice.adapters.twilio.signature import SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER
from tests.integration.test_server import free_port
from tests.support import cli, cli_env

SID = "AC" + "3" * 32
TOKEN = "carrier-auth-token"
SHARED_KEY = "carrier-shared-key-0123456789"


@dataclass
class Received:
    base_url: str = ""
    algorithms: list[str] = field(default_factory=list)
    by_shared_key: list[bool] = field(default_factory=list)
    by_token: list[bool] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)


@pytest.fixture
async def received() -> AsyncIterator[Received]:
    state = Received()

    async def webhook(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        signature = request.headers.get(SIGNATURE_HEADER, "")
        url = str(request.url)
        state.algorithms.append(algorithm)
        state.by_shared_key.append(
            RequestValidator(SHARED_KEY).validate(url, form, signature, algorithm)
        )
        state.by_token.append(RequestValidator(TOKEN).validate(url, form, signature))
        if "CallStatus" in form and request.path == "/status":
            state.statuses.append(form["CallStatus"])
            return web.Response(status=204)
        return web.Response(text="<Response><Say>Signed.</Say></Response>", content_type="text/xml")

    app = web.Application()
    app.router.add_post("/{tail:.*}", webhook)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.base_url = str(server.make_url("")).rstrip("/")
    yield state
    await server.close()


@pytest.mark.parametrize("algorithm", ["HMAC_SHA256", "HMAC_SHA1"])
async def test_carrier_sim_signs_with_a_shared_key(
    received: Received, tmp_path: Path, algorithm: str
) -> None:
    personas = tmp_path / "personas.json"
    personas.write_text(json.dumps({"mix": [[1, {"behaviour": "human", "ring_s": 0}]]}))
    port = free_port()
    process = subprocess.Popen(
        cli(
            "carrier-sim",
            "--port",
            str(port),
            "--account-sid",
            SID,
            "--auth-token",
            TOKEN,
            "--cps",
            "0",
            "--personas",
            str(personas),
            "--webhook-shared-key",
            SHARED_KEY,
            "--signature-algorithm",
            algorithm,
        ),
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(base):
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)  # polling a child's readiness, not waiting for time
        client = Client(SID, TOKEN)
        client.api.base_url = base
        await asyncio.to_thread(
            lambda: client.calls.create(
                to="+15125550100",
                from_="+15125559999",
                url=f"{received.base_url}/voice",
                status_callback=f"{received.base_url}/status",
            )
        )
        for _ in range(500):
            if "completed" in received.statuses:
                break
            await asyncio.sleep(0.02)  # the call runs on real time in the child process
        assert "completed" in received.statuses
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert set(received.algorithms) == {algorithm}
    assert all(received.by_shared_key)
    assert not any(received.by_token)
