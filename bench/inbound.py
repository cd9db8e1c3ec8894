"""The outage line under a storm: `serve` on a 100,000-customer database, against a bare
aiohttp + one primary-key lookup baseline measured in the same run.

Webhooks are what the carrier sends: signed `/twilio/voice` entries from random customers
(a tenth of feeders out) and `/twilio/menu` steps (repeat), half and half.

- Throughput, closed loop at saturation: `wrk` with C connections (C = 50, 200, 500), the
  same request mix against both servers; the figure is the ratio.
- Latency, open loop: a caller on the line sends a webhook every few seconds, so C callers
  are an arrival rate (C / CALLER_WEBHOOK_INTERVAL_S per second), sent on schedule whatever
  the server does; latency counts from the scheduled start. Also at higher named rates.

`--signatures` measures instead what checking webhook signatures costs: `serve` with the
check it ships (`ours`), with the twilio package's RequestValidator on every webhook
(`package`) and with the old hand-rolled check (`hand-rolled`, wrong on ports and shared keys),
one after the other on the same port and database, in alternating rounds; plus each check
alone, in process, over the same requests.

Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import aiohttp

from bench._common import (
    command_line,
    import_synthetic,
    machine_line,
    percentile,
    scratch_database,
)
from bench._serve_signature_check import CHECKS
from outage_voice.adapters.db.outages import PgOutageStore
from outage_voice.adapters.db.pool import open_pool
from outage_voice.adapters.twilio.signature import compute_signature
from outage_voice.config import VIRTUAL_AUTH_TOKEN
from outage_voice.domain.outages import parse_outage_state
from outage_voice.domain.phones import normalize_phone
from outage_voice.synthetic import SyntheticUtility

FEEDERS = 400
CALLER_WEBHOOK_INTERVAL_S = 4.0  # a caller listens a few seconds between webhooks
CALLER_COUNTS = (50, 200, 500)
EXTRA_RATES = (250, 500)
DISTINCT_REQUESTS = 4000
SIGNATURE_CONNECTIONS = 50
SIGNATURE_ROUNDS = 2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def webhooks(
    base_url: str, utility: SyntheticUtility, customers: int
) -> list[tuple[str, str, str]]:
    """(path, body, signature) for a mix of greeting and menu webhooks from random callers."""
    rng = random.Random(7)
    made = []
    for index in range(DISTINCT_REQUESTS):
        customer = rng.randrange(customers)
        phone = normalize_phone(utility.primary_phone_of(customer), "US")
        params = {
            "CallSid": f"CA{index:032x}",
            "From": phone,
            "To": "+15125550000",
            "CallStatus": "in-progress",
            "BenchAccount": str(100000000 + customer),
        }
        if index % 2 == 0:
            path = "/twilio/voice"
        else:
            path = "/twilio/menu?lang=en&repeat=1"
            params["Digits"] = "9"
        body = urlencode(params)
        made.append((path, body, compute_signature(VIRTUAL_AUTH_TOKEN, base_url + path, params)))
    return made


def wrk_script(requests: list[tuple[str, str, str]], folder: Path) -> Path:
    def lua(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    rows = ",\n".join(
        f"{{{lua(path)}, {lua(body)}, {lua(signature)}}}" for path, body, signature in requests
    )
    script = folder / "webhooks.lua"
    script.write_text(
        f"local requests = {{\n{rows}\n}}\n"
        "local counter = 0\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        "  local r = requests[(counter % #requests) + 1]\n"
        '  return wrk.format("POST", r[1], {["Content-Type"] = '
        '"application/x-www-form-urlencoded", ["X-Twilio-Signature"] = r[3]}, r[2])\n'
        "end\n"
    )
    return script


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> tuple[float, int]:
    """Requests per second and the count of non-2xx answers."""
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise SystemExit(f"wrk printed no rate:\n{output}")
    rate = float(found.group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    if errors:
        print(f"    wrk: {errors.group(0)}")
    return rate, int(bad.group(1)) if bad else 0


async def open_loop(
    url: str, requests: list[tuple[str, str, str]], rate: float, seconds: float
) -> tuple[list[float], int, float]:
    """Sends on a fixed schedule; latency from each request's scheduled start."""
    total = int(rate * seconds)
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter() + 0.05

        async def one(index: int) -> None:
            nonlocal failures
            scheduled = start + index / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            path, body, signature = requests[index % len(requests)]
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            }
            try:
                async with session.post(url + path, data=body, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 200:
                        failures += 1
            except aiohttp.ClientError:
                failures += 1
                return
            latencies.append(time.perf_counter() - scheduled)

        await asyncio.gather(*(one(i) for i in range(total)))
        elapsed = time.perf_counter() - start
    return latencies, failures, total / elapsed


async def warm(url: str, requests: list[tuple[str, str, str]], workers: int = 16) -> None:
    """Every request once, closed loop: the first call from an address makes its audio."""
    queue = list(reversed(requests))
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while queue:
                path, body, signature = queue.pop()
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                }
                async with session.post(url + path, data=body, headers=headers) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise SystemExit(f"warm-up got HTTP {answer.status} for {path}")

        await asyncio.gather(*(worker() for _ in range(workers)))


def start(arguments: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *arguments], env=env)


def profiler(pid: int, seconds: float, output: str) -> subprocess.Popen[bytes]:
    """py-spy's collapsed stacks of the server while the throughput runs: where it spends time."""
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen(
        [py_spy, "record", "--format", "raw", "-o", output, "-d", str(int(seconds)),
         "--pid", str(pid)],
    )  # fmt: skip


async def wait_ready(url: str, path: str, process: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(600):
            if process.poll() is not None:
                raise SystemExit(f"server exited early with {process.returncode}")
            try:
                async with session.get(url + path) as answer:
                    if answer.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


async def prepare(dsn: str, customers: int) -> SyntheticUtility:
    utility = SyntheticUtility(customers=customers, feeders=FEEDERS)
    async with open_pool(dsn) as pool:
        report = await import_synthetic(pool, utility)
        now = datetime.now(UTC)
        outages = PgOutageStore(pool)
        for number in range(FEEDERS // 10):
            state = parse_outage_state(
                {
                    "status": "crew_dispatched",
                    "cause": "storm damage",
                    "etr": (now + timedelta(hours=3)).isoformat(),
                    "feeder_ids": [utility.feeder_of(number)],
                },
                now=now,
            )
            await outages.upsert(f"STORM-{number}", state, actor="bench", now=now)
        await pool.execute("ANALYZE")
    print(f"database: {report.summary}; {FEEDERS // 10} feeder outages")
    return utility


def report(label: str, latencies: list[float], failures: int, achieved: float) -> None:
    ms = [value * 1000 for value in latencies]
    print(
        f"  {label:<34} {achieved:7.1f}/s  p50 {percentile(ms, 0.5):6.2f}  "
        f"p95 {percentile(ms, 0.95):6.2f}  p99 {percentile(ms, 0.99):6.2f} ms"
        f"  non-200: {failures}"
    )


def checks_in_process(app_url: str, requests: list[tuple[str, str, str]]) -> dict[str, float]:
    """Microseconds per check of each signature check over the same requests (best of 3)."""
    parsed = [(app_url + path, parse_qsl(body), sig) for path, body, sig in requests]
    costs = {}
    for name, is_valid in CHECKS.items():
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            for url, params, signature in parsed:
                if not is_valid(VIRTUAL_AUTH_TOKEN, url, params, signature, None):
                    raise SystemExit(f"{name} refused a signed webhook")
            best = min(best, time.perf_counter() - started)
        costs[name] = best / len(parsed) * 1e6
    return costs


async def compare_signature_checks(
    dsn: str, app_url: str, app_port: int, folder: Path, requests: list[tuple[str, str, str]],
    seconds: float,
) -> None:  # fmt: skip
    costs = checks_in_process(app_url, requests)
    print(f"signature check alone, in process ({len(requests)} webhooks, best of 3):")
    for name, cost in costs.items():
        print(f"  {name:<12} {cost:7.1f} us per webhook  ratio to ours {cost / costs['ours']:.2f}")
    script = wrk_script(requests, folder)
    env = os.environ | {
        "DATABASE_URL": dsn,
        "OUTAGE_VOICE_HOME": str(folder / "home"),
        "OUTAGE_VOICE_PUBLIC_URL": app_url,
    }
    serve = ["serve", "--host", "127.0.0.1", "--port", str(app_port)]
    rates: dict[str, list[float]] = {name: [] for name in CHECKS}
    print(
        f"serve, closed loop (wrk -t2 -c{SIGNATURE_CONNECTIONS}, {seconds:.0f} s each, "
        f"{SIGNATURE_ROUNDS} rounds, checks in turn):"
    )
    for round_number in range(SIGNATURE_ROUNDS):
        for name in CHECKS:
            app = start(["-m", "bench._serve_signature_check", name, *serve], env)
            try:
                await wait_ready(app_url, "/healthz", app)
                if not any(rates.values()):
                    await warm(app_url, requests)  # each address's audio, made once
                run_wrk(app_url, script, SIGNATURE_CONNECTIONS, 2)  # this process's memos
                rate, bad = run_wrk(app_url, script, SIGNATURE_CONNECTIONS, seconds)
            finally:
                stop(app)
            if bad:
                raise SystemExit(f"{name}: {bad} webhooks were not answered 2xx")
            rates[name].append(rate)
            print(f"  round {round_number + 1}  {name:<12} {rate:8.0f}/s")
    ours = sum(rates["ours"]) / len(rates["ours"])
    for name, measured in rates.items():
        mean = sum(measured) / len(measured)
        print(f"  {name:<12} mean {mean:8.0f}/s  ratio to ours {mean / ours:.2f}")


async def main(
    customers: int, seconds: float, latency_seconds: float, profile: str | None, signatures: bool
) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench/inbound.py needs wrk (Debian: apt-get install wrk)")
    print(machine_line(command_line()))
    async with scratch_database("ov_bench_inbound") as dsn:
        utility = await prepare(dsn, customers)
        if signatures:
            with tempfile.TemporaryDirectory(prefix="ov-inbound-") as folder:
                app_port = free_port()
                app_url = f"http://127.0.0.1:{app_port}"
                requests = webhooks(app_url, utility, customers)
                await compare_signature_checks(
                    dsn, app_url, app_port, Path(folder), requests, seconds
                )
            return
        with tempfile.TemporaryDirectory(prefix="ov-inbound-") as folder:
            app_port, base_port = free_port(), free_port()
            app_url, base_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{base_port}"
            requests = webhooks(app_url, utility, customers)
            script = wrk_script(requests, Path(folder))
            env = os.environ | {
                "DATABASE_URL": dsn,
                "OUTAGE_VOICE_HOME": str(Path(folder) / "home"),
                "OUTAGE_VOICE_PUBLIC_URL": app_url,
            }
            app = start(
                ["-m", "outage_voice", "serve", "--host", "127.0.0.1", "--port", str(app_port)],
                env,
            )
            baseline = start(
                ["-m", "bench._baseline_server", "--dsn", dsn, "--port", str(base_port)]
            )
            try:
                await wait_ready(app_url, "/healthz", app)
                await wait_ready(base_url, "/", baseline)
                # Prompt audio for each caller's address is made on the first call and cached;
                # one pass over the request set first so both columns measure steady state.
                warm_s = time.perf_counter()
                await warm(app_url, requests)
                print(f"warm-up: {len(requests)} webhooks in {time.perf_counter() - warm_s:.1f} s")
                run_wrk(base_url, script, 50, 3)
                print(f"throughput, closed loop (wrk -t2, {seconds:.0f} s each):")
                spy = None if profile is None else profiler(app.pid, seconds * 6, profile)
                for connections in CALLER_COUNTS:
                    base_rate, base_bad = run_wrk(base_url, script, connections, seconds)
                    rate, bad = run_wrk(app_url, script, connections, seconds)
                    print(
                        f"  {connections:>3} connections: baseline {base_rate:8.0f}/s  "
                        f"outage line {rate:8.0f}/s  ratio {rate / base_rate:.2f}  "
                        f"non-2xx {base_bad}/{bad}"
                    )
                if spy is not None:
                    spy.wait()
                print(f"latency, open loop ({latency_seconds:.0f} s each, from scheduled start):")
                rates = [(f"{c} callers", c / CALLER_WEBHOOK_INTERVAL_S) for c in CALLER_COUNTS]
                rates += [(f"{r} webhooks/s", float(r)) for r in EXTRA_RATES]
                for label, rate in rates:
                    lat, failures, achieved = await open_loop(
                        base_url, requests, rate, latency_seconds
                    )
                    report(f"baseline, {label}", lat, failures, achieved)
                    lat, failures, achieved = await open_loop(
                        app_url, requests, rate, latency_seconds
                    )
                    report(f"outage line, {label}", lat, failures, achieved)
            finally:
                stop(app)
                stop(baseline)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--profile", help="write py-spy collapsed stacks of the server here")
    parser.add_argument(
        "--signatures", action="store_true", help="only compare webhook signature checks"
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.customers,
            arguments.seconds,
            arguments.latency_seconds,
            arguments.profile,
            arguments.signatures,
        )
    )
