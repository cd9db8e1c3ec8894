"""`outage-voice automation show|set` as an operator runs it, on a real database."""

from __future__ import annotations

import json
import subprocess

from outage_voice.bootstrap import Services
from outage_voice.domain.automation import AutomationRules
from tests.support import cli, cli_env, run_cli


def run(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(["automation", *args], env=cli_env(DATABASE_URL=dsn))


def run_process(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli("automation", *args),
        env=cli_env(DATABASE_URL=dsn),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_rules_are_shown_and_changed_from_the_shell(
    database_dsn: str, services: Services
) -> None:
    shown = run_process(database_dsn, "show")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert ["acknowledge.blink_hold_s", "300", "(5", "min)"] in [line.split() for line in lines]
    assert json.loads(run(database_dsn, "show", "--json").stdout) == AutomationRules().as_json()

    changed = run(
        database_dsn,
        "set",
        "acknowledge.blink_hold_s=0",
        "etr_update.enabled=false",
        "pacing.confirmed.cps=30",
    )
    assert changed.returncode == 0, changed.stderr
    assert ["etr_update.enabled", "false"] in [line.split() for line in changed.stdout.splitlines()]
    document = json.loads(run(database_dsn, "show", "--json").stdout)
    assert document["acknowledge"]["blink_hold_s"] == 0
    assert document["acknowledge"]["skip_recent_callers_s"] == 1800  # untouched
    assert document["etr_update"]["enabled"] is False
    assert document["pacing"]["confirmed"]["cps"] == 30
    # The server reads what the shell saved.
    rules = await services.automation.rules()
    assert rules.acknowledge.blink_hold_s == 0 and rules.etr_update.enabled is False

    for args, words in (
        (("acknowledge.blink_hold=0",), "outage-voice: acknowledge.blink_hold: "),
        (("etr_update.min_change_s=soon",), "outage-voice: etr_update.min_change_s: "),
        (("etr_update.enabled",), "outage-voice: etr_update.enabled: write it as key=value"),
        ((), "outage-voice: rules: name at least one key=value"),
    ):
        refused = run(database_dsn, "set", *args)
        assert refused.returncode == 2, (args, refused.stdout)
        assert refused.stderr.startswith(words), (args, refused.stderr)
        assert "Traceback" not in refused.stderr
    assert json.loads(run(database_dsn, "show", "--json").stdout) == document
