"""espeak-ng, offline, through the library `espeakng-loader` ships (no system package)."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from outage_voice.adapters.audio import pcm_to_wav

logger = logging.getLogger(__name__)

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_PARAMETER_RATE = 1
_WORDS_PER_MINUTE = 160  # a little slower than espeak's 175: callers are stressed, lines are noisy
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
# Catalog language tags → espeak-ng voices.
VOICES = {"en-US": "en-us", "en": "en-us", "es-US": "es-419", "es-MX": "es-419", "es": "es-419"}


class EngineUnavailable(Exception):
    """This engine can't speak right now; the caller should fall back."""


class _Library:
    """The process-global, non-re-entrant espeak-ng: only ever touched from one thread."""

    def __init__(self) -> None:
        import espeakng_loader

        try:
            self.lib = ctypes.CDLL(str(espeakng_loader.get_library_path()))
        except OSError as exc:
            raise EngineUnavailable(f"libespeak-ng could not be loaded: {exc}") from None
        data_path = str(espeakng_loader.get_data_path()).encode()
        self.sample_rate = int(
            self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        )
        if self.sample_rate <= 0:
            raise EngineUnavailable("espeak_Initialize failed")
        self._chunks: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # kept: the library holds a raw pointer
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lib.espeak_SetParameter(_PARAMETER_RATE, _WORDS_PER_MINUTE, 0)

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], samples: int, _events: int) -> int:
        if samples > 0:
            self._chunks.append(ctypes.string_at(wav, samples * 2))
        return 0

    def speak(self, text: str, voice: str) -> bytes:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise EngineUnavailable(f"espeak-ng has no voice {voice!r}")
        self._chunks = []
        data = text.encode() + b"\0"
        status = self.lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if status != 0 or not self._chunks:
            raise EngineUnavailable(f"espeak_Synth failed ({status})")
        return pcm_to_wav(b"".join(self._chunks), rate_hz=self.sample_rate)


class _Shared:
    """The one library and the one thread that touches it, for every engine in the process:
    a second `espeak_Initialize` would take the synth callback from the first engine, which
    would then make silence (two servers in one process, as tests run them)."""

    lock = threading.Lock()
    current: _Shared | None = None

    def __init__(self) -> None:
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self.library: _Library | None = None
        self.users = 0

    @classmethod
    def join(cls) -> _Shared:
        with cls.lock:
            if cls.current is None:
                cls.current = _Shared()
            cls.current.users += 1
            return cls.current

    def leave(self) -> None:
        with _Shared.lock:
            self.users -= 1
            last = self.users == 0
            if last and _Shared.current is self:
                _Shared.current = None
        if last:
            self.thread.shutdown(wait=True)

    def speak(self, text: str, voice: str) -> bytes:
        if self.library is None:  # only ever on this object's one thread
            self.library = _Library()
        return self.library.speak(text, voice)


class EspeakEngine:
    name = "espeak"

    def __init__(self) -> None:
        self._shared = _Shared.join()
        self._closed = False

    def voice_for(self, language: str) -> str:
        return VOICES.get(language, VOICES.get(language.split("-")[0], "en-us"))

    async def synthesize(self, text: str, language: str) -> bytes:
        """8 kHz mono WAV of `text`; one synthesis at a time, off the event loop."""
        loop = asyncio.get_running_loop()
        voice = self.voice_for(language)
        return await loop.run_in_executor(self._shared.thread, self._shared.speak, text, voice)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._shared.leave()
