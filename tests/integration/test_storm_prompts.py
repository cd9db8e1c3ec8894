"""A storm's first callers: addresses from fragments and streets, audio made ahead or on
fetch, never one whole address synthesized per caller."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from outage_voice.adapters.audio import join_wavs, wav_seconds
from outage_voice.adapters.audio_store import FileAudioStore
from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.adapters.clock import ManualClock
from outage_voice.adapters.tts.espeak import EspeakEngine
from outage_voice.config import Settings
from outage_voice.domain.prompts import fixed_segments, render
from outage_voice.services.speech import PromptAudio
from outage_voice.web.audio import play_url
from tests.support import cli, cli_env, csv_text, run_cli

CATALOGS = load_catalogs()
EN = CATALOGS["en"]
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


class Recording:
    """espeak, noting every text it is asked to speak."""

    name = "espeak"

    def __init__(self, engine: EspeakEngine) -> None:
        self._engine = engine
        self.texts: list[str] = []

    def voice_for(self, language: str) -> str:
        return self._engine.voice_for(language)

    async def synthesize(self, text: str, language: str) -> bytes:
        self.texts.append(text)
        return await self._engine.synthesize(text, language)

    def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def espeak() -> Iterator[EspeakEngine]:
    engine = EspeakEngine()
    yield engine
    engine.close()


def prompt_audio(engine: Recording, pool: asyncpg.Pool, folder: Path) -> PromptAudio:
    return PromptAudio(
        [engine],
        FileAudioStore(folder, pool),
        ManualClock(NOW),
        duration_ms=lambda data: round(wav_seconds(data) * 1000),
        join=join_wavs,
    )


async def test_a_street_is_synthesized_once_for_every_address_on_it(
    espeak: EspeakEngine, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    engine = Recording(espeak)
    audio = prompt_audio(engine, pool, tmp_path)
    assert await audio.warm(fixed_segments(EN)) == 0  # `prompts warm`, before the storm
    engine.texts.clear()
    for number in (12, 4512, 4521, 7, 99, 1000):
        segments = render(EN, "report_recorded", {"address": f"{number} Oak Street"}, now=NOW)
        assert await audio.playable(segments) is not None
    segments = render(EN, "report_recorded", {"address": "12 Elm Street"}, now=NOW)
    assert await audio.playable(segments) is not None
    # Six callers on Oak Street and one on Elm: each street once, no house number at all.
    assert engine.texts == ["Oak Street", "Elm Street"]


async def test_a_first_callers_message_is_joined_when_fetched_anywhere(
    api: TestClient[web.Request, web.Application],
    espeak: EspeakEngine,
    pool: asyncpg.Pool,
    settings: Settings,
    tmp_path: Path,
) -> None:
    engine = Recording(espeak)
    audio = prompt_audio(engine, pool, tmp_path / "answering")
    segments = render(EN, "report_recorded", {"address": "4512 Oak Street"}, now=NOW)
    playable = await audio.playable(segments)
    assert playable is not None
    assert playable.text == "Thank you. We recorded your outage report for 4512 Oak Street."
    # Answering the webhook made the pieces, and wrote no message.
    assert not list((tmp_path / "answering").rglob(f"{playable.key}.*"))
    assert "4512 Oak Street" not in engine.texts
    url = play_url(settings, playable)
    assert url is not None
    # The carrier's fetch reaches another instance, which joins it from the recipe.
    served = await api.get(url.removeprefix(settings.public_url))
    assert served.status == 200
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert unquote(served.headers["X-Prompt-Text"]) == playable.text
    assert wav_seconds(await served.read()) > 2
    assert (settings.audio_dir / playable.key[:2] / f"{playable.key}.wav").is_file()
    # And the answering instance can join it itself, from the pieces it holds.
    made = await audio.message(segments)
    assert made is not None and made.key == playable.key and made.text == playable.text


def test_an_import_speaks_every_street_ahead(database_dsn: str, tmp_path: Path) -> None:
    rows = [
        "1001,Maria Garcia,(512) 555-0100,,P1,12 Oak Street,F1,,",
        "1002,Jose Lopez,512-555-0102,,P2,40 Elm Street,F2,,es",
        "1003,Ana Smith,512-555-0103,,P3,4512 Oak Street,F1,,",
    ]
    path = tmp_path / "customers.csv"
    path.write_text(csv_text(*rows))
    home = tmp_path / "home"
    result = subprocess.run(
        cli("import-customers", str(path)),
        env=cli_env(DATABASE_URL=database_dsn, OUTAGE_VOICE_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Oak Street and twelve, four, five, one, two in English; Elm Street and forty in Spanish.
    assert "prompt audio: 8 address pieces ready, 0 without audio" in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("imported 3,")


async def test_after_an_import_a_first_caller_needs_no_address_audio(
    espeak: EspeakEngine, database_dsn: str, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(csv_text("1003,Ana Smith,512-555-0103,,P3,4512 Oak Street,F1,,"))
    home = tmp_path / "home"
    imported = run_cli(
        ["import-customers", str(path)],
        env=cli_env(DATABASE_URL=database_dsn, OUTAGE_VOICE_HOME=str(home)),
    )
    assert imported.returncode == 0, imported.stderr
    engine = Recording(espeak)
    audio = prompt_audio(engine, pool, home / "audio")  # the server's audio, after the import
    segments = render(EN, "report_recorded", {"address": "4512 Oak Street"}, now=NOW)
    assert await audio.playable(segments) is not None
    assert engine.texts == [
        "Thank you. We recorded your outage report for",  # catalog text: `prompts warm`'s job
        ".",
    ]


async def test_a_message_cut_short_is_made_again(
    espeak: EspeakEngine, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """Messages are written without waiting for the disk; one a power cut left short is not
    served, it is joined again."""
    segments = render(EN, "report_recorded", {"address": "12 Oak Street"}, now=NOW)
    made = await prompt_audio(Recording(espeak), pool, tmp_path).message(segments)
    assert made is not None
    wav = tmp_path / made.key[:2] / f"{made.key}.wav"
    wav.write_bytes(wav.read_bytes()[: made.size_bytes // 2])
    restarted = prompt_audio(Recording(espeak), pool, tmp_path)
    assert await restarted.stored(made.key) is None
    again = await restarted.message(segments)
    assert again is not None and again.size_bytes == made.size_bytes
    assert wav.stat().st_size == made.size_bytes
