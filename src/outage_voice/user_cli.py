"""`outage-voice user create|list|disable`: console accounts, made on the database directly."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from typing import Any

from outage_voice.config import Settings
from outage_voice.domain.errors import DomainError
from outage_voice.domain.users import CONSOLE_ROLES, User
from outage_voice.tables import text_table


class PasswordsDiffer(DomainError):
    def __init__(self) -> None:
        super().__init__("the two passwords differ; nothing was created")


def add_user_parser(commands: Any) -> None:
    user = commands.add_parser("user", help="console accounts (supervisors and viewers)")
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make an account; the password is asked for")
    create.add_argument("username", metavar="USERNAME")
    create.add_argument(
        "--role", required=True, choices=sorted(role.value for role in CONSOLE_ROLES)
    )
    create.add_argument(
        "--timezone", default=None, help="times shown in this zone (default: the utility's)"
    )
    create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (for scripts)",
    )
    actions.add_parser("list", help="accounts: name, role, time zone, created, disabled")
    disable = actions.add_parser("disable", help="refuse an account from now on")
    disable.add_argument("username", metavar="USERNAME")


def read_password(*, from_stdin: bool) -> str:
    """Never from the command line, where it would sit in the shell history and `ps`."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Password again: ")
    if first != second:
        raise PasswordsDiffer()
    return first


async def run_user_command(settings: Settings, args: argparse.Namespace) -> int:
    from outage_voice.bootstrap import open_services

    action: str = args.user_command
    password = read_password(from_stdin=args.password_stdin) if action == "create" else ""
    async with open_services(settings) as services:
        if action == "create":
            user = await services.users.create(
                username=args.username, password=password, role=args.role, timezone=args.timezone
            )
            print(f"created {user.role.value} {user.username!r} ({_zone(user, settings)})")
            return 0
        if action == "disable":
            user = await services.users.disable(args.username)
            print(f"disabled {user.username!r}; their console sessions end now")
            return 0
        users = await services.users.list_users()
    rows: list[tuple[str, ...]] = [("USERNAME", "ROLE", "TIME ZONE", "CREATED", "DISABLED")]
    for user in users:
        rows.append(
            (
                user.username,
                user.role.value,
                _zone(user, settings),
                _when(user.created_at),
                _when(user.disabled_at) if user.disabled_at else "-",
            )
        )
    print(text_table(rows))
    if not users:
        print("(no accounts: create one with `outage-voice user create --role ... USERNAME`)")
    return 0


def _zone(user: User, settings: Settings) -> str:
    return user.timezone or f"{settings.timezone}, the utility's"


def _when(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
