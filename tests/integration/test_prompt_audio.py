from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from outage_voice.adapters.audio import join_wavs, wav_seconds
from outage_voice.adapters.audio_store import FileAudioStore
from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.db.pool import open_pool
from outage_voice.adapters.tts.espeak import EspeakEngine
from outage_voice.adapters.tts.gtts import GttsEngine
from outage_voice.config import Settings
from outage_voice.domain.prompts import Moment, Segment, render, spoken
from outage_voice.services.speech import (
    PieceSource,
    PromptAudio,
    SpeechEngine,
    message_key,
    recipe_token,
)
from outage_voice.web.audio import play_url, url_signature
from tests.integration.test_server import free_port

EN = load_catalogs()["en"]
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def espeak() -> Iterator[EspeakEngine]:
    engine = EspeakEngine()
    yield engine
    engine.close()


def prompt_audio(
    engines: list[SpeechEngine], pool: asyncpg.Pool, folder: Path, clock: ManualClock
) -> PromptAudio:
    return PromptAudio(
        engines,
        FileAudioStore(folder, pool),
        clock,
        duration_ms=lambda data: round(wav_seconds(data) * 1000),
        join=join_wavs,
    )


def segment(text: str) -> Segment:
    return Segment(text=text, language="en-US", key="test")


async def test_a_piece_is_made_once_and_then_served_from_cache(
    espeak: EspeakEngine, pool: asyncpg.Pool, tmp_path: Path, clock: ManualClock
) -> None:
    audio = prompt_audio([espeak], pool, tmp_path, clock)
    first = await audio.piece(segment("A crew is on the way."))
    assert first is not None
    again = await prompt_audio([espeak], pool, tmp_path, clock).piece(
        segment("A crew is on the way.")
    )
    assert again == first
    assert audio.engine_calls["espeak"] == 1
    row = await pool.fetchrow("SELECT kind, engine, voice, text, size_bytes FROM audio_cache")
    assert tuple(row) == ("piece", "espeak", "en-us", "A crew is on the way.", first.size_bytes)
    files = sorted(f.name for f in tmp_path.rglob("*") if f.is_file())
    assert files == [f"{first.key}.json", f"{first.key}.wav"]  # words beside it, no leftovers


async def test_concurrent_askers_share_one_synthesis(
    espeak: EspeakEngine, pool: asyncpg.Pool, tmp_path: Path, clock: ManualClock
) -> None:
    audio = prompt_audio([espeak], pool, tmp_path, clock)
    results = await asyncio.gather(*(audio.piece(segment("Power is back.")) for _ in range(12)))
    assert len({r.key for r in results if r}) == 1
    assert audio.engine_calls["espeak"] == 1


async def test_a_message_is_joined_from_its_pieces(
    espeak: EspeakEngine, pool: asyncpg.Pool, tmp_path: Path, clock: ManualClock
) -> None:
    audio = prompt_audio([espeak], pool, tmp_path, clock)
    etr = Moment(at=datetime(2026, 11, 23, 22, 30, tzinfo=UTC), timezone="America/Chicago")
    segments = render(EN, "etr_known", {"etr": etr}, now=NOW)
    message = await audio.message(segments)
    assert message is not None
    assert message.kind == "message"
    assert message.text == spoken(segments)
    assert message.text.startswith("We expect power back by four thirty P M today.")
    pieces = [await audio.piece(s) for s in segments]
    assert message.duration_ms == pytest.approx(sum(p.duration_ms for p in pieces if p), abs=5)
    calls = audio.engine_calls["espeak"]
    assert await audio.message(segments) == message
    assert audio.engine_calls["espeak"] == calls == len(segments)


async def test_file_gone_means_made_again(
    espeak: EspeakEngine, pool: asyncpg.Pool, tmp_path: Path, clock: ManualClock
) -> None:
    audio = prompt_audio([espeak], pool, tmp_path, clock)
    first = await audio.piece(segment("Thank you."))
    assert first is not None
    (tmp_path / first.key[:2] / f"{first.key}.wav").unlink()
    restarted = prompt_audio([espeak], pool, tmp_path, clock)  # e.g. a new server, files lost
    assert await restarted.piece(segment("Thank you.")) is not None
    assert restarted.engine_calls["espeak"] == 1
    assert (tmp_path / first.key[:2] / f"{first.key}.wav").is_file()


@pytest.fixture
async def too_busy() -> AsyncIterator[str]:
    async def answer(_: web.Request) -> web.Response:
        return web.Response(status=429)

    app = web.Application()
    app.router.add_post("/{tail:.*}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("/batchexecute"))
    await server.close()


@pytest.mark.parametrize("where", ["closed port", "429"])
async def test_unreachable_gtts_fails_fast_and_espeak_takes_over(
    espeak: EspeakEngine,
    pool: asyncpg.Pool,
    tmp_path: Path,
    clock: ManualClock,
    too_busy: str,
    where: str,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/batchexecute" if where == "closed port" else too_busy
    gtts = GttsEngine(base_url=url, timeout_s=2)
    audio = prompt_audio([gtts, espeak], pool, tmp_path, clock)
    started = asyncio.get_running_loop().time()
    first = await audio.piece(segment("We know about the outage."))
    assert asyncio.get_running_loop().time() - started < 2
    assert first is not None and first.engine == "espeak"
    await audio.piece(segment("A second prompt."))
    assert audio.engine_calls == {"gtts": 1, "espeak": 2}  # gTTS is left alone for a while


class Mute:
    name = "mute"

    def voice_for(self, language: str) -> str:
        return "none"

    async def synthesize(self, text: str, language: str) -> bytes:
        raise OSError("no audio device, no network, nothing")

    def close(self) -> None:
        return None


async def test_no_engine_means_no_audio_and_say_instead(
    pool: asyncpg.Pool, tmp_path: Path, clock: ManualClock
) -> None:
    audio = prompt_audio([Mute()], pool, tmp_path, clock)
    assert await audio.message(render(EN, "goodbye", {}, now=NOW)) is None
    assert await audio.message(()) is None


async def test_serving_audio(
    api: TestClient[web.Request, web.Application],
    pool: asyncpg.Pool,
    settings: object,
    clock: ManualClock,
    espeak: EspeakEngine,
) -> None:
    from outage_voice.config import Settings

    assert isinstance(settings, Settings)
    audio = prompt_audio([espeak], pool, settings.audio_dir, clock)
    info = await audio.message(render(EN, "crew_on_site", {}, now=NOW))
    assert info is not None
    response = await api.get(f"/audio/{info.key}.wav")
    assert response.status == 200
    assert response.headers["Content-Type"] == "audio/wav"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert unquote(response.headers["X-Prompt-Text"]) == "A crew is working on it now."
    body = await response.read()
    assert wav_seconds(body) > 0.5
    etag = response.headers["ETag"]
    assert (await api.get(f"/audio/{info.key}.wav", headers={"If-None-Match": etag})).status == 304
    assert (await api.get(f"/audio/{'0' * 64}.wav")).status == 404
    assert (await api.get(f"/audio/{info.key}.mp3")).status == 404
    for bad in ("..%2F..%2Fetc%2Fpasswd.wav", "ABC.wav", f"{info.key}.ogg", f"{info.key}"):
        assert (await api.get(f"/audio/{bad}")).status == 400


def test_readers_never_see_half_a_file(pool: asyncpg.Pool, tmp_path: Path) -> None:
    """A reader polling the final name while a big file is written sees nothing or all of it."""
    import threading

    store = FileAudioStore(tmp_path, pool)
    key = "ab" * 32
    payload = b"\x01\x02" * (8 * 1024 * 1024)
    sizes: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        path = store.path_of(key)
        while not done.is_set():
            if path.exists():
                sizes.add(path.stat().st_size)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(3):
            store.write_file(key, payload)
    finally:
        done.set()
        watcher.join()
    assert sizes <= {len(payload)}
    assert not [p for p in tmp_path.rglob(".part-*")]


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


async def test_play_urls_are_checked_against_their_key_and_made_anywhere(
    api: TestClient[web.Request, web.Application],
    pool: asyncpg.Pool,
    settings: Settings,
    clock: ManualClock,
    espeak: EspeakEngine,
    tmp_path: Path,
) -> None:
    # Made by another instance, on its own disk: the server under test has never seen it.
    elsewhere = prompt_audio([espeak], pool, tmp_path / "elsewhere", clock)
    segments = render(EN, "report_recorded", {"address": "12 Oak Street"}, now=NOW)
    info = await elsewhere.message(segments)
    assert info is not None and info.sources
    url = play_url(settings, info)
    assert url is not None and url.startswith(f"{settings.public_url}/audio/{info.key}.wav?")
    path = url.removeprefix(settings.public_url)
    served = await api.get(path)
    assert served.status == 200
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert unquote(served.headers["X-Prompt-Text"]) == info.text == spoken(segments)
    assert wav_seconds(await served.read()) == pytest.approx(info.duration_ms / 1000, abs=0.01)
    assert (settings.audio_dir / info.key[:2] / f"{info.key}.wav").is_file()
    # Once here, the bare key serves it too (the URL written before recipes existed).
    bare = await api.get(f"/audio/{info.key}.wav")
    assert bare.status == 200
    assert unquote(bare.headers["X-Prompt-Text"]) == info.text

    # Another address under the same key: refused, whether or not the audio is here.
    query = _query(url)
    tampered = tuple(
        dataclasses.replace(s, text=s.text.replace("Oak Street", "Elm Street"))
        for s in info.sources
    )
    assert tampered != info.sources
    forged = {"s": query["s"], "r": recipe_token(tampered)}
    assert (await api.get(f"/audio/{info.key}.wav", params=forged)).status == 403
    # The same audio shown as another house number in the transcript: another message too.
    reshown = tuple(
        dataclasses.replace(s, shown="13") if s.shown == "12" else s for s in info.sources
    )
    assert reshown != info.sources
    misshown = {"s": query["s"], "r": recipe_token(reshown)}
    assert (await api.get(f"/audio/{info.key}.wav", params=misshown)).status == 403
    other_key = message_key(tampered)
    assert (await api.get(f"/audio/{other_key}.wav", params=forged)).status == 403
    assert not (settings.audio_dir / other_key[:2] / f"{other_key}.wav").exists()
    # Words that do hash to their key, but in a URL this line never wrote: nothing is made.
    unsigned = {"r": recipe_token(tampered)}
    assert (await api.get(f"/audio/{other_key}.wav", params=unsigned)).status == 403
    assert not (settings.audio_dir / other_key[:2] / f"{other_key}.wav").exists()
    signed = {"s": url_signature(settings.webhook_auth_token, other_key), **unsigned}
    made = await api.get(f"/audio/{other_key}.wav", params=signed)
    assert made.status == 200
    assert "12 Elm Street" in unquote(made.headers["X-Prompt-Text"])
    for bad in ("", "1", "1!!!", "2abc", "1" + "A" * 5000):
        assert (await api.get(f"/audio/{info.key}.wav", params={"r": bad})).status == 400


async def test_a_voice_this_instance_lacks_is_played_in_its_own_voice_uncached(
    api: TestClient[web.Request, web.Application], settings: Settings
) -> None:
    """Instances configured differently (gTTS on one, espeak only on another): the caller
    hears the words in the voice this one has, and nobody caches that under the key."""
    sources = (PieceSource(engine="gtts", voice="en", language="en-US", text="Power is back on."),)
    key = message_key(sources)
    query = {"s": url_signature(settings.webhook_auth_token, key), "r": recipe_token(sources)}
    served = await api.get(f"/audio/{key}.wav", params=query)
    assert served.status == 200
    assert served.headers["Content-Type"] == "audio/wav"
    assert served.headers["Cache-Control"] == "no-store"
    assert "ETag" not in served.headers
    assert unquote(served.headers["X-Prompt-Text"]) == "Power is back on."
    assert wav_seconds(await served.read()) > 0.5
    assert not (settings.audio_dir / key[:2] / f"{key}.wav").exists()


async def test_the_store_finds_and_saves_with_the_database_away(
    espeak: EspeakEngine, database_dsn: str, tmp_path: Path, clock: ManualClock
) -> None:
    async with open_pool(database_dsn, min_size=1, max_size=2) as live:
        audio = prompt_audio([espeak], live, tmp_path, clock)
        before = await audio.message(render(EN, "goodbye", {}, now=NOW))
    assert before is not None
    # The pool is closed: every query fails as it would with the server gone.
    restarted = prompt_audio([espeak], live, tmp_path, clock)
    found = await restarted.stored(before.key)
    assert found is not None and found.info.text == before.text
    made = await restarted.message(render(EN, "crew_on_site", {}, now=NOW))
    assert made is not None and restarted.engine_calls["espeak"] == 1
    again = prompt_audio([espeak], live, tmp_path, clock)
    assert (await again.stored(made.key)) is not None
