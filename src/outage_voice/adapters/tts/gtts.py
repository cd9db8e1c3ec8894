"""Google Translate's text-to-speech, through gTTS's request format.

gTTS itself sends with TLS verification turned off and no timeout; here gTTS only builds
the request (its public `get_bodies`), and we send it with verification, a timeout and a
minimum spacing between requests, because the service answers 429 under load.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time

import aiohttp

from outage_voice.adapters.audio import mp3_to_wav
from outage_voice.adapters.tts.espeak import EngineUnavailable

GTTS_TIMEOUT_S = 5.0
MIN_INTERVAL_S = 0.25
_AUDIO = re.compile(r'jQ1olc","\[\\"(.*)\\"]')
LANGUAGES = {"en-US": ("en", "com"), "es-US": ("es", "com.mx"), "es-MX": ("es", "com.mx")}


class GttsEngine:
    name = "gtts"

    def __init__(self, *, timeout_s: float = GTTS_TIMEOUT_S, base_url: str | None = None) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._base_url = base_url
        self._throttle = asyncio.Lock()
        self._last_request = 0.0

    def voice_for(self, language: str) -> str:
        lang, tld = LANGUAGES.get(language, (language.split("-")[0], "com"))
        return f"{lang}@{tld}"

    async def synthesize(self, text: str, language: str) -> bytes:
        from gtts import gTTS
        from gtts.utils import _translate_url

        lang, tld = LANGUAGES.get(language, (language.split("-")[0], "com"))
        request = gTTS(text=text, lang=lang, tld=tld, lang_check=False)
        url = self._base_url or _translate_url(
            tld=tld, path="_/TranslateWebserverUi/data/batchexecute"
        )
        mp3 = bytearray()
        async with aiohttp.ClientSession(timeout=self._timeout) as session:
            for body in request.get_bodies():
                async with self._throttle:
                    wait_s = self._last_request + MIN_INTERVAL_S - time.monotonic()
                    if wait_s > 0:
                        await asyncio.sleep(wait_s)  # spacing requests to a rate-limited service
                    self._last_request = time.monotonic()
                try:
                    async with session.post(
                        url, data=body, headers=gTTS.GOOGLE_TTS_HEADERS
                    ) as response:
                        if response.status == 429:
                            raise EngineUnavailable("gTTS answered 429: too many requests")
                        if response.status != 200:
                            raise EngineUnavailable(f"gTTS answered HTTP {response.status}")
                        payload = await response.text()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise EngineUnavailable(f"gTTS unreachable: {exc!r}") from None
                found = _AUDIO.search(payload)
                if found is None:
                    raise EngineUnavailable("gTTS answered without audio")
                mp3 += base64.b64decode(found.group(1))
        return await asyncio.to_thread(mp3_to_wav, bytes(mp3))

    def close(self) -> None:
        return None
