"""What a caller said, as the key they would have pressed.

The carrier's recognizer hands back a transcript and a confidence; the menu only ever acts on
a digit, so speech and keypad share one path and one set of rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Below this the recognizer is guessing: ask again rather than act on a guess.
SPEECH_CONFIDENCE_FLOOR = 0.5

# Phrases per language -> the menu key they stand for. Checked in order, so the more specific
# phrase (a downed wire) wins over a generic one (an outage) in "report a downed wire".
MENU_PHRASES: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (
        ("wire", "2"),
        ("danger", "2"),
        ("hazard", "2"),
        ("spark", "2"),
        ("fire", "2"),
        ("emergency", "2"),
        ("call me back", "3"),
        ("call back", "3"),
        ("callback", "3"),
        ("call me when", "3"),
        ("agent", "0"),
        ("representative", "0"),
        ("operator", "0"),
        ("person", "0"),
        ("someone", "0"),
        ("human", "0"),
        ("report", "1"),
        ("outage", "1"),
        ("no power", "1"),
        ("lights are out", "1"),
        ("repeat", "9"),
        ("again", "9"),
        ("spanish", "8"),
        ("español", "8"),
        ("espanol", "8"),
        ("english", "7"),
    ),
    "es": (
        ("cable", "2"),
        ("peligro", "2"),
        ("chispa", "2"),
        ("fuego", "2"),
        ("emergencia", "2"),
        ("llámenme", "3"),
        ("llamenme", "3"),
        ("llamar", "3"),
        ("devolver", "3"),
        ("representante", "0"),
        ("agente", "0"),
        ("operador", "0"),
        ("persona", "0"),
        ("reportar", "1"),
        ("apagón", "1"),
        ("apagon", "1"),
        ("no hay luz", "1"),
        ("sin luz", "1"),
        ("repetir", "9"),
        ("otra vez", "9"),
        ("de nuevo", "9"),
        ("english", "7"),
        ("inglés", "7"),
        ("ingles", "7"),
        ("español", "8"),
    ),
}

NUMBER_WORDS: dict[str, str] = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "cero": "0", "uno": "1", "una": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5",
    "seis": "6", "siete": "7", "ocho": "8", "nueve": "9",
}  # fmt: skip
_REPEATERS = {"double": 2, "triple": 3, "doble": 2}
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True, kw_only=True, slots=True)
class Heard:
    """The caller's answer at a prompt: the keys it amounts to, or that it was unclear."""

    keys: str
    unclear: bool = False


def _confident(confidence: str | None) -> bool:
    # Twilio omits Confidence on some recognizers; an absent score is not a low one.
    if confidence is None or not confidence.strip():
        return True
    try:
        return float(confidence) >= SPEECH_CONFIDENCE_FLOOR
    except ValueError:
        return False


def menu_key_from_speech(said: str, language: str) -> str | None:
    text = " ".join(said.lower().split())
    spoken_digits = digits_from_speech(text)
    if len(spoken_digits) == 1:
        return spoken_digits  # "one", "press nine"
    for phrase, key in MENU_PHRASES.get(language, MENU_PHRASES["en"]):
        if phrase in text:
            return key
    return None


def digits_from_speech(said: str) -> str:
    """ "five one two, five five five ..." or "512-555-0100" -> "5125550100"."""
    out: list[str] = []
    repeat = 1
    for word in _WORD.findall(said.lower()):
        if word.isdigit():
            out.append(word * repeat if len(word) == 1 else word)
            repeat = 1
        elif word in _REPEATERS:
            repeat = _REPEATERS[word]
        elif word in NUMBER_WORDS:
            out.append(NUMBER_WORDS[word] * repeat)
            repeat = 1
    return "".join(out)


def heard_menu_choice(*, digits: str, speech: str, confidence: str | None, language: str) -> Heard:
    """One key for the menu: a key press wins; otherwise confident speech that names an option."""
    pressed = digits.strip()[:1]
    if pressed:
        return Heard(keys=pressed)
    if not speech.strip():
        return Heard(keys="")
    if not _confident(confidence):
        return Heard(keys="", unclear=True)
    key = menu_key_from_speech(speech, language)
    return Heard(keys="", unclear=True) if key is None else Heard(keys=key)


def heard_number(*, digits: str, speech: str, confidence: str | None, limit: int) -> Heard:
    """A phone or account number, keyed or said."""
    keyed = "".join(ch for ch in digits if ch.isdigit())[:limit]
    if keyed:
        return Heard(keys=keyed)
    if not speech.strip():
        return Heard(keys="")
    if not _confident(confidence):
        return Heard(keys="", unclear=True)
    said = digits_from_speech(speech)[:limit]
    return Heard(keys=said, unclear=not said)
