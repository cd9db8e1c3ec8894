"""`outage-voice campaign ...` as an operator runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from outage_voice.bootstrap import Services
from tests.support import cli, cli_env, csv_text


def run(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
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
    await services.outages.put("S1", {"status": "confirmed", "feeder_ids": ["F1"]}, actor="t")
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
