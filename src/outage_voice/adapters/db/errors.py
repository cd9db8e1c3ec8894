"""Telling "the database is not there" apart from "this query is wrong"."""

from __future__ import annotations

import asyncpg

# SQLSTATE classes that mean the server or the connection is unusable, not the request:
# 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown,
# terminated backend), 3D the database itself is missing.
_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57", "3D"})


def is_database_unavailable(error: BaseException) -> bool:
    if isinstance(error, asyncpg.PostgresError):
        state = getattr(error, "sqlstate", None) or ""
        return state[:2] in _UNAVAILABLE_CLASSES
    return isinstance(error, OSError | TimeoutError | asyncpg.InterfaceError)
