"""`outage-voice campaign ...` as an operator runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import asyncpg

from outage_voice.bootstrap import Services
from outage_voice.domain.outages import parse_outage_state
from tests.support import T0, cli, cli_env, csv_text, run_cli


def run(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["campaign", *args], env=cli_env(DATABASE_URL=dsn))


def run_process(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli("campaign", *args),
        env=cli_env(DATABASE_URL=dsn),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_campaign_lifecycle_from_the_shell(
    database_dsn: str, services: Services, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(
        csv_text(
            "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
            "1002,Jose Lopez,512-555-0102,,P2,40 Elm Street,F1,,es",
        )
    )
    await services.customers.import_file(customers)
    await services.outages.put(
        "S1", parse_outage_state({"status": "confirmed", "feeder_ids": ["F1"]}, now=T0), actor="t"
    )
    accounts = tmp_path / "accounts.txt"
    accounts.write_text("1001\n1002\n9999\n")

    created = run(database_dsn, "create", "--name", "ack", "--kind", "outage_ack",
                  "--outage", "S1", "--cps", "2", "--window", "07:00-20:00")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "campaign 1 'ack': outage_ack, draft" in created.stdout
    assert "0/2 (0%)" in created.stdout
    assert "2 cps" in created.stdout and "window 07:00-20:00" in created.stdout
    custom = run(database_dsn, "create", "--name", "note", "--kind", "custom", "--text",
                 "Crews are out tonight.", "--accounts-file", str(accounts))  # fmt: skip
    assert custom.returncode == 0, custom.stderr
    assert "note: 1 account id matched nothing: 9999" in custom.stdout

    assert "running" in run(database_dsn, "start", "1").stdout
    paced = run(database_dsn, "pace", "1", "--cps", "7")
    assert "7 cps" in paced.stdout
    assert "paused" in run(database_dsn, "pause", "1").stdout
    listed = run(database_dsn, "list").stdout
    assert "paused" in listed and "draft" in listed
    shown = run(database_dsn, "show", "1", "--json")
    assert '"state": "paused"' in shown.stdout

    again = run(database_dsn, "pause", "1")
    assert again.returncode == 1
    assert "cannot pause a campaign that is paused" in again.stderr
    bad = run(database_dsn, "create", "--name", "x", "--kind", "restoration")
    assert bad.returncode == 1 and "name the customers to call: --outage" in bad.stderr
    missing = run(database_dsn, "show", "77")
    assert missing.returncode == 1 and "77" in missing.stderr


async def test_restoration_campaign_before_the_outage_is_restored_needs_force(
    database_dsn: str, services: Services, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text("1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,"))
    await services.customers.import_file(customers)
    await services.outages.put(
        "S1",
        parse_outage_state({"status": "crew_on_site", "feeder_ids": ["F1"]}, now=T0),
        actor="t",
    )
    create = ("create", "--name", "all clear", "--kind", "restoration", "--outage", "S1")

    # Everything the process writes: one line on stderr, no log lines, no traceback.
    refused = run_process(database_dsn, *create)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "Traceback" not in refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert "outage S1 is crew_on_site, not restored" in line
    assert "--force" in line and '"force"' not in line  # the shell's words, not the API's
    assert await _campaigns(database_dsn) == 0

    forced = run(database_dsn, *create, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "restoration" in forced.stdout and "draft" in forced.stdout
    assert await _campaigns(database_dsn) == 1


async def _campaigns(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        count: int = await connection.fetchval("SELECT count(*) FROM campaigns")
        return count
    finally:
        await connection.close()
