from __future__ import annotations

import subprocess
from pathlib import Path

from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.domain.prompts import fixed_segments
from tests.support import cli, cli_env, run_cli


def test_prompts_warm_synthesizes_every_piece_once(database_dsn: str, tmp_path: Path) -> None:
    env = cli_env(DATABASE_URL=database_dsn, OUTAGE_VOICE_HOME=str(tmp_path))

    def warm(language: str) -> subprocess.CompletedProcess[str]:
        return run_cli(["prompts", "warm", "--lang", language], env=env)

    def warm_process(language: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            cli("prompts", "warm", "--lang", language),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    first = warm("es")
    assert first.returncode == 0, first.stderr
    assert "es: " in first.stdout and ", 0 without audio" in first.stdout
    made = int(first.stdout.split("synthesized ")[1].split()[0])
    # Pieces are cached by their words: "tres" the ordinal and "tres" the number are one file.
    assert made == len({segment.text for segment in fixed_segments(load_catalogs()["es"])})
    assert "synthesized 0 pieces now" in warm("es").stdout
    assert len(list((tmp_path / "audio").rglob("*.wav"))) == made
    unknown = warm_process("fr")
    assert unknown.returncode == 2
    assert "no catalog for 'fr'" in unknown.stderr
