"""`serve` tells the operator at start when the outage line cannot transfer a hazard call."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_server import free_port, wait_healthy
from tests.support import cli, cli_env


async def _serve_log(dsn: str, home: Path, **environ: str) -> str:
    port = free_port()
    process = subprocess.Popen(
        cli("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=cli_env(DATABASE_URL=dsn, OUTAGE_VOICE_HOME=str(home), **environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_healthy(f"http://127.0.0.1:{port}/healthz", process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    return stderr


@pytest.mark.parametrize(
    ("environ", "number"),
    [({}, "911"), ({"OUTAGE_VOICE_REGION": "GB"}, "999")],
)
async def test_serve_warns_that_hazard_transfers_are_off(
    database_dsn: str, tmp_path: Path, environ: dict[str, str], number: str
) -> None:
    stderr = await _serve_log(database_dsn, tmp_path, **environ)
    (warning,) = [line for line in stderr.splitlines() if "hazard transfers are off" in line]
    assert " WARNING " in warning
    assert "OUTAGE_VOICE_EMERGENCY_NUMBER is unset" in warning
    assert f"hang up and call {number}" in warning


async def test_serve_is_quiet_about_hazards_when_it_can_transfer(
    database_dsn: str, tmp_path: Path
) -> None:
    stderr = await _serve_log(
        database_dsn, tmp_path, OUTAGE_VOICE_EMERGENCY_NUMBER="(512) 555-0911"
    )
    assert "hazard transfers are off" not in stderr
