from __future__ import annotations

import pytest

from outage_voice.domain.speech_input import (
    Heard,
    digits_from_speech,
    heard_menu_choice,
    heard_number,
    menu_key_from_speech,
)


@pytest.mark.parametrize(
    ("said", "language", "key"),
    [
        ("I want to report an outage", "en", "1"),
        ("my lights are out", "en", "1"),
        ("there's a downed wire in the street", "en", "2"),
        ("report a wire that's down", "en", "2"),  # the danger wins over the report
        ("call me back when it's fixed", "en", "3"),
        ("Representative!", "en", "0"),
        ("can I talk to someone", "en", "0"),
        ("repeat that", "en", "9"),
        ("Español", "en", "8"),
        ("nine", "en", "9"),
        ("press one", "en", "1"),
        ("quiero reportar un apagón", "es", "1"),
        ("hay un cable caído", "es", "2"),
        ("hablar con un representante", "es", "0"),
        ("English please", "es", "7"),
        ("tres", "es", "3"),
        ("the weather is nice", "en", None),
        ("", "en", None),
    ],
)
def test_menu_phrases(said: str, language: str, key: str | None) -> None:
    assert menu_key_from_speech(said, language) == key


@pytest.mark.parametrize(
    ("said", "digits"),
    [
        ("five one two five five five zero one zero zero", "5125550100"),
        ("512-555-0100", "5125550100"),
        ("five one two, five five five, oh one double oh", "5125550100"),
        ("my account is 1001", "1001"),
        ("uno cero cero uno", "1001"),
        ("no idea", ""),
    ],
)
def test_numbers_said_aloud(said: str, digits: str) -> None:
    assert digits_from_speech(said) == digits


def test_keys_win_over_speech_and_low_confidence_is_unclear() -> None:
    menu = {"language": "en"}
    assert heard_menu_choice(digits="1", speech="agent", confidence="0.9", **menu) == Heard(
        keys="1"
    )
    assert heard_menu_choice(digits="", speech="agent", confidence="0.9", **menu).keys == "0"
    assert heard_menu_choice(digits="", speech="agent", confidence="0.2", **menu).unclear
    assert heard_menu_choice(digits="", speech="agent", confidence="NaN?", **menu).unclear
    assert heard_menu_choice(digits="", speech="agent", confidence=None, **menu).keys == "0"
    assert heard_menu_choice(digits="", speech="blah", confidence="0.95", **menu).unclear
    assert heard_menu_choice(digits="", speech="  ", confidence=None, **menu) == Heard(keys="")


def test_numbers_keyed_or_said() -> None:
    assert heard_number(digits="12#34", speech="", confidence=None, limit=20).keys == "1234"
    assert heard_number(digits="9" * 40, speech="", confidence=None, limit=20).keys == "9" * 20
    said = heard_number(digits="", speech="one zero zero one", confidence="0.8", limit=20)
    assert said == Heard(keys="1001")
    assert heard_number(digits="", speech="one zero", confidence="0.1", limit=20).unclear
    assert heard_number(digits="", speech="hello", confidence="0.9", limit=20).unclear
