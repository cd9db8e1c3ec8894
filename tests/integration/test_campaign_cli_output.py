"""What `outage-voice campaign ...` prints: a table with progress, errors in the shell's words,
the API's JSON, and the audience ids that matched nothing, named."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.bootstrap import Services
from outage_voice.domain.auth import Role
from outage_voice.domain.outages import parse_outage_state
from tests.integration.test_campaign_cli import run
from tests.support import T0, csv_text


async def test_list_show_and_errors_speak_the_shell_s_language(
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
    created = run(database_dsn, "create", "--name", "ack", "--kind", "outage_ack",
                  "--outage", "S1")  # fmt: skip
    assert created.returncode == 0, created.stderr
    await services.pool.execute(
        "UPDATE campaign_targets SET state = 'done', outcome = 'reached' WHERE id = "
        "(SELECT min(id) FROM campaign_targets)"
    )

    listed = run(database_dsn, "list")
    assert listed.returncode == 0, listed.stderr
    header, line = listed.stdout.splitlines()
    assert header.split() == ["ID", "STATE", "KIND", "PROGRESS", "ETA", "NAME"]
    assert line.split()[:4] == ["1", "draft", "outage_ack", "1/2"]
    assert "(50%)" in line and line.endswith("ack")

    shown = run(database_dsn, "show", "1", "--json")
    view = json.loads(shown.stdout)
    created_at = view["created_at"]
    assert "T" in created_at and datetime.fromisoformat(created_at).tzinfo is not None
    assert created_at.endswith("+00:00")  # RFC 3339, as the API writes it (not "2026-... 18:00")

    for args, words in (
        (("pace", "1", "--cps", "0"), "outage-voice: --cps: must be above 0"),
        (("pace", "1", "--max-concurrent", "0"), "outage-voice: --max-concurrent: must be 1 to"),
        (("pace", "1", "--window", "25:00-26:00"), "outage-voice: --window:"),
        (("pace", "1"), "outage-voice: name at least one of --cps, --max-concurrent, --window"),
        (("create", "--name", "x", "--kind", "custom"),
         "outage-voice: name the customers to call:"),
        (("create", "--name", "x", "--kind", "custom", "--feeders", "F1"),
         "outage-voice: --text: "),
        (("create", "--name", "x", "--kind", "restoration", "--feeders", "F1"),
         "outage-voice: --outage: a restoration campaign is about an outage"),
    ):  # fmt: skip
        result = run(database_dsn, *args)
        assert result.returncode == 1, (args, result.stdout)
        assert result.stderr.startswith(words), (args, result.stderr)
        for api_words in ("body:", "pacing.", "max_concurrent", "audience.", "message.text"):
            assert api_words not in result.stderr, (args, result.stderr)


async def test_audience_ids_that_matched_nothing_are_named_up_to_ten(
    api: TestClient[web.Request, web.Application],
    tokens: dict[Role, dict[str, str]],
    database_dsn: str,
    services: Services,
    tmp_path: Path,
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text("1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,"))
    await services.customers.import_file(customers)
    unknown = [f"99{n:02d}" for n in range(12)]
    accounts = tmp_path / "accounts.txt"
    accounts.write_text("\n".join(["1001", *unknown]) + "\n")

    created = run(database_dsn, "create", "--name", "note", "--kind", "custom", "--text",
                  "Crews are out tonight.", "--accounts-file", str(accounts))  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert (
        "note: 12 account ids matched nothing: "
        "9900, 9901, 9902, 9903, 9904, 9905, 9906, 9907, 9908, 9909 and 2 more"
    ) in created.stdout

    response = await api.post(
        "/api/v1/campaigns",
        json={
            "name": "note",
            "kind": "custom",
            "audience": {"accounts": ["1001", "4242", *unknown[:2]]},
            "message": {"text": "Crews are out tonight."},
        },
        headers=tokens[Role.SUPERVISOR],
    )
    assert response.status == 201
    view = await response.json()
    assert view["unknown_audience_keys"] == {"account": 3}
    assert view["unknown_audience_examples"] == {"account": ["4242", "9900", "9901"]}
