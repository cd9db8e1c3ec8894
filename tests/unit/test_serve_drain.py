"""How long a stopping `serve` waits for the requests in its hands: no longer than a carrier
waits for a webhook, and within the time compose gives a container to stop."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from outage_voice import cli
from outage_voice.adapters.twilio.calls import REQUEST_TIMEOUT_S
from outage_voice.config import load_settings

COMPOSE = Path(__file__).parents[2] / "docker" / "compose.yaml"
CARRIER_WEBHOOK_TIMEOUT_S = 15  # Twilio's


def test_serve_drains_for_the_drain_timeout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran: dict[str, Any] = {}
    monkeypatch.setattr(web, "run_app", lambda app, **options: ran.update(options))
    settings = load_settings(
        {"OUTAGE_VOICE_HOME": str(tmp_path), "DATABASE_URL": "postgresql://u@127.0.0.1:1/db"}
    )
    try:
        assert cli._serve(settings, host="127.0.0.1", port=0) == 0
    finally:
        if "loop" in ran:
            ran["loop"].close()
        if "sock" in ran:
            ran["sock"].close()
    assert ran["shutdown_timeout"] == cli.DRAIN_TIMEOUT_S <= CARRIER_WEBHOOK_TIMEOUT_S


def test_compose_gives_the_drain_and_the_hand_over_time_to_stop() -> None:
    grace = yaml.safe_load(COMPOSE.read_text())["x-outage-voice"]["stop_grace_period"]
    found = re.fullmatch(r"(\d+)s", grace)
    assert found is not None, grace
    # The leader's hand-over (the dialer's carrier requests finish) comes before the drain.
    assert int(found.group(1)) >= cli.DRAIN_TIMEOUT_S + REQUEST_TIMEOUT_S
