"""What each running instance says of itself, and the outage line as the console shows it.

Every instance writes its row (`instance_status`) every HEARTBEAT_S: whether it leads, whether
its outage line answered without the database lately, how many callers' requests wait in its
spool, and how many carrier webhooks it answers per second. It deletes the row when it stops.

The outage-line page reads one `OutageLineNow` per instance at most every VIEW_REUSE_S (the day's
tallies every TALLY_REUSE_S), shared by every console watching: a wall of screens costs the
database what one does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from outage_voice import __version__
from outage_voice.domain.inbound_calls import CallOutcome
from outage_voice.services.ports import Clock, Timer

logger = logging.getLogger(__name__)

HEARTBEAT_S = 10.0
# Leadership and degraded mode are looked at this often (no database read) and written at
# once when they change: a leader's handover shows on the page within seconds.
CHANGE_CHECK_S = 1.0
# Rows older than this are not listed as running: three heartbeats missed.
LIVE_S = 30.0
# Instances silent for less than this are shown as silent (stopped without a word, or cut off
# from the database); older rows are deleted.
SILENT_LIST_S = 3600.0
# An instance is degraded while it gave an answer without the database this recently.
DEGRADED_HOLD_S = 60.0
VIEW_REUSE_S = 5.0
# Today's containment and the outages called about read the day's (or the hour's) calls:
# a storm's hundreds of thousands of rows. Read at most this often; the menu's count and the
# instances every VIEW_REUSE_S.
TALLY_REUSE_S = 30.0
# A call with no step for this long and no end reported is no longer counted as in the menu.
IN_IVR_STEP_S = 600.0
TOP_OUTAGES_WINDOW_S = 3600.0
TOP_OUTAGES = 5


@dataclass(frozen=True, kw_only=True, slots=True)
class InstanceStatus:
    instance_id: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    leader: bool
    degraded: bool
    spool_depth: int
    version: str
    webhooks_per_s: float

    def as_json(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at.isoformat(),
            "seen_at": self.seen_at.isoformat(),
            "leader": self.leader,
            "degraded": self.degraded,
            "spool_depth": self.spool_depth,
            "version": self.version,
            "webhooks_per_s": round(self.webhooks_per_s, 2),
        }


class InstanceStatusStore(Protocol):
    async def upsert(self, status: InstanceStatus) -> None: ...

    async def delete(self, instance_id: str) -> None: ...

    async def seen_since(
        self, since: datetime, *, forget_before: datetime
    ) -> list[InstanceStatus]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class InstanceSources:
    """Read at each heartbeat. Totals are counts since the process started (the metrics'
    counters), turned into "lately" and "per second" by comparing heartbeats."""

    leader: Callable[[], bool]
    spool_depth: Callable[[], int]
    degraded_answers: Callable[[], float]
    webhooks: Callable[[], float]


def new_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class InstanceHeartbeat:
    def __init__(
        self,
        store: InstanceStatusStore,
        sources: InstanceSources,
        clock: Clock,
        *,
        instance_id: str | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        self._store = store
        self._sources = sources
        self._clock = clock
        self.instance_id = instance_id or new_instance_id()
        self._host = host or socket.gethostname()
        self._pid = pid if pid is not None else os.getpid()
        self._started_at = clock.now()
        self._last: tuple[datetime, float] | None = None  # (at, webhooks total)
        self._degraded_total = sources.degraded_answers()
        self._degraded_at: datetime | None = None
        self._written: InstanceStatus | None = None

    async def beat(self) -> InstanceStatus:
        """Reads this instance's state and writes its row; returns what was written."""
        now = self._clock.now()
        webhooks = self._sources.webhooks()
        rate = 0.0
        if self._last is not None:
            elapsed_s = (now - self._last[0]).total_seconds()
            if elapsed_s > 0:
                rate = max(0.0, webhooks - self._last[1]) / elapsed_s
        degraded_total = self._sources.degraded_answers()
        if degraded_total > self._degraded_total:
            self._degraded_at = now
        self._degraded_total = degraded_total
        degraded = self._degraded_at is not None and (
            (now - self._degraded_at).total_seconds() < DEGRADED_HOLD_S
        )
        status = InstanceStatus(
            instance_id=self.instance_id,
            host=self._host,
            pid=self._pid,
            started_at=self._started_at,
            seen_at=now,
            leader=self._sources.leader(),
            degraded=degraded,
            # The spool is files on local disk: counted off the event loop.
            spool_depth=await asyncio.to_thread(self._sources.spool_depth),
            version=__version__,
            webhooks_per_s=rate,
        )
        await self._store.upsert(status)
        self._last = (now, webhooks)
        self._written = status
        return status

    def changed(self) -> bool:
        """Leadership moved, or a degraded answer was given, since the last row written:
        worth writing now rather than at the next heartbeat."""
        return (
            self._written is None
            or self._sources.leader() != self._written.leader
            or self._sources.degraded_answers() > self._degraded_total
        )

    async def run(
        self, timer: Timer, interval_s: float = HEARTBEAT_S, check_s: float = CHANGE_CHECK_S
    ) -> None:
        """Writes the row every `interval_s`, and within `check_s` of a change of leader or
        of degraded mode, until cancelled (the first row is the starter's, so the instance is
        listed once it serves). A database away is logged once and tried again next time."""
        failing = False
        waited_s = 0.0
        while True:
            await timer.sleep(check_s)
            waited_s += check_s
            if waited_s < interval_s and not self.changed():
                continue
            waited_s = 0.0
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    logger.warning("instance status not written: %r", exc)
                failing = True
            else:
                if failing:
                    logger.info("instance status written again")
                failing = False

    async def stop(self) -> None:
        """A graceful stop takes this instance off the list at once."""
        await self._store.delete(self.instance_id)


# --- the outage line now --------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class TopOutage:
    outage_id: str
    status: str
    planned: bool
    etr: datetime | None
    customers_affected: int | None
    calls: int

    def as_json(self) -> dict[str, Any]:
        return {
            "outage_id": self.outage_id,
            "status": self.status,
            "planned": self.planned,
            "etr": self.etr.isoformat() if self.etr else None,
            "customers_affected": self.customers_affected,
            "calls": self.calls,
        }


class OutageLineStatsStore(Protocol):
    async def in_ivr(self, stepped_since: datetime) -> int: ...

    async def containment(self, since: datetime) -> Mapping[str, int]: ...

    async def top_outages(self, since: datetime, limit: int) -> list[TopOutage]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class OutageLineNow:
    at: datetime
    in_ivr: int
    webhooks_per_s: float
    day_start: datetime
    containment: Mapping[str, int]
    top_outages: Sequence[TopOutage]
    top_since: datetime
    instances: Sequence[InstanceStatus]
    silent: Sequence[InstanceStatus] = field(default_factory=tuple)
    # When containment and the outages called about were read (they are reused longer).
    tallied_at: datetime | None = None

    @property
    def calls_today(self) -> int:
        return sum(self.containment.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "in_ivr": self.in_ivr,
            "webhooks_per_s": round(self.webhooks_per_s, 2),
            "today": {
                "since": self.day_start.isoformat(),
                "read_at": (self.tallied_at or self.at).isoformat(),
                "calls": self.calls_today,
                "by_outcome": dict(self.containment),
            },
            "top_outages": {
                "since": self.top_since.isoformat(),
                "outages": [outage.as_json() for outage in self.top_outages],
            },
            "instances": [status.as_json() for status in self.instances],
            "silent_instances": [status.as_json() for status in self.silent],
            "degraded": any(status.degraded for status in self.instances),
            "spool_depth": sum(status.spool_depth for status in self.instances),
            "leader": any(status.leader for status in self.instances),
        }


def day_start(now: datetime, timezone: str) -> datetime:
    """Midnight today in the utility's zone (the day containment is counted over)."""
    zone = ZoneInfo(timezone)
    return datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)


class OutageLineView:
    def __init__(
        self,
        stats: OutageLineStatsStore,
        instances: InstanceStatusStore,
        clock: Clock,
        *,
        timezone: str,
        reuse_s: float = VIEW_REUSE_S,
    ) -> None:
        self._stats = stats
        self._instances = instances
        self._clock = clock
        self._timezone = timezone
        self._reuse = timedelta(seconds=reuse_s)
        self._last: OutageLineNow | None = None
        # One read at a time: viewers arriving during it share its answer.
        self._reading = asyncio.Lock()

    async def now(self) -> OutageLineNow:
        async with self._reading:
            now = self._clock.now()
            last = self._last
            if last is not None and timedelta(0) <= now - last.at < self._reuse:
                return last
            self._last = await self._read(now, last)
            return self._last

    async def _read(self, now: datetime, last: OutageLineNow | None) -> OutageLineNow:
        start = day_start(now, self._timezone)
        top_since = now - timedelta(seconds=TOP_OUTAGES_WINDOW_S)
        seen = await self._instances.seen_since(
            now - timedelta(seconds=SILENT_LIST_S),
            forget_before=now - timedelta(seconds=SILENT_LIST_S),
        )
        live_since = now - timedelta(seconds=LIVE_S)
        live = [status for status in seen if status.seen_at >= live_since]
        silent = [status for status in seen if status.seen_at < live_since]
        in_ivr = await self._stats.in_ivr(now - timedelta(seconds=IN_IVR_STEP_S))
        tallied_at = last.tallied_at if last is not None else None
        if (
            last is not None
            and tallied_at is not None
            and last.day_start == start
            and timedelta(0) <= now - tallied_at < timedelta(seconds=TALLY_REUSE_S)
        ):
            containment, top, top_since = last.containment, last.top_outages, last.top_since
        else:
            tallied_at = now
            counted = await self._stats.containment(start)
            containment = {o.value: int(counted.get(o.value, 0)) for o in CallOutcome}
            top = await self._stats.top_outages(top_since, TOP_OUTAGES)
        return OutageLineNow(
            at=now,
            in_ivr=in_ivr,
            webhooks_per_s=sum(status.webhooks_per_s for status in live),
            day_start=start,
            containment=containment,
            top_outages=top,
            top_since=top_since,
            instances=live,
            silent=silent,
            tallied_at=tallied_at,
        )
