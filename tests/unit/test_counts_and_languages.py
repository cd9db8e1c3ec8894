"""Customer counts said from fragments, and the catalog a customer's language tag hears."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.domain.languages import catalog_language, language_tag, pick_catalog
from outage_voice.domain.numbers import Approximate, rounded
from outage_voice.domain.prompts import render, spoken

CATALOGS = load_catalogs()
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("count", "said"),
    [
        (7, 7),
        (99, 99),
        (104, 100),
        (105, 110),
        (347, 350),
        (1234, 1200),
        (1950, 2000),
        (21_499, 21_000),
        (123_456, 120_000),
        (1_249_999, 1_200_000),
    ],
)
def test_counts_are_rounded_as_people_say_them(count: int, said: int) -> None:
    assert rounded(count) == said


@pytest.mark.parametrize(
    ("count", "english", "spanish"),
    [
        (2, "two", "dos"),
        (21, "twenty-one", "veintiún"),
        (100, "one hundred", "cien"),
        (131, "one hundred thirty", "ciento treinta"),
        (1234, "one thousand two hundred", "mil doscientos"),
        (21_000, "twenty-one thousand", "veintiún mil"),
        (101_000, "one hundred thousand", "cien mil"),
        (510_000, "five hundred ten thousand", "quinientos diez mil"),
        (1_000_000, "one million", "un millón de"),
        (2_300_000, "two million three hundred thousand", "dos millones trescientos mil"),
    ],
)
def test_customer_counts_are_spoken_from_fragments(count: int, english: str, spanish: str) -> None:
    variables = {"customers": Approximate(count=count)}
    en = render(CATALOGS["en"], "outage_scope", variables, now=NOW)
    es = render(CATALOGS["es"], "outage_scope", variables, now=NOW)
    assert spoken(en) == f"It affects about {english} customers in your area."
    assert spoken(es) == f"El apagón afecta a aproximadamente {spanish} clientes de su zona."
    # Every word of the number is a shared fragment: no audio is made per count.
    for segments in (en, es):
        assert all(segment.key is not None for segment in segments)


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("es", "es"),
        ("es-MX", "es-MX"),
        ("EN-us", "en-US"),
        ("es_mx", "es-MX"),
        ("es-419", "es-419"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("english", None),
        ("e", None),
        ("es-", None),
        ("", None),
    ],
)
def test_language_tags_in_their_usual_spelling(raw: str, tag: str | None) -> None:
    assert language_tag(raw) == tag


@pytest.mark.parametrize(
    ("tag", "heard"),
    [
        ("es", "es"),
        ("es-MX", "es"),
        ("EN-us", "en"),
        ("es-419", "es"),
        ("en-GB", "en"),
        ("fr", None),
        ("fr-CA", None),
        ("", None),
        (None, None),
        ("not a tag", None),
    ],
)
def test_a_tag_hears_its_own_or_its_base_languages_catalog(
    tag: str | None, heard: str | None
) -> None:
    assert catalog_language(tag, CATALOGS.keys()) == heard
    assert pick_catalog(CATALOGS, tag).language == (heard or "en")


def test_an_exact_catalog_wins_over_the_base_language() -> None:
    assert catalog_language("es-MX", {"es", "es-MX"}) == "es-MX"
    assert pick_catalog({"en": "E", "es": "S", "es-MX": "M"}, "es-mx") == "M"
    assert pick_catalog({"en": "E", "es": "S"}, "fr", default="es") == "S"
