"""Prompt audio: pieces synthesized once, messages assembled from pieces, cached by content.

Engines are tried in order (gTTS, then espeak); an engine that fails is skipped for a while
instead of being asked again on every call. When no audio can be made, `message` returns
None and the IVR speaks with <Say>: a caller never hears an application error.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from outage_voice.domain.prompts import Segment, spoken
from outage_voice.services.ports import Clock

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

ENGINE_BACKOFF = timedelta(seconds=60)
# Pieces a process keeps at hand: every fragment of every catalog fits many times over.
MEMORY_PIECES = 20_000


class SpeechEngine(Protocol):
    name: str

    def voice_for(self, language: str) -> str: ...

    async def synthesize(self, text: str, language: str) -> bytes:
        """8 kHz mono 16-bit WAV of `text`."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class AudioInfo:
    key: str
    kind: str  # "piece" or "message"
    engine: str
    voice: str
    language: str
    text: str
    duration_ms: int
    size_bytes: int


class AudioStore(Protocol):
    async def find(self, key: str) -> AudioInfo | None: ...

    async def save(self, info: AudioInfo, data: bytes, *, now: datetime) -> None:
        """Atomically: the file is complete before the index names it."""
        ...

    async def load(self, key: str) -> bytes | None: ...


@functools.lru_cache(maxsize=65_536)  # the same menu and status pieces on every webhook
def audio_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


class PromptAudio:
    def __init__(
        self,
        engines: Sequence[SpeechEngine],
        store: AudioStore,
        clock: Clock,
        *,
        duration_ms: Callable[[bytes], int],
        join: Callable[[list[bytes]], bytes],
    ) -> None:
        self._engines = list(engines)
        self._store = store
        self._clock = clock
        self._duration_ms = duration_ms
        self._join = join
        self._inflight: dict[str, asyncio.Future[AudioInfo | None]] = {}
        self._down_until: dict[str, datetime] = {}
        # Assembling a message must not cost a database round trip per piece: pieces once
        # found stay known here (bounded; the database and the files remain the truth).
        self._known: OrderedDict[str, AudioInfo] = OrderedDict()
        self._bytes: OrderedDict[str, bytes] = OrderedDict()
        self.engine_calls: Counter[str] = Counter()

    def _remember(self, table: OrderedDict[str, _T], key: str, value: _T) -> _T:
        table[key] = value
        table.move_to_end(key)
        while len(table) > MEMORY_PIECES:
            table.popitem(last=False)
        return value

    async def _once(
        self, key: str, make: Callable[[], Awaitable[AudioInfo | None]]
    ) -> AudioInfo | None:
        """Cached, or made by exactly one of any number of concurrent askers."""
        known = self._known.get(key)
        if known is not None:
            return known
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[AudioInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            info = await self._store.find(key) or await make()
            if info is not None:
                self._remember(self._known, key, info)
            future.set_result(info)
            return info
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a future nobody awaited doesn't warn
            raise
        finally:
            del self._inflight[key]

    async def piece(self, segment: Segment) -> AudioInfo | None:
        now = self._clock.now()
        for engine in self._engines:
            if self._down_until.get(engine.name, now) > now:
                continue
            voice = engine.voice_for(segment.language)
            key = audio_key("piece", engine.name, voice, segment.language, segment.text)
            info = await self._once(
                key, functools.partial(self._make_piece, engine, key, voice, segment)
            )
            if info is not None:
                return info
        return None

    async def _make_piece(
        self, engine: SpeechEngine, key: str, voice: str, segment: Segment
    ) -> AudioInfo | None:
        self.engine_calls[engine.name] += 1
        try:
            data = await engine.synthesize(segment.text, segment.language)
        except Exception as exc:
            until = self._clock.now() + ENGINE_BACKOFF
            self._down_until[engine.name] = until
            logger.warning(
                "speech engine %s failed (%r); skipping it until %s", engine.name, exc, until
            )
            return None
        info = AudioInfo(
            key=key,
            kind="piece",
            engine=engine.name,
            voice=voice,
            language=segment.language,
            text=segment.text,
            duration_ms=self._duration_ms(data),
            size_bytes=len(data),
        )
        await self._store.save(info, data, now=self._clock.now())
        self._remember(self._bytes, key, data)
        return info

    async def message(self, segments: Sequence[Segment]) -> AudioInfo | None:
        """One WAV for a rendered message, or None when some piece can't be spoken."""
        if not segments:
            return None
        pieces = []
        for segment in segments:
            piece = await self.piece(segment)
            if piece is None:
                return None
            pieces.append(piece)
        key = audio_key("message", *(piece.key for piece in pieces))
        return await self._once(key, functools.partial(self._make_message, key, pieces, segments))

    async def _make_message(
        self, key: str, pieces: list[AudioInfo], segments: Sequence[Segment]
    ) -> AudioInfo | None:
        parts = []
        for piece in pieces:
            data = self._bytes.get(piece.key) or await self._store.load(piece.key)
            if data is None:
                return None
            parts.append(self._remember(self._bytes, piece.key, data))
        joined = self._join(parts)
        info = AudioInfo(
            key=key,
            kind="message",
            engine="+".join(sorted({p.engine for p in pieces})),
            voice="+".join(sorted({p.voice for p in pieces})),
            language=pieces[0].language,
            text=spoken(tuple(segments)),
            duration_ms=self._duration_ms(joined),
            size_bytes=len(joined),
        )
        await self._store.save(info, joined, now=self._clock.now())
        return info
