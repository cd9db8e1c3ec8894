"""Prompt audio on disk, indexed in PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import datetime
from pathlib import Path

import asyncpg

from outage_voice.adapters.db.queries import q
from outage_voice.services.speech import AudioInfo


class FileAudioStore:
    def __init__(self, folder: Path, pool: asyncpg.Pool) -> None:
        self._folder = folder
        self._pool = pool

    def path_of(self, key: str) -> Path:
        return self._folder / key[:2] / f"{key}.wav"

    async def find(self, key: str) -> AudioInfo | None:
        row = await self._pool.fetchrow(q("audio_get"), key)
        if row is None or not self.path_of(key).is_file():
            return None
        return AudioInfo(**dict(row))

    def _write(self, key: str, data: bytes) -> None:
        path = self.path_of(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside its final name, then renamed: nobody ever reads half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".part-", delete=False) as part:
            part.write(data)
            part.flush()
            os.fsync(part.fileno())
        os.replace(part.name, path)

    async def save(self, info: AudioInfo, data: bytes, *, now: datetime) -> None:
        await asyncio.to_thread(self._write, info.key, data)
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

    async def load(self, key: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self.path_of(key).read_bytes)
        except FileNotFoundError:
            return None

    async def touch(self, key: str, now: datetime) -> None:
        await self._pool.execute(q("audio_touch"), key, now)
