"""The outage line under a storm: `serve` on a 100,000-customer database, against a bare
aiohttp + one primary-key lookup baseline measured in the same run.

The customers are imported the way an operator does it (`outage-voice import-customers`,
which speaks every street ahead, after `outage-voice prompts warm`), with 400 streets and
house numbers up to 20,000 so nearly every customer has an address of their own. A tenth of
feeders are out.

Goals (the default run), each `wrk -t2 -c64` on signed `/twilio/voice` webhooks, the same
requests against both servers, the figure being the ratio:
- warm: callers whose audio exists (a pass over them first, fetching each <Play> as the
  carrier would);
- cold: thousands of distinct first-time callers whose addresses were never spoken (each
  wrk thread takes every other caller; the run says if it ran out of new ones);
- open loop at OPEN_LOOP_RATE webhooks/s of other first-time callers, sent on schedule
  whatever the server does; latency counts from the scheduled start.
Then how fast the first-time callers' audio is made when the carrier fetches it.

`--mixed` adds the earlier mixed load: webhooks half `/twilio/voice`, half `/twilio/menu`
steps, closed loop at C connections (C = 50, 200, 500), and open loop with a caller on the
line sending a webhook every few seconds (C callers are C / CALLER_WEBHOOK_INTERVAL_S per
second), and at higher named rates.

`--signatures` measures instead what checking webhook signatures costs: `serve` with the
check it ships (`ours`), with the twilio package's RequestValidator on every webhook
(`package`) and with the old hand-rolled check (`hand-rolled`, wrong on ports and shared keys),
one after the other on the same port and database, in alternating rounds; plus each check
alone, in process, over the same requests.

`--metrics` measures what the Prometheus metrics cost on the webhook path: `serve` as shipped
(`on`: every webhook timed, services counting) and with the timing middleware taken out and
every instrument a no-op (`off`), one after the other on the same port and database, in
alternating rounds (METRICS_ROUNDS), with the server's CPU per webhook.

Needs `wrk` (Debian and Ubuntu: `apt-get install wrk`; macOS: `brew install wrk`).
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
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import aiohttp

from bench._common import (
    command_line,
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
from outage_voice.services.metrics import Metrics
from outage_voice.synthetic import SyntheticUtility

FEEDERS = 400
CALLER_WEBHOOK_INTERVAL_S = 4.0  # a caller listens a few seconds between webhooks
CALLER_COUNTS = (50, 200, 500)
EXTRA_RATES = (250, 500)
DISTINCT_REQUESTS = 4000
GOAL_CONNECTIONS = 64
WRK_THREADS = 2
WARM_CALLERS = 2000
# First-time callers for the closed-loop cold run: more than wrk sends in its seconds.
COLD_CALLERS = 30_000
OPEN_LOOP_RATE = 500.0
AUDIO_FETCHES = 1000
STREET_NAMES = (
    "Oak", "Maple", "Cedar", "Pecan", "Elm", "Mesquite", "Live Oak", "Bluebonnet", "Riverside",
    "Hill Country", "Juniper", "Willow", "Sycamore", "Magnolia", "Post Oak", "Hackberry",
    "Cypress", "Redbud", "Agarita", "Yucca", "Sotol", "Brazos", "Pedernales", "Llano",
    "San Saba", "Guadalupe", "Comal", "Blanco", "Colorado", "Lampasas", "Bastrop", "Manor",
    "Pflugerville", "Round Rock", "Cedar Park", "Leander", "Liberty Hill", "Georgetown",
    "Jarrell", "Salado",
)  # fmt: skip
STREET_KINDS = (
    "Street", "Avenue", "Lane", "Drive", "Road", "Trail", "Way", "Boulevard", "Court", "Loop",
)  # fmt: skip
STREETS = tuple(f"{name} {kind}" for name in STREET_NAMES for kind in STREET_KINDS)
HOUSE_NUMBERS = 20_000
SIGNATURE_CONNECTIONS = 50
SIGNATURE_ROUNDS = 2
METRICS_ROUNDS = 3
METRICS_MODES = ("off", "on")


def cpu_s(pid: int) -> float:
    """CPU seconds a process has used (all its threads): per webhook, steadier than rates on
    a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(
    url: str, script: Path, connections: int, seconds: float, pid: int
) -> tuple[float, int, int, float]:
    """wrk's rate, non-2xx count and requests sent, and the server's CPU microseconds per
    request."""
    before = cpu_s(pid)
    rate, bad, sent = run_wrk_counted(url, script, connections, seconds)
    done = rate * seconds
    return rate, bad, sent, (cpu_s(pid) - before) / max(done, 1) * 1e6


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class BenchUtility(SyntheticUtility):
    """The synthetic utility with addresses spread over 400 streets and 20,000 house numbers
    (the demo's ten streets and 990 numbers give 100,000 customers 9,900 addresses)."""

    def rows(self) -> Iterator[list[str]]:
        for index, row in enumerate(super().rows()):
            house = 1 + (index * 7919) % HOUSE_NUMBERS
            row[5] = f"{house} {STREETS[(index * 104_729) % len(STREETS)]}"
            yield row


def first_callers(utility: SyntheticUtility, customers: int) -> Iterator[int]:
    """Customers in a fixed random order, each phone once: a household's two accounts share
    a number, so only the first of the pair calls."""
    order = list(range(customers))
    random.Random(11).shuffle(order)
    return (c for c in order if c % 50 != 1)


def voice_webhooks(
    base_url: str, utility: SyntheticUtility, callers: Sequence[int], tag: int
) -> list[tuple[str, str, str]]:
    """(path, body, signature) of one `/twilio/voice` per caller."""
    made = []
    for index, customer in enumerate(callers):
        phone = normalize_phone(utility.primary_phone_of(customer), "US")
        params = {
            "CallSid": f"CA{tag:08x}{index:024x}",
            "From": phone,
            "To": "+15125550000",
            "CallStatus": "ringing",
            "Direction": "inbound",
            "BenchAccount": str(100000000 + customer),
        }
        path = "/twilio/voice"
        body = urlencode(params)
        made.append((path, body, compute_signature(VIRTUAL_AUTH_TOKEN, base_url + path, params)))
    return made


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


def wrk_script(requests: list[tuple[str, str, str]], folder: Path, name: str = "webhooks") -> Path:
    """Each wrk thread takes every WRK_THREADS-th request, so no request is sent twice until
    the list runs out; `done` prints how many each thread sent."""

    def lua(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    rows = ",\n".join(
        f"{{{lua(path)}, {lua(body)}, {lua(signature)}}}" for path, body, signature in requests
    )
    script = folder / f"{name}.lua"
    script.write_text(
        f"local requests = {{\n{rows}\n}}\n"
        "local threads = {}\n"
        "function setup(thread)\n"
        "  thread:set('id', #threads)\n"
        "  table.insert(threads, thread)\n"
        "end\n"
        "counter = 0\n"
        "request = function()\n"
        f"  local r = requests[((id + counter * {WRK_THREADS}) % #requests) + 1]\n"
        "  counter = counter + 1\n"
        '  return wrk.format("POST", r[1], {["Content-Type"] = '
        '"application/x-www-form-urlencoded", ["X-Twilio-Signature"] = r[3]}, r[2])\n'
        "end\n"
        "function done(summary, latency, requests)\n"
        "  for _, thread in ipairs(threads) do\n"
        "    io.write(string.format('sent by thread: %d\\n', thread:get('counter')))\n"
        "  end\n"
        "end\n"
    )
    return script


def run_wrk(url: str, script: Path, connections: int, seconds: float) -> tuple[float, int]:
    """Requests per second and the count of non-2xx answers."""
    rate, bad, _ = run_wrk_counted(url, script, connections, seconds)
    return rate, bad


def run_wrk_counted(
    url: str, script: Path, connections: int, seconds: float
) -> tuple[float, int, int]:
    """Requests per second, the count of non-2xx answers, and how many requests were sent."""
    output = subprocess.run(
        ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds:.0f}s", "-s", str(script),
         url],
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
    sent = sum(int(n) for n in re.findall(r"sent by thread: (\d+)", output))
    return rate, int(bad.group(1)) if bad else 0, sent


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


_PLAY = re.compile(r"<Play>([^<]+)</Play>")


async def warm(url: str, requests: list[tuple[str, str, str]], workers: int = 16) -> list[str]:
    """Every request once, closed loop, fetching the audio of each <Play> as the carrier
    would, so every caller's audio exists; the URLs of those audio fetches."""
    queue = list(reversed(requests))
    fetched: list[str] = []
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while queue:
                path, body, signature = queue.pop()
                headers = {
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                }
                async with session.post(url + path, data=body, headers=headers) as answer:
                    twiml = await answer.text()
                    if answer.status != 200:
                        raise SystemExit(f"warm-up got HTTP {answer.status} for {path}")
                for play in _PLAY.findall(twiml):
                    audio_url = play.replace("&amp;", "&")
                    async with session.get(audio_url) as audio:
                        await audio.read()
                        if audio.status != 200:
                            raise SystemExit(f"warm-up got HTTP {audio.status} for audio")
                    fetched.append(audio_url)

        await asyncio.gather(*(worker() for _ in range(workers)))
    return fetched


async def first_plays(url: str, requests: list[tuple[str, str, str]]) -> list[str]:
    """The first <Play> URL (the status, with the address) each webhook answered."""
    plays = []
    async with aiohttp.ClientSession() as session:
        for path, body, signature in requests:
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            }
            async with session.post(url + path, data=body, headers=headers) as answer:
                found = _PLAY.search(await answer.text())
            if found is not None:
                plays.append(found.group(1).replace("&amp;", "&"))
    return plays


async def fetch_audio(urls: list[str], workers: int = 16) -> tuple[list[float], float]:
    """Each URL once, closed loop: latencies and the rate achieved."""
    queue = list(reversed(urls))
    latencies: list[float] = []
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while queue:
                audio_url = queue.pop()
                begun = time.perf_counter()
                async with session.get(audio_url) as audio:
                    await audio.read()
                    if audio.status != 200:
                        raise SystemExit(f"audio fetch got HTTP {audio.status}")
                latencies.append(time.perf_counter() - begun)

        await asyncio.gather(*(worker() for _ in range(workers)))
    return latencies, len(urls) / (time.perf_counter() - started)


def start(arguments: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *arguments], env=env)


def profiler(pid: int, seconds: float, output: str) -> subprocess.Popen[bytes]:
    """py-spy's collapsed stacks of the server while the throughput runs: where it spends time
    (py-spy is in the `dev` extra: `.venv/bin/pip install py-spy`)."""
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


def cli(arguments: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "outage_voice", *arguments],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"outage-voice {arguments[0]} failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip()


async def prepare(dsn: str, customers: int, env: dict[str, str] | None = None) -> SyntheticUtility:
    """The customers imported and the streets spoken as an operator does it; outages set."""
    utility = BenchUtility(customers=customers, feeders=FEEDERS)
    with tempfile.TemporaryDirectory(prefix="ov-inbound-csv-") as folder:
        path = Path(folder) / "customers.csv"
        with path.open("w", encoding="utf-8") as stream:
            utility.write_csv(stream)
        env = (env or os.environ | {"OUTAGE_VOICE_HOME": str(Path(folder) / "home")}) | {
            "DATABASE_URL": dsn
        }
        started = time.perf_counter()
        print("prompts warm:", cli(["prompts", "warm"], env).splitlines()[-1])
        print(f"  ({time.perf_counter() - started:.1f} s)")
        started = time.perf_counter()
        imported = cli(["import-customers", str(path)], env).splitlines()
        print(f"import-customers: {' / '.join(imported)} ({time.perf_counter() - started:.1f} s)")
    async with open_pool(dsn) as pool:
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
    print(f"database: {customers} customers; {FEEDERS // 10} feeder outages")
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


def timing_in_process(webhooks: int = 100_000) -> float:
    """Microseconds the webhook middleware adds to one webhook, in process: two clock reads
    and one histogram observation (best of 3)."""
    metrics = Metrics()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(webhooks):
            began = time.perf_counter()
            metrics.webhook("/twilio/voice", 200, time.perf_counter() - began)
        best = min(best, time.perf_counter() - started)
    return best / webhooks * 1e6


async def webhooks_timed(app_url: str) -> float:
    """How many webhooks the server's own metrics say it has timed."""
    async with aiohttp.ClientSession() as session, session.get(f"{app_url}/metrics") as answer:
        scraped = await answer.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in scraped.splitlines()
        if line.startswith("outage_voice_webhook_duration_seconds_count")
    )


async def compare_metrics(
    dsn: str, app_url: str, app_port: int, folder: Path, requests: list[tuple[str, str, str]],
    seconds: float,
) -> None:  # fmt: skip
    """`serve` with its metrics and without, the same webhooks closed loop, in turn."""
    print(f"a webhook's timing alone, in process (best of 3): {timing_in_process():.2f} us")
    script = wrk_script(requests, folder)
    env = os.environ | {
        "DATABASE_URL": dsn,
        "OUTAGE_VOICE_HOME": str(folder / "home"),
        "OUTAGE_VOICE_PUBLIC_URL": app_url,
    }
    serve = ["serve", "--host", "127.0.0.1", "--port", str(app_port)]
    rates: dict[str, list[float]] = {mode: [] for mode in METRICS_MODES}
    cpus: dict[str, list[float]] = {mode: [] for mode in METRICS_MODES}
    print(
        f"serve, closed loop (wrk -t2 -c{SIGNATURE_CONNECTIONS}, {seconds:.0f} s each, "
        f"{METRICS_ROUNDS} rounds, metrics off and on in turn):"
    )
    for round_number in range(METRICS_ROUNDS):
        for mode in METRICS_MODES:
            app = start(["-m", "bench._serve_metrics", mode, *serve], env)
            try:
                await wait_ready(app_url, "/healthz", app)
                if not any(rates.values()):
                    await warm(app_url, requests)  # each address's audio, made once
                run_wrk(app_url, script, SIGNATURE_CONNECTIONS, 2)  # this process's memos
                rate, bad, _, cpu = measured(
                    app_url, script, SIGNATURE_CONNECTIONS, seconds, app.pid
                )
                timed = await webhooks_timed(app_url)
                if (mode == "on") != (timed >= rate * seconds):
                    raise SystemExit(f"metrics {mode}, but {timed:.0f} webhooks timed")
            finally:
                stop(app)
            if bad:
                raise SystemExit(f"metrics {mode}: {bad} webhooks were not answered 2xx")
            rates[mode].append(rate)
            cpus[mode].append(cpu)
            print(f"  round {round_number + 1}  metrics {mode:<3} {rate:8.0f}/s  "
                  f"CPU per webhook {cpu:6.0f} us")  # fmt: skip
    mean = {mode: sum(rates[mode]) / len(rates[mode]) for mode in METRICS_MODES}
    cpu = {mode: sum(cpus[mode]) / len(cpus[mode]) for mode in METRICS_MODES}
    for mode in METRICS_MODES:
        print(f"  metrics {mode:<3} mean {mean[mode]:8.0f}/s  CPU per webhook {cpu[mode]:6.0f} us")
    print(
        f"  ratio on/off: throughput {mean['on'] / mean['off']:.3f}, "
        f"CPU per webhook {cpu['on'] / cpu['off']:.3f}"
    )


async def goals(
    app_url: str, base_url: str, utility: SyntheticUtility, customers: int, folder: Path,
    seconds: float, latency_seconds: float, pids: tuple[int, int], profile: str | None = None,
) -> list[str]:  # fmt: skip
    """The three goal measurements; the cold callers' audio URLs, for fetching after."""
    callers = list(first_callers(utility, customers))
    # Small databases (trial runs) share their callers out in the same proportions.
    warm_n = min(WARM_CALLERS, len(callers) // 10)
    open_n = min(int(OPEN_LOOP_RATE * latency_seconds), len(callers) // 4)
    cold_n = min(COLD_CALLERS, len(callers) - warm_n - open_n)
    warm_set = callers[:warm_n]
    cold_set = callers[warm_n : warm_n + cold_n]
    open_set = callers[warm_n + cold_n : warm_n + cold_n + open_n]
    warm_requests = voice_webhooks(app_url, utility, warm_set, 1)
    cold_requests = voice_webhooks(app_url, utility, cold_set, 2)
    open_requests = voice_webhooks(app_url, utility, open_set, 3)
    warm_script = wrk_script(warm_requests, folder, "warm")
    cold_script = wrk_script(cold_requests, folder, "cold")
    started = time.perf_counter()
    fetched = await warm(app_url, warm_requests)
    print(
        f"warm-up: {len(warm_requests)} callers' webhooks and {len(fetched)} audio fetches in "
        f"{time.perf_counter() - started:.1f} s"
    )
    run_wrk(base_url, warm_script, GOAL_CONNECTIONS, 2)
    run_wrk(app_url, warm_script, GOAL_CONNECTIONS, 2)  # this process's memos
    c = GOAL_CONNECTIONS
    print(f"goals, closed loop (wrk -t{WRK_THREADS} -c{c} on /twilio/voice, {seconds:.0f} s):")
    app_pid, base_pid = pids
    base_rate, base_bad, _, base_cpu = measured(base_url, warm_script, c, seconds, base_pid)
    spy = None if profile is None else profiler(app_pid, seconds, f"{profile}.warm")
    rate, bad, _, cpu = measured(app_url, warm_script, c, seconds, app_pid)
    if spy is not None:
        spy.wait()
    print(
        f"  warm ({len(warm_requests)} callers, audio made): baseline {base_rate:8.0f}/s  "
        f"outage line {rate:8.0f}/s  ratio {rate / base_rate:.2f}  non-2xx {base_bad}/{bad}  "
        f"CPU per webhook {base_cpu:.0f}/{cpu:.0f} us"
    )
    base_rate, base_bad, _, base_cpu = measured(base_url, cold_script, c, seconds, base_pid)
    spy = None if profile is None else profiler(app_pid, seconds, f"{profile}.cold")
    rate, bad, sent, cpu = measured(app_url, cold_script, c, seconds, app_pid)
    if spy is not None:
        spy.wait()
    fresh = "" if sent <= len(cold_requests) else f" (ran out: {sent} sent; later ones repeat)"
    print(
        f"  cold ({min(sent, len(cold_requests))} first-time callers{fresh}): "
        f"baseline {base_rate:8.0f}/s  outage line {rate:8.0f}/s  ratio {rate / base_rate:.2f}  "
        f"non-2xx {base_bad}/{bad}  CPU per webhook {base_cpu:.0f}/{cpu:.0f} us"
    )
    print(
        f"open loop, {OPEN_LOOP_RATE:.0f} webhooks/s of first-time callers "
        f"({len(open_requests)} callers, {latency_seconds:.0f} s, from scheduled start):"
    )
    lat, failures, achieved = await open_loop(base_url, open_requests, OPEN_LOOP_RATE,
                                              latency_seconds)  # fmt: skip
    report("baseline", lat, failures, achieved)
    lat, failures, achieved = await open_loop(app_url, open_requests, OPEN_LOOP_RATE,
                                              latency_seconds)  # fmt: skip
    report("outage line", lat, failures, achieved)
    return await first_plays(app_url, cold_requests[-AUDIO_FETCHES:])


async def mixed(
    app_url: str, base_url: str, utility: SyntheticUtility, customers: int, folder: Path,
    seconds: float, latency_seconds: float, profile: str | None, pid: int,
) -> None:  # fmt: skip
    requests = webhooks(app_url, utility, customers)
    script = wrk_script(requests, folder)
    warm_s = time.perf_counter()
    await warm(app_url, requests)
    print(f"warm-up: {len(requests)} webhooks in {time.perf_counter() - warm_s:.1f} s")
    run_wrk(base_url, script, 50, 3)
    print(f"mixed load, closed loop (wrk -t2, {seconds:.0f} s each):")
    spy = None if profile is None else profiler(pid, seconds * 6, profile)
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
    print(f"mixed load, open loop ({latency_seconds:.0f} s each, from scheduled start):")
    rates = [(f"{c} callers", c / CALLER_WEBHOOK_INTERVAL_S) for c in CALLER_COUNTS]
    rates += [(f"{r} webhooks/s", float(r)) for r in EXTRA_RATES]
    for label, rate in rates:
        lat, failures, achieved = await open_loop(base_url, requests, rate, latency_seconds)
        report(f"baseline, {label}", lat, failures, achieved)
        lat, failures, achieved = await open_loop(app_url, requests, rate, latency_seconds)
        report(f"outage line, {label}", lat, failures, achieved)


async def main(
    customers: int, seconds: float, latency_seconds: float, profile: str | None,
    signatures: bool, with_mixed: bool, with_metrics: bool = False,
) -> None:  # fmt: skip
    if shutil.which("wrk") is None:
        raise SystemExit(
            "bench/inbound.py needs wrk (Debian and Ubuntu: apt-get install wrk; "
            "macOS: brew install wrk)"
        )
    print(machine_line(command_line()))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    async with scratch_database("ov_bench_inbound") as dsn:
        if signatures or with_metrics:
            utility = await prepare(dsn, customers)
            with tempfile.TemporaryDirectory(prefix="ov-inbound-") as folder:
                app_port = free_port()
                app_url = f"http://127.0.0.1:{app_port}"
                requests = webhooks(app_url, utility, customers)
                compare = compare_metrics if with_metrics else compare_signature_checks
                await compare(dsn, app_url, app_port, Path(folder), requests, seconds)
            return
        with tempfile.TemporaryDirectory(prefix="ov-inbound-") as folder:
            app_port, base_port = free_port(), free_port()
            app_url, base_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{base_port}"
            env = os.environ | {
                "DATABASE_URL": dsn,
                "OUTAGE_VOICE_HOME": str(Path(folder) / "home"),
                "OUTAGE_VOICE_PUBLIC_URL": app_url,
            }
            utility = await prepare(dsn, customers, env)
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
                plays = await goals(
                    app_url, base_url, utility, customers, Path(folder), seconds,
                    latency_seconds, (app.pid, baseline.pid), None if with_mixed else profile,
                )  # fmt: skip
                lat, rate = await fetch_audio(plays)
                report(f"first-time callers' status audio, {len(plays)} fetches", lat, 0, rate)
                print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
                if with_mixed:
                    await mixed(
                        app_url, base_url, utility, customers, Path(folder), seconds,
                        latency_seconds, profile, app.pid,
                    )  # fmt: skip
            finally:
                stop(app)
                stop(baseline)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument(
        "--profile",
        help="write py-spy collapsed stacks of the server here (FILE.warm and FILE.cold for "
        "the goal runs)",
    )
    parser.add_argument(
        "--signatures", action="store_true", help="only compare webhook signature checks"
    )
    parser.add_argument("--mixed", action="store_true", help="also the mixed voice/menu load")
    parser.add_argument(
        "--metrics", action="store_true", help="only compare serve with and without metrics"
    )

    arguments = parser.parse_args()
    asyncio.run(
        main(
            arguments.customers,
            arguments.seconds,
            arguments.latency_seconds,
            arguments.profile,
            arguments.signatures,
            arguments.mixed,
            arguments.metrics,
        )
    )
