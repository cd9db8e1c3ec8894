"""Prompt audio: pieces synthesized once, messages assembled from pieces, cached by content.

Engines are tried in order (gTTS, then espeak); an engine that fails is skipped for a while
instead of being asked again on every call. When no audio can be made, `message` returns
None and the IVR speaks with <Say>: a caller never hears an application error.

A message's key is a hash of what its pieces are made from (engine, voice, language, text),
and a <Play> URL carries those sources as a compact recipe: whichever instance the carrier's
fetch reaches checks the recipe against the key and, if the audio is not on its own disk,
makes it again. No instance needs another's disk, or the database, to serve a prompt.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import functools
import hashlib
import json
import logging
import re
import zlib
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from outage_voice.domain.prompts import Catalog, Segment, address_segments, spoken
from outage_voice.services.instruments import NO_INSTRUMENTS, Instruments
from outage_voice.services.ports import Clock

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
_K = TypeVar("_K", bound=Hashable)

ENGINE_BACKOFF = timedelta(seconds=60)
# Pieces a process keeps at hand: every fragment of every catalog fits many times over.
MEMORY_PIECES = 20_000
# What a recipe from a URL may ask for: a long status message is 5-10 pieces and a few
# hundred characters; anything far beyond is not a URL this product made.
MAX_RECIPE_CHARS = 4096
MAX_RECIPE_BYTES = 8192
MAX_RECIPE_PIECES = 64
MAX_SOURCE_NAME_CHARS = 64
# First character of a recipe: the encoding, so a later one can be told apart.
RECIPE_FORMAT = "1"
RECIPE_WINDOW_BITS = 12
RECIPE_MEMORY_LEVEL = 2
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class SpeechEngine(Protocol):
    name: str

    def voice_for(self, language: str) -> str: ...

    async def synthesize(self, text: str, language: str) -> bytes:
        """8 kHz mono 16-bit WAV of `text`."""
        ...

    def close(self) -> None: ...


@functools.lru_cache(maxsize=65_536)  # the same menu and status pieces on every webhook
def audio_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class PieceSource:
    """What one piece of audio is made from; its key is the hash of exactly this."""

    engine: str
    voice: str
    language: str
    text: str
    # What the message's transcript shows for this piece, when not `text` (a house number
    # said from fragments). Not part of the piece: the audio of "twelve" is one file.
    shown: str | None = None
    # Worked out once: every message key and recipe check reads it.
    key: str = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = audio_key("piece", self.engine, self.voice, self.language, self.text)
        object.__setattr__(self, "key", key)

    @property
    def segment(self) -> Segment:
        return Segment(text=self.text, language=self.language, key=None, shown=self.shown)


def message_key(sources: Sequence[PieceSource]) -> str:
    """The audio and its transcript: a message shown differently is another message.
    (= audio_key("message", ...), unmemoized: most messages with an address are heard once.)"""
    parts = ["message"]
    parts += (s.key if s.shown is None else f"{s.key}\x1f{s.shown}" for s in sources)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class Playable:
    """A message ready for <Play>: every piece exists, so its key and recipe are known. The
    message itself is joined when first fetched, by whichever instance the fetch reaches."""

    key: str
    sources: tuple[PieceSource, ...]

    @property
    def text(self) -> str:
        """Its words (read by transcripts, not by a webhook's answer, so not kept)."""
        return spoken(tuple(source.segment for source in self.sources))


class BadRecipe(ValueError):
    """A recipe that is not one this product writes."""


def recipe_token(sources: Sequence[PieceSource]) -> str:
    """A message's sources, compact and URL-safe: JSON, raw deflate, base64url."""
    rows = [
        [s.engine, s.voice, s.language, s.text, *(() if s.shown is None else (s.shown,))]
        for s in sources
    ]
    raw = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()
    # A small window and little memory: the same bytes out for a recipe of a few hundred
    # characters, at a tenth of the cost of zlib's defaults (its 256 KiB of state per call
    # was most of a first caller's answer). Any raw inflate reads it.
    packer = zlib.compressobj(9, zlib.DEFLATED, -RECIPE_WINDOW_BITS, RECIPE_MEMORY_LEVEL)
    packed = packer.compress(raw) + packer.flush()
    return RECIPE_FORMAT + base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def recipe_sources(token: str) -> tuple[PieceSource, ...]:
    """The sources a recipe names; BadRecipe for anything else (bounded: no zip bombs)."""
    if not token.startswith(RECIPE_FORMAT) or len(token) > MAX_RECIPE_CHARS:
        raise BadRecipe("unknown recipe format or too long")
    body = token[len(RECIPE_FORMAT) :]
    if not _BASE64URL.match(body):
        raise BadRecipe("a recipe is base64url")
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        unpacker = zlib.decompressobj(-15)
        raw = unpacker.decompress(packed, MAX_RECIPE_BYTES)
        if unpacker.unconsumed_tail or not unpacker.eof:
            raise BadRecipe("recipe too large or cut short")
        rows = json.loads(raw.decode())
    except (binascii.Error, zlib.error, UnicodeDecodeError, ValueError) as exc:
        raise BadRecipe(f"unreadable recipe: {exc}") from None
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_RECIPE_PIECES:
        raise BadRecipe("a recipe is a list of 1 to 64 pieces")
    sources = []
    for row in rows:
        if (
            not isinstance(row, list)
            or len(row) not in (4, 5)
            or not all(isinstance(field, str) for field in row)
            or not all(row[:4])
            or any(len(field) > MAX_SOURCE_NAME_CHARS for field in row[:3])
        ):
            raise BadRecipe("a piece is [engine, voice, language, text] and what it shows")
        engine, voice, language, text = row[:4]
        shown = row[4] if len(row) == 5 else None
        sources.append(
            PieceSource(engine=engine, voice=voice, language=language, text=text, shown=shown)
        )
    return tuple(sources)


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
    # A message's pieces, in order: what a <Play> URL carries to rebuild it anywhere.
    sources: tuple[PieceSource, ...] = ()

    @property
    def source(self) -> PieceSource:
        """What this piece is made from (a message has `sources` instead)."""
        return PieceSource(
            engine=self.engine, voice=self.voice, language=self.language, text=self.text
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredAudio:
    info: AudioInfo
    data: bytes
    # False when this instance could not make the exact voice asked for and made the same
    # words in the voice it has: right to play, wrong to cache under the asked-for key.
    exact: bool = True


class AudioStore(Protocol):
    async def find(self, key: str) -> AudioInfo | None:
        """Audio this instance holds, whether or not the database answers."""
        ...

    async def save(self, info: AudioInfo, data: bytes, *, now: datetime) -> None:
        """Atomically: the file is complete before anyone can find it. Saving works with
        the database away (the index catches up later or never; the files are the truth)."""
        ...

    async def load(self, key: str) -> bytes | None: ...


class PromptAudio:
    def __init__(
        self,
        engines: Sequence[SpeechEngine],
        store: AudioStore,
        clock: Clock,
        *,
        duration_ms: Callable[[bytes], int],
        join: Callable[[list[bytes]], bytes],
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self._engines = list(engines)
        self._instruments = instruments
        self._store = store
        self._clock = clock
        self._duration_ms = duration_ms
        self._join = join
        self._inflight: dict[str, asyncio.Future[AudioInfo | None]] = {}
        self._down_until: dict[str, datetime] = {}
        # Assembling a message must not cost a disk read per piece: pieces once found stay
        # known here (bounded; the files remain the truth).
        self._known: OrderedDict[str, AudioInfo] = OrderedDict()
        self._bytes: OrderedDict[str, bytes] = OrderedDict()
        # Each segment once met, with its piece and source: a webhook's prompts are a few
        # dict lookups, not a key, an engine choice and a source built per segment. A piece
        # whose file later goes away is made again by the fetch that misses it.
        self._met: OrderedDict[Segment, tuple[AudioInfo, PieceSource]] = OrderedDict()
        self.engine_calls: Counter[str] = Counter()

    def _remember(self, table: OrderedDict[_K, _T], key: _K, value: _T) -> _T:
        table[key] = value
        table.move_to_end(key)
        while len(table) > MEMORY_PIECES:
            table.popitem(last=False)
        return value

    async def _once(
        self, key: str, make: Callable[[], Awaitable[AudioInfo | None]], kind: str
    ) -> AudioInfo | None:
        """Cached, or made by exactly one of any number of concurrent askers."""
        known = self._known.get(key)
        if known is not None:
            self._instruments.speech_cache(kind, hit=True)
            return known
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[AudioInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            info = await self._store.find(key)
            self._instruments.speech_cache(kind, hit=info is not None)
            if info is None:
                info = await make()
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
                key, functools.partial(self._make_piece, engine, key, voice, segment), "piece"
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
            self._instruments.speech_engine_call(engine.name, ok=False)
            until = self._clock.now() + ENGINE_BACKOFF
            self._down_until[engine.name] = until
            logger.warning(
                "speech engine %s failed (%r); skipping it until %s", engine.name, exc, until
            )
            return None
        self._instruments.speech_engine_call(engine.name, ok=True)
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

    async def _pieces(
        self, segments: Sequence[Segment]
    ) -> tuple[list[AudioInfo], tuple[PieceSource, ...]] | None:
        pieces = []
        sources = []
        for segment in segments:
            met = self._met.get(segment)
            if met is None:
                piece = await self.piece(segment)
                if piece is None:
                    return None
                source = piece.source
                if segment.shown is not None:
                    source = _shown(source, segment.shown)
                met = self._remember(self._met, segment, (piece, source))
            pieces.append(met[0])
            sources.append(met[1])
        return pieces, tuple(sources)

    async def message(self, segments: Sequence[Segment]) -> AudioInfo | None:
        """One WAV for a rendered message, or None when some piece can't be spoken."""
        made = await self._pieces(segments) if segments else None
        if made is None:
            return None
        pieces, sources = made
        key = message_key(sources)
        info = await self._once(
            key, functools.partial(self._make_message, key, pieces, sources), "message"
        )
        if info is None or info.sources:
            return info
        # Found on disk or in the index, which keep no sources: the pieces just met do.
        return self._remember(self._known, key, dataclasses.replace(info, sources=sources))

    async def playable(self, segments: Sequence[Segment]) -> Playable | None:
        """What a <Play> of this message needs, or None when some piece can't be spoken.

        Only the pieces are made here (a street never spoken before, once); the message is
        joined and written when the carrier fetches it. A first caller's answer so waits on
        no join, no disk write and no index row, all of which the storm's later callers
        would not share anyway.
        """
        made = await self._pieces(segments) if segments else None
        if made is None:
            return None
        _, sources = made
        key = message_key(sources)
        return Playable(key=key, sources=sources)

    async def warm(self, segments: Iterable[Segment]) -> int:
        """Makes (or finds) every piece of `segments` now, one after another, ahead of the
        calls that will need them; the number that could not be made."""
        silent = 0
        for segment in segments:
            if await self.piece(segment) is None:
                silent += 1
        return silent

    def known_message(self, segments: Sequence[Segment]) -> AudioInfo | Playable | None:
        """A message this process has already made or found, or whose every piece it holds
        (joined when fetched), or None: no disk, no database, no engine, for answers that
        must not wait on any of them."""
        sources = []
        for segment in segments:
            for engine in self._engines:
                voice = engine.voice_for(segment.language)
                key = audio_key("piece", engine.name, voice, segment.language, segment.text)
                piece = self._known.get(key)
                if piece is not None:
                    source = piece.source
                    sources.append(
                        source if segment.shown is None else _shown(source, segment.shown)
                    )
                    break
            else:
                return None
        if not sources:
            return None
        key = message_key(sources)
        info = self._known.get(key)
        if info is None:
            return Playable(key=key, sources=tuple(sources))
        return info if info.sources else dataclasses.replace(info, sources=tuple(sources))

    async def stored(self, key: str) -> StoredAudio | None:
        """Audio already made under `key`, here or on this instance's disk; never synthesized."""
        info = self._known.get(key) or await self._store.find(key)
        if info is None:
            return None
        data = self._bytes.get(key) or await self._store.load(key)
        if data is None:
            self._known.pop(key, None)  # the file went away: it is made again when next asked
            return None
        self._remember(self._known, key, info)
        return StoredAudio(info=info, data=data)

    async def rebuild(self, sources: Sequence[PieceSource]) -> StoredAudio | None:
        """The message these sources describe, made here if this instance never had it.

        Pieces are made with the engine and voice the sources name, so the audio is exactly
        what its key promises. When this instance cannot speak in that voice (another engine
        configured, or that engine failing just now), the same words in the voice it has are
        better than silence: that comes back with `exact=False`.
        """
        if not sources:
            return None
        key = message_key(sources)
        segments = tuple(source.segment for source in sources)
        sources = tuple(sources)
        pieces = []
        for source in sources:
            engine = self._engine_for(source)
            if engine is None:
                break
            make = functools.partial(
                self._make_piece, engine, source.key, source.voice, source.segment
            )
            piece = await self._once(source.key, make, "piece")
            if piece is None:
                break
            pieces.append(piece)
        else:
            info = await self._once(
                key, functools.partial(self._make_message, key, pieces, sources), "message"
            )
            exact = await self.stored(key) if info is not None else None
            if exact is not None:
                return exact
        substitute = await self.message(segments)
        if substitute is None:
            return None
        found = await self.stored(substitute.key)
        return None if found is None else dataclasses.replace(found, exact=False)

    def _engine_for(self, source: PieceSource) -> SpeechEngine | None:
        now = self._clock.now()
        for engine in self._engines:
            if (
                engine.name == source.engine
                and engine.voice_for(source.language) == source.voice
                and self._down_until.get(engine.name, now) <= now
            ):
                return engine
        return None

    async def _make_message(
        self, key: str, pieces: list[AudioInfo], sources: tuple[PieceSource, ...]
    ) -> AudioInfo | None:
        parts = []
        for piece in pieces:
            data = self._bytes.get(piece.key) or await self._store.load(piece.key)
            if data is None:
                self._known.pop(piece.key, None)  # its file went away: made again when next asked
                return None
            parts.append(self._remember(self._bytes, piece.key, data))
        joined = self._join(parts)
        info = AudioInfo(
            key=key,
            kind="message",
            engine="+".join(sorted({p.engine for p in pieces})),
            voice="+".join(sorted({p.voice for p in pieces})),
            language=pieces[0].language,
            text=spoken(tuple(source.segment for source in sources)),
            duration_ms=self._duration_ms(joined),
            size_bytes=len(joined),
            sources=sources,
        )
        await self._store.save(info, joined, now=self._clock.now())
        return info


def _shown(source: PieceSource, shown: str) -> PieceSource:
    return PieceSource(
        engine=source.engine,
        voice=source.voice,
        language=source.language,
        text=source.text,
        shown=shown,
    )


class AddressSource(Protocol):
    async def all_addresses(self) -> list[tuple[str, str]]:
        """(service address, language tag) of every premise, each pair once."""
        ...


def address_pieces(
    catalogs: Mapping[str, Catalog], addresses: Iterable[tuple[str, str]]
) -> list[Segment]:
    """The distinct pieces that saying these (address, language) pairs takes: each street once
    per language, and the number fragments their house numbers use."""
    pieces: dict[tuple[str, str], Segment] = {}
    for address, tag in addresses:
        catalog = catalogs.get(tag) or catalogs.get(tag.split("-")[0].lower()) or catalogs["en"]
        for segment in address_segments(catalog, address):
            pieces.setdefault((segment.language, segment.text), segment)
    return list(pieces.values())


@dataclass(frozen=True, kw_only=True, slots=True)
class WarmReport:
    pieces: int
    silent: int  # pieces no engine could make now (they are tried again on the call)


async def warm_addresses(
    audio: PromptAudio, catalogs: Mapping[str, Catalog], source: AddressSource
) -> WarmReport:
    """Every premise's street spoken ahead (and found again when already made), so a storm's
    first callers are answered from audio that exists."""
    pieces = address_pieces(catalogs, await source.all_addresses())
    return WarmReport(pieces=len(pieces), silent=await audio.warm(pieces))
