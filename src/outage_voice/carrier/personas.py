"""Who answers: the far end of every simulated call."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Behaviour(StrEnum):
    HUMAN = "human"  # answers, listens, presses the digits given (one entry per Gather)
    BUSY = "busy"
    NO_ANSWER = "no_answer"  # rings until the call's Timeout
    MACHINE = "machine"  # voicemail: AMD says machine_end_beep after the greeting
    FAX = "fax"
    INVALID = "invalid"  # the number does not exist: fails with a Twilio error code
    # Answers (pressing its digits, if any), then hangs up after `hangup_after_s` (mid-prompt
    # or mid-recording too).
    HANGUP = "hangup"
    SILENT = "silent"  # answers and never presses anything


@dataclass(frozen=True, kw_only=True, slots=True)
class Persona:
    behaviour: Behaviour = Behaviour.HUMAN
    digits: tuple[str, ...] = ()  # one entry per Gather; "" stays silent at that Gather
    speech: tuple[str, ...] = ()  # said at a speech Gather where no digits are pressed
    speech_confidence: float = 0.92
    ring_s: float = 4.0
    hangup_after_s: float = 10.0
    greeting_s: float = 8.0  # a voicemail greeting, before the beep
    error_code: int = 13224  # for INVALID: "invalid phone number"
    # At a <Record>: speaks this long, then presses a finish key (or, with none, falls
    # silent). 0 says nothing, so nothing is recorded. Only HUMAN and HANGUP speak.
    record_s: float = 0.0
    # Presses (or says) its entry as soon as a Gather starts, cutting its prompts short, as a
    # caller who knows the menu does: a storm's calls last seconds instead of a minute.
    barge_in: bool = False

    def answers(self) -> bool:
        return self.behaviour not in (Behaviour.BUSY, Behaviour.NO_ANSWER, Behaviour.INVALID)


@dataclass(frozen=True, kw_only=True, slots=True)
class PersonaBook:
    """Exact numbers first, then the longest matching suffix, then a seeded weighted mix."""

    exact: Mapping[str, Persona] = field(default_factory=dict)
    suffixes: Mapping[str, Persona] = field(default_factory=dict)
    mix: Sequence[tuple[float, Persona]] = ((1.0, Persona()),)
    seed: int = 0

    def persona_for(self, number: str) -> Persona:
        if number in self.exact:
            return self.exact[number]
        for suffix in sorted(self.suffixes, key=len, reverse=True):
            if number.endswith(suffix):
                return self.suffixes[suffix]
        return self._draw(number)

    def _draw(self, number: str) -> Persona:
        # The same number always draws the same persona for a given seed, across runs.
        digest = hashlib.sha256(f"{self.seed}:{number}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64 * sum(w for w, _ in self.mix)
        for weight, persona in self.mix:
            if point < weight:
                return persona
            point -= weight
        return self.mix[-1][1]


class PersonaFileError(ValueError):
    pass


_PERSONA_FIELDS = frozenset(Persona.__dataclass_fields__)


def _strings(data: dict[str, object], name: str, where: str) -> tuple[str, ...]:
    items = data.get(name, [])
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise PersonaFileError(f"{where}: {name} must be a list of strings")
    return tuple(str(item) for item in items)


def _number(data: dict[str, object], name: str, default: float, where: str) -> float:
    value = data.get(name, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise PersonaFileError(f"{where}: {name} must be a non-negative number")
    return float(value)


def persona_from_json(data: object, *, where: str) -> Persona:
    if not isinstance(data, dict):
        raise PersonaFileError(f'{where}: a persona is an object like {{"behaviour": "busy"}}')
    unknown = set(data) - _PERSONA_FIELDS
    if unknown:
        raise PersonaFileError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    try:
        behaviour = Behaviour(data.get("behaviour", "human"))
    except ValueError:
        allowed = ", ".join(b.value for b in Behaviour)
        raise PersonaFileError(f"{where}: behaviour must be one of {allowed}") from None
    error_code = data.get("error_code", 13224)
    if not isinstance(error_code, int):
        raise PersonaFileError(f"{where}: error_code must be an integer")
    barge_in = data.get("barge_in", False)
    if not isinstance(barge_in, bool):
        raise PersonaFileError(f"{where}: barge_in must be true or false")
    default = Persona()
    return Persona(
        behaviour=behaviour,
        digits=_strings(data, "digits", where),
        speech=_strings(data, "speech", where),
        ring_s=_number(data, "ring_s", default.ring_s, where),
        hangup_after_s=_number(data, "hangup_after_s", default.hangup_after_s, where),
        greeting_s=_number(data, "greeting_s", default.greeting_s, where),
        speech_confidence=_number(data, "speech_confidence", default.speech_confidence, where),
        record_s=_number(data, "record_s", default.record_s, where),
        error_code=error_code,
        barge_in=barge_in,
    )


def persona_book_from_json(data: object) -> PersonaBook:
    """Reads {"exact": {number: persona}, "suffixes": {digits: persona},
    "mix": [[weight, persona], ...], "seed": n}; every part is optional."""
    if not isinstance(data, dict):
        raise PersonaFileError("the persona file holds one JSON object")
    exact = {n: persona_from_json(p, where=f"exact[{n}]") for n, p in data.get("exact", {}).items()}
    suffixes = {
        s: persona_from_json(p, where=f"suffixes[{s}]") for s, p in data.get("suffixes", {}).items()
    }
    raw_mix = data.get("mix", [[1.0, {}]])
    if not isinstance(raw_mix, list) or not raw_mix:
        raise PersonaFileError("mix must be a non-empty list of [weight, persona]")
    mix: list[tuple[float, Persona]] = []
    for index, entry in enumerate(raw_mix):
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int | float)):
            raise PersonaFileError(f"mix[{index}] must be [weight, persona]")
        if entry[0] <= 0:
            raise PersonaFileError(f"mix[{index}]: the weight must be positive")
        mix.append((float(entry[0]), persona_from_json(entry[1], where=f"mix[{index}]")))
    seed = data.get("seed", 0)
    if not isinstance(seed, int):
        raise PersonaFileError("seed must be an integer")
    return PersonaBook(exact=exact, suffixes=suffixes, mix=tuple(mix), seed=seed)
