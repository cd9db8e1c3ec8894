"""Campaigns the automation made are ordinary campaigns that say so: `"automatic"` and the
`"trigger"` that started them in the API's JSON, marked in the shell's list and view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.domain.outages import parse_outage_state
from tests.integration.test_campaign_cli import run
from tests.support import T0, csv_text

Client = TestClient[web.Request, web.Application]
ACK: dict[str, Any] = {"name": "ack", "kind": "outage_ack", "audience": {"outage_id": "S1"}}


async def _storm(services: Services, tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text("1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,"))
    await services.customers.import_file(customers)
    await services.outages.put(
        "S1", parse_outage_state({"status": "confirmed", "feeder_ids": ["F1"]}, now=T0), actor="t"
    )


async def _as_automatic(services: Services, campaign_id: int, event_id: int) -> None:
    """What the automation's campaign store writes for a campaign it starts."""
    await services.pool.execute(
        "UPDATE campaigns SET automatic = true, trigger_event = 'confirmed', "
        "trigger_event_id = $2 WHERE id = $1",
        campaign_id,
        event_id,
    )


async def test_campaign_json_says_whether_the_automation_made_it_and_why(
    api: Client, tokens: dict[Role, dict[str, str]], services: Services, tmp_path: Path
) -> None:
    await _storm(services, tmp_path)
    supervisor, viewer = tokens[Role.SUPERVISOR], tokens[Role.VIEWER]
    created = await api.post("/api/v1/campaigns", json=ACK, headers=supervisor)
    assert created.status == 201, await created.text()
    manual = await created.json()
    assert manual["automatic"] is False and manual["trigger"] is None
    second = await (await api.post("/api/v1/campaigns", json=ACK, headers=supervisor)).json()

    await _as_automatic(services, second["id"], 41)
    shown = await (await api.get(f"/api/v1/campaigns/{second['id']}", headers=viewer)).json()
    assert shown["automatic"] is True
    assert shown["trigger"] == {"outage_id": "S1", "event": "confirmed", "event_id": 41}
    listed = await (await api.get("/api/v1/campaigns", headers=viewer)).json()
    assert [(c["id"], c["automatic"], c["trigger"]) for c in listed["campaigns"]] == [
        (second["id"], True, shown["trigger"]),
        (manual["id"], False, None),
    ]
    # Still an ordinary campaign, steered like any other.
    started = await api.post(f"/api/v1/campaigns/{second['id']}/start", headers=supervisor)
    assert (await started.json())["automatic"] is True


async def test_the_shell_marks_automatic_campaigns(
    database_dsn: str, services: Services, tmp_path: Path
) -> None:
    await _storm(services, tmp_path)
    for _ in range(2):
        made = run(
            database_dsn, "create", "--name", "ack", "--kind", "outage_ack", "--outage", "S1"
        )
        assert made.returncode == 0, made.stderr
    await _as_automatic(services, 2, 41)

    header, automatic, manual = run(database_dsn, "list").stdout.splitlines()
    assert header.split() == ["ID", "STATE", "KIND", "PROGRESS", "ETA", "NAME"]
    assert automatic.split()[:4] == ["2", "draft", "outage_ack", "(auto)"]
    assert manual.split()[:4] == ["1", "draft", "outage_ack", "0/1"]

    shown = run(database_dsn, "show", "2").stdout.splitlines()
    assert shown[0] == "campaign 2 'ack': outage_ack, draft"
    assert shown[1] == "  automatic: started by outage S1 (confirmed, event 41)"
    assert not any(
        "automatic" in line for line in run(database_dsn, "show", "1").stdout.splitlines()
    )
