"""`outage-voice automation show|set`: the outage automation's rules from a shell, on the
database directly, checked and merged as `PUT /api/v1/automation` merges them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from outage_voice.config import Settings
from outage_voice.domain.automation import AutomationRules
from outage_voice.domain.errors import InvalidField

EXIT_USAGE = 2
EXAMPLE = "acknowledge.blink_hold_s=0"


class RulesService(Protocol):
    """What these commands need of services.automation.AutomationService."""

    async def rules(self) -> AutomationRules: ...

    async def update_rules(self, patch: object, *, actor: str) -> AutomationRules: ...


def _no_constants(name: str) -> object:
    raise ValueError(f"{name} is not a number")


def parse_value(raw: str) -> object:
    """A value as JSON (`0`, `false`, `30.5`, `["confirmed","crew_dispatched"]`, `null`); a
    word that is not JSON is taken as a string (`window=08:00-21:00`)."""
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except ValueError:
        return raw


def parse_assignments(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` arguments with dotted keys, as the partial document the API takes:
    `etr_update.enabled=false pacing.confirmed.cps=30` is
    `{"etr_update": {"enabled": false}, "pacing": {"confirmed": {"cps": 30}}}`."""
    if not pairs:
        raise InvalidField("rules", f"name at least one key=value to change, e.g. {EXAMPLE}")
    patch: dict[str, Any] = {}
    for pair in pairs:
        key, equals, raw = pair.partition("=")
        key = key.strip()
        path = key.split(".")
        if not equals or not all(part.strip() for part in path):
            raise InvalidField(key or pair, f"write it as key=value, e.g. {EXAMPLE}")
        level = patch
        for depth, part in enumerate(path[:-1]):
            inner = level.setdefault(part, {})
            if not isinstance(inner, dict):
                raise InvalidField(".".join(path[: depth + 1]), "is given a value and fields too")
            level = inner
        if path[-1] in level:
            raise InvalidField(key, "is given twice")
        level[path[-1]] = parse_value(raw)
    return patch


def _flat(document: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in document.items():
        if isinstance(value, Mapping) and value:
            yield from _flat(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def _seconds(seconds: int | float) -> str:
    if seconds and seconds % 86400 == 0:
        return f"{seconds // 86400:g} d"
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600:g} h"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60:g} min"
    return f"{seconds:g} s"


def describe_rules(document: Mapping[str, Any]) -> str:
    """The rules a line each, as `set` names them, durations also in minutes or hours."""
    lines = list(_flat(document))
    width = max((len(key) for key, _ in lines), default=0)
    out = []
    for key, value in lines:
        shown = json.dumps(value, ensure_ascii=False)
        if key.endswith("_s") and isinstance(value, int | float) and not isinstance(value, bool):
            shown = f"{shown}  ({_seconds(value)})"
        out.append(f"{key.ljust(width)}  {shown}".rstrip())
    return "\n".join(out)


async def automation_command(service: RulesService, args: argparse.Namespace) -> int:
    """`show` or `set` against the automation service; an input error names its field."""
    if args.automation_command == "set":
        try:
            patch = parse_assignments(args.assignments)
            rules = await service.update_rules(patch, actor="cli")
        except InvalidField as exc:
            print(f"outage-voice: {exc.field}: {exc.message}", file=sys.stderr)
            return EXIT_USAGE
    else:
        rules = await service.rules()
    document = rules.as_json()
    if args.json:
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(describe_rules(document))
        if args.automation_command == "set":
            print("saved: the automation uses these rules from the next outage change it handles")
    return 0


async def run_automation_command(settings: Settings, args: argparse.Namespace) -> int:
    from outage_voice.bootstrap import open_services

    if args.automation_command == "set":
        try:
            parse_assignments(args.assignments)  # a typo is named before the database opens
        except InvalidField as exc:
            print(f"outage-voice: {exc.field}: {exc.message}", file=sys.stderr)
            return EXIT_USAGE
    async with open_services(settings) as services:
        return await automation_command(services.automation, args)
