"""`outage-voice carrier-sim` as an operator runs it."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path

import aiohttp
from twilio.rest import Client

from tests.carrier.conftest import Application
from tests.integration.test_server import free_port
from tests.support import cli, cli_env

SID = "AC" + "2" * 32


async def test_carrier_sim_places_calls_and_writes_its_log(
    application: Application, tmp_path: Path
) -> None:
    personas = tmp_path / "personas.json"
    personas.write_text(json.dumps({"mix": [[1, {"behaviour": "human", "ring_s": 0}]]}))
    log = tmp_path / "calls.jsonl"
    port = free_port()
    process = subprocess.Popen(
        cli(
            "carrier-sim",
            "--port",
            str(port),
            "--account-sid",
            SID,
            "--auth-token",
            "tok",
            "--cps",
            "0",
            "--personas",
            str(personas),
            "--call-log",
            str(log),
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
        application.documents["/voice"] = "<Response><Say>Standalone.</Say></Response>"
        client = Client(SID, "tok")
        client.api.base_url = base
        created = await asyncio.to_thread(
            lambda: client.calls.create(
                to="+15125550100",
                from_="+15125559999",
                url=application.url("/voice"),
                status_callback=application.url("/status"),
            )
        )
        for _ in range(500):
            if application.callbacks:
                break
            await asyncio.sleep(0.02)  # the call runs on real time in the child process
        assert application.callbacks[-1]["CallStatus"] == "completed"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        (record,) = [json.loads(line) for line in log.read_text().splitlines()]
        assert record["sid"] == created.sid
        assert record["transcript"][0]["text"] == "Standalone."
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_carrier_sim_refuses_a_bad_persona_file(tmp_path: Path) -> None:
    personas = tmp_path / "p.json"
    personas.write_text('{"mix": [[1, {"behaviour": "grumpy"}]]}')
    result = subprocess.run(
        cli("carrier-sim", "--auth-token", "t", "--personas", str(personas)),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "behaviour must be one of" in result.stderr
