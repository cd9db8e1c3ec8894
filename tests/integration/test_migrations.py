from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import asyncpg
import pytest

from outage_voice.adapters.db.migrations import (
    Migration,
    MigrationError,
    apply_migrations,
    discover_migrations,
)


async def test_fresh_apply_then_reapply_is_a_noop(empty_database_dsn: str) -> None:
    connection = await asyncpg.connect(empty_database_dsn)
    try:
        first = await apply_migrations(connection)
        assert [m.version for m in first] == [m.version for m in discover_migrations()]
        assert await connection.fetchval("SELECT count(*) FROM premises") == 0
        assert await apply_migrations(connection) == []
        recorded = await connection.fetch("SELECT version, checksum FROM schema_migrations")
        assert {r["version"]: r["checksum"] for r in recorded} == {
            m.version: m.checksum for m in discover_migrations()
        }
    finally:
        await connection.close()


async def test_concurrent_apply_is_serialised(empty_database_dsn: str) -> None:
    connections = [await asyncpg.connect(empty_database_dsn) for _ in range(4)]
    try:
        results = await asyncio.gather(*(apply_migrations(c) for c in connections))
        applied = [m.version for result in results for m in result]
        assert sorted(applied) == [m.version for m in discover_migrations()]
        count = await connections[0].fetchval("SELECT count(*) FROM schema_migrations")
        assert count == len(discover_migrations())
    finally:
        for connection in connections:
            await connection.close()


async def test_edited_applied_migration_is_refused(empty_database_dsn: str) -> None:
    connection = await asyncpg.connect(empty_database_dsn)
    try:
        migrations = discover_migrations()
        await apply_migrations(connection, migrations)
        edited = [
            dataclasses.replace(migrations[0], sql=migrations[0].sql + "\n-- tweak\n"),
            *migrations[1:],
        ]
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await apply_migrations(connection, edited)
    finally:
        await connection.close()


async def test_failed_migration_leaves_nothing_behind(empty_database_dsn: str) -> None:
    connection = await asyncpg.connect(empty_database_dsn)
    try:
        broken = Migration(version=1, name="broken", sql="CREATE TABLE half (id int); SELECT nope;")
        with pytest.raises(asyncpg.PostgresError):
            await apply_migrations(connection, [broken])
        assert await connection.fetchval("SELECT to_regclass('half')") is None
        assert await connection.fetchval("SELECT count(*) FROM schema_migrations") == 0
        # The lock was released: a good migration can run on the same connection.
        assert await apply_migrations(connection) != []
    finally:
        await connection.close()


def test_bad_migration_file_names_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_init.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        discover_migrations(tmp_path)
    (tmp_path / "1_init.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="used twice"):
        discover_migrations(tmp_path)


async def test_history_and_audit_are_append_only(database_dsn: str) -> None:
    connection = await asyncpg.connect(database_dsn)
    try:
        await connection.execute(
            "INSERT INTO audit_log (at, actor, action, entity) VALUES (now(), 't', 'a', 'e')"
        )
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await connection.execute("DELETE FROM audit_log")
    finally:
        await connection.close()


async def test_a_database_newer_than_the_program_is_refused(empty_database_dsn: str) -> None:
    connection = await asyncpg.connect(empty_database_dsn)
    try:
        await apply_migrations(connection)
        with pytest.raises(MigrationError, match="doesn't know"):
            await apply_migrations(connection, [])
    finally:
        await connection.close()


async def test_campaign_targets_rekeyed_with_their_attempts(empty_database_dsn: str) -> None:
    """A database with a campaign under way at 0005 keeps its targets and attempts at 0006."""
    connection = await asyncpg.connect(empty_database_dsn)
    try:
        up_to_0005 = [m for m in discover_migrations() if m.version <= 5]
        await apply_migrations(connection, up_to_0005)
        campaign_id = await connection.fetchval(
            "INSERT INTO campaigns (name, kind, spec, cps, max_concurrent, window_opens,"
            " window_closes, created_by, created_at, updated_at)"
            " VALUES ('c', 'custom', '{}', 1, 1, '08:00', '21:00', 't', now(), now())"
            " RETURNING id"
        )
        target_id = await connection.fetchval(
            "INSERT INTO campaign_targets (campaign_id, phone, account_numbers, premise_ids,"
            " language, timezone, state, updated_at)"
            " VALUES ($1, '+15125550100', '{1}', '{P1}', 'en', 'America/Chicago', 'calling', now())"
            " RETURNING id",
            campaign_id,
        )
        await connection.execute(
            "INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, created_at)"
            " VALUES ($1, $2, 1, '+15125550100', now())",
            target_id,
            campaign_id,
        )
        applied = await apply_migrations(connection)
        assert [m.version for m in applied] == [m.version for m in discover_migrations()][5:]
        assert await connection.fetchval("SELECT count(*) FROM call_attempts") == 1
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            # An attempt must name its target within its own campaign.
            await connection.execute(
                "INSERT INTO call_attempts (target_id, campaign_id, attempt_no, phone, created_at)"
                " VALUES ($1, $2, 1, '+15125550100', now())",
                target_id,
                campaign_id + 1,
            )
        await connection.execute("DELETE FROM campaign_targets WHERE campaign_id = $1", campaign_id)
        assert await connection.fetchval("SELECT count(*) FROM call_attempts") == 0
    finally:
        await connection.close()
