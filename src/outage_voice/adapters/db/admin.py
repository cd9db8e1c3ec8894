"""Whole databases: the demo's own and the tests' template copies."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import asyncpg

# Database names can't be bound as parameters, so only plain identifiers are accepted.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain database name: {name!r}")
    return f'"{name}"'


def dsn_with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def recreate_database(admin_dsn: str, name: str, *, template: str | None = None) -> str:
    """Drops `name` if it exists (closing its sessions) and creates it afresh; returns its DSN."""
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")
        # A file copy of a small template is faster than writing it all to the WAL (the default
        # since PostgreSQL 15), and these copies are throwaway databases.
        suffix = "" if template is None else f" TEMPLATE {_identifier(template)} STRATEGY FILE_COPY"
        await connection.execute(f"CREATE DATABASE {_identifier(name)}{suffix}")
    finally:
        await connection.close()
    return dsn_with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, name: str) -> None:
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {_identifier(name)} WITH (FORCE)")
    finally:
        await connection.close()
