from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.domain.prompts import (
    Catalog,
    CatalogError,
    Moment,
    Window,
    render,
    spoken,
    validate_catalogs,
)
from tests.support import REPO_ROOT

CATALOGS = load_catalogs()
EN, ES = CATALOGS["en"], CATALOGS["es"]
CHICAGO = "America/Chicago"
NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)  # Monday, noon in Chicago
EN_ESTIMATE = "That time is an estimate and may change."
ES_ESTIMATE = "Es una hora estimada y puede cambiar."


def etr(catalog: Catalog, at: datetime, *, now: datetime = NOW, tz: str = CHICAGO) -> str:
    return spoken(render(catalog, "etr_known", {"etr": Moment(at=at, timezone=tz)}, now=now))


@pytest.mark.parametrize(
    ("at", "english", "spanish"),
    [
        (
            datetime(2026, 11, 23, 22, 30, tzinfo=UTC),
            "by four thirty P M today",
            "hoy a las cuatro y media de la tarde",
        ),
        (
            datetime(2026, 11, 24, 13, 0, tzinfo=UTC),
            "by seven A M tomorrow",
            "mañana a las siete de la mañana",
        ),
        (datetime(2026, 11, 23, 18, 0, tzinfo=UTC), "by noon today", "hoy al mediodía"),
        (datetime(2026, 11, 24, 6, 0, tzinfo=UTC), "by midnight tonight", "hoy a la medianoche"),
        (
            datetime(2026, 11, 24, 6, 5, tzinfo=UTC),
            "by twelve oh five A M tomorrow",
            "mañana a las doce y cinco de la madrugada",
        ),
        (datetime(2026, 11, 26, 18, 0, tzinfo=UTC), "by Thursday at noon", "el jueves al mediodía"),
        (
            datetime(2026, 11, 27, 3, 15, tzinfo=UTC),
            "by Thursday at nine fifteen P M",
            "el jueves a las nueve y cuarto de la noche",
        ),
        (
            datetime(2026, 12, 3, 15, 15, tzinfo=UTC),
            "by December third at nine fifteen A M",
            "el tres de diciembre a las nueve y cuarto de la mañana",
        ),
        (
            datetime(2026, 12, 1, 19, 0, tzinfo=UTC),
            "by December first at one P M",
            "el primero de diciembre a la una de la tarde",
        ),
    ],
)
def test_etr_wording_in_both_languages(at: datetime, english: str, spanish: str) -> None:
    assert etr(EN, at) == f"We expect power back {english}. {EN_ESTIMATE}"
    assert etr(ES, at) == f"Esperamos restablecer el servicio {spanish}. {ES_ESTIMATE}"


def test_etr_follows_the_customers_own_zone_across_dst() -> None:
    # Chicago falls back on 2026-11-01 at 02:00; 07:30 UTC is 01:30 CST, after the fold.
    before_fallback = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert etr(EN, datetime(2026, 11, 1, 7, 30, tzinfo=UTC), now=before_fallback) == (
        f"We expect power back by one thirty A M tomorrow. {EN_ESTIMATE}"
    )
    # Spring forward on 2026-03-08: 08:30 UTC is 03:30 CDT.
    before_spring = datetime(2026, 3, 8, 0, 0, tzinfo=UTC)
    assert etr(EN, datetime(2026, 3, 8, 8, 30, tzinfo=UTC), now=before_spring) == (
        f"We expect power back by three thirty A M tomorrow. {EN_ESTIMATE}"
    )
    # The same instant is "today" in Denver but already a time of "tomorrow" nowhere else:
    late = datetime(2026, 11, 24, 5, 30, tzinfo=UTC)  # 23:30 Chicago, 22:30 Denver
    assert "today" in etr(EN, late, tz="America/Denver")


def test_missing_etr_message() -> None:
    assert spoken(render(EN, "etr_unknown", {}, now=NOW)).startswith(
        "We don't have an estimate yet"
    )
    assert spoken(render(ES, "etr_unknown", {}, now=NOW)).startswith("Todavía no tenemos")


def test_planned_window_both_languages() -> None:
    window = Window(
        starts_at=datetime(2026, 11, 26, 15, 0, tzinfo=UTC),
        ends_at=datetime(2026, 11, 26, 19, 0, tzinfo=UTC),
        timezone=CHICAGO,
    )
    variables = {"address": "12 Oak Street", "window": window}
    assert spoken(render(EN, "planned_notice", variables, now=NOW)).startswith(
        "Planned maintenance will turn off power at 12 Oak Street "
        "on Thursday from nine A M to one P M."
    )
    assert spoken(render(ES, "planned_notice", variables, now=NOW)).startswith(
        "Por mantenimiento programado, cortaremos la luz en 12 Oak Street el jueves "
        "de las nueve de la mañana a la una de la tarde."
    )


def test_segments_share_catalog_text_and_keep_free_text_apart() -> None:
    segments = render(
        EN, "callback_recorded", {"phone": "+15125550100", "address": "9 Elm"}, now=NOW
    )
    assert [s.key for s in segments if s.key is None] == [None]  # only the address is free text
    assert [s.text for s in segments if s.key and s.key.startswith("fragment.digit")] == [
        "five",
        "one",
        "two",
        "five",
        "five",
        "five",
        "zero",
        "one",
        "zero",
        "zero",
    ]
    assert {s.language for s in segments} == {"en-US"}
    assert spoken(render(EN, "pick_premise", {"count": 3}, now=NOW)) == (
        "We found three addresses on your number."
    )
    assert spoken(render(EN, "pick_premise", {"count": 250}, now=NOW)) == (
        "We found two five zero addresses on your number."
    )


def test_a_thousand_varied_etrs_need_few_distinct_pieces() -> None:
    keys = set()
    for minutes in range(0, 60 * 24 * 9, 13):
        for catalog in (EN, ES):
            at = NOW + timedelta(minutes=minutes)
            keys |= {
                s.key
                for s in render(
                    catalog, "etr_known", {"etr": Moment(at=at, timezone=CHICAGO)}, now=NOW
                )
            }
    assert None not in keys
    assert len(keys) < 250


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({}, "was not given"),
        ({"etr": NOW}, "must be a Moment"),
        ({"etr": "4 PM"}, "must be a Moment"),
    ],
)
def test_render_refuses_missing_or_mistyped_variables(
    variables: dict[str, object], problem: str
) -> None:
    with pytest.raises(CatalogError, match=problem):
        render(EN, "etr_known", variables, now=NOW)
    with pytest.raises(CatalogError, match="no such message"):
        render(EN, "no_such_message", {}, now=NOW)


def _edited(
    catalog: Catalog,
    *,
    messages: dict[str, str] | None = None,
    fragments: dict[str, str] | None = None,
    language: str | None = None,
) -> Catalog:
    return Catalog(
        language=language or catalog.language,
        tts_language=catalog.tts_language,
        messages=catalog.messages if messages is None else messages,
        fragments=catalog.fragments if fragments is None else fragments,
    )


def _without(table: Mapping[str, str], key: str) -> dict[str, str]:
    return {k: v for k, v in table.items() if k != key}


@pytest.mark.parametrize(
    ("catalogs", "key"),
    [
        (
            {
                "en": _edited(EN, messages={k: v for k, v in EN.messages.items() if k != "menu"}),
                "es": ES,
            },
            "menu",
        ),
        (
            {"en": _edited(EN, messages={**EN.messages, "menu": "Press {button}."}), "es": ES},
            "menu",
        ),
        ({"en": _edited(EN, messages={**EN.messages, "menu": "Press {."}), "es": ES}, "menu"),
        (
            {
                "en": _edited(
                    EN, fragments={k: v for k, v in EN.fragments.items() if k != "hour.7"}
                ),
                "es": ES,
            },
            "hour.7",
        ),
        ({"en": EN, "es": ES, "fr": _edited(ES, language="fr")}, "fr"),
        ({}, "*"),
    ],
)
def test_catalog_problems_name_the_key(catalogs: dict[str, Catalog], key: str) -> None:
    with pytest.raises(CatalogError) as caught:
        validate_catalogs(catalogs)
    assert caught.value.key == key


def test_catalog_files_are_checked(tmp_path: Path) -> None:
    for name in ("en.toml", "es.toml"):
        (tmp_path / name).write_text(
            (REPO_ROOT / "prompts" / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    assert set(load_catalogs(tmp_path)) == {"en", "es"}
    spanish = (tmp_path / "es.toml").read_text(encoding="utf-8")
    (tmp_path / "es.toml").write_text(
        spanish.replace('goodbye = "Gracias por llamar. Hasta luego."\n', ""), encoding="utf-8"
    )
    with pytest.raises(CatalogError, match="goodbye: missing in es"):
        load_catalogs(tmp_path)
    (tmp_path / "es.toml").write_text("language = 'es'\n[messages\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalogs(tmp_path)
