from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from outage_voice.adapters.db.customers import PgCustomerStore
from outage_voice.adapters.db.pool import open_pool
from outage_voice.bootstrap import Services
from outage_voice.domain.customers import CustomerDefaults
from outage_voice.services.customers import CustomerImportService, ImportFileError
from tests.support import HEADER, cli, cli_env, csv_text, run_cli

MARIA = "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,FDR-1,,"
JAMES = "1002,James Smith,512-555-0101,+15125550199,P2,14 Oak Street,FDR-1,America/Denver,es"


def write(
    tmp_path: Path, text: str, *, name: str = "customers.csv", encoding: str = "utf-8"
) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


async def phones_of(pool: asyncpg.Pool, account: str) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT e164, kind FROM account_phones WHERE account_number = $1 ORDER BY kind",
        account,
    )
    return [(r["e164"], r["kind"]) for r in rows]


async def test_bom_and_crlf_are_tolerated(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    text = "\ufeff" + csv_text(MARIA, JAMES).replace("\n", "\r\n")
    report = await services.customers.import_file(write(tmp_path, text))
    assert report.rejections == []
    assert (report.counts.imported, report.counts.updated) == (2, 0)
    premise = await pool.fetchrow("SELECT * FROM premises WHERE premise_id = 'P2'")
    assert premise["timezone"] == "America/Denver"
    assert premise["language"] == "es"
    assert await phones_of(pool, "1002") == [
        ("+15125550199", "alternate"),
        ("+15125550101", "primary"),
    ]


async def test_phone_spellings_are_one_number(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    text = csv_text(
        "1,A,(512) 555-0100,,P1,1 A St,,,",
        "2,B,512-555-0100,,P2,2 A St,,,",
        "3,C,+15125550100,,P3,3 A St,,,",
    )
    report = await services.customers.import_file(write(tmp_path, text))
    assert report.counts.imported == 3
    assert await pool.fetchval("SELECT count(*) FROM phones") == 1
    assert await pool.fetchval("SELECT count(*) FROM account_phones") == 3


async def test_bad_rows_are_reported_and_good_rows_imported(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    text = csv_text(
        MARIA,
        ",No Account,512-555-0102,,P3,1 A St,,,",
        "1003,No Premise,512-555-0103,,,1 A St,,,",
        "1004,Bad Phone,555-01,,P4,1 A St,,,",
        "1005,Bad Zone,512-555-0105,,P5,1 A St,,Central Time,",
        "1001,Maria Again,512-555-0106,,P6,1 A St,,,",
        "1007,Too Few,512-555-0107",
        JAMES,
    )
    seen: list[int] = []
    report = await services.customers.import_file(
        write(tmp_path, text), on_rejection=lambda r: seen.append(r.line)
    )
    reasons = {r.line: r.reason for r in report.rejections}
    assert seen == [3, 4, 5, 6, 7, 8]
    assert "missing account_number" in reasons[3]
    assert "missing premise_id" in reasons[4]
    assert "unparseable phone" in reasons[5]
    assert "unknown time zone" in reasons[6]
    assert "duplicate account_number '1001' (first on line 2)" in reasons[7]
    assert "expected 9 fields, found 3" in reasons[8]
    assert (report.counts.imported, len(report.rejections)) == (2, 6)
    assert report.summary == "imported 2, updated 0, unchanged 0, rejected 6"
    names = await pool.fetch("SELECT name FROM accounts ORDER BY account_number")
    assert [r["name"] for r in names] == ["Maria Garcia", "James Smith"]


async def test_reimport_upserts_and_replaces_phones(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    await services.customers.import_file(write(tmp_path, csv_text(MARIA, JAMES)))
    moved = "1002,James Smith,512-555-0177,,P2,14 Oak Street,FDR-1,America/Denver,es"
    new = "1003,Ana Lopez,512-555-0103,,P1,12 Oak Street,FDR-1,,"
    report = await services.customers.import_file(write(tmp_path, csv_text(MARIA, moved, new)))
    assert (report.counts.imported, report.counts.updated, report.counts.unchanged) == (1, 1, 1)
    assert await phones_of(pool, "1002") == [("+15125550177", "primary")]
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 3
    # Two accounts at one premise share the premise row.
    assert await pool.fetchval("SELECT count(*) FROM premises") == 2


async def test_whole_file_problems_import_nothing(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    with pytest.raises(ImportFileError, match="header lacks"):
        await services.customers.import_file(write(tmp_path, "account,name\n1,A\n"))
    with pytest.raises(ImportFileError, match="empty"):
        await services.customers.import_file(write(tmp_path, ""))
    latin1 = csv_text("1001,José Núñez,512-555-0100,,P1,1 Peña St,,,")
    with pytest.raises(ImportFileError, match="not utf-8-sig text"):
        await services.customers.import_file(write(tmp_path, latin1, encoding="latin-1"))
    with pytest.raises(ImportFileError, match="can't read"):
        await services.customers.import_file(tmp_path / "missing.csv")
    assert await pool.fetchval("SELECT count(*) FROM accounts") == 0


async def test_other_encodings_on_request(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    latin1 = csv_text("1001,José Núñez,512-555-0100,,P1,1 Peña St,,,")
    report = await services.customers.import_file(
        write(tmp_path, latin1, encoding="latin-1"), encoding="latin-1"
    )
    assert report.counts.imported == 1
    assert await pool.fetchval("SELECT name FROM accounts") == "José Núñez"


async def test_header_columns_in_any_order_and_blank_lines(
    services: Services, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    columns = HEADER.split(",")
    header = ",".join(reversed(columns))
    row = ",".join(reversed(MARIA.split(",")))
    report = await services.customers.import_file(write(tmp_path, csv_text(row, "", header=header)))
    assert report.counts.imported == 1
    assert await pool.fetchval("SELECT service_address FROM premises") == "12 Oak Street"


def test_cli_import_prints_rejections_and_summary(database_dsn: str, tmp_path: Path) -> None:
    path = write(tmp_path, csv_text(MARIA, "1004,Bad Phone,555-01,,P4,1 A St,,,"))
    env = cli_env(DATABASE_URL=database_dsn)
    result = run_cli(["import-customers", str(path)], env=env)
    assert result.returncode == 0, result.stderr
    assert "line 3: rejected: unparseable phone" in result.stderr
    assert (
        result.stdout.strip().splitlines()[-1] == "imported 1, updated 0, unchanged 0, rejected 1"
    )
    # The refusal's exit status as the shell sees it, from a process of its own.
    strict = subprocess.run(
        cli("import-customers", "--strict", str(path)),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert strict.returncode == 3
    assert "unchanged 1, rejected 1" in strict.stdout


async def test_a_role_without_superuser_keeps_per_row_checks(
    database_dsn: str, tmp_path: Path
) -> None:
    """Production roles are rarely superusers: the import must work for them too."""
    role = f"ov_plain_{os.getpid()}"
    admin = await asyncpg.connect(database_dsn)
    try:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        database = urlsplit(database_dsn).path.lstrip("/")
        await admin.execute(f'GRANT TEMPORARY ON DATABASE "{database}" TO {role}')
        await admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        parts = urlsplit(database_dsn)
        plain_dsn = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname or ''}"))
        async with open_pool(plain_dsn, min_size=1, max_size=1) as pool:
            assert not await pool.fetchval(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            service = CustomerImportService(
                PgCustomerStore(pool),
                CustomerDefaults(timezone="America/Chicago", language="en", region="US"),
            )
            report = await service.import_file(write(tmp_path, csv_text(MARIA, JAMES)))
            assert report.counts.imported == 2
            assert await phones_of(pool, "1002") == [
                ("+15125550199", "alternate"),
                ("+15125550101", "primary"),
            ]
    finally:
        await admin.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_batches_of_a_large_file_agree_with_one_batch(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """A big file is applied in batches inside one transaction; the outcome must not change."""
    service = CustomerImportService(
        PgCustomerStore(pool, apply_rows=2),
        CustomerDefaults(timezone="America/Chicago", language="en", region="US"),
    )
    text = csv_text(
        "1,A,512-555-0100,,P1,1 Old Road,,,",
        "2,B,512-555-0101,,P2,2 A St,,,",
        "3,C,512-555-0100,,P3,3 A St,,,",
        "4,D,512-555-0104,,P1,1 New Road,,,",  # the last row naming P1 describes it
        "5,E,bad,,P5,5 A St,,,",
    )
    report = await service.import_file(write(tmp_path, text))
    assert (report.counts.imported, len(report.rejections)) == (4, 1)
    assert await pool.fetchval("SELECT service_address FROM premises WHERE premise_id = 'P1'") == (
        "1 New Road"
    )
    assert (
        await pool.fetchval("SELECT count(*) FROM account_phones WHERE e164 = '+15125550100'") == 2
    )
    again = await service.import_file(write(tmp_path, text))
    assert (again.counts.imported, again.counts.updated, again.counts.unchanged) == (0, 0, 4)
