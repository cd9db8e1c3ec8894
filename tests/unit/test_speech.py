from __future__ import annotations

import array
import asyncio
import base64
import io
import json
import re
import wave
import zlib
from collections.abc import Iterator

import pytest

from outage_voice.adapters.audio import join_wavs, pcm_to_wav, wav_seconds
from outage_voice.adapters.tts.espeak import EspeakEngine
from outage_voice.services.speech import (
    MAX_RECIPE_CHARS,
    BadRecipe,
    PieceSource,
    message_key,
    recipe_sources,
    recipe_token,
)


@pytest.fixture(scope="module")
def engine() -> Iterator[EspeakEngine]:
    speaker = EspeakEngine()
    yield speaker
    speaker.close()


def loudness(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as audio:
        samples = array.array("h", audio.readframes(audio.getnframes()))
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


def fmt(data: bytes) -> tuple[int, int, int]:
    with wave.open(io.BytesIO(data)) as audio:
        return audio.getframerate(), audio.getnchannels(), audio.getsampwidth()


@pytest.mark.parametrize(
    ("text", "language", "low_s", "high_s"),
    [
        ("We know about the outage at 12 Oak Street. A crew is on site.", "en-US", 2.0, 7.0),
        ("Power is back.", "en-US", 0.5, 2.5),
        ("Sabemos que no hay luz en su domicilio. Una cuadrilla va en camino.", "es-US", 2.0, 7.0),
    ],
)
async def test_real_speech_is_8khz_mono_wav_of_plausible_length(
    engine: EspeakEngine, text: str, language: str, low_s: float, high_s: float
) -> None:
    audio = await engine.synthesize(text, language)
    assert fmt(audio) == (8000, 1, 2)
    assert low_s < wav_seconds(audio) < high_s
    assert loudness(audio) > 300  # speech, not silence


async def test_concurrent_requests_are_served_one_at_a_time(engine: EspeakEngine) -> None:
    texts = [f"Outage number {n}." for n in range(6)]
    results = await asyncio.gather(*(engine.synthesize(t, "en-US") for t in texts))
    assert all(fmt(r) == (8000, 1, 2) for r in results)
    assert len({r for r in results}) == len(texts)


def test_unknown_languages_fall_back_to_a_real_voice(engine: EspeakEngine) -> None:
    assert engine.voice_for("es-MX") == "es-419"
    assert engine.voice_for("fr-CA") == "en-us"


def test_resampling_and_joining() -> None:
    one_second = pcm_to_wav(b"\x10\x00" * 22050, rate_hz=22050)
    assert fmt(one_second) == (8000, 1, 2)
    assert wav_seconds(one_second) == pytest.approx(1.0, abs=0.01)
    joined = join_wavs([one_second, one_second, one_second])
    assert wav_seconds(joined) == pytest.approx(3.0, abs=0.02)
    wideband = io.BytesIO()
    with wave.open(wideband, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"\0\0" * 160)
    with pytest.raises(ValueError, match="8 kHz mono"):
        join_wavs([one_second, wideband.getvalue()])


async def test_mp3_from_gtts_is_decoded_with_the_bundled_ffmpeg(engine: EspeakEngine) -> None:
    import subprocess

    import imageio_ffmpeg

    from outage_voice.adapters.audio import mp3_to_wav

    speech = await engine.synthesize("Power is back on Oak Street.", "en-US")
    mp3 = subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-f",
            "wav",
            "-i",
            "pipe:0",
            "-ar",
            "24000",
            "-f",
            "mp3",
            "pipe:1",
        ],
        input=speech,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    decoded = mp3_to_wav(mp3)
    assert fmt(decoded) == (8000, 1, 2)
    assert wav_seconds(decoded) == pytest.approx(wav_seconds(speech), abs=0.15)
    with pytest.raises(ValueError, match="could not decode"):
        mp3_to_wav(b"this is not audio")


async def test_two_engines_in_one_process_both_speak(engine: EspeakEngine) -> None:
    """espeak-ng is one library per process: a second engine (a second server in the same
    process) must not leave the first one making silence."""
    other = EspeakEngine()
    try:
        for speaker in (engine, other, engine, other):
            audio = await speaker.synthesize("Power is back.", "en-US")
            assert loudness(audio) > 300
    finally:
        other.close()
    assert loudness(await engine.synthesize("Still here.", "en-US")) > 300


def _sources(*texts: str) -> tuple[PieceSource, ...]:
    return tuple(
        PieceSource(engine="espeak", voice="es-419", language="es-US", text=text) for text in texts
    )


def test_a_recipe_carries_its_pieces_compactly_and_exactly() -> None:
    sources = _sources("Sabemos que no hay luz en", "40 Elm Street", ". ¿Daños? 電気", "ñ")
    token = recipe_token(sources)
    assert recipe_sources(token) == sources
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert message_key(sources) != message_key(_sources("Sabemos que no hay luz en", "41 Elm"))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "1",
        "9" + recipe_token(_sources("a"))[1:],  # an unknown format
        recipe_token(_sources("a"))[:-3],  # cut short
        "1not base64!",
        "1" + base64.urlsafe_b64encode(b"not deflate").decode().rstrip("="),
        "1" + "A" * 5000,
    ],
)
def test_unreadable_recipes_are_refused(token: str) -> None:
    with pytest.raises(BadRecipe):
        recipe_sources(token)


def _token_of(value: object, *, size: int = 0) -> str:
    raw = json.dumps(value).encode() if size == 0 else b"[" + b" " * size + b"]"
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(raw) + packer.flush()
    return "1" + base64.urlsafe_b64encode(packed).decode().rstrip("=")


@pytest.mark.parametrize(
    "value",
    [
        {"engine": "espeak"},
        [],
        [["espeak", "en-us", "en-US"]],
        [["espeak", "en-us", "en-US", ""]],
        [["espeak", "en-us", "en-US", 7]],
        [["e" * 65, "en-us", "en-US", "text"]],
        [["espeak", "en-us", "en-US", "x"]] * 65,
    ],
)
def test_recipes_of_the_wrong_shape_are_refused(value: object) -> None:
    with pytest.raises(BadRecipe):
        recipe_sources(_token_of(value))


def test_a_recipe_that_inflates_beyond_its_bound_is_refused() -> None:
    bomb = _token_of(None, size=2_000_000)  # 2 MB of spaces in under 4 kB
    assert len(bomb) < MAX_RECIPE_CHARS
    with pytest.raises(BadRecipe):
        recipe_sources(bomb)
