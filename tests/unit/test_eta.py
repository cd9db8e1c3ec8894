"""A campaign's ETA from a smoothed completion rate: no wild jumps, within the pacing."""

from __future__ import annotations

import itertools

from outage_voice.domain import eta
from outage_voice.domain.campaigns import estimate_duration_s

CPS = 5.0
MAX_CONCURRENT = 200
TARGETS = 400


def script() -> list[tuple[float, int]]:
    """(second, targets finished by then): 5 a second for 40 s, then 20 s in which only the
    odd retry ends (one every 10 s, the rest wait out their delay), then 5 a second again."""
    finished, sequence = 0, []
    for second in range(1, 101):
        if 40 < second <= 60:
            finished += 1 if second % 10 == 0 else 0
        else:
            finished = min(TARGETS, finished + 5)
        sequence.append((float(second), finished))
    return sequence


def smoothed_etas(sequence: list[tuple[float, int]]) -> list[float]:
    rate, etas = None, []
    prior = eta.planned_rate(cps=CPS, max_concurrent=MAX_CONCURRENT)
    for at_s, finished in sequence:
        rate = eta.observe(rate, at_s=at_s, finished=finished, prior_per_s=prior)
        left = TARGETS - finished
        etas.append(
            eta.eta_s(rate, pending=left, calling=0, cps=CPS, max_concurrent=MAX_CONCURRENT)
        )
    return etas


def windowed_etas(sequence: list[tuple[float, int]]) -> list[float]:
    """The estimate as it was: the last 10 s's rate, the pacing when that was zero."""
    etas = []
    for index, (_, finished) in enumerate(sequence):
        recent = (finished - sequence[index - 10][1]) / 10 if index >= 10 else CPS
        rate = recent if recent > 0 else CPS
        etas.append(
            estimate_duration_s(
                targets=TARGETS - finished, cps=min(rate, CPS), max_concurrent=MAX_CONCURRENT
            )
        )
    return etas


def test_a_lull_between_bursts_moves_the_eta_gently_where_a_window_rate_leapt() -> None:
    sequence = script()
    old = windowed_etas(sequence)
    assert old[39] == 40 and max(old[40:60]) >= 1900  # the 40 s -> 2,000 s leap, and back
    assert old[70] < 40
    new = smoothed_etas(sequence)
    for before, after in itertools.pairwise(new[1:]):
        assert after <= before * 1.05, (before, after)  # a poll a second later: a few % at most
    assert max(new[40:60]) <= 1.5 * new[39]
    assert new[-1] == 0.0


def test_the_eta_is_never_shorter_than_the_pacing_and_the_lines_allow() -> None:
    rate = eta.CompletionRate(at_s=0.0, finished=0, per_s=500.0)  # a burst far above the pacing
    assert eta.eta_s(rate, pending=1000, calling=0, cps=10.0, max_concurrent=1000) == 100.0
    assert eta.eta_s(rate, pending=1000, calling=0, cps=100.0, max_concurrent=35) == 1000.0


def test_once_nothing_is_left_to_place_the_calls_still_ringing_bound_the_eta() -> None:
    slow = eta.CompletionRate(at_s=0.0, finished=990, per_s=0.01)
    assert eta.eta_s(slow, pending=0, calling=10, cps=10.0, max_concurrent=50) == eta.LAST_CALL_S
    assert eta.eta_s(slow, pending=0, calling=0, cps=10.0, max_concurrent=50) == 0.0


def test_how_often_it_is_read_barely_changes_the_rate() -> None:
    def rate_after(poll_s: float) -> float:
        rate = None
        at_s = 0.0
        while at_s <= 120.0:
            finished = int(at_s * 4)  # 4 a second throughout
            rate = eta.observe(rate, at_s=at_s, finished=finished, prior_per_s=10.0)
            at_s += poll_s
        assert rate is not None
        return rate.per_s

    every_quarter, every_five = rate_after(0.25), rate_after(5.0)
    assert abs(every_quarter - every_five) < 0.1 * every_quarter
    assert 4.0 < every_quarter < 5.5  # well on its way from the prior of 10 to the real 4
