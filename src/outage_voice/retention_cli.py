"""`outage-voice prune`: call records, finished campaigns' calls and unused audio past an age."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from outage_voice.config import Settings
from outage_voice.domain.retention import (
    DEFAULT_AUDIO_RETENTION,
    DEFAULT_RETENTION,
    BadAge,
    audio_age,
    parse_age,
)
from outage_voice.services.retention import TABLES, PruneReport

EXIT_USAGE = 2
_DEFAULT_AGE = f"{DEFAULT_RETENTION.days}d"
_DEFAULT_AUDIO_AGE = f"{DEFAULT_AUDIO_RETENTION.days}d"


def add_prune_parser(commands: Any) -> None:
    prune = commands.add_parser(
        "prune",
        help="remove call records, finished campaigns' calls and unused audio past an age",
    )
    prune.add_argument(
        "--older-than",
        default=_DEFAULT_AGE,
        metavar="AGE",
        help=f"what to remove: older than this, in h, d or w (default {_DEFAULT_AGE}; at least 1d)",
    )
    prune.add_argument(
        "--audio-older-than",
        default=None,
        metavar="AGE",
        help=(
            "spoken audio not served for this long goes, in h, d or w (default "
            f"{_DEFAULT_AUDIO_AGE}, or --older-than if shorter; at least 1d, at most --older-than)"
        ),
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="count what would be removed, remove nothing"
    )


async def run_prune(settings: Settings, args: argparse.Namespace) -> int:
    from outage_voice.adapters.clock import SystemClock
    from outage_voice.adapters.db.addresses import PgAddressStore
    from outage_voice.adapters.db.prune import PgPruneStore
    from outage_voice.bootstrap import open_services
    from outage_voice.services.retention import Retention, RulesSurveyGap

    try:
        age = parse_age(args.older_than)
    except BadAge as exc:
        print(f"outage-voice: --older-than: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        audio = None if args.audio_older_than is None else parse_age(args.audio_older_than)
        audio_age(age, audio)
    except BadAge as exc:
        print(f"outage-voice: --audio-older-than: {exc}", file=sys.stderr)
        return EXIT_USAGE
    async with open_services(settings) as services:
        retention = Retention(
            PgPruneStore(services.pool),
            services.audio_store,
            SystemClock(),
            catalogs=services.catalogs,
            addresses=PgAddressStore(services.pool),
            survey_gap=RulesSurveyGap(services.automation_store),
        )
        report = await retention.prune(age, dry_run=args.dry_run, audio_older_than=audio)
    for line in report_lines(report, audio_dir=str(settings.audio_dir)):
        print(line)
    return 0


def report_lines(report: PruneReport, *, audio_dir: str) -> list[str]:
    cutoff = _when(report.cutoff)
    audio_cutoff = _when(report.audio_cutoff or report.cutoff)
    verb = "would remove" if report.dry_run else "removed"
    lines = [
        f"{'dry run: ' if report.dry_run else ''}{verb} what is older than {cutoff} "
        f"({len(report.campaigns)} finished campaigns' targets and calls among it), "
        f"audio not served since {audio_cutoff}"
    ]
    width = max(len(table) for table in TABLES)
    for table in TABLES:
        count = report.counts.get(table, 0)
        note = ""
        if table == "audio_files":
            note = f"  ({report.audio_bytes / 1e6:.1f} MB in {audio_dir})"
        lines.append(f"  {table:<{width}}  {count:>10}{note}")
    if report.dry_run:
        lines.append("nothing was removed (dry run)")
    return lines


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
