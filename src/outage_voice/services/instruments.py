"""What services tell the outside about their work, as it happens: calls placed and ended,
back-offs, automation lag, speech cache use, answers given without the database.

Services take an `Instruments` and call it at the moment something happens; the default does
nothing, so a service built without one (a CLI command, a test) pays nothing. The Prometheus
implementation is `services/metrics.py`. Arguments are bounded names (a campaign kind, an
outcome, an engine), never a phone number or a campaign's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, kw_only=True, slots=True)
class CampaignPace:
    """A running campaign as the dialer paces it now."""

    campaign_id: int
    kind: str
    cps: float  # calls started per second, over the last RATE_WINDOW_S
    cps_cap: float
    live: int
    max_concurrent: int


@dataclass(frozen=True, kw_only=True, slots=True)
class PoolUse:
    size: int
    idle: int
    max_size: int
    waiting: int  # acquires waiting for a connection right now
    waits: int = 0  # acquires that had to wait, since the pool opened
    wait_s: float = 0.0  # the seconds those acquires waited, all together


class Instruments(Protocol):
    def call_placed(self, kind: str) -> None:
        """The carrier accepted a campaign call of this kind."""

    def carrier_throttled(self, kind: str) -> None:
        """The carrier answered 429 / 20429: the dialer backed off."""

    def call_ended(self, kind: str, outcome: str, *, answered: bool, retry: bool) -> None:
        """A campaign call ended this way (its final status applied once); `retry`: its
        target is to be called again later."""

    def inbound_call_ended(self, path: str, outcome: str) -> None:
        """An inbound call's end was recorded: how the caller was identified, and its
        containment outcome."""

    def degraded_answer(self, reason: str) -> None:
        """The outage line answered without the database (`reason`: lookup, fallback)."""

    def automation_consumed(self, lag_s: float) -> None:
        """The leader consumed one outage change this long after the OMS wrote it."""

    def speech_engine_call(self, engine: str, *, ok: bool) -> None:
        """A speech engine was asked to synthesize a piece."""

    def speech_cache(self, kind: str, *, hit: bool) -> None:
        """Audio (`kind`: piece or message) was found made already, or had to be made."""


class NoInstruments:
    """Counts nothing."""

    def call_placed(self, kind: str) -> None:
        pass

    def carrier_throttled(self, kind: str) -> None:
        pass

    def call_ended(self, kind: str, outcome: str, *, answered: bool, retry: bool) -> None:
        pass

    def inbound_call_ended(self, path: str, outcome: str) -> None:
        pass

    def degraded_answer(self, reason: str) -> None:
        pass

    def automation_consumed(self, lag_s: float) -> None:
        pass

    def speech_engine_call(self, engine: str, *, ok: bool) -> None:
        pass

    def speech_cache(self, kind: str, *, hit: bool) -> None:
        pass


NO_INSTRUMENTS: Instruments = NoInstruments()
