"""When the next call may start: calls per second spread evenly, and never more than `cps`
starts in any sliding one-second window, whatever the rate was a moment ago."""

from __future__ import annotations

import math
from collections import deque

MAX_BACKOFF_S = 30.0
# Starts are recorded when they really happen, and a window must span this much more than a
# second: a request that leaves a few milliseconds late must not land in the same second
# as the cps-th one after it at the carrier.
WINDOW_GUARD_S = 0.010
# Calls go out this much slower than cps: room for a request that leaves late, so the carrier
# (which sees arrivals, not our intentions) never counts more than cps in a second.
SPACING_MARGIN = 0.012
FIRST_BACKOFF_S = 1.0


class Pacer:
    """Times are seconds on any monotonic scale the caller chooses (the clock's)."""

    def __init__(self, cps: float) -> None:
        self._starts: deque[float] = deque()
        self._last: float | None = None
        self._blocked_until = -math.inf
        self._backoff_s = 0.0
        self.cps = cps
        self.set_rate(cps)

    def set_rate(self, cps: float) -> None:
        if not cps > 0:
            raise ValueError("cps must be positive")
        self.cps = cps
        self._interval_s = (1.0 + SPACING_MARGIN) / cps
        # The most starts any one-second window may hold.
        self._per_window = max(1, math.floor(cps + 1e-9))

    def earliest(self, now: float) -> float:
        """The first moment at or after `now` a call may start."""
        at = max(now, self._blocked_until)
        if self._last is not None:
            # The next slot on the even grid; a dialer that fell behind catches up (at most
            # one second's worth) so the achieved rate holds, the window check below keeping
            # any one second within cps.
            at = max(at, self._last + self._interval_s)
            if self._last + self._interval_s < now - 1.0:
                at = now
        while self._starts and self._starts[0] <= at - 1.0:
            self._starts.popleft()
        if len(self._starts) >= self._per_window:
            # Strictly after the window's oldest start leaves it.
            at = max(at, self._starts[-self._per_window] + 1.0 + WINDOW_GUARD_S)
        return at

    def started(self, at: float, *, actual: float | None = None) -> None:
        """Records a start: `at` is its slot on the even grid (from `earliest`), `actual`
        when it really went out (later, if the dialer ran late)."""
        self._last = at
        self._starts.append(at if actual is None else max(at, actual))
        while len(self._starts) > self._per_window:
            self._starts.popleft()

    def rejected(self, now: float) -> float:
        """The carrier said too many requests (HTTP 429 / 20429): wait, doubling each time."""
        self._backoff_s = min(MAX_BACKOFF_S, max(FIRST_BACKOFF_S, self._backoff_s * 2))
        self._blocked_until = now + self._backoff_s
        return self._backoff_s

    def accepted(self) -> None:
        self._backoff_s = 0.0
