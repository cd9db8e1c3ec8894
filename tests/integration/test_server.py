"""The CLI as an operator runs it: serve, SIGTERM, tokens, a database that goes away."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.adapters.db.admin import drop_database
from outage_voice.domain.auth import Role, token_hash
from tests.support import cli, cli_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_healthy(url: str, process: subprocess.Popen[Any], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert process.poll() is None, "server exited early"
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)  # polling a child process's readiness, not waiting for time
    raise AssertionError("server did not become healthy")


async def test_serve_answers_and_stops_cleanly_on_sigterm(database_dsn: str) -> None:
    port = free_port()
    process = subprocess.Popen(
        cli("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=cli_env(DATABASE_URL=database_dsn),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_token_create_prints_a_working_token_once(database_dsn: str) -> None:
    result = subprocess.run(
        cli("token", "create", "--role", "oms", "--name", "feed"),
        env=cli_env(DATABASE_URL=database_dsn),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("ov_") and len(token) > 40
    connection = await asyncpg.connect(database_dsn)
    try:
        row = await connection.fetchrow("SELECT name, role, token_hash FROM api_tokens")
    finally:
        await connection.close()
    assert (row["name"], row["role"]) == ("feed", Role.OMS.value)
    assert row["token_hash"] == token_hash(token)
    assert token not in row["token_hash"]


async def test_health_and_api_report_a_database_that_went_away(
    api: TestClient[web.Request, web.Application],
    tokens: dict[Role, dict[str, str]],
    database_dsn: str,
    admin_dsn: str,
) -> None:
    assert (await api.get("/healthz")).status == 200
    await drop_database(admin_dsn, urlsplit(database_dsn).path.lstrip("/"))
    health = await api.get("/healthz")
    assert health.status == 503
    response = await api.get("/api/v1/outages/O1", headers=tokens[Role.VIEWER])
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "database_unavailable"
