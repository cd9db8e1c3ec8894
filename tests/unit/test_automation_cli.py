"""`outage-voice automation show|set`: dotted key=value arguments read as the API's partial
document, the rules printed a line each, and a bad field named with exit status 2."""

from __future__ import annotations

import argparse

import pytest

from outage_voice.automation_cli import (
    EXIT_USAGE,
    automation_command,
    describe_rules,
    parse_assignments,
)
from outage_voice.domain.automation import AutomationRules, merge_rules
from outage_voice.domain.errors import InvalidField


class MemoryRules:
    def __init__(self) -> None:
        self.current = AutomationRules()
        self.actors: list[str] = []

    async def rules(self) -> AutomationRules:
        return self.current

    async def update_rules(self, patch: object, *, actor: str) -> AutomationRules:
        self.current = merge_rules(self.current, patch)
        self.actors.append(actor)
        return self.current


def test_dotted_keys_make_the_partial_document_values_read_as_json() -> None:
    patch = parse_assignments(
        [
            "acknowledge.blink_hold_s=0",
            "etr_update.enabled=false",
            "pacing.confirmed.cps=30",
            "pacing.confirmed.max_concurrent=50",
            'acknowledge.on=["confirmed","crew_dispatched"]',
            "window=09:00-20:00",
        ]
    )
    assert patch == {
        "acknowledge": {"blink_hold_s": 0, "on": ["confirmed", "crew_dispatched"]},
        "etr_update": {"enabled": False},
        "pacing": {"confirmed": {"cps": 30, "max_concurrent": 50}},
        "window": "09:00-20:00",
    }


@pytest.mark.parametrize(
    ("pairs", "field"),
    [
        ([], "rules"),
        (["acknowledge.blink_hold_s"], "acknowledge.blink_hold_s"),
        (["acknowledge..enabled=true"], "acknowledge..enabled"),
        (["=3"], "=3"),
        (["etr_update.enabled=false", "etr_update.enabled=true"], "etr_update.enabled"),
        (["all_clear=true", "all_clear.enabled=false"], "all_clear"),
        (["pacing.confirmed.cps=NaN"], None),
    ],
)
def test_malformed_arguments_name_what_to_retype(pairs: list[str], field: str | None) -> None:
    if field is None:  # not JSON: a string, which the rules then refuse naming the field
        assert parse_assignments(pairs) == {"pacing": {"confirmed": {"cps": "NaN"}}}
        return
    with pytest.raises(InvalidField) as raised:
        parse_assignments(pairs)
    assert raised.value.field == field


def test_the_rules_print_a_line_each_as_set_names_them() -> None:
    text = describe_rules(AutomationRules().as_json())
    lines = text.splitlines()
    assert any(line.split() == ["acknowledge.blink_hold_s", "300", "(5", "min)"] for line in lines)
    assert any(line.split() == ["acknowledge.on", '["confirmed"]'] for line in lines)
    assert any(
        line.split() == ["etr_update.per_customer_gap_s", "3600", "(1", "h)"] for line in lines
    )
    assert any(line.split()[:2] == ["pacing.restored.cps", "20.0"] for line in lines)
    assert any(line.split() == ["window", '"08:00-21:00"'] for line in lines)


def _args(command: str, *assignments: str, json: bool = False) -> argparse.Namespace:
    return argparse.Namespace(automation_command=command, assignments=list(assignments), json=json)


async def test_set_merges_through_the_service_and_prints_the_rules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = MemoryRules()
    code = await automation_command(
        service, _args("set", "acknowledge.blink_hold_s=0", "etr_update.enabled=false")
    )
    assert code == 0
    assert service.current.acknowledge.blink_hold_s == 0
    assert service.current.etr_update.enabled is False
    assert service.actors == ["cli"]
    out = capsys.readouterr().out
    assert any(
        line.split() == ["acknowledge.blink_hold_s", "0", "(0", "s)"] for line in out.splitlines()
    )
    assert "saved" in out


async def test_a_bad_field_prints_it_and_exits_2_changing_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = MemoryRules()
    for args, field in (
        (("acknowledge.blink_hold=0",), "acknowledge.blink_hold"),
        (("etr_update.min_change_s=soon",), "etr_update.min_change_s"),
        (("acknowledge.enabled=true", "x"), "x"),
    ):
        assert await automation_command(service, _args("set", *args)) == EXIT_USAGE
        err = capsys.readouterr().err
        assert err.startswith(f"outage-voice: {field}: "), err
    assert service.current == AutomationRules() and service.actors == []
