"""Kill the server (SIGKILL) mid-campaign, start it again: every target finishes and nobody
is called twice. Real processes, real time, a separate virtual carrier."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.domain.outages import parse_outage_state
from outage_voice.web.campaign_json import parse_campaign_spec
from tests.integration.test_server import free_port
from tests.support import T0, cli, cli_env, csv_text

SID = "AC" + "1" * 32
TOKEN = "crash-test-token"
TARGETS = 60


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cli(*args), env=env, stdout=out, stderr=subprocess.STDOUT)


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float = 90) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - polling another process
            await asyncio.sleep(0.2)


class CrashRig:
    """A separate carrier-sim and a `serve` process on one database, and a session to both:
    what each crash test needs to place calls, kill the server and look at what happened."""

    def __init__(
        self, session: aiohttp.ClientSession, *, database_dsn: str, token: str, tmp_path: Path
    ) -> None:
        self.session = session
        carrier_port, self.server_port = free_port(), free_port()
        self.carrier_url = f"http://127.0.0.1:{carrier_port}"
        self.server_url = f"http://127.0.0.1:{self.server_port}"
        self.log = tmp_path / "processes.log"
        self.carrier_port = carrier_port
        self.env = cli_env(
            DATABASE_URL=database_dsn,
            OUTAGE_VOICE_HOME=str(tmp_path / "home"),
            OUTAGE_VOICE_PUBLIC_URL=self.server_url,
            TWILIO_ACCOUNT_SID=SID,
            TWILIO_AUTH_TOKEN=TOKEN,
            TWILIO_FROM_NUMBER="+15125550000",
            OUTAGE_VOICE_TWILIO_API_URL=self.carrier_url,
        )
        self.headers = {"Authorization": f"Bearer {token}"}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.carrier: subprocess.Popen[bytes] | None = None

    def start_carrier(self, *args: str) -> None:
        port = str(self.carrier_port)
        command = ["carrier-sim", "--auth-token", TOKEN, "--account-sid", SID, "--port", port]
        self.carrier = _start([*command, "--cps", "0", *args], cli_env(), self.log)
        self.processes.append(self.carrier)

    def launch_server(self) -> None:
        self.server = _start(["serve", "--port", str(self.server_port)], self.env, self.log)
        self.processes.append(self.server)

    async def server_up(self) -> None:
        async def up() -> bool:
            try:
                async with self.session.get(f"{self.server_url}/healthz") as answer:
                    return answer.status == 200
            except aiohttp.ClientError:
                return False

        await _until(up)

    async def carrier_up(self) -> None:
        """The carrier listens (any answer will do): on a busy machine it may start after
        the server, and the test reads its call log from the first call on."""

        async def listening() -> bool:
            try:
                async with self.session.get(self.carrier_url):
                    return True
            except aiohttp.ClientError:
                return False

        await _until(listening)

    async def start_server(self) -> None:
        if self.carrier is not None:
            await self.carrier_up()
        self.launch_server()
        await self.server_up()

    def kill_server(self) -> None:
        os.kill(self.server.pid, signal.SIGKILL)
        self.server.wait(timeout=10)

    async def start_campaign(self, body: dict[str, object]) -> int:
        url = f"{self.server_url}/api/v1/campaigns"
        async with self.session.post(url, json=body, headers=self.headers) as answer:
            campaign: int = (await answer.json())["id"]
        async with self.session.post(f"{url}/{campaign}/start", headers=self.headers) as answer:
            assert answer.status == 200
        return campaign

    async def completed(self, campaign: int) -> bool:
        url = f"{self.server_url}/api/v1/campaigns/{campaign}?fresh=1"
        async with self.session.get(url, headers=self.headers) as answer:
            return bool((await answer.json())["state"] == "completed")

    async def carrier_calls(self) -> list[dict[str, str]]:
        url = f"{self.carrier_url}/2010-04-01/Accounts/{SID}/Calls.json?PageSize=1000"
        auth = {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}
        async with self.session.get(url, headers=auth) as answer:
            calls: list[dict[str, str]] = (await answer.json())["calls"]
            return calls

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)


async def test_sigkill_mid_campaign_loses_no_target_and_calls_nobody_twice(
    database_dsn: str, services: Services, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    rows = [f"3{i:03d},C {i},512-557-{i:04d},,R{i},{i} Mill Road,F3,," for i in range(TARGETS)]
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text(*rows))
    await services.customers.import_file(customers)
    await services.outages.put(
        "CRASH",
        parse_outage_state({"status": "confirmed", "feeder_ids": ["F3"]}, now=T0),
        actor="t",
    )
    token = await services.tokens.create(role=Role.SUPERVISOR, name="crash")
    personas = tmp_path / "personas.json"
    personas.write_text(json.dumps({"mix": [[1, {"behaviour": "hangup", "hangup_after_s": 1}]]}))
    async with aiohttp.ClientSession() as session:
        rig = CrashRig(session, database_dsn=database_dsn, token=token, tmp_path=tmp_path)
        try:
            rig.start_carrier("--personas", str(personas))
            await rig.start_server()
            body = {
                "name": "crash",
                "kind": "outage_ack",
                "urgent": True,
                "audience": {"outage_id": "CRASH"},
                "pacing": {"cps": 8, "max_concurrent": 100},
            }
            campaign = await rig.start_campaign(body)

            async def some_placed() -> bool:
                return len(await rig.carrier_calls()) >= 15

            await _until(some_placed)
            rig.kill_server()  # mid-campaign, calls in flight
            placed_before_crash = len(await rig.carrier_calls())
            assert placed_before_crash < TARGETS
            await rig.start_server()
            await _until(lambda: rig.completed(campaign), timeout_s=120)
            calls = await rig.carrier_calls()
        finally:
            rig.stop()
    called = [call["to"] for call in calls]
    assert len(called) == TARGETS, rig.log.read_text()[-3000:]
    assert len(set(called)) == TARGETS  # nobody called twice
    done = await pool.fetchval(
        "SELECT count(*) FROM campaign_targets WHERE state = 'done' AND outcome = 'reached'"
    )
    assert done == TARGETS
    assert await pool.fetchval("SELECT count(*) FROM call_attempts WHERE ended_at IS NULL") == 0


SLOW_TARGETS = 400
SETTLE_AFTER_RESTART_S = 60.0


async def test_two_crashes_while_the_carrier_is_slow_to_answer_settle_within_a_minute(
    database_dsn: str, services: Services, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    """The carrier answers each call creation 250 ms late, so a kill leaves calls placed
    whose ids the server never learnt: the next leader finds and adopts them. Their callbacks
    (and those of every call live at the kill) went to no one while the server was down, so
    each is asked about at the takeover: the campaign ends within a minute of the last
    restart, not when the 5-minute sweep for silent calls comes round."""
    rows = [f"4{i:03d},C {i},512-558-{i:04d},,S{i},{i} Mill Road,F4,," for i in range(SLOW_TARGETS)]
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text(*rows))
    await services.customers.import_file(customers)
    await services.outages.put(
        "SLOW", parse_outage_state({"status": "confirmed", "feeder_ids": ["F4"]}, now=T0), actor="t"
    )
    token = await services.tokens.create(role=Role.SUPERVISOR, name="crash")
    personas = tmp_path / "personas.json"
    # Short calls: those live at a kill are over before the server is back.
    persona = {"behaviour": "hangup", "hangup_after_s": 0.5, "ring_s": 0.5}
    personas.write_text(json.dumps({"mix": [[1, persona]]}))
    async with aiohttp.ClientSession() as session:
        rig = CrashRig(session, database_dsn=database_dsn, token=token, tmp_path=tmp_path)
        try:
            rig.start_carrier("--personas", str(personas), "--create-delay-s", "0.25")
            await rig.start_server()

            async def placed_at_least(count: int) -> None:
                async def enough() -> bool:
                    return len(await rig.carrier_calls()) >= count

                await _until(enough, timeout_s=60)

            async def all_over() -> bool:
                return all(c["status"] == "completed" for c in await rig.carrier_calls())

            body = {
                "name": "slow carrier",
                "kind": "outage_ack",
                "urgent": True,
                "audience": {"outage_id": "SLOW"},
                "pacing": {"cps": 20, "max_concurrent": 400},
            }
            campaign = await rig.start_campaign(body)
            kills = 0
            for count in (80, 40):
                await placed_at_least(len(await rig.carrier_calls()) + count)
                rig.kill_server()  # creations under way, calls live
                kills += 1
                await _until(all_over, timeout_s=30)  # their callbacks went to no one
                rig.launch_server()
                restarted = asyncio.get_running_loop().time()
                await rig.server_up()
            assert kills == 2
            await _until(lambda: rig.completed(campaign), timeout_s=SETTLE_AFTER_RESTART_S + 10)
            settled_s = asyncio.get_running_loop().time() - restarted
            calls = await rig.carrier_calls()
        finally:
            rig.stop()
    log = rig.log.read_text()
    assert settled_s < SETTLE_AFTER_RESTART_S, (settled_s, log[-3000:])
    called = [call["to"] for call in calls]
    assert len(called) == SLOW_TARGETS, log[-3000:]
    assert len(set(called)) == SLOW_TARGETS  # nobody called twice
    # The kills did catch creations the server never heard back about.
    assert "was placed before a restart: adopted" in log
    done = await pool.fetchval(
        "SELECT count(*) FROM campaign_targets WHERE state = 'done' AND outcome = 'reached'"
    )
    assert done == SLOW_TARGETS
    assert await pool.fetchval("SELECT count(*) FROM call_attempts WHERE ended_at IS NULL") == 0


async def test_sigterm_ends_the_built_in_carrier_s_calls_and_leaves_none_live(
    database_dsn: str, services: Services, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    """A trial server on the built-in virtual carrier, stopped mid-campaign with SIGTERM: the
    calls it carried end with it, their final callbacks applied, so none stays live."""
    rows = [f"5{i:03d},C {i},512-559-{i:04d},,T{i},{i} Elm Road,F5,," for i in range(TARGETS)]
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text(*rows))
    await services.customers.import_file(customers)
    await services.outages.put(
        "TERM", parse_outage_state({"status": "confirmed", "feeder_ids": ["F5"]}, now=T0), actor="t"
    )
    port = free_port()
    server_url = f"http://127.0.0.1:{port}"
    env = cli_env(
        DATABASE_URL=database_dsn,
        OUTAGE_VOICE_HOME=str(tmp_path / "home"),
        OUTAGE_VOICE_PUBLIC_URL=server_url,
    )
    log = tmp_path / "server.log"
    server = _start(["serve", "--port", str(port)], env, log)
    try:
        async with aiohttp.ClientSession() as session:

            async def up() -> bool:
                try:
                    async with session.get(f"{server_url}/healthz") as answer:
                        return answer.status == 200
                except aiohttp.ClientError:
                    return False

            await _until(up)
            spec = parse_campaign_spec(
                {
                    "name": "term",
                    "kind": "outage_ack",
                    "urgent": True,
                    "audience": {"outage_id": "TERM"},
                    "pacing": {"cps": 10, "max_concurrent": 100},
                }
            )
            created = await services.campaigns.create(spec, actor="test")
            await services.campaigns.act(created["id"], "start")

            async def answered_and_ringing() -> bool:
                counts = await pool.fetchrow(
                    "SELECT count(*) FILTER (WHERE status = 'in-progress') AS answered,"
                    " count(*) FILTER (WHERE status = 'queued') AS ringing"
                    " FROM call_attempts WHERE ended_at IS NULL"
                )
                return bool(counts["answered"] >= 2 and counts["ringing"] >= 2)

            await _until(answered_and_ringing, timeout_s=30)
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    text = log.read_text()
    assert "live call(s) ended at shutdown" in text, text[-3000:]
    live = await pool.fetch("SELECT id, status FROM call_attempts WHERE ended_at IS NULL")
    assert not live, (live, text[-3000:])
    ended = await pool.fetch(
        "SELECT a.status, t.state, t.outcome FROM call_attempts a"
        " JOIN campaign_targets t ON t.id = a.target_id WHERE a.call_sid IS NOT NULL"
    )
    assert {row["status"] for row in ended} <= {"completed", "failed"}
    cut_short = [row for row in ended if row["status"] == "failed"]
    assert cut_short
    assert all((r["state"], r["outcome"]) == ("pending", "failed") for r in cut_short)
