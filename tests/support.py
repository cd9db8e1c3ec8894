"""Helpers shared by tests."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

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


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"
