"""Customers whose language has no prompt catalog: imported, reported, and spoken to in the
default language (English) rather than silently accepted."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import asyncpg

from outage_voice.bootstrap import Services
from outage_voice.carrier.personas import Behaviour, Persona
from outage_voice.services.customers import LISTED_LINES
from tests.e2e.test_outage_line import Line, line, line_settings
from tests.support import cli, cli_env, csv_text

__all__ = ["line", "line_settings"]  # fixtures, used by name

CLAIRE = "2001,Claire Martin,512-555-0120,,P20,5 Willow Court,F1,,fr"
MARIA = "2002,Maria Garcia,512-555-0121,,P21,12 Oak Street,F1,,es"
TOMAS = "2003,Tomas Ruiz,512-555-0122,,P22,8 Birch Road,F1,,es-MX"
KATE = "2004,Kate Brown,512-555-0123,,P23,2 Ash Street,F1,,EN_us"
JULIEN = "2005,Julien Roy,512-555-0124,,P24,6 Elm Court,F1,,fr-CA"


async def test_rows_in_a_language_without_prompts_are_counted_with_their_lines(
    services: Services, pool: asyncpg.Pool
) -> None:
    report = await services.customers.import_stream(
        io.StringIO(csv_text(CLAIRE, MARIA, TOMAS, KATE, JULIEN))
    )
    assert report.rejections == []
    assert report.counts.imported == 5
    # es-MX and EN_us hear the es and en catalogs: only French has none, with or without region.
    assert (report.unspoken, report.unspoken_languages) == (2, {"fr": 1, "fr-CA": 1})
    assert report.summary == (
        "imported 5, updated 0, unchanged 0, rejected 0; 2 with no prompts in their language "
        "(fr, fr-CA), spoken in en: lines 2, 6"
    )
    # Kept as given (in the usual spelling): the day a French catalog is added, these
    # customers hear French, and a Mexican Spanish catalog would be Tomas's.
    languages = dict(await pool.fetch("SELECT premise_id, language FROM premises"))
    assert languages == {"P20": "fr", "P21": "es", "P22": "es-MX", "P23": "en-US", "P24": "fr-CA"}


async def test_a_long_list_of_lines_is_cut_short_with_a_count(services: Services) -> None:
    rows = [
        f"{3000 + n},Customer {n},512-555-{1000 + n:04d},,P{n},{n} Main Street,F1,,de"
        for n in range(LISTED_LINES + 5)
    ]
    report = await services.customers.import_stream(io.StringIO(csv_text(*rows)))
    assert report.unspoken == LISTED_LINES + 5
    assert report.summary.endswith(
        f"spoken in en: lines {', '.join(str(n) for n in range(2, LISTED_LINES + 2))} and 5 more"
    )


def test_cli_summary_names_the_lines(database_dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(csv_text(MARIA, CLAIRE))
    result = subprocess.run(
        cli("import-customers", "--strict", str(path)),
        env=cli_env(DATABASE_URL=database_dsn),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr  # imported, not rejected
    assert result.stdout.strip().splitlines()[-1] == (
        "imported 2, updated 0, unchanged 0, rejected 0; 1 with no prompts in their language "
        "(fr), spoken in en: line 3"
    )


async def test_a_customer_in_a_language_without_prompts_hears_english(
    line: Line,
    services: Services,
) -> None:
    report = await services.customers.import_stream(io.StringIO(csv_text(CLAIRE)))
    assert report.unspoken == 1
    call = await line.call("+15125550120", Persona(behaviour=Behaviour.SILENT))
    assert call.spoken_text().startswith("We know about the outage at 5 Willow Court.")


async def test_a_regional_tag_hears_its_base_languages_prompts(
    line: Line,
    services: Services,
) -> None:
    report = await services.customers.import_stream(io.StringIO(csv_text(TOMAS, KATE)))
    assert report.unspoken == 0
    call = await line.call("+15125550122", Persona(behaviour=Behaviour.SILENT))
    heard = call.spoken_text()
    assert heard.startswith("Sabemos que no hay luz en 8 Birch Road.")
    assert "Para reportar un apagón, oprima 1." in heard
    call = await line.call("+15125550123", Persona(behaviour=Behaviour.SILENT))
    assert call.spoken_text().startswith("We know about the outage at 2 Ash Street.")
