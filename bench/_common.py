"""Shared by the benchmarks: a scratch database, machine facts and percentiles."""

from __future__ import annotations

import asyncio
import io
import os
import platform
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from outage_voice.adapters.db.admin import drop_database, recreate_database
from outage_voice.adapters.db.customers import PgCustomerStore
from outage_voice.adapters.db.embedded import start_embedded
from outage_voice.adapters.db.migrations import apply_migrations
from outage_voice.domain.customers import CustomerDefaults
from outage_voice.services.customers import CustomerImportService, ImportReport
from outage_voice.synthetic import SyntheticUtility


def machine_line(command: str) -> str:
    return (
        f"command: {command}\n"
        f"machine: nproc={os.cpu_count()} python={platform.python_version()} "
        f"{platform.system()} {platform.machine()}"
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@asynccontextmanager
async def scratch_database(name: str) -> AsyncIterator[str]:
    """A freshly migrated database: on OUTAGE_VOICE_BENCH_DSN's server, or an embedded one."""
    external = os.environ.get("OUTAGE_VOICE_BENCH_DSN")
    with tempfile.TemporaryDirectory(prefix="ov-bench-") as folder:
        server = None
        if external:
            admin = external
        else:
            server = await asyncio.to_thread(start_embedded, Path(folder) / "pgdata")
            admin = server.uri
        try:
            dsn = await recreate_database(admin, name)
            connection = await asyncpg.connect(dsn)
            try:
                await apply_migrations(connection)
            finally:
                await connection.close()
            yield dsn
            await drop_database(admin, name)
        finally:
            if server is not None:
                await asyncio.to_thread(server.stop)


def command_line() -> str:
    return " ".join([Path(sys.executable).name, *sys.argv])


async def import_synthetic(pool: asyncpg.Pool, utility: SyntheticUtility) -> ImportReport:
    """The synthetic utility's customer file, through the real import."""
    buffer = io.StringIO()
    utility.write_csv(buffer)
    buffer.seek(0)
    defaults = CustomerDefaults(timezone="America/Chicago", language="en", region="US")
    return await CustomerImportService(PgCustomerStore(pool), defaults).import_stream(buffer)
