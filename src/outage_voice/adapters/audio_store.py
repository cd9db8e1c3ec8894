"""Prompt audio on this instance's disk, with an index in PostgreSQL.

The files are the truth: each WAV has a small JSON sidecar with what it says, so audio is
found and served with the database away. The `audio_cache` table is an index of what was
made and when it was last used (for reports and pruning); writing it is best effort, within a
short budget, and never holds up a caller's prompt.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections import OrderedDict
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from outage_voice.adapters.db.errors import is_database_unavailable
from outage_voice.adapters.db.queries import q
from outage_voice.services.retention import IndexedAudio
from outage_voice.services.speech import AudioInfo

logger = logging.getLogger(__name__)

# The index may wait this long; a prompt never waits longer for it. After a failure it is
# left alone for a while, so a database that hangs costs one wait, not one per prompt.
INDEX_BUDGET_S = 0.5
INDEX_BACKOFF = timedelta(seconds=30)
# Last use is recorded at most this often per key (the query checks the same).
TOUCH_EVERY = timedelta(hours=1)
TOUCHED_KEYS = 20_000
# What a sidecar holds: the index row's fields, nothing per caller beyond the words.
_SIDECAR_FIELDS = (
    "key",
    "kind",
    "engine",
    "voice",
    "language",
    "text",
    "duration_ms",
    "size_bytes",
)


class FileAudioStore:
    def __init__(self, folder: Path, pool: asyncpg.Pool) -> None:
        self._folder = folder
        self._pool = pool
        self._touched: OrderedDict[str, datetime] = OrderedDict()
        self._index_down_until: datetime | None = None

    def path_of(self, key: str) -> Path:
        return self._folder / key[:2] / f"{key}.wav"

    def _sidecar_of(self, key: str) -> Path:
        return self._folder / key[:2] / f"{key}.json"

    def _read_local(self, key: str) -> tuple[bool, AudioInfo | None]:
        """Whether the WAV is here, and what its sidecar says (None for files written
        before sidecars, or a sidecar that can't be read)."""
        try:
            size = self.path_of(key).stat().st_size
        except OSError:
            return False, None
        try:
            fields = json.loads(self._sidecar_of(key).read_text(encoding="utf-8"))
            info = AudioInfo(**{name: fields[name] for name in _SIDECAR_FIELDS})
        except (OSError, ValueError, KeyError, TypeError):
            return True, None
        if info.key != key:
            return True, None
        # A message is written without waiting for the disk (below): one cut short by a power
        # failure is not the size its sidecar says, and is made again from its recipe.
        return (True, info) if size == info.size_bytes else (False, None)

    async def find(self, key: str) -> AudioInfo | None:
        present, info = await asyncio.to_thread(self._read_local, key)
        if not present or info is not None:
            return info
        # A file from before sidecars: the index knows its words, when it answers.
        if self._index_down_until is not None:
            return None  # made again, sidecar and all
        try:
            async with asyncio.timeout(INDEX_BUDGET_S):
                row = await self._pool.fetchrow(q("audio_get"), key)
        except Exception as exc:
            if not _index_unavailable(exc):
                raise
            return None
        if row is None:
            return None
        info = AudioInfo(**dict(row))
        await asyncio.to_thread(self._write, self._sidecar_of(key), _sidecar(info))
        return info

    def write_file(self, key: str, data: bytes) -> None:
        self._write(self.path_of(key), data)

    @staticmethod
    def _write(path: Path, data: bytes, *, durable: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside its final name, then renamed: nobody ever reads half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".part-", delete=False) as part:
            part.write(data)
            part.flush()
            if durable:
                os.fsync(part.fileno())
        os.replace(part.name, path)

    def _write_both(self, info: AudioInfo, data: bytes) -> None:
        # A message can be joined again from its pieces by any instance: it is not worth two
        # waits on the disk each (most of serving a storm's first callers their audio).
        durable = info.kind != "message"
        # The sidecar first: a WAV that can be found always has its words beside it.
        self._write(self._sidecar_of(info.key), _sidecar(info), durable=durable)
        self._write(self.path_of(info.key), data, durable=durable)

    async def save(self, info: AudioInfo, data: bytes, *, now: datetime) -> None:
        await asyncio.to_thread(self._write_both, info, data)
        self._touched[info.key] = now
        await self._index(info, now)

    async def load(self, key: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self.path_of(key).read_bytes)
        except FileNotFoundError:
            return None

    async def written_before(self, before: datetime) -> list[tuple[IndexedAudio, int]]:
        return await asyncio.to_thread(self._written_before, before.timestamp())

    def _written_before(self, before_s: float) -> list[tuple[IndexedAudio, int]]:
        found = []
        for path in self._folder.glob("??/*.wav"):
            try:
                stat = path.stat()
            except OSError:
                continue  # removed meanwhile
            if stat.st_mtime >= before_s:
                continue
            present, info = self._read_local(path.stem)
            if present and info is not None:
                audio = IndexedAudio(
                    key=info.key, kind=info.kind, language=info.language, text=info.text
                )
                found.append((audio, stat.st_size))
        return found

    async def remove(self, key: str) -> None:
        """The WAV first, then its words: a WAV that can be found always has them beside it."""

        def unlink() -> None:
            self.path_of(key).unlink(missing_ok=True)
            self._sidecar_of(key).unlink(missing_ok=True)

        await asyncio.to_thread(unlink)
        self._touched.pop(key, None)

    async def touch(self, info: AudioInfo, now: datetime) -> None:
        """Records that `info` was served: at most once an hour per key and instance, and
        indexing it if it was made while the database was away."""
        last = self._touched.get(info.key)
        if last is not None and now - last < TOUCH_EVERY:
            return
        self._touched[info.key] = now
        self._touched.move_to_end(info.key)
        while len(self._touched) > TOUCHED_KEYS:
            self._touched.popitem(last=False)
        await self._index(info, now)

    async def _index(self, info: AudioInfo, now: datetime) -> None:
        if self._index_down_until is not None:
            if now < self._index_down_until:
                self._touched.pop(info.key, None)  # indexed on a later use instead
                return
            self._index_down_until = None
        try:
            async with asyncio.timeout(INDEX_BUDGET_S):
                await self._pool.execute(
                    q("audio_put"),
                    info.key,
                    info.kind,
                    info.engine,
                    info.voice,
                    info.language,
                    info.text,
                    info.duration_ms,
                    info.size_bytes,
                    now,
                )
        except Exception as exc:
            if not _index_unavailable(exc):
                raise
            self._touched.pop(info.key, None)
            self._index_down_until = now + INDEX_BACKOFF
            logger.warning(
                "audio index unavailable (%r); audio is saved and served from disk, and "
                "indexed when next used after %s",
                exc,
                self._index_down_until,
            )


def _index_unavailable(error: BaseException) -> bool:
    return isinstance(error, TimeoutError) or is_database_unavailable(error)


def _sidecar(info: AudioInfo) -> bytes:
    fields = {name: getattr(info, name) for name in _SIDECAR_FIELDS}
    return json.dumps(fields, ensure_ascii=False).encode()
