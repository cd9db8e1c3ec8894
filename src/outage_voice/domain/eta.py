"""A campaign's time to finish that a supervisor can trust.

Targets finish in bursts: a batch of calls ends together, then a few seconds pass in which
only retries wait. A rate read over a short window swings with them (74 s, then 2,080 s,
then 74 s again), so the estimate here comes from a rate smoothed over about a minute
(an exponentially weighted moving average over however the reads happen to be spaced),
and is kept within what the pacing and the concurrency allow."""

from __future__ import annotations

import math
from dataclasses import dataclass

from outage_voice.domain.campaigns import TYPICAL_CALL_S

# How quickly the smoothed rate follows a change: after this many seconds at a new rate it
# has moved about 63% of the way there. A minute rides out a batch's bursts and still shows
# a slowdown (a carrier throttling, a window closing) within a couple of minutes.
RATE_TIME_CONSTANT_S = 60.0
# The longest a call placed now can last: the ring timeout, then a message heard.
LAST_CALL_S = 30.0 + TYPICAL_CALL_S


@dataclass(frozen=True, kw_only=True, slots=True)
class CompletionRate:
    """Targets finished per second, smoothed, as of `at_s` (seconds on any steady scale)."""

    at_s: float
    finished: int
    per_s: float


def planned_rate(*, cps: float, max_concurrent: int, call_s: float = TYPICAL_CALL_S) -> float:
    """The fastest targets can finish: the pacing, or the lines each busy for `call_s`."""
    return min(cps, max_concurrent / call_s)


def observe(
    previous: CompletionRate | None,
    *,
    at_s: float,
    finished: int,
    prior_per_s: float,
    time_constant_s: float = RATE_TIME_CONSTANT_S,
) -> CompletionRate:
    """The rate after seeing `finished` targets done at `at_s`. With no earlier reading it
    starts from `prior_per_s` (what the plan or the run so far suggests)."""
    if previous is None:
        return CompletionRate(at_s=at_s, finished=finished, per_s=prior_per_s)
    elapsed_s = at_s - previous.at_s
    if elapsed_s <= 0:
        return previous
    instant = max(0, finished - previous.finished) / elapsed_s
    weight = 1.0 - math.exp(-elapsed_s / time_constant_s)
    per_s = previous.per_s + weight * (instant - previous.per_s)
    return CompletionRate(at_s=at_s, finished=max(finished, previous.finished), per_s=per_s)


def eta_s(
    rate: CompletionRate,
    *,
    pending: int,
    calling: int,
    cps: float,
    max_concurrent: int,
    call_s: float = TYPICAL_CALL_S,
) -> float:
    """Seconds until every target is done. Never faster than the pacing and the lines allow
    for what is left; and once nothing is left to place, no longer than the calls still
    ringing or talking can last."""
    remaining = pending + calling
    if remaining <= 0:
        return 0.0
    fastest_per_s = planned_rate(cps=cps, max_concurrent=max_concurrent, call_s=call_s)
    floor_s = remaining / fastest_per_s
    if pending == 0:
        return min(max(floor_s, remaining / max(rate.per_s, 1e-9)), LAST_CALL_S)
    if rate.per_s <= 0:
        return math.inf
    return max(floor_s, remaining / rate.per_s)
