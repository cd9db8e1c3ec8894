"""Addresses spoken from fragments: the same words, far fewer pieces of audio."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.domain.prompts import Segment, address_segments, render, spoken
from outage_voice.services.speech import (
    BadRecipe,
    PieceSource,
    address_pieces,
    message_key,
    recipe_sources,
    recipe_token,
)

CATALOGS = load_catalogs()
EN, ES = CATALOGS["en"], CATALOGS["es"]
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("address", "number_keys", "street"),
    [
        ("12 Oak Street", ["number.12"], "Oak Street"),
        ("7 Elm", ["number.7"], "Elm"),
        ("4512 Hill Country Boulevard", ["digit.4", "digit.5", "digit.1", "digit.2"],
         "Hill Country Boulevard"),
        ("100 Oak Street", ["digit.1", "digit.0", "digit.0"], "Oak Street"),
        ("05 Cedar Lane", ["digit.0", "digit.5"], "Cedar Lane"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("language", ["en", "es"])
def test_an_address_spoken_from_fragments_reads_as_written(
    address: str, number_keys: list[str], street: str, language: str
) -> None:
    catalog = CATALOGS[language]
    segments = render(catalog, "report_recorded", {"address": address}, now=NOW)
    # The transcript (and <Say> when there is no audio) is word for word what it was when
    # the address was one piece of free text.
    assert spoken(segments) == " ".join(
        catalog.messages["report_recorded"].format(address=address).split()
    )
    said = address_segments(catalog, address)
    assert [s.key for s in said] == [*(f"fragment.{k}" for k in number_keys), None]
    assert [s.text for s in said[:-1]] == [catalog.fragments[k] for k in number_keys]
    assert said[-1] == Segment(text=street, language=catalog.tts_language, key=None)
    assert [s.shown for s in said] == [address.split()[0], *[""] * (len(number_keys) - 1), None]


@pytest.mark.parametrize("address", ["12B Oak Street", "Apt 4, 12 Oak", "N12W345 Main", "Oak"])
def test_what_is_not_a_plain_house_number_is_spoken_whole(address: str) -> None:
    assert address_segments(EN, address) == (
        Segment(text=address, language=EN.tts_language, key=None),
    )


def test_a_street_is_one_piece_for_every_address_on_it() -> None:
    addresses = [
        (f"{number} {street}", language)
        for number in range(1, 2000, 3)
        for street in ("Oak Street", "Maple Avenue", "Cedar Lane")
        for language in ("en", "es", "es-MX")
    ]
    pieces = address_pieces(CATALOGS, addresses)
    free = sorted((p.language, p.text) for p in pieces if p.key is None)
    assert free == sorted(
        (catalog.tts_language, street)
        for catalog in (EN, ES)
        for street in ("Oak Street", "Maple Avenue", "Cedar Lane")
    )
    # Everything else is number fragments every catalog has anyway: 3,996 addresses in two
    # languages are 6 streets and at most 110 fragments per language.
    assert all(p.key and p.key.startswith("fragment.") for p in pieces if p.key is not None)
    assert len(pieces) <= 6 + 2 * 110


def test_what_a_transcript_shows_rides_in_the_recipe_and_the_key() -> None:
    twelve = PieceSource(engine="espeak", voice="en-us", language="en-US", text="twelve")
    street = PieceSource(engine="espeak", voice="en-us", language="en-US", text="Oak Street")
    plain = (twelve, street)
    shown = (dataclasses.replace(twelve, shown="12"), street)
    assert recipe_sources(recipe_token(shown)) == shown
    assert recipe_sources(recipe_token(plain)) == plain  # URLs written before: four fields
    assert shown[0].key == twelve.key  # one file of audio for "twelve", however shown
    assert message_key(shown) != message_key(plain)
    assert [s.segment.shown for s in shown] == ["12", None]


@pytest.mark.parametrize(
    "rows",
    [
        [["espeak", "en-us", "en-US", "twelve", 12]],
        [["espeak", "en-us", "en-US", "twelve", "12", "extra"]],
        [["espeak", "en-us", "en-US", "", "12"]],
    ],
)
def test_a_recipe_with_a_bad_transcript_field_is_refused(rows: list[list[object]]) -> None:
    import base64
    import json
    import zlib

    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(json.dumps(rows).encode()) + packer.flush()
    token = "1" + base64.urlsafe_b64encode(packed).rstrip(b"=").decode()
    with pytest.raises(BadRecipe):
        recipe_sources(token)
