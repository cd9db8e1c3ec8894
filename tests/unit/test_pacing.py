from __future__ import annotations

import random

import pytest

from outage_voice.domain.pacing import MAX_BACKOFF_S, SPACING_MARGIN, Pacer


def most_in_any_second(starts: list[float]) -> int:
    most, first = 0, 0
    for last, moment in enumerate(starts):
        while moment - starts[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


@pytest.mark.parametrize("cps", [0.5, 1, 2.5, 10, 50, 300])
def test_no_second_holds_more_than_cps_even_with_a_late_dialer(cps: float) -> None:
    pacer, rng, now, starts = Pacer(cps), random.Random(1), 0.0, []
    for _ in range(2000):
        now = max(now, pacer.earliest(now))
        slot = pacer.earliest(now)
        pacer.started(slot)
        starts.append(max(now, slot))
        now += rng.choice([0.0, 0.0, 0.3 / cps, 3.0 / cps])  # sometimes late
    assert most_in_any_second(sorted(starts)) <= max(1, int(cps))
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved >= 0.6 * cps


def test_rate_changes_and_backoff() -> None:
    pacer = Pacer(10)
    pacer.started(pacer.earliest(0.0))
    assert pacer.earliest(0.0) == pytest.approx(0.1 * (1 + SPACING_MARGIN))
    pacer.set_rate(2)
    assert pacer.earliest(0.0) == pytest.approx(0.5 * (1 + SPACING_MARGIN))
    waits = [pacer.rejected(1.0) for _ in range(8)]
    assert waits[:3] == [1.0, 2.0, 4.0] and waits[-1] == MAX_BACKOFF_S
    assert pacer.earliest(1.0) == pytest.approx(1.0 + MAX_BACKOFF_S)
    pacer.accepted()
    assert pacer.rejected(100.0) == 1.0
    with pytest.raises(ValueError, match="positive"):
        pacer.set_rate(0)
