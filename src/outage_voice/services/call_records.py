"""Call records for containment reporting, kept off the caller's path.

Webhooks note steps in memory; a background task writes them in one statement per batch. A
slow or absent database therefore never delays a caller, and records wait (bounded) until it
returns. What is lost on a hard crash is at most one flush interval of reporting data, never
anything a caller asked for (those go through the IVR service or the spool).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from outage_voice.domain.inbound_calls import (
    CONTAINED,
    CallEnd,
    CallOutcome,
    CallRecordDelta,
    CallStep,
    CallSummary,
    OutcomeTally,
    call_path,
    fold,
)
from outage_voice.services.instruments import NO_INSTRUMENTS, Instruments

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.25
MAX_BUFFERED_EVENTS = 100_000
MAX_BATCH_EVENTS = 5_000


class CallRecordStore(Protocol):
    async def merge(self, deltas: Sequence[CallRecordDelta]) -> Sequence[CallSummary]:
        """Writes the deltas; returns the calls they ended (each once, when it ends)."""
        ...

    async def summary(self, since: datetime, until: datetime) -> list[OutcomeTally]: ...

    async def calls(self, call_sids: Sequence[str]) -> list[CallSummary]: ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ContainmentReport:
    since: datetime
    until: datetime
    calls: int
    by_outcome: dict[str, int]
    avg_duration_s: dict[str, float]
    contained_share: float | None

    def as_json(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "calls": self.calls,
            "by_outcome": self.by_outcome,
            "avg_duration_s": self.avg_duration_s,
            "contained_share": self.contained_share,
        }


class CallRecorder:
    def __init__(
        self,
        store: CallRecordStore,
        *,
        max_buffered: int = MAX_BUFFERED_EVENTS,
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self._store = store
        self._instruments = instruments
        self._events: deque[CallStep | CallEnd] = deque()
        self._max_buffered = max_buffered
        # One writer at a time: a flush that found the buffer already taken by the
        # background writer must wait for that write, not report "nothing left" while the
        # records are still on their way (or about to be put back by a failure).
        self._flushing = asyncio.Lock()
        self.dropped = 0

    def _add(self, event: CallStep | CallEnd) -> None:
        if len(self._events) >= self._max_buffered:
            self._events.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("call record buffer full: %d oldest events dropped", self.dropped)
        self._events.append(event)

    def step(self, step: CallStep) -> None:
        self._add(step)

    def end(self, end: CallEnd) -> None:
        self._add(end)

    @property
    def pending(self) -> int:
        return len(self._events)

    async def flush(self) -> int:
        """Writes what is buffered, including what another flush is writing at this moment;
        on failure puts it back (in order) and re-raises."""
        async with self._flushing:
            return await self._flush_locked()

    async def _flush_locked(self) -> int:
        written = 0
        while self._events:
            batch = [
                self._events.popleft() for _ in range(min(MAX_BATCH_EVENTS, len(self._events)))
            ]
            try:
                ended = await self._store.merge(fold(batch))
            except BaseException:
                self._events.extendleft(reversed(batch))
                raise
            for call in ended or ():
                self._instruments.inbound_call_ended(call_path(call.path), call.outcome.value)
            written += len(batch)
        return written

    async def flush_forever(self, interval_s: float = FLUSH_INTERVAL_S) -> None:
        failing = False
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    logger.warning("call records waiting for the database: %r", exc)
                failing = True
                continue
            if failing:
                logger.info("call records written again")
            failing = False

    async def calls(self, call_sids: Sequence[str]) -> list[CallSummary]:
        """These calls as written so far (flush first for the latest steps)."""
        return await self._store.calls(call_sids)

    async def report(self, since: datetime, until: datetime) -> ContainmentReport:
        tallies = await self._store.summary(since, until)
        by_outcome = {outcome.value: 0 for outcome in CallOutcome}
        durations: dict[str, float] = {}
        for tally in tallies:
            by_outcome[tally.outcome.value] = tally.calls
            durations[tally.outcome.value] = round(tally.avg_duration_s, 1)
        total = sum(by_outcome.values())
        contained = sum(by_outcome[o.value] for o in CONTAINED)
        return ContainmentReport(
            since=since,
            until=until,
            calls=total,
            by_outcome=by_outcome,
            avg_duration_s=durations,
            contained_share=round(contained / total, 4) if total else None,
        )
