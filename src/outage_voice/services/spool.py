"""Callers' requests taken while the database is away: kept on local disk, none lost.

Each request is one JSON line, flushed and fsynced before the caller is told it was
recorded. A replayer hands the lines back to the IVR service once the database answers;
replay is idempotent (reports deduplicate by CallSid), so a crash mid-replay is harmless.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from outage_voice.services.ivr import IvrService

logger = logging.getLogger(__name__)

REPLAY_INTERVAL_S = 5.0
SPOOL_KINDS = ("outage", "hazard", "callback")


class RequestSpool:
    def __init__(self, folder: Path) -> None:
        self._path = folder / "requests.jsonl"
        self._replaying = folder / "requests.replaying.jsonl"
        self._lock = asyncio.Lock()
        # Requests waiting, kept as they are added and replayed: /metrics and the heartbeat
        # ask for it on the event loop, and in a storm the files can be tens of megabytes.
        # Counted from disk once, when the instance starts, for what a previous run left.
        self._pending = sum(
            _count_lines(path) for path in (self._replaying, self._path) if path.exists()
        )

    def _append(self, line: str) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as spool:
            spool.write(line + "\n")
            spool.flush()
            os.fsync(spool.fileno())

    async def add(self, kind: str, **request: Any) -> None:
        if kind not in SPOOL_KINDS:
            raise ValueError(f"unknown request kind {kind!r}")
        line = json.dumps({"kind": kind, **request}, sort_keys=True)
        async with self._lock:
            await asyncio.to_thread(self._append, line)
            self._pending += 1

    def pending(self) -> int:
        """Requests on disk not yet written to the database; reads no file."""
        return self._pending

    async def replay(self, ivr: IvrService) -> int:
        """Hands spooled requests to the IVR service; returns how many were written."""
        async with self._lock:
            if not self._replaying.exists():
                if not self._path.exists():
                    return 0
                # Requests that arrive during the replay go to a fresh spool file.
                self._path.replace(self._replaying)
        lines = self._replaying.read_text(encoding="utf-8").splitlines()
        for line in lines:
            request = json.loads(line)
            kind = request.pop("kind")
            if kind == "outage":
                await ivr.report_outage(**request)
            elif kind == "hazard":
                await ivr.report_hazard(**request)
            else:
                await ivr.request_callback(**request)
        self._replaying.unlink()
        self._pending = max(0, self._pending - len(lines))
        if lines:
            logger.info("replayed %d requests taken while the database was away", len(lines))
        return len(lines)

    async def replay_forever(self, ivr: IvrService) -> None:
        while True:
            try:
                await self.replay(ivr)
            except Exception as exc:  # database still away: keep everything, try again later
                logger.debug("spool replay postponed: %r", exc)
            await asyncio.sleep(REPLAY_INTERVAL_S)


def _count_lines(path: Path) -> int:
    with path.open("rb") as spool:
        return sum(1 for _ in spool)
