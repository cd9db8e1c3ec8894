"""Virtual carrier capacity: complete simulated calls per second on this machine.

The carrier runs as `outage-voice carrier-sim` in its own process (as it does beside a
server under test); this process hosts a trivial TwiML application and drives the calls.
Each call is a REST create (form POST, basic auth), a TwiML fetch and four signed status
callbacks (initiated, ringing, answered, completed; `--events` to change): six HTTP
exchanges on loopback. Real time, CPS unlimited, the far end answers at once.

Baseline, same run: bare HTTP round trips from this process to the trivial application at
the same concurrency, i.e. what one aiohttp process on loopback manages here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bench._common import command_line, machine_line

SID = "AC" + "b" * 32
TOKEN = "bench-token"
TWIML = "<Response><Hangup/></Response>"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_personas(folder: Path) -> Path:
    path = folder / "personas.json"
    path.write_text(json.dumps({"mix": [[1.0, {"behaviour": "human", "ring_s": 0}]]}))
    return path


async def wait_until_up(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(500):
            try:
                async with session.get(url):
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
    raise RuntimeError("carrier-sim did not start")


async def closed_loop(n: int, concurrency: int, one: object) -> float:
    assert callable(one)
    queue = iter(range(n))

    async def worker() -> None:
        for index in queue:
            await one(index)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def main(calls: int, concurrency: int, callback_events: list[str]) -> None:
    print(machine_line(command_line()))
    application = web.Application()

    async def twiml(_: web.Request) -> web.Response:
        return web.Response(text=TWIML, content_type="text/xml")

    finished: set[str] = set()
    all_done = asyncio.Event()

    async def status(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("CallStatus") == "completed":
            finished.add(str(form["CallSid"]))
            if len(finished) >= calls:
                all_done.set()
        return web.Response(status=204)

    application.router.add_post("/voice", twiml)
    application.router.add_post("/status", status)
    app_runner, app_url = await serve(application)

    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="ov-carrier-")) / "calls.jsonl"
    personas = write_personas(log_path.parent)
    carrier = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "outage_voice", "carrier-sim", "--port", str(port)),
        *("--account-sid", SID, "--auth-token", TOKEN, "--cps", "0"),
        *("--personas", str(personas), "--call-log", str(log_path)),
        stdout=asyncio.subprocess.DEVNULL,
    )
    carrier_url = f"http://127.0.0.1:{port}"
    await wait_until_up(carrier_url)
    create_url = f"{carrier_url}/2010-04-01/Accounts/{SID}/Calls.json"
    form = {
        "To": "+15125550100",
        "From": "+15125559999",
        "Url": f"{app_url}/voice",
        "StatusCallback": f"{app_url}/status",
    }
    events = [("StatusCallbackEvent", e) for e in callback_events]
    exchanges = 2 + len(callback_events)
    async with aiohttp.ClientSession(auth=None) as session:
        headers = {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}

        async def bare(_: int) -> None:
            async with session.post(f"{app_url}/voice", data={"CallSid": "x"}) as response:
                await response.read()

        async def call(_: int) -> None:
            async with session.post(
                create_url, data=[*form.items(), *events], headers=headers
            ) as response:
                assert response.status == 201, await response.text()

        await closed_loop(200, concurrency, bare)  # warm up
        baseline = await closed_loop(calls * exchanges, concurrency, bare)
        finished.clear()
        cpu_before = process_cpu_s(carrier.pid)
        started = time.perf_counter()
        await closed_loop(calls, concurrency, call)
        await all_done.wait()  # every call's completed callback has arrived
        elapsed = time.perf_counter() - started
        carrier_cpu = (process_cpu_s(carrier.pid) - cpu_before) / elapsed
    carrier.send_signal(signal.SIGTERM)
    await asyncio.wait_for(carrier.wait(), timeout=60)
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    completed = sum(1 for c in records if c["status"] == "completed")
    callbacks = sum(len(c["callbacks"]) for c in records)
    errors = sum(1 for c in records if c["error_code"])
    rate = calls / elapsed
    print(f"status callbacks per call: {', '.join(callback_events)}")
    print(
        f"calls: {calls}, concurrency {concurrency}; completed {completed}, "
        f"callbacks {callbacks}, errors {errors}"
    )
    print(f"baseline bare HTTP round trips: {baseline:>8,.0f}/s")
    per_s = rate * exchanges
    print(f"complete simulated calls:       {rate:>8,.0f}/s  ({per_s:,.0f} HTTP exchanges/s)")
    print(f"ratio HTTP exchanges in calls / bare round trips: {rate * exchanges / baseline:.2f}")
    print(
        f"carrier process CPU: {carrier_cpu:.0%} of one core; "
        f"its own capacity at 100% of a core: ~{rate / max(carrier_cpu, 1e-9):,.0f} calls/s"
    )
    await app_runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--events",
        default="initiated,ringing,answered,completed",
        help="status callback events per call (Twilio's default is only 'completed')",
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.concurrency, arguments.events.split(",")))
