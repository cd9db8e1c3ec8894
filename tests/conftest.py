"""Real PostgreSQL for every test that needs one.

One server per session (embedded, or OUTAGE_VOICE_TEST_DSN), one template database migrated
once, and a fresh copy of it for each test, so tests neither share rows nor pay for migrations.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db.admin import drop_database, recreate_database
from outage_voice.adapters.db.embedded import start_embedded
from outage_voice.adapters.db.migrations import apply_migrations
from outage_voice.adapters.db.pool import open_pool
from outage_voice.bootstrap import Services, build_services, create_app
from outage_voice.config import Settings, load_settings
from outage_voice.domain.auth import Role
from tests.support import T0

_database_numbers = itertools.count()

# Files that run several servers and a carrier as processes and time what they do (a takeover
# within 5 s, crashes mid-campaign): with two workers they go to the same one, one after the
# other, so two of them never share the machine's two cores. Every other file is a group of
# its own: a worker takes whole files, their module fixtures set up once.
PROCESS_HEAVY_FILES = frozenset(
    {
        "tests/e2e/test_cluster.py",
        "tests/e2e/test_dialer_crash.py",
        "tests/e2e/test_automation_crash.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist's `--dist loadgroup` (scripts/check.py); inert without it."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = "process-heavy" if path in PROCESS_HEAVY_FILES else path
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("OUTAGE_VOICE_TEST_DSN")
    if external:
        yield external
        return
    folder = _memory_folder() or tmp_path_factory.mktemp("postgres")
    server = start_embedded(folder / "pgdata")
    # A throwaway server: durability buys nothing here, and every test copies a database.
    asyncio.run(_without_durability(server.uri))
    try:
        yield server.uri
    finally:
        server.stop()
        if folder.parent == MEMORY_DISK:
            shutil.rmtree(folder, ignore_errors=True)


# Every test copies the template database (9 MB): on a shared disk that took 0.3-0.5 s a
# test, most of the suite's fixture time; in memory it takes a few milliseconds.
MEMORY_DISK = Path("/dev/shm")
MEMORY_DISK_FREE_BYTES = 2 * 1024**3


def _memory_folder() -> Path | None:
    """A folder of this session's in memory (tmpfs), when the machine has room for one."""
    try:
        if shutil.disk_usage(MEMORY_DISK).free < MEMORY_DISK_FREE_BYTES:
            return None
        return Path(tempfile.mkdtemp(prefix="outage-voice-tests-", dir=MEMORY_DISK))
    except OSError:
        return None


async def _without_durability(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            await connection.execute(f"ALTER SYSTEM SET {setting} = off")
        await connection.execute("SELECT pg_reload_conf()")
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def template_database(admin_dsn: str) -> Iterator[str]:
    name = f"ov_template_{os.getpid()}"

    async def build() -> None:
        connection = await asyncpg.connect(await recreate_database(admin_dsn, name))
        try:
            await apply_migrations(connection)
        finally:
            await connection.close()

    asyncio.run(build())
    yield name
    asyncio.run(drop_database(admin_dsn, name))


@pytest.fixture
async def database_dsn(admin_dsn: str, template_database: str) -> AsyncIterator[str]:
    name = f"ov_test_{os.getpid()}_{next(_database_numbers)}"
    dsn = await recreate_database(admin_dsn, name, template=template_database)
    yield dsn
    await drop_database(admin_dsn, name)


@pytest.fixture
async def empty_database_dsn(admin_dsn: str) -> AsyncIterator[str]:
    """A database with no schema at all, for migration tests."""
    name = f"ov_empty_{os.getpid()}_{next(_database_numbers)}"
    dsn = await recreate_database(admin_dsn, name)
    yield dsn
    await drop_database(admin_dsn, name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def settings(database_dsn: str, tmp_path: Path) -> Settings:
    base = load_settings({})
    return dataclasses.replace(base, database_url=database_dsn, home=tmp_path / "home")


@pytest.fixture
async def pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with open_pool(database_dsn, min_size=1, max_size=5) as pool:
        yield pool


@pytest.fixture
def services(pool: asyncpg.Pool, settings: Settings, clock: ManualClock) -> Services:
    return build_services(pool, settings, clock)


@pytest.fixture
async def api(
    settings: Settings, clock: ManualClock
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The real application on a loopback port, talking to this test's database."""
    app = create_app(settings, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.fixture
async def tokens(services: Services) -> dict[Role, dict[str, str]]:
    """Authorization headers, one per role."""
    made = {}
    for role in Role:
        token = await services.tokens.create(role=role, name=f"test {role.value}")
        made[role] = {"Authorization": f"Bearer {token}"}
    return made
