"""The README's first command: `outage-voice demo` on embedded defaults tells the whole story."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import cli, cli_env


def test_demo_runs_the_storm_the_line_and_the_calls_the_oms_drives(tmp_path: Path) -> None:
    result = subprocess.run(
        cli("demo", "--customers", "200"),
        env=cli_env(OUTAGE_VOICE_HOME=str(tmp_path / "home")),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "1. customer file imported" in out and "rejected 0" in out
    assert "We know about the outage at" in out
    assert "4. callers dial the outage line" in out and "and chose: 1 then 3" in out
    assert "so the caller picked one of their homes, then asked for a call back" in out
    assert "so the caller reported the outage" in out
    assert "so the caller asked for a representative" in out
    assert "so the caller heard their status and needed nothing more" in out
    assert "   3 of 4 callers served themselves, 1 asked for a representative (" in out
    assert "simulated minutes" in out and "s of wall-clock time)" in out
    assert "5. nobody started it: the automation acknowledges STORM-1" in out
    assert "6. the OMS marks STORM-1 restored; the automation's all-clear" in out
    assert out.count("(100%)") == 2  # both automatic campaigns ran to the end
    summary = next(line for line in out.splitlines() if line.startswith("7. summary:"))
    assert "acknowledged" in summary and "all-clear to" in summary
    assert "still out" in summary and "voicemail" in summary
    assert "simulated minutes" in summary and "s of wall-clock time" in summary
    assert out.rstrip().splitlines()[-1].endswith("s of wall-clock time")
    assert "Traceback" not in result.stderr
