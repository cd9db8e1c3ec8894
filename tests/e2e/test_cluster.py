"""Several `serve` instances on one PostgreSQL, as production runs them: a separate virtual
carrier, a round-robin proxy in front (the carrier's webhooks reach any instance), real
processes on real time. An inbound storm spread over three instances; the leader killed
mid-campaign and the next one stopped (a rolling restart); a report spooled by an instance
whose database went away, replayed once while the others are up."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from aiohttp import web

from outage_voice.adapters.twilio.signature import compute_signature
from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.domain.outages import parse_outage_state
from tests.integration.test_server import free_port
from tests.pgbouncer import running_pgbouncer
from tests.support import T0, cli, cli_env, csv_text

SID = "AC" + "5" * 32
TOKEN = "cluster-test-token"
OUTAGE_LINE = "+15125550000"
TAKEOVER_S = 5.0  # the longest a campaign may go without a call when its leader goes
# Hop-by-hop headers, and those aiohttp sets again for the body it sends on.
HOP = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
)


async def _until(check: Callable[[], Awaitable[bool]], timeout_s: float = 60) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - polling other processes
            await asyncio.sleep(0.05)


@dataclass(frozen=True, slots=True)
class Forwarded:
    at: float  # time.time() when the request reached the proxy
    backend: str
    path: str
    status: int | None  # None: the instance failed it (connection refused counts apart)
    error: str | None = None


class RoundRobin:
    """The reverse proxy in front of the instances, as nginx's default upstream: each request
    to the next instance in turn, on a connection of its own (no keep-alive to the
    instances). A refused connection (an instance stopped or killed) is tried on the next
    instance, as `proxy_next_upstream error` does; any other failure, a connection cut
    with the request sent included, reaches the carrier as a 502 and is logged as such."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.pinned: str | None = None
        self.log: list[Forwarded] = []
        self.refused: list[Forwarded] = []
        self._turn = 0
        self.url = ""

    def _order(self) -> list[str]:
        if self.pinned is not None:
            return [self.pinned]
        self._turn += 1
        start = self._turn % len(self.backends)
        return self.backends[start:] + self.backends[:start]

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        at = time.time()
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        for backend in self._order():
            try:
                async with self._session.request(
                    request.method,
                    backend + request.path_qs,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                ) as upstream:
                    answer = await upstream.read()
                    self.log.append(Forwarded(at, backend, request.path, upstream.status))
                    kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP}
                    return web.Response(status=upstream.status, body=answer, headers=kept)
            except aiohttp.ClientConnectorError as exc:
                self.refused.append(Forwarded(at, backend, request.path, None, repr(exc)))
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                self.log.append(Forwarded(at, backend, request.path, None, repr(exc)))
                return web.Response(status=502, text="bad gateway")
        self.log.append(Forwarded(at, "", request.path, None, "no instance answered"))
        return web.Response(status=502, text="no instance answered")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=60),
        )
        app = web.Application(client_max_size=16 * 1024**2)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{port}"
        try:
            yield
        finally:
            await runner.cleanup()
            await self._session.close()


@dataclass
class Instance:
    name: str
    port: int
    home: Path
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                cli("serve", "--port", str(self.port)),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Cluster:
    session: aiohttp.ClientSession
    tmp_path: Path
    database_dsn: str
    token: str
    proxy: RoundRobin = field(default_factory=RoundRobin)
    instances: list[Instance] = field(default_factory=list)
    carrier_port: int = field(default_factory=free_port)
    carrier: subprocess.Popen[bytes] | None = None

    @property
    def carrier_url(self) -> str:
        return f"http://127.0.0.1:{self.carrier_port}"

    @property
    def calls_log(self) -> Path:
        return self.tmp_path / "carrier-calls.jsonl"

    def add(self, name: str, *, home: str | None = None, **env: str) -> Instance:
        instance = Instance(
            name=name,
            port=free_port(),
            home=self.tmp_path / (home or name),
            log=self.tmp_path / f"{name}.log",
            env={},
        )
        instance.env = cli_env(
            **{
                "DATABASE_URL": self.database_dsn,
                "OUTAGE_VOICE_HOME": str(instance.home),
                "OUTAGE_VOICE_PUBLIC_URL": self.proxy.url,
                "TWILIO_ACCOUNT_SID": SID,
                "TWILIO_AUTH_TOKEN": TOKEN,
                "TWILIO_FROM_NUMBER": OUTAGE_LINE,
                "OUTAGE_VOICE_TWILIO_API_URL": self.carrier_url,
                **env,
            }
        )
        self.instances.append(instance)
        self.proxy.backends.append(instance.url)
        return instance

    def start_carrier(self, personas: dict[str, Any]) -> None:
        path = self.tmp_path / "personas.json"
        path.write_text(json.dumps(personas))
        command = cli(
            "carrier-sim",
            *("--auth-token", TOKEN, "--account-sid", SID, "--port", str(self.carrier_port)),
            *("--cps", "0", "--personas", str(path), "--call-log", str(self.calls_log)),
        )
        with (self.tmp_path / "carrier.log").open("ab") as out:
            self.carrier = subprocess.Popen(
                command, env=cli_env(), stdout=out, stderr=subprocess.STDOUT
            )

    async def healthy(self, instance: Instance) -> None:
        async def up() -> bool:
            assert instance.alive(), self.logs()
            try:
                async with self.session.get(f"{instance.url}/healthz") as answer:
                    return answer.status == 200
            except aiohttp.ClientError:
                return False

        await _until(up, timeout_s=60)

    async def start(self) -> None:
        for instance in self.instances:
            instance.launch()
        await asyncio.gather(*(self.healthy(instance) for instance in self.instances))

    async def leads(self, instance: Instance) -> bool:
        try:
            async with self.session.get(f"{instance.url}/metrics") as answer:
                text = await answer.text()
        except aiohttp.ClientError:
            return False
        found = re.search(r"^outage_voice_dialer_leader (\S+)$", text, re.MULTILINE)
        return found is not None and float(found.group(1)) == 1.0

    async def leader(self, timeout_s: float = 30) -> Instance:
        """The one live instance that leads, once exactly one does."""
        chosen: list[Instance] = []

        async def one() -> bool:
            live = [instance for instance in self.instances if instance.alive()]
            flags = await asyncio.gather(*(self.leads(instance) for instance in live))
            chosen[:] = [instance for instance, flag in zip(live, flags, strict=True) if flag]
            return len(chosen) == 1

        await _until(one, timeout_s=timeout_s)
        return chosen[0]

    @property
    def api(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def start_campaign(self, body: dict[str, object]) -> int:
        url = f"{self.proxy.url}/api/v1/campaigns"
        async with self.session.post(url, json=body, headers=self.api) as answer:
            assert answer.status == 201, await answer.text()
            campaign: int = (await answer.json())["id"]
        async with self.session.post(f"{url}/{campaign}/start", headers=self.api) as answer:
            assert answer.status == 200, await answer.text()
        return campaign

    async def campaign_state(self, campaign: int) -> str:
        url = f"{self.proxy.url}/api/v1/campaigns/{campaign}?fresh=1"
        async with self.session.get(url, headers=self.api) as answer:
            return str((await answer.json())["state"])

    async def dial_in(self, callers: list[str], *, per_s: float) -> list[str]:
        url = f"{self.carrier_url}/2010-04-01/Accounts/{SID}/SimulatedInboundCalls.json"
        form = [
            ("To", OUTAGE_LINE),
            ("Url", f"{self.proxy.url}/twilio/voice"),
            ("StatusCallback", f"{self.proxy.url}/twilio/status"),
            ("ArrivalsPerSecond", str(per_s)),
            *[("From", caller) for caller in callers],
        ]
        auth = {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}
        async with self.session.post(url, data=form, headers=auth) as answer:
            assert answer.status == 201, await answer.text()
            return [call["sid"] for call in (await answer.json())["calls"]]

    async def carrier_calls(self) -> list[dict[str, Any]]:
        url = f"{self.carrier_url}/2010-04-01/Accounts/{SID}/Calls.json?PageSize=1000"
        auth = {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}
        async with self.session.get(url, headers=auth) as answer:
            calls: list[dict[str, Any]] = (await answer.json())["calls"]
            return calls

    def stop_carrier(self) -> list[dict[str, Any]]:
        """Stops the carrier; every call it carried, webhooks and callbacks included."""
        assert self.carrier is not None
        self.carrier.send_signal(signal.SIGTERM)
        assert self.carrier.wait(timeout=30) == 0
        return [json.loads(line) for line in self.calls_log.read_text().splitlines()]

    def logs(self) -> str:
        return "\n".join(
            f"--- {instance.name}\n{instance.log.read_text()[-2500:]}"
            for instance in self.instances
            if instance.log.exists()
        )

    def stop(self) -> None:
        for process in [i.process for i in self.instances] + [self.carrier]:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


@contextlib.asynccontextmanager
async def cluster_of(
    database_dsn: str, services: Services, tmp_path: Path
) -> AsyncIterator[Cluster]:
    token = await services.tokens.create(role=Role.SUPERVISOR, name="cluster")
    async with aiohttp.ClientSession() as session:
        cluster = Cluster(session, tmp_path, database_dsn, token)
        async with cluster.proxy.running():
            try:
                yield cluster
            finally:
                cluster.stop()


def _webhook_failures(calls: list[dict[str, Any]]) -> list[tuple[str, object]]:
    """What the carrier saw go wrong: application errors, webhooks and callbacks that failed."""
    failures: list[tuple[str, object]] = []
    for call in calls:
        if call.get("error_code") is not None and call["status"] != "failed":
            failures.append((call["sid"], call.get("error_message")))
        for hook in call["webhooks"]:
            if hook.get("error") or hook.get("status") != 200:
                failures.append((call["sid"], hook))
        for callback in call["callbacks"]:
            for delivery in callback.get("deliveries", []):
                if delivery.get("error") or delivery.get("http_status", 200) >= 300:
                    failures.append((call["sid"], delivery))
    return failures


class Relay:
    """A TCP relay between one instance and PostgreSQL: cut, its connections drop and new
    ones are refused, as when that instance's network path to the database fails."""

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
        self._socket_dir = query.get("host") or (parts.hostname or "")
        self._port = int(query.get("port") or parts.port or 5432)
        self.port = free_port()
        self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}{parts.path}"
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def _upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._socket_dir.startswith("/"):
            return await asyncio.open_unix_connection(f"{self._socket_dir}/.s.PGSQL.{self._port}")
        return await asyncio.open_connection(self._socket_dir, self._port)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await self._upstream()
        except OSError:
            writer.close()
            return
        self._links |= {writer, up_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while chunk := await source.read(65536):
                    sink.write(chunk)
                    await sink.drain()
            sink.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._links -= {writer, up_writer}

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.transport.abort()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Relay]:
        await self.open()
        try:
            yield self
        finally:
            self.cut()


# --- (a) an inbound storm spread over three instances, (c) a spooled report ----------

HOMES = 12  # two callers per home: each home's second report is the same outage again
SPOOLED_CALLER = "+15125639999"


async def test_a_storm_is_spread_over_three_instances_and_a_spooled_report_replayed_once(
    database_dsn: str, services: Services, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    rows = [
        f"{6000 + 2 * h + k},C {h}-{k},512-562-{2 * h + k:04d},,H{h},{h} Storm Road,FS,,"
        for h in range(HOMES)
        for k in range(2)
    ]
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text(*rows))
    await services.customers.import_file(customers)
    callers = [f"+1512562{n:04d}" for n in range(2 * HOMES)]
    # No outage known yet: each caller hears so, presses 1 (report) as the menu starts, hears
    # the answer and hangs up. The caller of the spooled report hears the busy greeting too.
    reporter = {"behaviour": "hangup", "digits": ["1"], "barge_in": True, "hangup_after_s": 14}
    spooler = {**reporter, "hangup_after_s": 20}
    async with (
        Relay(database_dsn).running() as relay,
        cluster_of(database_dsn, services, tmp_path) as cluster,
    ):
        cluster.add("ov1")
        # ov2 and ov3 share a home (one volume for both), spool included; ov3 reaches the
        # database through a path the test can cut.
        cluster.add("ov2", home="shared")
        ov3 = cluster.add("ov3", home="shared", DATABASE_URL=relay.dsn)
        cluster.start_carrier({"exact": {SPOOLED_CALLER: spooler}, "mix": [[1, reporter]]})
        await cluster.start()

        async def ended(sids: list[str]) -> bool:
            calls = {call["sid"]: call for call in await cluster.carrier_calls()}
            return all(sid in calls and calls[sid]["status"] == "completed" for sid in sids)

        storm = await cluster.dial_in(callers, per_s=20)
        await _until(lambda: ended(storm), timeout_s=60)
        storm_forwarded = list(cluster.proxy.log)

        # (c) ov3's database goes away; its caller's report is spooled on the shared volume.
        relay.cut()
        cluster.proxy.pinned = ov3.url
        spooled = await cluster.dial_in([SPOOLED_CALLER], per_s=1)

        async def spooled_by_ov3() -> bool:
            return "database away: spooled a outage request" in ov3.log.read_text()

        await _until(spooled_by_ov3, timeout_s=60)
        cluster.proxy.pinned = None  # the rest of the call may go anywhere

        async def replayed() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM outage_reports WHERE call_sid = $1", spooled[0]
                )
            )

        # ov2, which shares the volume and reaches the database, replays it (within the
        # replay interval) while ov3's database is still away.
        await _until(replayed, timeout_s=30)
        await relay.open()
        calls = cluster.stop_carrier()
        logs = {instance.name: instance.log.read_text() for instance in cluster.instances}
        backends = list(cluster.proxy.backends)
    failures = _webhook_failures(calls)
    assert not failures, (failures[:5], cluster.logs())
    by_sid = {call["sid"]: call for call in calls}
    heard = {
        by_sid[sid]["from"]: " ".join(e.get("text") or "" for e in by_sid[sid]["transcript"])
        for sid in storm
    }
    recorded = [c for c, words in heard.items() if "We recorded your outage report" in words]
    already = [c for c, words in heard.items() if "We already have a report" in words]
    # Every caller was answered and heard about their report: one per home, the other
    # caller of the home told it is in already, whichever instance each was sent to.
    assert len(recorded) == HOMES and len(already) == HOMES, heard
    reports = await pool.fetch(
        "SELECT premise_id FROM outage_reports WHERE kind = 'outage' AND call_sid <> $1",
        spooled[0],
    )
    assert sorted(r["premise_id"] for r in reports) == sorted(f"H{h}" for h in range(HOMES))
    # The storm was spread over the three, and every webhook of it answered.
    webhooks = Counter(f.backend for f in storm_forwarded if f.path.startswith("/twilio/"))
    assert set(webhooks) == set(backends), webhooks
    assert min(webhooks.values()) >= len(callers) // 2, webhooks
    assert all(f.status is not None and f.status < 300 for f in storm_forwarded)
    # The spooled report: the caller heard it recorded, it is in the database once, and it
    # was replayed once, by the instance sharing the volume, not again by ov3.
    spoken = " ".join(e.get("text") or "" for e in by_sid[spooled[0]]["transcript"])
    assert spoken.startswith("We are receiving many calls"), spoken
    assert "We recorded your outage report" in spoken, spoken
    rows_for_call = await pool.fetch(
        "SELECT kind, phone, premise_id FROM outage_reports WHERE call_sid = $1", spooled[0]
    )
    assert [tuple(r) for r in rows_for_call] == [("outage", SPOOLED_CALLER, None)]
    replays = {
        name: len(re.findall(r"replayed (\d+) requests", text)) for name, text in logs.items()
    }
    assert replays == {"ov1": 0, "ov2": 1, "ov3": 0}, replays
    assert "replayed 1 requests" in logs["ov2"]
    assert not list((tmp_path / "shared" / "spool").glob("*.jsonl"))


# --- (b) the leader killed, then the next one stopped: a rolling restart ----------------

TARGETS = 150
CPS = 20


@dataclass(frozen=True, slots=True)
class Handover:
    takeover_s: float  # from the SIGKILL to the first call the next leader placed
    kill_gap_s: float  # the longest time without a placed call around the kill
    rolling_gap_s: float  # the same around the SIGTERM (the drained leader's hand-over)


async def _placed(pool: asyncpg.Pool) -> list[datetime]:
    rows = await pool.fetch(
        "SELECT placed_at FROM call_attempts WHERE placed_at IS NOT NULL ORDER BY placed_at"
    )
    return [row["placed_at"] for row in rows]


def _longest_gap_s(placed: list[datetime], since: datetime) -> float:
    """The longest time between consecutive placed calls from the last one before `since`."""
    before = [at for at in placed if at <= since]
    after = [at for at in placed if at > since]
    moments = before[-1:] + after
    return max((b - a).total_seconds() for a, b in itertools.pairwise(moments))


async def _inbound_webhook(cluster: Cluster, instance: Instance) -> str:
    """A carrier webhook (an inbound call's first) sent to `instance`; its TwiML, once
    checked to be a 200 in XML."""
    params = {
        "CallSid": "CA" + "d" * 32,
        "AccountSid": SID,
        "From": "+15125629999",
        "To": OUTAGE_LINE,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    signature = compute_signature(TOKEN, f"{cluster.proxy.url}/twilio/voice", params)
    headers = {"X-Twilio-Signature": signature}
    async with cluster.session.post(
        f"{instance.url}/twilio/voice", data=params, headers=headers
    ) as answer:
        text = await answer.text()
        assert answer.status == 200, (answer.status, text)
        assert answer.content_type.endswith("xml"), (answer.content_type, text)
        return text


async def _lookups_waiting(pool: asyncpg.Pool) -> bool:
    """Whether a caller lookup waits on the test's lock: a webhook in an instance's hands."""
    return bool(
        await pool.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " WHERE c.relname = 'account_phones' AND NOT l.granted"
        )
    )


async def _kill_the_leader_then_stop_the_next(
    database_dsn: str,
    services: Services,
    tmp_path: Path,
    pool: asyncpg.Pool,
    env: dict[str, str],
) -> Handover:
    rows = [f"7{i:03d},C {i},512-564-{i:04d},,R{i},{i} Mill Road,FR,," for i in range(TARGETS)]
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text(*rows))
    await services.customers.import_file(customers)
    await services.outages.put(
        "ROLL", parse_outage_state({"status": "confirmed", "feeder_ids": ["FR"]}, now=T0), actor="t"
    )
    persona = {"behaviour": "hangup", "hangup_after_s": 0.5, "ring_s": 0.5}
    async with cluster_of(database_dsn, services, tmp_path) as cluster:
        for name in ("ov1", "ov2", "ov3"):
            cluster.add(name, **env)
        cluster.start_carrier({"mix": [[1, persona]]})
        await cluster.start()
        first = await cluster.leader()
        campaign = await cluster.start_campaign(
            {
                "name": "rolling",
                "kind": "outage_ack",
                "audience": {"outage_id": "ROLL"},
                "pacing": {"cps": CPS, "max_concurrent": 100},
                "window": "24h",  # the servers run on the real clock
            }
        )

        async def placed_at_least(count: int) -> bool:
            return len(await _placed(pool)) >= count

        await _until(lambda: placed_at_least(15))
        # The leader dies with calls in flight.
        assert first.process is not None
        killed_at = datetime.now(UTC)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)

        async def placed_by_the_next() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM call_attempts WHERE created_at > $1"
                    " AND placed_at IS NOT NULL",
                    killed_at,
                )
            )

        await _until(placed_by_the_next, timeout_s=30)
        first_after_kill = await pool.fetchval(
            "SELECT min(placed_at) FROM call_attempts WHERE created_at > $1", killed_at
        )
        second = await cluster.leader()
        placed_so_far = len(await _placed(pool))
        await _until(lambda: placed_at_least(placed_so_far + 10))
        assert placed_so_far + 10 < TARGETS, "the campaign ended before the rolling restart"

        # Rolling restart: the leader is asked to stop with a webhook in its hands, the
        # caller's lookup held up by a lock on the table it reads (a slow database); an
        # instance answers from the lookup or, after LOOKUP_BUDGET_S, with the busy greeting.
        # (A webhook whose body is still arriving cannot be drained: aiohttp reads nothing
        # more once it stops, and nginx in front passes a request on only once it has all
        # of its body.) The leader hands leadership over at once, while it still answers.
        assert second.process is not None
        await _until(lambda: placed_at_least(placed_so_far + 15))
        async with pool.acquire() as holder:
            held = holder.transaction()
            await held.start()
            try:
                await holder.execute("LOCK TABLE account_phones IN ACCESS EXCLUSIVE MODE")
                arriving = asyncio.create_task(_inbound_webhook(cluster, second))
                await _until(lambda: _lookups_waiting(pool), timeout_s=10)
                stopped_at = datetime.now(UTC)
                second.process.send_signal(signal.SIGTERM)

                async def draining() -> bool:
                    return "stop requested: draining" in second.log.read_text()

                await _until(draining, timeout_s=10)
            finally:
                # Held no longer than the webhook needs to be in flight at the SIGTERM: a
                # hot table locked for long fills PgBouncer's server connections with
                # blocked queries and stalls every instance behind it, not what this tests.
                await held.rollback()
        third = await cluster.leader(timeout_s=TAKEOVER_S + 5)
        # The webhook that was in the stopping instance's hands is answered with the call's
        # TwiML, and the instance exits cleanly after.
        async with asyncio.timeout(10):
            twiml = await arriving
        assert "<Response>" in twiml and ("<Say" in twiml or "<Play" in twiml), twiml
        assert second.process.wait(timeout=30) == 0, cluster.logs()
        assert third is not second and third is not first
        # Back again as a follower, as a rolling restart goes on.
        second.launch()
        await cluster.healthy(second)

        async def completed() -> bool:
            return await cluster.campaign_state(campaign) == "completed"

        await _until(completed, timeout_s=120)
        assert await cluster.leader() is third
        calls = cluster.stop_carrier()
        forwarded = list(cluster.proxy.log)
        logs = cluster.logs()
    placed = await _placed(pool)
    called = [call["to"] for call in calls]
    assert len(called) == TARGETS, logs
    assert len(set(called)) == TARGETS  # nobody called twice
    reached = await pool.fetchval(
        "SELECT count(*) FROM campaign_targets WHERE state = 'done' AND outcome = 'reached'"
    )
    assert reached == TARGETS  # no target lost
    assert await pool.fetchval("SELECT count(*) FROM call_attempts WHERE ended_at IS NULL") == 0
    # Only the killed instance failed webhooks, and only those it had in hand as it died;
    # the instance stopped with SIGTERM answered all of its own.
    failed = [f for f in forwarded if f.status is None or f.status >= 500]
    assert all(f.backend == first.url and f.at <= killed_at.timestamp() for f in failed), failed
    handover = Handover(
        takeover_s=(first_after_kill - killed_at).total_seconds(),
        kill_gap_s=_longest_gap_s(placed, killed_at),
        rolling_gap_s=_longest_gap_s(placed, stopped_at),
    )
    print(f"\n{handover}")
    assert handover.takeover_s < TAKEOVER_S, handover
    assert handover.kill_gap_s < TAKEOVER_S, handover
    assert handover.rolling_gap_s < TAKEOVER_S, handover
    return handover


async def test_the_leader_killed_then_the_next_stopped_calls_go_on_within_seconds(
    database_dsn: str, services: Services, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    await _kill_the_leader_then_stop_the_next(database_dsn, services, tmp_path, pool, {})


async def test_the_same_through_pgbouncer_in_transaction_pooling_mode(
    database_dsn: str, services: Services, tmp_path: Path, pool: asyncpg.Pool
) -> None:
    """The instances' pools go through PgBouncer (transaction pooling); the leader lock,
    its notifications and migrations need a session, so DATABASE_LEADER_URL goes past it."""
    with running_pgbouncer(database_dsn, tmp_path / "pgbouncer", pool_size=20) as pooled:
        env = {
            "DATABASE_URL": pooled,
            "OUTAGE_VOICE_DATABASE_POOLER": "transaction",
            "DATABASE_LEADER_URL": database_dsn,
        }
        await _kill_the_leader_then_stop_the_next(database_dsn, services, tmp_path, pool, env)
    port = urlsplit(pooled).port
    for name in ("ov1", "ov2", "ov3"):
        (line,) = [
            line
            for line in (tmp_path / f"{name}.log").read_text().splitlines()
            if "outage_voice: database:" in line
        ][:1]
        assert f"127.0.0.1:{port}/" in line, line
