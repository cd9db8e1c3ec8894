"""`outage-voice survey send|results|export|callbacks`: post-outage surveys from a shell, on
the database directly (a running server's dialer is woken by the same NOTIFY the API sends)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from outage_voice.config import Settings
from outage_voice.domain.errors import DomainError, InvalidField
from outage_voice.domain.outages import check_outage_id
from outage_voice.domain.survey import DEFAULT_SURVEY, AnswerKind, SurveyResults
from outage_voice.services.surveys import SurveyExport, SurveySend, SurveyService
from outage_voice.tables import text_table
from outage_voice.web.jsonio import dumps
from outage_voice.web.surveys_api import callback_json, check_survey_id

ACTOR = "cli"
MAX_ROW_ID = 2**63 - 1
OPTION_OF_FIELD = {
    "cps": "--cps",
    "max_concurrent": "--max-concurrent",
    "window": "--window",
    "priority": "--priority",
    "name": "--name",
    "outage_id": "OUTAGE_ID",
}


def add_survey_parser(commands: Any) -> None:
    survey = commands.add_parser("survey", help="post-outage surveys (as the API, on the database)")
    actions = survey.add_subparsers(dest="survey_command", required=True, metavar="ACTION")
    send = actions.add_parser("send", help="survey everyone on an outage who may be asked, now")
    send.add_argument("outage", metavar="OUTAGE_ID", help="the OMS's id of the outage")
    send.add_argument("--survey", default=None, help="the survey to ask (default post_outage)")
    send.add_argument("--name", default=None, help="the campaign's name")
    send.add_argument("--cps", type=float, default=None)
    send.add_argument("--max-concurrent", type=int, default=None)
    send.add_argument("--window", default=None, help="HH:MM-HH:MM customer local time")
    send.add_argument("--priority", type=int, default=0)
    results = actions.add_parser("results", help="counts and means per question")
    results.add_argument("survey", metavar="SURVEY_ID", nargs="?", default="post_outage")
    results.add_argument("--outage", default=None, help="one outage's calls only")
    results.add_argument("--json", action="store_true", help="the API's JSON document")
    export = actions.add_parser("export", help="every survey call as CSV, one row per number")
    export.add_argument("--survey", default=None, help="one survey's calls (default: all)")
    export.add_argument("--outage", default=None, help="one outage's calls (default: all)")
    export.add_argument("--output", type=Path, default=None, help="the CSV file (default: stdout)")
    callbacks = actions.add_parser("callbacks", help="customers who asked to be called back")
    callbacks.add_argument("--all", action="store_true", help="those handled already too")
    callbacks.add_argument("--handled", type=int, default=None, metavar="ID",
                           help="mark this request handled")  # fmt: skip
    callbacks.add_argument("--json", action="store_true", help="the API's JSON document")


def send_request(args: argparse.Namespace) -> SurveySend:
    return SurveySend(
        outage_id=args.outage,
        **({} if args.survey is None else {"survey": args.survey}),
        name=args.name,
        cps=args.cps,
        max_concurrent=args.max_concurrent,
        window=args.window,
        priority=args.priority,
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def describe_results(survey_id: str, results: SurveyResults, *, indent: str = "") -> list[str]:
    lines = [
        f"{indent}{results.calls} called, {results.reached} reached, {results.responded} "
        f"answered ({_share(results.response_rate)}), {results.completed} completed, "
        f"{results.partial} partial"
    ]
    for question in results.questions:
        if question.kind is AnswerKind.SCALE_1_5:
            mean = "-" if question.mean is None else f"{question.mean:.2f}"
            spread = " ".join(f"{k}:{v}" for k, v in question.distribution.items())
            said = f"mean {mean} of 5  ({spread})"
        elif question.kind is AnswerKind.YES_NO:
            yes, no = question.distribution.get("yes", 0), question.distribution.get("no", 0)
            said = f"{_share(question.yes_share)} yes  (yes {yes}, no {no})"
        else:
            said = f"{question.comment_s} s recorded"
        lines.append(f"{indent}  {question.key}: {question.count} answers, {said}")
    return lines


def results_text(survey_id: str, outage: str | None, results: SurveyResults) -> str:
    where = f", outage {outage}" if outage else ""
    lines = [f"survey {survey_id}{where}:", *describe_results(survey_id, results, indent="  ")]
    if outage is None and len(results.by_outage) > 1:
        for outage_id, part in results.by_outage.items():
            lines.append(f"  outage {outage_id}:")
            lines.extend(describe_results(survey_id, part, indent="    "))
    return "\n".join(lines)


def export_csv(table: SurveyExport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows(table.rows)
    return out.getvalue()


def in_cli_words(exc: InvalidField) -> DomainError:
    return DomainError(f"{OPTION_OF_FIELD.get(exc.field, exc.field)}: {exc.message}")


def check_arguments(args: argparse.Namespace) -> None:
    """Ids checked as the API checks them, named by their option: a shell passes bytes no
    UTF-8 decodes as lone surrogates, which the database refuses with a fault."""
    action: str = args.survey_command
    outage_option = "OUTAGE_ID" if action == "send" else "--outage"
    outage = getattr(args, "outage", None)
    if outage is not None:
        try:
            check_outage_id(outage)
        except InvalidField as exc:
            raise InvalidField(outage_option, exc.message) from None
    survey = getattr(args, "survey", None)
    if survey is not None and survey != DEFAULT_SURVEY.id:
        check_survey_id(survey, "SURVEY_ID" if action == "results" else "--survey")
    handled = getattr(args, "handled", None)
    if handled is not None and not 0 < handled <= MAX_ROW_ID:
        raise InvalidField("--handled", "is not the id of a call-back request")


async def survey_command(service: SurveyService, args: argparse.Namespace) -> int:
    check_arguments(args)
    action: str = args.survey_command
    if action == "send":
        started = await service.send(send_request(args), actor=ACTOR)
        excluded = ", ".join(f"{k} {v}" for k, v in sorted(started.excluded.items())) or "none"
        print(
            f"survey of outage {args.outage}: campaign {started.campaign_id}, running, "
            f"{started.targets} to call; left out: {excluded}"
        )
    elif action == "results":
        results = await service.results(args.survey, outage_id=args.outage)
        if args.json:
            document = {"survey": args.survey, "outage_id": args.outage, **results.as_json()}
            print(json.dumps(document, indent=2, ensure_ascii=False))
        else:
            print(results_text(args.survey, args.outage, results))
    elif action == "export":
        text = export_csv(await service.export(survey_id=args.survey, outage_id=args.outage))
        if args.output is None:
            sys.stdout.write(text)
        else:
            args.output.write_text(text, encoding="utf-8")
            written = text.count("\n") - 1
            print(f"{written} survey call(s) written to {args.output}", file=sys.stderr)
    else:
        if args.handled is not None:
            handled = await service.handle_callback(args.handled, actor=ACTOR)
            print(f"call-back request {handled.id} handled by {handled.handled_by}")
            return 0
        listed = await service.callbacks(open_only=not args.all)
        if args.json:
            body = {"callbacks": [callback_json(callback) for callback in listed]}
            print(json.dumps(json.loads(dumps(body)), indent=2))
            return 0
        rows = [("ID", "REQUESTED", "OUTAGE", "PHONE", "ACCOUNTS", "HANDLED")]
        for callback in listed:
            rows.append(
                (
                    str(callback.id),
                    callback.requested_at.isoformat(timespec="minutes"),
                    callback.outage_id or "-",
                    callback.phone,
                    " ".join(callback.account_numbers),
                    "-" if callback.handled_at is None else f"by {callback.handled_by}",
                )
            )
        print(text_table(rows))
        if not listed:
            print("(no call-back requests waiting)" if not args.all else "(none yet)")
    return 0


async def run_survey_command(settings: Settings, args: argparse.Namespace) -> int:
    from outage_voice.bootstrap import open_services

    async with open_services(settings) as services:
        try:
            return await survey_command(services.surveys, args)
        except InvalidField as exc:
            raise in_cli_words(exc) from None
