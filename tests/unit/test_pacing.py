from __future__ import annotations

import itertools
import random

import pytest

from outage_voice.domain.pacing import (
    LANDING_POLL_S,
    MAX_BACKOFF_S,
    SPACING_MARGIN,
    Pacer,
    Start,
)


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
        pacer.started(slot, actual=now).land(now)
        starts.append(max(now, slot))
        now += rng.choice([0.0, 0.0, 0.3 / cps, 3.0 / cps])  # sometimes late
    assert most_in_any_second(sorted(starts)) <= max(1, int(cps))
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved >= 0.6 * cps


def test_rate_changes_and_backoff() -> None:
    pacer = Pacer(10)
    pacer.started(pacer.earliest(0.0)).land(0.0)
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


def run_dialer(
    pacer: Pacer,
    seconds: float,
    *,
    rng: random.Random,
    pause_every_s: float,
    pause_s: float,
    late_share: float = 0.01,
) -> tuple[list[float], list[float]]:
    """A dialer on `pacer` whose requests take a random while to reach the carrier (now and
    one in a hundred 40 ms), and which stops every `pause_every_s` for `pause_s` (a batch claim).
    Returns when each call left and when the carrier stamped it."""
    now, sent, stamped, next_pause = 0.0, [], [], pause_every_s
    in_flight: list[tuple[float, float, Start]] = []  # (answer time, stamp, start)
    while now < seconds:
        at = pacer.earliest(now)
        if at > now:
            now = at
        for answer in [f for f in in_flight if f[0] <= now]:
            answer[2].land(answer[0])
            in_flight.remove(answer)
        if pacer.earliest(now) > now:
            continue
        start = pacer.started(at, actual=now)
        delay = 0.040 if rng.random() < late_share else rng.choice([0.0005, 0.001, 0.002])
        stamped.append(now + delay)
        sent.append(now)
        in_flight.append((now + delay + 0.001, now + delay, start))
        if now >= next_pause:
            now += pause_s
            next_pause += pause_every_s
    return sent, sorted(stamped)


@pytest.mark.parametrize("cps", [10, 50])
def test_the_carrier_never_counts_more_than_cps_and_the_rate_holds(cps: float) -> None:
    # A healthy carrier (one request in 500 reaches it 40 ms late) and a 30 ms claim every
    # 4 s (lost: the pacer does not burst to catch up): at least 98% of the cap.
    sent, stamped = run_dialer(
        Pacer(cps), 120.0, rng=random.Random(7), pause_every_s=4.0, pause_s=0.03, late_share=0.002
    )
    assert most_in_any_second(stamped) <= cps
    assert (len(sent) - 1) / (sent[-1] - sent[0]) >= 0.98 * cps
    # A struggling one (one in twenty late) costs rate, never the cap.
    sent, stamped = run_dialer(
        Pacer(cps), 120.0, rng=random.Random(7), pause_every_s=1.0, pause_s=0.2, late_share=0.05
    )
    assert most_in_any_second(stamped) <= cps
    assert (len(sent) - 1) / (sent[-1] - sent[0]) >= 0.7 * cps
    # And a burst never follows a pause: starts keep their spacing.
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= (1 + SPACING_MARGIN) / cps - 1e-9


def test_a_request_still_out_holds_the_window() -> None:
    pacer = Pacer(2)
    first = pacer.started(pacer.earliest(0.0), actual=0.0)
    pacer.started(pacer.earliest(0.0), actual=0.51).land(0.52)
    # The window's oldest request has not come back: it may yet be stamped late.
    assert pacer.earliest(1.5) == pytest.approx(1.5 + LANDING_POLL_S)
    first.land(1.2)
    assert pacer.earliest(1.5) > 2.2  # a second after it was (at the latest) stamped
