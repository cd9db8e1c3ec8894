"""When the next call may start: calls per second spread evenly, and never more than `cps`
starts in any sliding one-second window, whatever the rate was a moment ago."""

from __future__ import annotations

import math
from collections import deque

MAX_BACKOFF_S = 30.0
# A start counts in the window until this long after its request came back: the carrier
# stamps a call somewhere between our send and its answer, so counting from the answer
# means the carrier never sees more than cps in a second, however late a request left.
WINDOW_GUARD_S = 0.002
# Calls go out this much slower than cps: room for a request's round trip (a few ms) within
# the window rule above, so on a healthy carrier the even grid, not the rule, sets the pace.
# The rule alone keeps the cap; this only trades a little rate for an even spacing.
SPACING_MARGIN = 0.005
# A start whose request has not come back when the window rule needs it: look again soon.
LANDING_POLL_S = 0.005
FIRST_BACKOFF_S = 1.0


class Start:
    """One call start in the window: when it left, then when its request came back."""

    __slots__ = ("at", "landed")

    def __init__(self, at: float) -> None:
        self.at = at
        self.landed = False

    def land(self, at: float) -> None:
        self.at = max(self.at, at)
        self.landed = True


class Pacer:
    """Times are seconds on any monotonic scale the caller chooses (the clock's)."""

    def __init__(self, cps: float) -> None:
        self._starts: deque[Start] = deque()
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
            # The next slot on the even grid. A dialer that paused (to claim a batch, say)
            # does not catch up: a burst of catch-up calls is answered in a burst, and the
            # window rule below then holds back the calls a second later, and so on, an echo
            # that cost far more than the pause (50 cps: 74% of the cap against 98%).
            at = max(at, self._last + self._interval_s)
        if len(self._starts) >= self._per_window:
            oldest = self._starts[-self._per_window]
            # Strictly after the window's oldest start has left it.
            at = max(at, oldest.at + 1.0 + WINDOW_GUARD_S)
            if not oldest.landed and at <= now:
                # Its request is still out: the carrier may yet stamp it later than this.
                return now + LANDING_POLL_S
        return at

    def started(self, at: float, *, actual: float | None = None) -> Start:
        """Records a start: `at` is its slot (from `earliest`), `actual` when it really went
        out. Tell the returned start when its request comes back (`land`)."""
        self._last = at
        start = Start(at if actual is None else max(at, actual))
        self._starts.append(start)
        while len(self._starts) > self._per_window:
            self._starts.popleft()
        return start

    def rejected(self, now: float) -> float:
        """The carrier said too many requests (HTTP 429 / 20429): wait, doubling each time."""
        self._backoff_s = min(MAX_BACKOFF_S, max(FIRST_BACKOFF_S, self._backoff_s * 2))
        self._blocked_until = now + self._backoff_s
        return self._backoff_s

    def accepted(self) -> None:
        self._backoff_s = 0.0
