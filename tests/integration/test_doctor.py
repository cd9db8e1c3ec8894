"""`outage-voice doctor`: one line per check, a failure named and the exit status non-zero."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from outage_voice.carrier.clock import RealClock
from outage_voice.carrier.engine import CarrierSettings, VirtualCarrier
from outage_voice.carrier.rest import create_carrier_app
from outage_voice.config import Settings, TwilioSettings
from outage_voice.doctor import Check, Status, run_checks, run_doctor
from tests.integration.test_server import free_port
from tests.pgbouncer import running_pgbouncer
from tests.support import REPO_ROOT, cli, cli_env

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "doctor-test-token"


@pytest.fixture
async def carrier_url() -> AsyncIterator[str]:
    """A virtual carrier with its own account, over HTTP on loopback."""
    carrier = VirtualCarrier(
        CarrierSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN), RealClock()
    )
    server = TestServer(create_carrier_app(carrier), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
        await carrier.close()


@pytest.fixture
def healthy(
    settings: Settings, carrier_url: str, api: TestClient[web.Request, web.Application]
) -> Settings:
    """Everything set as production would: a database, a Twilio account (the virtual
    carrier's API), a public URL a server answers at, and the numbers."""
    return dataclasses.replace(
        settings,
        twilio=TwilioSettings(
            account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number="+15125550199"
        ),
        twilio_api_url=carrier_url,
        public_url=str(api.make_url("")).rstrip("/"),
        public_url_configured=True,
        emergency_number="+15125550911",
    )


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


async def test_a_working_installation_passes_every_check(healthy: Settings) -> None:
    checks = by_name(await run_checks(healthy))
    assert list(checks) == [
        "configuration",
        "database",
        "migrations",
        "carrier",
        "public URL",
        "text-to-speech",
        "numbers",
    ]
    assert {name: check.status for name, check in checks.items()} == dict.fromkeys(
        checks, Status.OK
    ), [check.line for check in checks.values()]
    assert "PostgreSQL" in checks["database"].detail
    assert "up to date" in checks["migrations"].detail
    assert checks["carrier"].detail.startswith("Twilio account AC55…5555 (")
    assert checks["carrier"].detail.endswith("active")
    assert "espeak" in checks["text-to-speech"].detail
    # The utility's own numbers are masked as every log masks numbers.
    assert "+15125550911" not in checks["numbers"].detail
    assert "OUTAGE_VOICE_AGENT_NUMBER unset (optional)" in checks["numbers"].detail


async def test_bad_carrier_credentials_fail_in_one_line_naming_the_check(
    healthy: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert healthy.twilio is not None
    wrong = dataclasses.replace(
        healthy, twilio=dataclasses.replace(healthy.twilio, auth_token="not-the-token")
    )
    assert await run_doctor(wrong, _no_args()) == 1
    out, err = capsys.readouterr()
    carrier = [line for line in out.splitlines() if "carrier:" in line]
    assert len(carrier) == 1
    assert carrier[0].startswith("FAIL  carrier: Twilio account AC55…5555 at http://127.0.0.1:")
    assert "HTTP 401" in carrier[0] and "credentials refused" in carrier[0]
    assert "not-the-token" not in out + err
    assert "1 failed: carrier" in err


async def test_an_unreachable_database_fails_in_one_line(
    healthy: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = f"postgresql://ov:secret-password@127.0.0.1:{free_port()}/ov"
    assert await run_doctor(dataclasses.replace(healthy, database_url=dsn), _no_args()) == 1
    out, err = capsys.readouterr()
    database = [line for line in out.splitlines() if " database: " in line]
    assert len(database) == 1
    assert database[0].startswith(
        "FAIL  database: cannot connect to postgresql://ov:***@127.0.0.1:"
    )
    assert "secret-password" not in out + err
    assert "warn  migrations: not checked: the database did not answer" in out.splitlines()
    assert "doctor: 1 failed: database" in err


async def test_a_separate_leader_url_is_checked_too(healthy: Settings) -> None:
    assert healthy.database_url is not None
    leader = (
        healthy.database_url
        + ("&" if "?" in healthy.database_url else "?")
        + "application_name=leader"
    )
    checks = by_name(await run_checks(dataclasses.replace(healthy, database_leader_url=leader)))
    assert checks["leader database"].status is Status.OK
    assert "(DATABASE_LEADER_URL)" in checks["leader database"].detail
    bad = f"postgresql://ov@127.0.0.1:{free_port()}/ov"
    checks = by_name(await run_checks(dataclasses.replace(healthy, database_leader_url=bad)))
    assert checks["database"].status is Status.OK
    assert checks["leader database"].status is Status.FAIL


async def test_through_a_transaction_pooler_with_the_leader_url_direct(
    healthy: Settings, tmp_path: Path
) -> None:
    """As production behind PgBouncer: the pool's URL through it, the leader's past it."""
    assert healthy.database_url is not None
    with running_pgbouncer(healthy.database_url, tmp_path / "pgbouncer", pool_size=1) as pooled:
        settings = dataclasses.replace(
            healthy,
            database_url=pooled,
            database_pooler="transaction",
            database_leader_url=healthy.database_url,
        )
        checks = by_name(await run_checks(settings))
    assert checks["database"].status is Status.OK, checks["database"].line
    assert "through a transaction pooler" in checks["database"].detail
    assert checks["leader database"].status is Status.OK
    assert checks["migrations"].status is Status.OK


async def test_a_transaction_pooler_left_undeclared_is_a_warning(
    healthy: Settings, tmp_path: Path
) -> None:
    """DATABASE_URL through PgBouncer in transaction mode, but OUTAGE_VOICE_DATABASE_POOLER
    left at none: the leader lock would go through it too. A leader URL through it is named."""
    assert healthy.database_url is not None
    direct = by_name(await run_checks(healthy))
    assert direct["database"].status is Status.OK, direct["database"].line
    with running_pgbouncer(healthy.database_url, tmp_path / "pgbouncer") as pooled:
        undeclared = by_name(await run_checks(dataclasses.replace(healthy, database_url=pooled)))
        leader_pooled = by_name(
            await run_checks(
                dataclasses.replace(
                    healthy,
                    database_url=healthy.database_url,
                    database_leader_url=pooled,
                )
            )
        )
    check = undeclared["database"]
    assert check.status is Status.WARN, check.line
    assert "seems to go through a transaction pooler" in check.detail
    assert "OUTAGE_VOICE_DATABASE_POOLER=transaction" in check.detail
    # Still a working database: the migrations are checked all the same.
    assert undeclared["migrations"].status is Status.OK
    assert leader_pooled["database"].status is Status.OK
    assert leader_pooled["leader database"].status is Status.WARN
    assert "point DATABASE_LEADER_URL past the pooler" in leader_pooled["leader database"].detail


async def test_pending_migrations_are_a_warning(healthy: Settings, empty_database_dsn: str) -> None:
    checks = by_name(
        await run_checks(dataclasses.replace(healthy, database_url=empty_database_dsn))
    )
    assert checks["migrations"].status is Status.WARN
    assert "pending" in checks["migrations"].detail
    assert "outage-voice migrate" in checks["migrations"].detail


async def test_a_public_url_nobody_answers_warns_and_a_foreign_one_fails(
    healthy: Settings, carrier_url: str
) -> None:
    silent = dataclasses.replace(healthy, public_url=f"http://127.0.0.1:{free_port()}")
    check = by_name(await run_checks(silent))["public URL"]
    assert check.status is Status.WARN
    assert "nothing answers" in check.detail and "serve" in check.detail
    foreign = dataclasses.replace(healthy, public_url=carrier_url)
    check = by_name(await run_checks(foreign))["public URL"]
    assert check.status is Status.FAIL
    assert "not as outage-voice does" in check.detail


def _no_args() -> object:
    import argparse

    return argparse.Namespace()


def test_the_command_exits_non_zero_naming_the_failed_check(tmp_path: Path) -> None:
    # A password in the query, as some managed providers write it, is masked too.
    dsn = f"postgresql://ov@127.0.0.1:{free_port()}/ov?sslmode=disable&password=pw-in-query"
    env = cli_env(DATABASE_URL=dsn, OUTAGE_VOICE_HOME=str(tmp_path / "home"))
    env.pop("PYTHONUNBUFFERED", None)  # standard output to a pipe is buffered, as in production
    done = subprocess.run(
        cli("doctor"),
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        # One pipe for both, as a terminal or a CI log shows them: the verdict comes last.
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "pw-in-query" not in done.stdout
    *lines, verdict = done.stdout.splitlines()
    # One line per check, each starting with its verdict, then the summary.
    assert len(lines) == 7, lines
    assert all(line.split()[0] in ("ok", "warn", "FAIL") for line in lines), lines
    assert any(
        line.startswith("FAIL  database: cannot connect to postgresql://ov@127.0.0.1:")
        and "/ov?sslmode=disable&password=*** (DATABASE_URL)" in line
        for line in lines
    ), lines
    assert verdict == "doctor: 1 failed: database"
