"""The campaign services' seams: ports of frozen records (no database rows), a spec the API
parses and the shell builds alike, and the callback URLs the dialer is given."""

from __future__ import annotations

import argparse
import ast
import dataclasses
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

import outage_voice
from outage_voice.campaign_cli import create_spec, pace_change
from outage_voice.domain import campaign_records
from outage_voice.domain.campaigns import (
    CampaignKind,
    Retryable,
    RetryRule,
    new_campaign_spec,
    spec_from_json,
)
from outage_voice.domain.errors import InvalidField
from outage_voice.domain.windows import DailyWindow
from outage_voice.web.callback_urls import CampaignCallUrls
from outage_voice.web.campaign_json import parse_campaign_spec, parse_pacing_change

PACKAGE = Path(outage_voice.__file__).parent
CAMPAIGN_SERVICES = ("campaign_ports", "campaigns", "dialer", "outbound")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", CAMPAIGN_SERVICES)
def test_campaign_services_import_no_database_driver(module: str) -> None:
    imported = imported_modules(PACKAGE / "services" / f"{module}.py")
    assert not {name for name in imported if name.split(".")[0] == "asyncpg"}
    assert not {name for name in imported if name.startswith("outage_voice.adapters")}


def test_the_records_ports_exchange_are_frozen_and_keyword_only() -> None:
    records = [
        value
        for value in vars(campaign_records).values()
        if isinstance(value, type) and dataclasses.is_dataclass(value)
    ]
    assert len(records) >= 10
    for record in records:
        # No public API says whether a dataclass is frozen; its params are the record.
        params = record.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen, record
        assert all(f.kw_only for f in dataclasses.fields(record)), record


def cli_args(**given: object) -> argparse.Namespace:
    defaults: dict[str, object] = {
        "name": "Feeder 7",
        "kind": "custom",
        "outage": None,
        "callback_requests": False,
        "accounts_file": None,
        "premises": "",
        "feeders": "",
        "text": None,
        "cps": None,
        "max_concurrent": None,
        "window": None,
        "urgent": False,
        "priority": 0,
        "voicemail": "message",
    }
    return argparse.Namespace(**(defaults | given))


def test_the_shell_builds_the_spec_the_api_parses() -> None:
    from_shell = create_spec(
        cli_args(
            text="Crews are out  tonight.",
            premises="P1, P2,,P1",
            feeders="F7",
            cps=2.5,
            max_concurrent=40,
            window="07:00-20:00",
            urgent=True,
            priority=5,
            voicemail="hangup",
        )
    )
    from_api = parse_campaign_spec(
        {
            "name": "Feeder 7",
            "kind": "custom",
            "message": {"text": "Crews are out  tonight."},
            "audience": {"premises": ["P1", "P2", "P1"], "feeders": ["F7"]},
            "pacing": {"cps": 2.5, "max_concurrent": 40},
            "window": "07:00-20:00",
            "urgent": True,
            "priority": 5,
            "voicemail": "hangup",
        }
    )
    assert from_shell == from_api
    assert from_api.audience.premises == ("P1", "P2")
    assert from_api.message.text == "Crews are out tonight."
    assert from_api.window == DailyWindow(opens=time(7), closes=time(20))


def test_the_shell_and_the_api_refuse_alike_naming_the_api_s_field() -> None:
    with pytest.raises(InvalidField) as from_shell:
        create_spec(cli_args(kind="restoration"))
    with pytest.raises(InvalidField) as from_api:
        parse_campaign_spec({"name": "Feeder 7", "kind": "restoration", "audience": {}})
    assert from_shell.value.field == from_api.value.field == "audience"
    with pytest.raises(InvalidField) as no_change:
        pace_change(argparse.Namespace(cps=None, max_concurrent=None, window=None, priority=None))
    with pytest.raises(InvalidField) as empty_body:
        parse_pacing_change({})
    assert (no_change.value.field, no_change.value.message) == (
        empty_body.value.field,
        empty_body.value.message,
    )
    with pytest.raises(InvalidField) as misspelt:
        parse_campaign_spec(
            {"name": "n", "kind": "outage_ack", "audience": {"callback_request": True}}
        )
    assert misspelt.value.field == "audience.callback_request"


def test_a_stored_spec_reads_back_as_written() -> None:
    spec = new_campaign_spec(
        name="STORM-1 restored",
        kind=CampaignKind.RESTORATION,
        outage_id="STORM-1",
        callback_requests=True,
        cps=20,
        retry={Retryable.BUSY: RetryRule(max_attempts=2, delay_s=120)},
        starts_at=datetime(2026, 11, 29, 18, 0, tzinfo=UTC),
    )
    assert spec_from_json(spec.as_json()) == spec


def test_the_dialer_s_callback_urls_name_the_attempt() -> None:
    attempt = campaign_records.ClaimedAttempt(
        id=7, target_id=70, phone="+15125550100", attempt_no=2
    )
    urls = CampaignCallUrls("https://ivr.example.com")
    message = urls(attempt, campaign_id=3, kind=CampaignKind.RESTORATION)
    assert message.answer == "https://ivr.example.com/twilio/outbound?attempt=7"
    assert message.status == (
        "https://ivr.example.com/twilio/status?attempt=7&campaign=3&attempt_no=2"
    )
    # A survey is asked by its own flow; its status callbacks are any call's.
    survey = urls(attempt, campaign_id=3, kind=CampaignKind.SURVEY)
    assert survey.answer == "https://ivr.example.com/twilio/survey?attempt=7"
    assert survey.status == message.status


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "name": "n",
                "kind": "restoration",
                "audience": {"outage_id": "S1"},
                "message": {"text": "hi"},
                "starts_at": 5,
            },
            "message.text",
        ),
        ({"name": " ", "kind": "custom", "audience": {"accounts": [1]}}, "name"),
        (
            {"name": "n", "kind": "custom", "audience": {}, "message": {"text": 5}},
            "audience",
        ),
        (
            {
                "name": "n",
                "kind": "outage_ack",
                "audience": {"outage_id": "S1"},
                "pacing": {"cps": 0, "max_concurrent": "many"},
            },
            "cps",
        ),
    ],
)
def test_of_several_errors_the_first_field_in_the_body_s_order_is_named(
    body: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        parse_campaign_spec(body)
    assert refused.value.field == field
    with pytest.raises(InvalidField) as pacing:
        parse_pacing_change({"window": "25:00-26:00", "priority": "high"})
    assert pacing.value.field == "window"
