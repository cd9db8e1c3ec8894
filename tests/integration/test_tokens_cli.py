"""`outage-voice token list` and `token revoke` as an operator runs them."""

from __future__ import annotations

import subprocess

from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role, token_hash
from tests.support import cli, cli_env, run_cli


def run(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["token", *args], env=cli_env(DATABASE_URL=dsn))


def run_process(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli("token", *args),
        env=cli_env(DATABASE_URL=dsn),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_tokens_are_listed_without_secrets_and_a_revoked_one_is_refused(
    api: TestClient[web.Request, web.Application], services: Services, database_dsn: str
) -> None:
    feed = await services.tokens.create(role=Role.OMS, name="oms feed")
    watch = await services.tokens.create(role=Role.VIEWER, name="wallboard")
    twin_a = await services.tokens.create(role=Role.VIEWER, name="twin")
    await services.tokens.create(role=Role.VIEWER, name="twin")
    headers = {"Authorization": f"Bearer {feed}"}
    assert (await api.get("/api/v1/outages?active=true", headers=headers)).status == 200

    listed = run_process(database_dsn, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "ROLE", "CREATED", "LAST", "USED"]
    feed_line = next(line for line in lines if "oms feed" in line)
    assert " oms " in feed_line and "never" not in feed_line  # its use was recorded
    assert feed_line.count("2026-11-23 18:00:00Z") == 2  # created and last used, on the clock
    assert next(line for line in lines if "wallboard" in line).endswith("never")
    for secret in (feed, watch, twin_a, token_hash(feed), token_hash(watch)):
        assert secret not in listed.stdout

    revoked = run(database_dsn, "revoke", "oms feed")
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked token 1 'oms feed' (oms)" in revoked.stdout
    refused = await api.get("/api/v1/outages?active=true", headers=headers)
    assert refused.status == 401
    assert "revoked" in (await refused.json())["error"]["message"]
    still = await api.get(
        "/api/v1/outages?active=true", headers={"Authorization": f"Bearer {watch}"}
    )
    assert still.status == 200

    by_id = run(database_dsn, "revoke", "2")
    assert by_id.returncode == 0 and "'wallboard'" in by_id.stdout
    ambiguous = run(database_dsn, "revoke", "twin")
    assert ambiguous.returncode == 1
    assert "2 live tokens are named 'twin' (ids 3, 4): revoke by id" in ambiguous.stderr
    again = run(database_dsn, "revoke", "oms feed")
    assert again.returncode == 1 and "not found" in again.stderr

    remaining = run(database_dsn, "list").stdout
    assert "oms feed" not in remaining and "wallboard" not in remaining and "twin" in remaining
    everything = run(database_dsn, "list", "--all").stdout
    assert "REVOKED" in everything.splitlines()[0] and "oms feed" in everything
