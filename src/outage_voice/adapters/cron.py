"""When the leader's schedule ticks: a cron expression (`OUTAGE_VOICE_SCHEDULE_CRON`, every
minute by default) read on the utility's local clock.

`CronTicker` waits on real time with aiocron; `TimerTicker` computes the same fire times with
cronsim (aiocron's own dependency) and waits on the injected timer, so tests run the schedule
on virtual time across days and daylight-saving changes.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import aiocron
from cronsim import CronSim

from outage_voice.domain.cron import DEFAULT_SCHEDULE_CRON, BadCron, check_cron
from outage_voice.services.ports import Timer

__all__ = ["DEFAULT_SCHEDULE_CRON", "BadCron", "CronTicker", "TimerTicker", "check_cron"]


class CronTicker:
    """Real time, through aiocron. Made inside the running loop."""

    def __init__(self, spec: str, *, timezone: str) -> None:
        self._cron = aiocron.crontab(check_cron(spec), start=False, tz=ZoneInfo(timezone))

    async def next(self) -> None:
        try:
            await self._cron.next()
        except BaseException:
            # A cancelled wait leaves no timer behind; the next wait counts from its own now.
            self._cron.stop()
            raise


class TimerTicker:
    """The same fire times on the injected timer (virtual in tests). A fire time passed while
    the tick ran is not fired late: the next tick takes whatever fell due meanwhile."""

    def __init__(self, spec: str, timer: Timer, *, timezone: str) -> None:
        self._spec = check_cron(spec)
        self._timer = timer
        self._zone = ZoneInfo(timezone)
        self._last: datetime | None = None

    def following(self, moment: datetime) -> datetime:
        """The first fire time strictly after `moment`."""
        return next(CronSim(self._spec, moment.astimezone(self._zone)))

    async def next(self) -> None:
        now = self._timer.now()
        start = now if self._last is None or self._last < now else self._last
        fire = self.following(start)
        await self._timer.sleep((fire - now).total_seconds())
        self._last = fire
