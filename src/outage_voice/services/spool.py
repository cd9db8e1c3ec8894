"""Callers' requests taken while the database is away: kept on local disk, none lost.

Each request is one JSON line, flushed and fsynced before the caller is told it was
recorded. A replayer hands the lines back to the IVR service once the database answers;
replay is idempotent (reports deduplicate by CallSid), so a crash mid-replay is harmless.

Several instances may share the folder (one volume for all): one instance at a time
replays it, under an exclusive `flock` on the folder held for the whole replay. It claims
the file being written by renaming it under the writers' lock, which it lets go at once: a
writer checks, under that lock, that its file still has the spool's name, and writes to a
fresh file when not. So each request is replayed once, none is lost to a file being
replayed, and writers on other instances never wait for a replay, however long it takes.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Protocol, TextIO

logger = logging.getLogger(__name__)

REPLAY_INTERVAL_S = 5.0
SPOOL_KINDS = ("outage", "hazard", "callback")
SPOOL_FILE = "requests.jsonl"
# Claimed for replay; the bare name is what earlier releases claimed into.
CLAIMED_FILES = "requests.replaying*.jsonl"
# An append that keeps finding its file claimed by a replayer (renamed away between its open
# and its lock) opens the fresh one again; claims are seconds apart, so this never runs out.
APPEND_TRIES = 20


class SpooledRequests(Protocol):
    """What a replay hands each spooled request to (the IVR service)."""

    async def report_outage(
        self, *, premise_id: str | None, account_number: str | None, phone: str, call_sid: str
    ) -> object: ...

    async def report_hazard(
        self, *, premise_id: str | None, account_number: str | None, phone: str, call_sid: str
    ) -> object: ...

    async def request_callback(
        self,
        *,
        premise_id: str | None,
        account_number: str | None,
        phone: str,
        language: str,
        call_sid: str,
    ) -> object: ...


class RequestSpool:
    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._path = folder / SPOOL_FILE
        self._lock = asyncio.Lock()
        # Requests waiting, kept as they are added and replayed: /metrics and the heartbeat
        # ask for it on the event loop, and in a storm the files can be tens of megabytes.
        # Counted from disk when the instance starts (what a previous run left) and after
        # each replay (what instances sharing the folder added or replayed meanwhile).
        self._pending = self._count()

    def _count(self) -> int:
        files = [*self._folder.glob(CLAIMED_FILES), self._path]
        return sum(_count_lines(path) for path in files if path.exists())

    def _append(self, line: str) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        for _ in range(APPEND_TRIES):
            with self._path.open("a", encoding="utf-8") as spool:
                fcntl.flock(spool.fileno(), fcntl.LOCK_EX)
                if not _still_named(spool, self._path):
                    continue  # claimed between our open and our lock: a fresh file then
                spool.write(line + "\n")
                spool.flush()
                os.fsync(spool.fileno())
                return
        raise OSError(f"{self._path} was claimed for replay {APPEND_TRIES} times in a row")

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

    def _claim(self) -> tuple[int, list[Path]] | None:
        """The folder's replay lock (a descriptor to close when done) and the files to
        replay under it, or None when another instance replays the folder now. The files:
        those claimed earlier and left (a replay that failed, an instance that stopped
        mid-replay); else the spool being written, renamed to a name of our own."""
        try:
            folder = os.open(self._folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return None  # nothing spooled yet
        try:
            fcntl.flock(folder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(folder)
            return None
        except BaseException:
            os.close(folder)
            raise
        try:
            earlier = sorted(self._folder.glob(CLAIMED_FILES))
            if earlier:
                return folder, earlier  # the new requests wait for these: two files at most
            # The writers' lock, held by a writer for one line at a time.
            handle = _locked(self._path)
            if handle is None:
                return folder, []
            path = self._folder / f"requests.replaying.{uuid.uuid4().hex}.jsonl"
            with handle:
                self._path.rename(path)
            return folder, [path]
        except BaseException:
            os.close(folder)
            raise

    async def replay(self, ivr: SpooledRequests) -> int:
        """Hands spooled requests to the IVR service; returns how many were written."""
        async with self._lock:
            claim = await asyncio.to_thread(self._claim)
        written = 0
        if claim is not None:
            folder, paths = claim
            try:
                for path in paths:
                    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
                    lines = text.splitlines()
                    for line in lines:
                        request = json.loads(line)
                        kind = request.pop("kind")
                        if kind == "outage":
                            await ivr.report_outage(**request)
                        elif kind == "hazard":
                            await ivr.report_hazard(**request)
                        else:
                            await ivr.request_callback(**request)
                    # Removed under the folder's lock: no instance replays it again. What is
                    # left when this stops midway is replayed at the next try, by any.
                    path.unlink()
                    written += len(lines)
            finally:
                os.close(folder)
        if written:
            logger.info("replayed %d requests taken while the database was away", written)
        async with self._lock:
            self._pending = await asyncio.to_thread(self._count)
        return written

    async def replay_forever(self, ivr: SpooledRequests) -> None:
        while True:
            try:
                await self.replay(ivr)
            except Exception as exc:  # database still away: keep everything, try again later
                logger.debug("spool replay postponed: %r", exc)
            await asyncio.sleep(REPLAY_INTERVAL_S)


def _locked(path: Path) -> TextIO | None:
    """`path` open and exclusively locked, or None when it is gone."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    except BaseException:
        handle.close()
        raise
    if not _still_named(handle, path):  # claimed meanwhile
        handle.close()
        return None
    return handle


def _still_named(handle: TextIO, path: Path) -> bool:
    """Whether `path` still names the file `handle` has open."""
    try:
        named = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _count_lines(path: Path) -> int:
    try:
        with path.open("rb") as spool:
            return sum(1 for _ in spool)
    except FileNotFoundError:  # replayed by an instance sharing the folder meanwhile
        return 0
