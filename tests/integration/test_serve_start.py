"""`serve` as an operator starts and stops it: what it says, where it listens, what the
carrier is told to call back, and a port already taken."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from outage_voice.bootstrap import Services
from outage_voice.web.campaign_json import parse_campaign_spec
from tests.integration.test_server import free_port, wait_healthy
from tests.support import cli, cli_env, csv_text

PASSWORD = "hunter2-not-for-logs"  # the trust-auth test server ignores it


def with_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    user, _, host = parts.netloc.rpartition("@")
    user = user.split(":")[0] or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@{host}"))


def start_serve(port: int, env: dict[str, str]) -> subprocess.Popen[Any]:
    return subprocess.Popen(
        cli("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=cli_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[Any]) -> str:
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return str(stderr)


async def test_serve_says_what_it_runs_on_and_when_it_drains_and_stops(
    database_dsn: str,
) -> None:
    port = free_port()
    process = start_serve(port, {"DATABASE_URL": with_password(database_dsn)})
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        stderr = stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()  # reaps it and closes its pipes
    lines = stderr.splitlines()

    def one(start: str) -> str:
        found = [line for line in lines if f"outage_voice: {start}" in line]
        assert len(found) == 1, (start, stderr)
        return found[0]

    assert one("listening on").endswith(f"listening on http://127.0.0.1:{port}")
    assert f"public URL: http://127.0.0.1:{port} (OUTAGE_VOICE_PUBLIC_URL is unset" in one(
        "public URL:"
    )
    assert ":***@" in one("database:")
    assert "built-in virtual carrier" in one("carrier:")
    assert "espeak-ng" in one("text-to-speech:")
    unset = one("optional numbers unset:")
    assert "OUTAGE_VOICE_EMERGENCY_NUMBER" in unset and "OUTAGE_VOICE_AGENT_NUMBER" in unset
    assert "draining" in one("stop requested:")
    assert one("stopped")
    assert lines.index(one("stop requested:")) < lines.index(one("stopped"))
    assert PASSWORD not in stderr
    assert "Traceback" not in stderr


async def test_serve_masks_the_account_sid_and_keeps_a_configured_public_url(
    database_dsn: str,
) -> None:
    port = free_port()
    sid = "AC" + "0123456789abcdef" * 2
    process = start_serve(
        port,
        {
            "DATABASE_URL": database_dsn,
            "OUTAGE_VOICE_PUBLIC_URL": "https://ivr.example.com",
            "TWILIO_ACCOUNT_SID": sid,
            "TWILIO_AUTH_TOKEN": "not-a-real-token",
            "TWILIO_FROM_NUMBER": "+15125550199",
            "OUTAGE_VOICE_TWILIO_API_URL": "http://127.0.0.1:9",
            "OUTAGE_VOICE_AGENT_NUMBER": "+15125550123",
        },
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        stderr = stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()  # reaps it and closes its pipes
    assert "public URL: https://ivr.example.com (OUTAGE_VOICE_PUBLIC_URL)" in stderr
    assert "carrier: Twilio account AC01…cdef" in stderr
    assert sid not in stderr and "not-a-real-token" not in stderr
    assert "optional numbers unset: OUTAGE_VOICE_EMERGENCY_NUMBER\n" in stderr


def test_a_port_in_use_is_one_line_and_exit_status_2(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            cli("serve", "--host", "127.0.0.1", "--port", str(port)),
            env=cli_env(OUTAGE_VOICE_HOME=str(tmp_path / "home")),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"outage-voice: cannot listen on 127.0.0.1:{port}: the address is already in use "
        "(another server? choose another --port)"
    )


async def test_serve_on_a_chosen_port_gets_the_carrier_s_callbacks_on_that_port(
    database_dsn: str, services: Services, tmp_path: Path
) -> None:
    """OUTAGE_VOICE_PUBLIC_URL unset, `--port P`: the built-in carrier fetches the call's
    TwiML and posts its status to port P, so the call is answered and reported."""
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text("1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,"))
    await services.customers.import_file(customers)
    port = free_port()
    process = start_serve(port, {"DATABASE_URL": database_dsn})
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        spec = parse_campaign_spec(
            {
                "name": "port check",
                "kind": "custom",
                "audience": {"accounts": ["1001"]},
                "message": {"text": "Crews are out tonight."},
                # Open whatever the hour: the server runs on the real clock, and 21:00 in
                # Austin would otherwise close the default 08:00-21:00 window on this test.
                "window": "24h",
            }
        )
        view = await services.campaigns.create(spec, actor="test")
        await services.campaigns.act(view["id"], "start")
        # Answered: the carrier fetched the call's TwiML from port P and posted its "answered"
        # status there. (The call itself then plays out in real time, menu repeats and all,
        # for the better part of a minute: nothing more about the port to learn from it.)
        async with asyncio.timeout(60):
            while True:
                answered = await services.pool.fetchrow(
                    "SELECT status, answered_by, call_sid FROM call_attempts"
                    " WHERE campaign_id = $1 AND status IN ('in-progress', 'completed')",
                    view["id"],
                )
                if answered is not None:
                    break
                await asyncio.sleep(0.2)  # polling a server in another process
        stop(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()  # reaps it and closes its pipes
    assert answered["call_sid"], answered
    assert answered["answered_by"] in ("human", None), answered
