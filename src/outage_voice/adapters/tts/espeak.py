"""espeak-ng, offline, through the library `espeakng-loader` ships (no system package)."""

from __future__ import annotations

import asyncio
import ctypes
import logging
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


class EspeakEngine:
    name = "espeak"

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")
        self._library: _Library | None = None

    def voice_for(self, language: str) -> str:
        return VOICES.get(language, VOICES.get(language.split("-")[0], "en-us"))

    def _speak(self, text: str, language: str) -> bytes:
        if self._library is None:
            self._library = _Library()
        return self._library.speak(text, self.voice_for(language))

    async def synthesize(self, text: str, language: str) -> bytes:
        """8 kHz mono WAV of `text`; one synthesis at a time, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._speak, text, language)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
