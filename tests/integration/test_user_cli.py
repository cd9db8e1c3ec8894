"""`outage-voice user create|list|disable` as an operator runs them."""

from __future__ import annotations

import subprocess

import asyncpg

from outage_voice.adapters.passwords import verify_password
from tests.support import cli, cli_env, run_cli

PASSWORD = "correct horse battery"


def run(dsn: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return run_cli(["user", *args], env=_env(dsn), stdin=stdin)


def run_process(dsn: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """As a shell runs it, in a process of its own: the password prompt reads a terminal."""
    return subprocess.run(
        cli("user", *args),
        env=_env(dsn),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _env(dsn: str) -> dict[str, str]:
    return cli_env(DATABASE_URL=dsn, OUTAGE_VOICE_TIMEZONE="America/Chicago")


async def test_accounts_are_made_listed_and_disabled_without_the_password_showing(
    database_dsn: str, pool: asyncpg.Pool
) -> None:
    made = run(database_dsn, "create", "--role", "supervisor", "--password-stdin", "Ana.Ruiz",
               stdin=PASSWORD + "\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "created supervisor 'ana.ruiz' (America/Chicago, the utility's)" in made.stdout
    viewer = run(database_dsn, "create", "--role", "viewer", "--timezone", "America/Denver",
                 "--password-stdin", "wall", stdin=PASSWORD + "\n")  # fmt: skip
    assert viewer.returncode == 0, viewer.stderr

    stored = await pool.fetchval("SELECT password_hash FROM users WHERE username = 'ana.ruiz'")
    assert stored.startswith("scrypt$32768$8$1$")
    assert PASSWORD not in stored and verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "!", stored)

    again = run(database_dsn, "create", "--role", "viewer", "--password-stdin", "ANA.RUIZ",
                stdin=PASSWORD + "\n")  # fmt: skip
    assert again.returncode == 1
    assert "a user named 'ana.ruiz' exists already" in again.stderr
    short = run(database_dsn, "create", "--role", "viewer", "--password-stdin", "bo",
                stdin="short\n")  # fmt: skip
    assert short.returncode == 1 and "password: needs at least 12 characters" in short.stderr
    oms = run(database_dsn, "create", "--role", "oms", "--password-stdin", "feed", stdin=PASSWORD)
    assert oms.returncode == 2  # machines get API tokens, not accounts
    bad_zone = run(database_dsn, "create", "--role", "viewer", "--timezone", "Mars/Olympus",
                   "--password-stdin", "cy", stdin=PASSWORD + "\n")  # fmt: skip
    assert bad_zone.returncode == 1 and "not an IANA time zone" in bad_zone.stderr

    listed = run(database_dsn, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["USERNAME", "ROLE", "TIME", "ZONE", "CREATED", "DISABLED"]
    assert lines[1].split()[:2] == ["ana.ruiz", "supervisor"]
    assert lines[2].split()[:3] == ["wall", "viewer", "America/Denver"]
    assert len(lines) == 3

    disabled = run(database_dsn, "disable", "Wall")
    assert disabled.returncode == 0 and "disabled 'wall'" in disabled.stdout
    assert run(database_dsn, "list").stdout.splitlines()[2].endswith("Z")
    twice = run(database_dsn, "disable", "wall")
    assert twice.returncode == 1 and "not found" in twice.stderr

    # At a terminal the password is asked twice; two that differ make nothing.
    differ = run_process(database_dsn, "create", "--role", "viewer", "dee",
                         stdin=PASSWORD + "\n" + PASSWORD + "x\n")  # fmt: skip
    assert differ.returncode == 1 and "the two passwords differ" in differ.stderr
    assert "dee" not in run(database_dsn, "list").stdout

    for result in (made, viewer, again, short, listed, disabled, differ):
        assert PASSWORD not in result.stdout + result.stderr
