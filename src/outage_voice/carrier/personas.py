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
    HANGUP = "hangup"  # answers, then hangs up after `hangup_after_s`
    SILENT = "silent"  # answers and never presses anything


@dataclass(frozen=True, kw_only=True, slots=True)
class Persona:
    behaviour: Behaviour = Behaviour.HUMAN
    digits: tuple[str, ...] = ()
    speech: tuple[str, ...] = ()
    ring_s: float = 4.0
    hangup_after_s: float = 10.0
    greeting_s: float = 8.0  # a voicemail greeting, before the beep
    error_code: int = 13224  # for INVALID: "invalid phone number"

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
