"""`GET /audio/{key}.wav`: cached prompt audio, for the carrier's <Play>."""

from __future__ import annotations

import re
from urllib.parse import quote

from aiohttp import web

from outage_voice.web.keys import AUDIO_STORE, CLOCK

routes = web.RouteTableDef()
_KEY = re.compile(r"^[0-9a-f]{64}$")
# Content-addressed: a key's audio never changes, so anyone may keep it for a year.
CACHE_CONTROL = "public, max-age=31536000, immutable"


@routes.get("/audio/{name}")
async def audio(request: web.Request) -> web.StreamResponse:
    key, _, extension = request.match_info["name"].partition(".")
    if extension not in ("wav", "mp3") or not _KEY.match(key):
        # Checked before anything touches the disk: no path tricks, no probing.
        raise web.HTTPBadRequest(text="not an audio key")
    if extension == "mp3":
        raise web.HTTPNotFound(text="audio is kept as WAV only")
    store = request.app[AUDIO_STORE]
    info = await store.find(key)
    etag = f'"{key}"'
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "X-Prompt-Text": quote(info.text, safe="") if info else "",
    }
    if info is None:
        raise web.HTTPNotFound(text="no such audio")
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    data = await store.load(key)
    if data is None:
        raise web.HTTPNotFound(text="no such audio")
    await store.touch(key, request.app[CLOCK].now())
    return web.Response(body=data, content_type="audio/wav", headers=headers)
