"""`outage-voice campaign ...`: the campaigns API's operations from a shell, on the database
directly (a running server's dialer is woken by the same NOTIFY the API sends)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from outage_voice.config import Settings
from outage_voice.domain.campaigns import (
    DEFAULT_WINDOW,
    NAME_A_PACING_FIELD,
    CampaignKind,
    CampaignSpec,
    OutageNotRestored,
    PacingChange,
    new_campaign_spec,
    pacing_change,
)
from outage_voice.domain.errors import DomainError, InvalidField
from outage_voice.tables import text_table
from outage_voice.web.jsonio import dumps

BAR_WIDTH = 30
# The API's field names as this command's options, so an error names what to retype.
OPTION_OF_FIELD = {
    "name": "--name",
    "kind": "--kind",
    "cps": "--cps",
    "max_concurrent": "--max-concurrent",
    "window": "--window",
    "priority": "--priority",
    "urgent": "--urgent",
    "voicemail": "--voicemail",
    "message.text": "--text",
    "audience.outage_id": "--outage",
    "audience.callback_requests": "--callback-requests",
    "audience.accounts": "--accounts-file",
    "audience.premises": "--premises",
    "audience.feeders": "--feeders",
}
# Errors about the request as a whole: said without a field, in the options' words.
_WHOLE_REQUEST = ("body", "audience")
_MESSAGE_WORDS = (
    ("name at least one of cps, max_concurrent, window, priority",
     "name at least one of --cps, --max-concurrent, --window, --priority"),
    ("name an outage_id, or accounts, premises or feeders to call",
     "name the customers to call: --outage, --accounts-file, --premises or --feeders"),
    ("audience.outage_id", "--outage"),
    ("message.text", "--text"),
    ("max_concurrent", "--max-concurrent"),
)  # fmt: skip


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _accounts(path: Path | None) -> list[str]:
    if path is None:
        return []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise InvalidField("--accounts-file", f"cannot read {path}: {exc.strerror}") from None
    return [line.strip() for line in lines if line.strip()]


def create_spec(args: argparse.Namespace) -> CampaignSpec:
    """`campaign create`'s options as a campaign, checked as the API checks its body."""
    return new_campaign_spec(
        name=args.name,
        kind=CampaignKind(args.kind),
        outage_id=args.outage or None,
        callback_requests=bool(args.outage) and args.callback_requests,
        accounts=_accounts(args.accounts_file),
        premises=_ids(args.premises),
        feeders=_ids(args.feeders),
        text=args.text or None,
        cps=args.cps or None,
        max_concurrent=args.max_concurrent or None,
        window=args.window or DEFAULT_WINDOW,
        urgent=args.urgent,
        voicemail=args.voicemail,
        priority=args.priority,
    )


def pace_change(args: argparse.Namespace) -> PacingChange:
    given = (args.cps, args.max_concurrent, args.window, args.priority)
    if all(value is None for value in given):
        raise InvalidField("body", NAME_A_PACING_FIELD)
    return pacing_change(
        cps=args.cps, max_concurrent=args.max_concurrent, window=args.window, priority=args.priority
    )


def in_cli_words(exc: InvalidField) -> DomainError:
    """An input error as the shell's options name things (`--cps`, not `pacing.cps`)."""
    message = exc.message
    for api_words, option_words in _MESSAGE_WORDS:
        message = message.replace(api_words, option_words)
    if exc.field in _WHOLE_REQUEST:
        return DomainError(message)
    return DomainError(f"{OPTION_OF_FIELD.get(exc.field, exc.field)}: {message}")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def kind_shown(view: dict[str, Any]) -> str:
    """The kind, marked when the outage automation created the campaign (not a person)."""
    return f"{view['kind']} (auto)" if view.get("automatic") else str(view["kind"])


def started_by(view: dict[str, Any]) -> str | None:
    """What started an automatic campaign, in a person's words."""
    trigger = view.get("trigger")
    if not view.get("automatic") or not trigger:
        return None
    outage = trigger.get("outage_id") or "?"
    event = f"{trigger['event']}, event {trigger['event_id']}"
    return f"automatic: started by outage {outage} ({event})"


def campaign_table(views: list[dict[str, Any]]) -> str:
    """`campaign list`: a header, then a line per campaign with its progress."""
    rows: list[tuple[str, ...]] = [("ID", "STATE", "KIND", "PROGRESS", "ETA", "NAME")]
    for view in views:
        progress = view["progress"]
        states = progress["by_state"]
        finished = states["done"] + states["excluded"]
        total = progress["targets"]
        share = finished / total if total else 1.0
        rows.append(
            (
                str(view["id"]),
                view["state"],
                kind_shown(view),
                f"{finished}/{total} ({share:.0%})",
                duration(progress["eta_s"]),
                view["name"],
            )
        )
    table = text_table(rows)
    return table if views else f"{table}\n(no campaigns yet: `outage-voice campaign create`)"


def unknown_notes(view: dict[str, Any]) -> list[str]:
    """What the audience named that matched nothing, naming the first few."""
    examples = view.get("unknown_audience_examples") or {}
    notes = []
    for kind, count in (view.get("unknown_audience_keys") or {}).items():
        named = examples.get(kind, [])
        more = f" and {count - len(named)} more" if count > len(named) else ""
        ids = "id" if count == 1 else "ids"
        notes.append(f"note: {count} {kind} {ids} matched nothing: {', '.join(named)}{more}")
    return notes


def not_restored_words(exc: OutageNotRestored) -> str:
    return (
        f"outage-voice: outage {exc.outage_id} is {exc.status}, not restored, so no "
        "restoration campaign was created: it would tell every customer on that outage "
        "their power is back. Wait until the OMS marks it restored, or add --force if "
        "the power really is back."
    )


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    share = done / total if total else 1.0
    filled = round(share * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({share:.0%})"


def describe(view: dict[str, Any]) -> str:
    progress = view["progress"]
    states = progress["by_state"]
    finished = states["done"] + states["excluded"]
    outcomes = ", ".join(f"{k} {v}" for k, v in progress["outcomes"].items() if v) or "none yet"
    excluded = ", ".join(f"{k} {v}" for k, v in progress["excluded"].items()) or "none"
    pacing = view["pacing"]
    trigger = started_by(view)
    return "\n".join(
        [
            f"campaign {view['id']} {view['name']!r}: {view['kind']}, {view['state']}",
            *([f"  {trigger}"] if trigger else []),
            f"  {progress_bar(finished, progress['targets'])}",
            f"  outcomes: {outcomes}",
            f"  excluded: {excluded}",
            f"  pacing: {pacing['cps']:g} cps, at most {pacing['max_concurrent']} live, "
            f"window {pacing['window']}{' (urgent)' if pacing['urgent'] else ''}, "
            f"priority {pacing['priority']}",
            f"  now: {progress['current_cps']:g} calls/s, {progress['live_calls']} live, "
            f"{progress['attempts']} attempts, eta {duration(progress['eta_s'])} "
            f"(estimate before launch {duration(view['estimate_s'])})",
        ]
    )


async def run_campaign_command(settings: Settings, args: argparse.Namespace) -> int:
    from outage_voice.bootstrap import open_services

    action: str = args.campaign_command
    async with open_services(settings) as services:
        campaigns = services.campaigns
        actor = "cli"
        if action == "create":
            try:
                view = await campaigns.create(create_spec(args), actor=actor, force=args.force)
            except OutageNotRestored as exc:
                print(not_restored_words(exc), file=sys.stderr)
                return 1
            if args.start:
                view = await campaigns.act(view["id"], "start")
            print(describe(view))
            for note in unknown_notes(view):
                print(f"  {note}")
        elif action == "list":
            recent = await campaigns.recent(args.limit)
            print(campaign_table([await campaigns.show(row["id"]) for row in recent]))
        elif action == "show":
            view = await campaigns.show(args.id)
            # Exactly the API's JSON (RFC 3339 datetimes), indented for a person.
            print(json.dumps(json.loads(dumps(view)), indent=2) if args.json else describe(view))
        elif action == "pace":
            print(describe(await campaigns.pace(args.id, pace_change(args))))
        else:
            print(describe(await campaigns.act(args.id, action)))
    return 0
