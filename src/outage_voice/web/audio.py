"""`GET /audio/{key}.wav`: prompt audio for the carrier's <Play>, from any instance.

The URLs the IVR writes carry the message's recipe (`r`: engine, voice, language and words of
each piece, compressed) and a signature (`s`). Behind a load balancer the carrier's fetch may
reach an instance that has never made this audio, with the database away: it checks that the
recipe hashes to the key (a changed word is refused), serves the audio from its disk, or,
for a URL this line signed, makes it from the recipe. `GET /audio/{key}.wav` alone serves
audio this instance already holds.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from urllib.parse import quote

from aiohttp import web

from outage_voice.config import Settings
from outage_voice.services.speech import (
    AudioInfo,
    BadRecipe,
    PieceSource,
    Playable,
    message_key,
    recipe_sources,
    recipe_token,
)
from outage_voice.web.keys import AUDIO_STORE, CLOCK, PROMPT_AUDIO, SETTINGS

routes = web.RouteTableDef()
_KEY = re.compile(r"^[0-9a-f]{64}$")
# Content-addressed: a key's audio never changes, so anyone may keep it for a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"
# The same words in another voice (this instance could not make the one asked for): fine to
# play now, wrong to keep under a key that names another voice.
SUBSTITUTE_CACHE_CONTROL = "no-store"
# Carriers take far longer URLs; this keeps a <Play> well inside what every proxy passes.
# Longer messages (none in the catalogs today) are spoken with <Say>.
MAX_PLAY_URL_CHARS = 2048
SIGNATURE_BYTES = 16
PLAY_URLS_KEPT = 4096


@functools.lru_cache(maxsize=4)
def _signing_key(secret: str) -> bytes:
    # Derived, so the carrier's token itself never signs anything but webhooks.
    return hmac.new(secret.encode(), b"outage-voice audio URL", hashlib.sha256).digest()


def url_signature(secret: str, key: str) -> str:
    """Proof that this line wrote a <Play> URL: only such URLs may make new audio, so an
    anonymous client can't have every instance synthesize and store text of its choosing."""
    mac = hmac.digest(_signing_key(secret), key.encode(), "sha256")
    return base64.urlsafe_b64encode(mac[:SIGNATURE_BYTES]).rstrip(b"=").decode("ascii")


def play_url(settings: Settings, info: AudioInfo | Playable) -> str | None:
    """Where the carrier fetches `info`, servable by any instance with or without the
    database; None when it can't be (too long for a URL): speak those words with <Say>."""
    if not info.sources:
        return None
    return _play_url(settings.public_url, settings.webhook_auth_token, info.key, info.sources)


@functools.lru_cache(maxsize=PLAY_URLS_KEPT)  # the same menu and status on every webhook
def _play_url(
    public_url: str, secret: str, key: str, sources: tuple[PieceSource, ...]
) -> str | None:
    # Both values are base64url: nothing in them to percent-encode.
    url = f"{public_url}/audio/{key}.wav?s={url_signature(secret, key)}&r={recipe_token(sources)}"
    return url if len(url) <= MAX_PLAY_URL_CHARS else None


@routes.get("/audio/{name}")
async def audio(request: web.Request) -> web.StreamResponse:
    key, _, extension = request.match_info["name"].partition(".")
    if extension not in ("wav", "mp3") or not _KEY.match(key):
        # Checked before anything touches the disk: no path tricks, no probing.
        raise web.HTTPBadRequest(text="not an audio key")
    if extension == "mp3":
        raise web.HTTPNotFound(text="audio is kept as WAV only")
    sources = None
    if "r" in request.query:
        try:
            sources = recipe_sources(request.query["r"])
        except BadRecipe as exc:
            raise web.HTTPBadRequest(text=f"not an audio recipe: {exc}") from None
        if message_key(sources) != key:
            raise web.HTTPForbidden(text="the words do not match the audio key")
    etag = f'"{key}"'
    prompt_audio = request.app[PROMPT_AUDIO]
    found = await prompt_audio.stored(key)
    if found is None and sources is not None:
        secret = request.app[SETTINGS].webhook_auth_token
        if not hmac.compare_digest(request.query.get("s", ""), url_signature(secret, key)):
            raise web.HTTPForbidden(text="not an audio URL this line wrote")
        found = await prompt_audio.rebuild(sources)
    if found is None:
        raise web.HTTPNotFound(text="no such audio")
    headers = {"X-Prompt-Text": quote(found.info.text, safe="")}
    if found.exact:
        headers |= {"Cache-Control": CACHE_CONTROL, "ETag": etag}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
    else:
        headers["Cache-Control"] = SUBSTITUTE_CACHE_CONTROL
    await request.app[AUDIO_STORE].touch(found.info, request.app[CLOCK].now())
    return web.Response(body=found.data, content_type="audio/wav", headers=headers)
