"""Forward-only migrations from `sql/migrations/NNNN_name.sql`.

Each is applied once, in its own transaction, under an advisory lock so that several
instances starting together take turns. A checksum is kept so that editing a migration
that already ran is caught instead of silently diverging schemas.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.resources import resource_dir

logger = logging.getLogger(__name__)

# Any fixed bigint works; this one spells "ov-migr" so it is recognisable in pg_locks.
MIGRATION_LOCK_KEY = 0x6F762D6D696772
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover_migrations(folder: Path | None = None) -> list[Migration]:
    folder = folder or resource_dir("sql") / "migrations"
    migrations: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(match.group("version"))
        if version in migrations:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        migrations[version] = Migration(
            version=version, name=match.group("name"), sql=path.read_text(encoding="utf-8")
        )
    return [migrations[v] for v in sorted(migrations)]


async def apply_migrations(
    connection: asyncpg.Connection, migrations: list[Migration] | None = None
) -> list[Migration]:
    """Applies what is pending; returns what this call applied (empty when up to date)."""
    migrations = discover_migrations() if migrations is None else migrations
    await connection.execute(q("migration_lock"), MIGRATION_LOCK_KEY)
    try:
        await connection.execute(q("migration_table"))
        applied = {row["version"]: row for row in await connection.fetch(q("migrations_applied"))}
        unknown = sorted(set(applied) - {m.version for m in migrations})
        if unknown:
            raise MigrationError(
                f"the database has migration {unknown[-1]:04d} which this release doesn't know; "
                "run the release that applied it or a newer one"
            )
        done: list[Migration] = []
        for migration in migrations:
            record = applied.get(migration.version)
            if record is not None:
                if record["checksum"] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed after it "
                        "was applied; add a new migration instead of editing an applied one"
                    )
                continue
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    q("migration_record"), migration.version, migration.name, migration.checksum
                )
            logger.info("applied migration %04d_%s", migration.version, migration.name)
            done.append(migration)
        return done
    finally:
        await connection.execute(q("migration_unlock"), MIGRATION_LOCK_KEY)
