"""`outage-voice campaign ...`: the campaigns API's operations from a shell, on the database
directly (a running server's dialer is woken by the same NOTIFY the API sends)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from outage_voice.config import Settings
from outage_voice.domain.errors import InvalidField

BAR_WIDTH = 30


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


def create_body(args: argparse.Namespace) -> dict[str, Any]:
    audience: dict[str, Any] = {
        "accounts": _accounts(args.accounts_file),
        "premises": _ids(args.premises),
        "feeders": _ids(args.feeders),
    }
    if args.outage:
        audience["outage_id"] = args.outage
        audience["callback_requests"] = args.callback_requests
    body: dict[str, Any] = {
        "name": args.name,
        "kind": args.kind,
        "audience": audience,
        "pacing": {
            k: v for k, v in (("cps", args.cps), ("max_concurrent", args.max_concurrent)) if v
        },
        "urgent": args.urgent,
        "priority": args.priority,
        "voicemail": args.voicemail,
    }
    if args.window:
        body["window"] = args.window
    if args.text:
        body["message"] = {"text": args.text}
    return body


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
    eta = "-" if progress["eta_s"] is None else f"{progress['eta_s']} s"
    return "\n".join(
        [
            f"campaign {view['id']} {view['name']!r}: {view['kind']}, {view['state']}",
            f"  {progress_bar(finished, progress['targets'])}",
            f"  outcomes: {outcomes}",
            f"  excluded: {excluded}",
            f"  pacing: {pacing['cps']:g} cps, at most {pacing['max_concurrent']} live, "
            f"window {pacing['window']}{' (urgent)' if pacing['urgent'] else ''}, "
            f"priority {pacing['priority']}",
            f"  now: {progress['current_cps']:g} calls/s, {progress['live_calls']} live, "
            f"{progress['attempts']} attempts, eta {eta} (estimate {view['estimate_s']} s)",
        ]
    )


async def run_campaign_command(settings: Settings, args: argparse.Namespace) -> int:
    from outage_voice.bootstrap import open_services

    action: str = args.campaign_command
    async with open_services(settings) as services:
        campaigns = services.campaigns
        actor = "cli"
        if action == "create":
            view = await campaigns.create(create_body(args), actor=actor)
            if args.start:
                view = await campaigns.act(view["id"], "start")
            missing = view.get("unknown_audience_keys") or {}
            print(describe(view))
            for kind, count in missing.items():
                print(f"  note: {count} {kind} id(s) matched nothing")
        elif action == "list":
            for row in await campaigns.recent():
                print(f"{row['id']:>6}  {row['state']:<10} {row['kind']:<15} {row['name']}")
        elif action == "show":
            view = await campaigns.show(args.id)
            print(json.dumps(view, default=str, indent=2) if args.json else describe(view))
        elif action == "pace":
            body = {
                k: v
                for k, v in (
                    ("cps", args.cps),
                    ("max_concurrent", args.max_concurrent),
                    ("window", args.window),
                    ("priority", args.priority),
                )
                if v is not None
            }
            print(describe(await campaigns.pace(args.id, body)))
        else:
            print(describe(await campaigns.act(args.id, action)))
    return 0
