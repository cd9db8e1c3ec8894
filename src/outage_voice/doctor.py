"""`outage-voice doctor`: whether this configuration can run, one line per check.

Each check is a small function giving ok, warn or fail and one line for the operator, with
no secret in it (database passwords and account SIDs masked as `serve` shows them). Nothing
is changed anywhere: the carrier is asked for its account, the database for its migrations.
"""

from __future__ import annotations

import argparse
import asyncio
import enum
import json
import sys
from dataclasses import dataclass
from typing import Any

import aiohttp

from outage_voice.config import VIRTUAL_ACCOUNT_SID, VIRTUAL_AUTH_TOKEN, Settings
from outage_voice.domain.phones import mask_phone
from outage_voice.startup import mask_account_sid, mask_database_url

# Each network check gives up after this long: a firewall that drops packets is a failure
# to report, not a hang.
CHECK_TIMEOUT_S = 5.0
TTS_PROBE_WORD = "outage"
EXIT_FAILED = 1
# Times two connections ask which server session answers them (see _sessions_shared).
POOLER_PROBE_ROUNDS = 3
# What /healthz answers (web/health.py): anything else at that URL is not this product.
_HEALTH_STATES = ("ok", "unhealthy")


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True, kw_only=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str

    @property
    def line(self) -> str:
        return f"{self.status.value:<4}  {self.name}: {self.detail}"


def _one_line(error: BaseException) -> str:
    # asyncpg and aiohttp put newlines and whole server messages in theirs.
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def add_doctor_parser(commands: Any) -> None:
    commands.add_parser(
        "doctor",
        help="check configuration, database, carrier, public URL, speech and numbers",
    )


async def run_doctor(settings: Settings, _args: argparse.Namespace) -> int:
    checks = await run_checks(settings)
    for check in checks:
        # Before the summary on standard error, when both go to one pipe.
        print(check.line, flush=True)
    failed = [check.name for check in checks if check.status is Status.FAIL]
    if failed:
        print(f"doctor: {len(failed)} failed: {', '.join(failed)}", file=sys.stderr)
        return EXIT_FAILED
    return 0


async def run_checks(settings: Settings) -> list[Check]:
    checks = [check_configuration(settings)]
    checks += await check_databases(settings)
    checks.append(await check_carrier(settings))
    checks.append(await check_public_url(settings))
    checks.append(await check_speech(settings))
    checks.append(check_numbers(settings))
    return checks


def check_configuration(settings: Settings) -> Check:
    # Reaching here means every variable parsed (a bad one stops the CLI naming it).
    if not settings.public_url_configured:
        return Check(
            name="configuration",
            status=Status.WARN,
            detail="valid; OUTAGE_VOICE_PUBLIC_URL is unset: `serve` will give the carrier "
            "the address it binds, which a carrier outside this machine cannot reach",
        )
    return Check(name="configuration", status=Status.OK, detail="every variable is valid")


def _leader_url(settings: Settings) -> str | None:
    leader = settings.database_leader_url
    return leader if leader and leader != settings.database_url else None


async def check_databases(settings: Settings) -> list[Check]:
    """The database as the web requests reach it (DATABASE_URL) and, when it differs, as the
    leader lock, notifications and migrations reach it (DATABASE_LEADER_URL)."""
    if settings.database_url is None:
        return [
            Check(
                name="database",
                status=Status.WARN,
                detail=f"embedded PostgreSQL, data in {settings.pgdata} (one machine only: "
                "set DATABASE_URL for production); not started by doctor",
            )
        ]
    from outage_voice.adapters.db.pool import STATEMENT_CACHE_SIZE, statement_cache_size

    checks = [
        await _check_database(
            "database",
            "DATABASE_URL",
            settings.database_url,
            cache_size=statement_cache_size(settings),
            pooled=settings.database_pooler == "transaction",
            needs_session=settings.database_pooler == "none",
        )
    ]
    leader = _leader_url(settings)
    if leader is not None:
        checks.append(
            await _check_database(
                "leader database",
                "DATABASE_LEADER_URL",
                leader,
                cache_size=STATEMENT_CACHE_SIZE,
                pooled=False,
                needs_session=True,
            )
        )
    reachable = leader or settings.database_url
    if all(check.status is not Status.FAIL for check in checks):
        checks.append(await check_migrations(reachable))
    else:
        # The database's own line is the failure; this one only says what was not seen.
        checks.append(
            Check(
                name="migrations",
                status=Status.WARN,
                detail="not checked: the database did not answer",
            )
        )
    return checks


async def _check_database(
    name: str, variable: str, dsn: str, *, cache_size: int, pooled: bool, needs_session: bool
) -> Check:
    import asyncpg

    from outage_voice.adapters.db.queries import q

    shown = mask_database_url(dsn)
    if pooled:
        variable += ", through a transaction pooler"
    try:
        # As the pool connects: through a transaction pooler, no named statements.
        connection = await asyncpg.connect(
            dsn, timeout=CHECK_TIMEOUT_S, statement_cache_size=cache_size
        )
    except (
        OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError
    ) as exc:  # fmt: skip
        # ValueError: a query parameter asyncpg refuses (the configuration checked the rest).
        return Check(
            name=name,
            status=Status.FAIL,
            detail=f"cannot connect to {shown} ({variable}): {_one_line(exc)}",
        )
    try:
        version = await connection.fetchval(q("doctor_server_version"), timeout=CHECK_TIMEOUT_S)
        shared = needs_session and await _sessions_shared(dsn)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return Check(
            name=name, status=Status.FAIL, detail=f"{shown} ({variable}): {_one_line(exc)}"
        )
    finally:
        await connection.close()
    detail = f"{shown} ({variable}), PostgreSQL {version}"
    if shared:
        advice = (
            "set OUTAGE_VOICE_DATABASE_POOLER=transaction, and DATABASE_LEADER_URL to a URL "
            "past the pooler"
            if variable == "DATABASE_URL"
            else "point DATABASE_LEADER_URL past the pooler"
        )
        return Check(
            name=name,
            status=Status.WARN,
            detail=f"{detail}; it seems to go through a transaction pooler (two connections "
            f"were answered by one server session), where the leader lock is no lock: {advice}",
        )
    return Check(name=name, status=Status.OK, detail=detail)


async def _sessions_shared(dsn: str) -> bool:
    """Whether two connections open at once are answered by the same server session: never
    on PostgreSQL itself, and usually at once through a pooler in transaction mode (PgBouncer
    hands the session just given back to the next transaction). Harmless: it reads, takes no
    lock and leaves no state. A busy pooler may hand out another session, so it only ever
    tells that a pooler is there, never that none is."""
    import asyncpg

    from outage_voice.adapters.db.queries import q

    # No named statements: they may not survive the very pooler this looks for.
    first = await asyncpg.connect(dsn, timeout=CHECK_TIMEOUT_S, statement_cache_size=0)
    try:
        second = await asyncpg.connect(dsn, timeout=CHECK_TIMEOUT_S, statement_cache_size=0)
        try:
            for _ in range(POOLER_PROBE_ROUNDS):
                mine = await first.fetchrow(q("doctor_session"), timeout=CHECK_TIMEOUT_S)
                other = await second.fetchrow(q("doctor_session"), timeout=CHECK_TIMEOUT_S)
                if mine is not None and other is not None and tuple(mine) == tuple(other):
                    return True
        finally:
            await second.close()
    finally:
        await first.close()
    return False


async def check_migrations(dsn: str) -> Check:
    import asyncpg

    from outage_voice.adapters.db.migrations import MigrationError, discover_migrations
    from outage_voice.adapters.db.queries import q

    try:
        known = discover_migrations()
    except MigrationError as exc:
        return Check(name="migrations", status=Status.FAIL, detail=_one_line(exc))
    try:
        connection = await asyncpg.connect(dsn, timeout=CHECK_TIMEOUT_S)
        try:
            exists = await connection.fetchval(q("doctor_migrations_table"))
            rows = await connection.fetch(q("migrations_applied")) if exists else []
        finally:
            await connection.close()
    except (
        OSError,
        TimeoutError,
        ValueError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ) as exc:
        return Check(name="migrations", status=Status.FAIL, detail=_one_line(exc))
    applied = {row["version"]: row["checksum"] for row in rows}
    newer = sorted(set(applied) - {m.version for m in known})
    if newer:
        return Check(
            name="migrations",
            status=Status.FAIL,
            detail=f"the database has migration {newer[-1]:04d}, newer than this release: "
            "run the release that applied it",
        )
    changed = [m for m in known if m.version in applied and applied[m.version] != m.checksum]
    if changed:
        return Check(
            name="migrations",
            status=Status.FAIL,
            detail=f"{changed[0].version:04d}_{changed[0].name} differs from the one applied",
        )
    pending = [m for m in known if m.version not in applied]
    if pending:
        return Check(
            name="migrations",
            status=Status.WARN,
            detail=f"{len(pending)} of {len(known)} pending (first "
            f"{pending[0].version:04d}_{pending[0].name}): `serve` applies them at start, "
            "or run `outage-voice migrate`",
        )
    return Check(
        name="migrations",
        status=Status.OK,
        detail=f"up to date ({known[-1].version:04d}_{known[-1].name})",
    )


async def check_carrier(settings: Settings) -> Check:
    """An authenticated GET of the account: the credentials and the API URL proven, nothing
    placed or changed."""
    from twilio.base.exceptions import TwilioRestException

    from outage_voice.adapters.twilio.calls import TwilioCalls

    if settings.twilio is None and settings.twilio_api_url is None:
        return Check(
            name="carrier",
            status=Status.WARN,
            detail="the built-in virtual carrier (TWILIO_ACCOUNT_SID unset): no real calls",
        )
    if settings.twilio is not None:
        sid, token = settings.twilio.account_sid, settings.twilio.auth_token
        who = f"Twilio account {mask_account_sid(sid)}"
    else:
        sid, token = VIRTUAL_ACCOUNT_SID, VIRTUAL_AUTH_TOKEN
        who = "the virtual carrier's account"
    where = settings.twilio_api_url or "https://api.twilio.com"
    calls = TwilioCalls(
        account_sid=sid, auth_token=token, api_url=settings.twilio_api_url,
        request_timeout_s=CHECK_TIMEOUT_S,
    )  # fmt: skip
    try:
        name, status = await calls.account_status()
    except TwilioRestException as exc:
        refused = exc.status in (401, 403)
        reason = (
            "credentials refused: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
            if refused
            else " ".join(str(exc.msg).split())[:200]
        )
        return Check(
            name="carrier",
            status=Status.FAIL,
            detail=f"{who} at {where}: HTTP {exc.status} (code {exc.code}): {reason}",
        )
    except (OSError, TimeoutError, aiohttp.ClientError) as exc:
        return Check(
            name="carrier",
            status=Status.FAIL,
            detail=f"{who}: cannot reach {where}: {_one_line(exc)}",
        )
    finally:
        await calls.close()
    if status != "active":
        return Check(
            name="carrier",
            status=Status.FAIL,
            detail=f"{who} at {where} is {status or 'of unknown status'}, not active",
        )
    return Check(name="carrier", status=Status.OK, detail=f"{who} ({name}) at {where}: active")


async def check_public_url(settings: Settings) -> Check:
    """GET {public}/healthz from here: the URL the carrier is given leads to this product."""
    if not settings.public_url_configured:
        return Check(
            name="public URL",
            status=Status.WARN,
            detail="OUTAGE_VOICE_PUBLIC_URL is unset: not checked",
        )
    url = f"{settings.public_url}/healthz"
    timeout = aiohttp.ClientTimeout(total=CHECK_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            body = await response.text()
            status = response.status
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, ConnectionRefusedError):
            return Check(
                name="public URL",
                status=Status.WARN,
                detail=f"nothing answers at {url} (is `serve` running?)",
            )
        return Check(name="public URL", status=Status.FAIL, detail=f"{url}: {_one_line(exc)}")
    except (OSError, TimeoutError, aiohttp.ClientError) as exc:
        reason = "no answer in time" if isinstance(exc, TimeoutError) else _one_line(exc)
        return Check(name="public URL", status=Status.FAIL, detail=f"{url}: {reason}")
    try:
        health = json.loads(body)
    except ValueError:
        health = None
    if not isinstance(health, dict) or health.get("status") not in _HEALTH_STATES:
        return Check(
            name="public URL",
            status=Status.FAIL,
            detail=f"{url} answered HTTP {status}, but not as outage-voice does",
        )
    if status != 200:
        return Check(
            name="public URL",
            status=Status.FAIL,
            detail=f"{url}: HTTP {status}, {health.get('status')} "
            f"(database: {health.get('database')})",
        )
    return Check(name="public URL", status=Status.OK, detail=f"{url} answers: healthy")


async def check_speech(settings: Settings) -> Check:
    """A word synthesized with each configured engine, in order."""
    from outage_voice.bootstrap import speech_engines

    engines = speech_engines(settings)
    made: list[str] = []
    failed: list[str] = []
    try:
        for engine in engines:
            try:
                async with asyncio.timeout(CHECK_TIMEOUT_S):
                    audio = await engine.synthesize(TTS_PROBE_WORD, "en")
            except Exception as exc:  # any engine failure is what this check reports
                failed.append(f"{engine.name} failed ({_one_line(exc)})")
                continue
            if audio:
                made.append(engine.name)
            else:
                failed.append(f"{engine.name} made no audio")
    finally:
        for engine in engines:
            engine.close()
    if not made:
        return Check(
            name="text-to-speech",
            status=Status.FAIL,
            detail="; ".join(failed) + ": callers would hear <Say> only",
        )
    if failed:
        return Check(
            name="text-to-speech",
            status=Status.WARN,
            detail="; ".join(failed) + f"; {made[0]} speaks instead",
        )
    return Check(name="text-to-speech", status=Status.OK, detail=f"{', '.join(made)} speaks")


def check_numbers(settings: Settings) -> Check:
    """The numbers the line transfers to and calls from: valid when set (the configuration
    checked them), or unset (optional)."""
    numbers: list[tuple[str, str | None]] = [
        ("OUTAGE_VOICE_EMERGENCY_NUMBER", settings.emergency_number),
        ("OUTAGE_VOICE_AGENT_NUMBER", settings.agent_number),
    ]
    if settings.twilio is not None:
        numbers.append(("TWILIO_FROM_NUMBER", settings.twilio.from_number))
    parts = [
        f"{variable} {mask_phone(value) if value else 'unset (optional)'}"
        for variable, value in numbers
    ]
    if settings.emergency_number is None:
        parts[0] += f", callers told to dial {settings.public_emergency_number}"
    return Check(name="numbers", status=Status.OK, detail="; ".join(parts))
