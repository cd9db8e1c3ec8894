"""Campaigns as supervisors see them: create, start, pause, resume, cancel, pace, progress."""

from __future__ import annotations

import asyncio
import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from outage_voice.domain import eta
from outage_voice.domain.campaign_records import (
    NO_ATTEMPTS,
    AttemptCounts,
    Campaign,
    TargetCount,
)
from outage_voice.domain.campaigns import (
    TRANSITIONS,
    BadTransition,
    CampaignSpec,
    CampaignState,
    PacingChange,
    check_all_clear,
    estimate_duration_s,
    transition,
)
from outage_voice.domain.errors import NotFound
from outage_voice.services.campaign_ports import CampaignAdminStore
from outage_voice.services.ports import Clock
from outage_voice.services.request_context import detached_context

RATE_WINDOW_S = 10  # "current calls per second" is measured over this many seconds
# A progress view this young is served again to whoever asks: counting a million-target
# campaign takes the database about 0.4 s, and a wall of dashboards polling every second
# during a storm would otherwise keep a core busy counting. Actions answer with a fresh view.
PROGRESS_REUSE_S = 2.0
# Smoothed completion rates kept for campaigns' ETAs (a few bytes each): the oldest goes first.
MAX_RATES_KEPT = 1000
OUTCOMES = (
    "reached",
    "voicemail",
    "still_out",
    "opted_out",
    "busy",
    "no_answer",
    "failed",
    "invalid",
    "canceled",
    "lost",  # the carrier no longer knew the call (see the dialer)
)


class CampaignService:
    def __init__(
        self,
        store: CampaignAdminStore,
        clock: Clock,
        *,
        default_timezone: str,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock
        self._timezone = default_timezone
        # Reuse is about the database's load, so it is measured in real time, not in the
        # clock the campaigns run on (which a simulation may stop or jump).
        self._monotonic = monotonic
        self._views: dict[int, tuple[float, dict[str, Any]]] = {}
        self._reading: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._rates: dict[int, eta.CompletionRate] = {}

    async def create(
        self, spec: CampaignSpec, *, actor: str, force: bool = False
    ) -> dict[str, Any]:
        """Plans the campaign (a draft). `force`: a restoration campaign even though its
        outage is not restored."""
        now = self._clock.now()
        outage_pk = await self._outage_pk(spec, force=force)
        planned = await self._store.create(
            spec, outage_pk=outage_pk, actor=actor, default_timezone=self._timezone, now=now
        )
        # Nothing has been dialed yet: the counts written are the progress.
        row = await self._get(planned.campaign_id)
        view = self._view(row, planned.targets, NO_ATTEMPTS)
        view["unknown_audience_keys"] = planned.unknown_keys
        view["unknown_audience_examples"] = planned.unknown_examples
        return view

    async def estimate(
        self, spec: CampaignSpec, *, actor: str, force: bool = False
    ) -> dict[str, Any]:
        """What creating `spec` now would plan, nothing stored: the numbers to call, those
        left out by reason, and how long calling them all would take at its pacing. The same
        refusals as `create` (an unknown outage, an all-clear for an outage not restored)."""
        outage_pk = await self._outage_pk(spec, force=force)
        planned = await self._store.estimate(
            spec,
            outage_pk=outage_pk,
            actor=actor,
            default_timezone=self._timezone,
            now=self._clock.now(),
        )
        targets = sum(c.targets for c in planned.targets if c.state == "pending")
        excluded: dict[str, int] = {}
        for count in planned.targets:
            if count.state == "excluded":
                reason = count.outcome or "unknown"
                excluded[reason] = excluded.get(reason, 0) + count.targets
        return {
            "targets": targets,
            "excluded": excluded,
            "estimated_duration_s": math.ceil(
                estimate_duration_s(
                    targets=targets, cps=spec.cps, max_concurrent=spec.max_concurrent
                )
            ),
            "unknown_audience_keys": planned.unknown_keys,
            "unknown_audience_examples": planned.unknown_examples,
        }

    async def _outage_pk(self, spec: CampaignSpec, *, force: bool) -> int | None:
        if spec.audience.outage_id is None:
            return None
        outage = await self._store.outage(spec.audience.outage_id)
        if outage is None:
            raise NotFound("outage", spec.audience.outage_id)
        check_all_clear(spec.kind, spec.audience.outage_id, outage.status, force=force)
        return outage.pk

    async def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        return [self._summary(row) for row in await self._store.recent(limit)]

    async def act(self, campaign_id: int, action: str) -> dict[str, Any]:
        row = await self._get(campaign_id)
        target = transition(action, row.state)
        allowed = [s.value for s in TRANSITIONS[action][0]]
        if not await self._store.set_state(campaign_id, target.value, allowed, self._clock.now()):
            # Someone else changed it between our read and our write: report what it is now.
            raise BadTransition(action, (await self._get(campaign_id)).state)
        return await self.show(campaign_id)

    async def pace(self, campaign_id: int, change: PacingChange) -> dict[str, Any]:
        row = await self._get(campaign_id)
        if row.state in (CampaignState.COMPLETED, CampaignState.CANCELLED):
            raise BadTransition("pace", row.state)
        window = None if change.window is None else (change.window.opens, change.window.closes)
        await self._store.set_pacing(
            campaign_id,
            cps=change.cps,
            max_concurrent=change.max_concurrent,
            window=window,
            priority=change.priority,
            now=self._clock.now(),
        )
        return await self.show(campaign_id)

    async def _get(self, campaign_id: int) -> Campaign:
        row = await self._store.get(campaign_id)
        if row is None:
            raise NotFound("campaign", str(campaign_id))
        return row

    def _summary(self, row: Campaign) -> dict[str, Any]:
        spec = row.spec.as_json()
        return {
            "id": row.id,
            "name": row.name,
            "kind": row.kind.value,
            "state": row.state.value,
            "pacing": {
                "cps": row.cps,
                "max_concurrent": row.max_concurrent,
                "window": row.window.describe(),
                "urgent": row.urgent,
                "priority": row.priority,
            },
            "audience": spec["audience"],
            "message": spec["message"],
            "retry": spec["retry"],
            "voicemail": spec["voicemail"],
            "starts_at": row.starts_at,
            "created_by": row.created_by,
            "created_at": row.created_at,
            "started_at": row.started_at,
            "finished_at": row.finished_at,
            "automatic": row.automatic,
            "trigger": (
                None
                if row.trigger is None
                else {
                    "outage_id": row.trigger.outage_id,
                    "event": row.trigger.event,
                    "event_id": row.trigger.event_id,
                }
            ),
        }

    async def show(self, campaign_id: int, *, reuse: bool = False) -> dict[str, Any]:
        """The campaign with its progress. With `reuse`, a view read in the last
        PROGRESS_REUSE_S (or being read right now for someone else) is served instead of
        counting again."""
        if not reuse:
            # Whoever polls after this must not be served a read begun before it (the state
            # an action has just changed, say): they wait for this one, or read anew.
            self._reading.pop(campaign_id, None)
            return copy.deepcopy(await self._read(campaign_id))
        kept = self._views.get(campaign_id)
        if kept is not None and self._monotonic() - kept[0] <= PROGRESS_REUSE_S:
            return copy.deepcopy(kept[1])
        reading = self._reading.get(campaign_id)
        if reading is None:
            # Shared by every poller that comes while it runs: not the first one's request.
            reading = self._reading[campaign_id] = asyncio.create_task(
                self._read(campaign_id), context=detached_context()
            )

            def done(finished: asyncio.Future[dict[str, Any]]) -> None:
                if self._reading.get(campaign_id) is finished:
                    del self._reading[campaign_id]
                if not finished.cancelled():
                    finished.exception()  # retrieved: every waiter may have gone

            reading.add_done_callback(done)
        # Shielded: one caller hanging up does not cancel the read the others wait for.
        return copy.deepcopy(await asyncio.shield(reading))

    async def _read(self, campaign_id: int) -> dict[str, Any]:
        """Counts now; the view is kept for reuse (callers copy it before handing it out)."""
        # A view is as old as the moment its read began: a slow read finishing after a
        # newer one must not replace it.
        began = self._monotonic()
        since = self._clock.now() - timedelta(seconds=RATE_WINDOW_S)
        progress = await self._store.progress(campaign_id, since)
        if progress is None:
            self._views.pop(campaign_id, None)
            raise NotFound("campaign", str(campaign_id))
        view = self._view(progress.campaign, progress.targets, progress.attempts)
        now_s = self._monotonic()
        for old_id, (at, _) in list(self._views.items()):
            if now_s - at > PROGRESS_REUSE_S:
                del self._views[old_id]  # only recent views are ever served: keep no others
        kept = self._views.get(campaign_id)
        if kept is None or kept[0] <= began:
            self._views[campaign_id] = (began, view)
        return view

    def _eta_s(
        self, row: Campaign, by_state: Mapping[str, int], first_placed: datetime | None
    ) -> int | None:
        """From the completion rate smoothed over this instance's reads of the campaign
        (domain.eta); a first read starts from the average since its first call, or the plan."""
        campaign_id = row.id
        if row.state in (CampaignState.COMPLETED, CampaignState.CANCELLED):
            self._rates.pop(campaign_id, None)
            return None
        cps = row.cps
        max_concurrent = row.max_concurrent
        finished = by_state["done"] + by_state["excluded"]
        now = self._clock.now()
        prior = eta.planned_rate(cps=cps, max_concurrent=max_concurrent)
        ran_s = 0.0 if first_placed is None else (now - first_placed).total_seconds()
        if ran_s >= eta.RATE_TIME_CONSTANT_S and by_state["done"] > 0:
            prior = min(prior, by_state["done"] / ran_s)
        rate = self._rates.get(campaign_id)
        if row.state is CampaignState.RUNNING:
            rate = eta.observe(rate, at_s=now.timestamp(), finished=finished, prior_per_s=prior)
        else:
            # Paused (or a draft) nothing finishes, and that is no slowdown: it resumes at the
            # rate it ran at, as if the pause had not happened.
            per_s = prior if rate is None else rate.per_s
            rate = eta.CompletionRate(at_s=now.timestamp(), finished=finished, per_s=per_s)
        if campaign_id not in self._rates and len(self._rates) >= MAX_RATES_KEPT:
            self._rates.pop(next(iter(self._rates)))
        self._rates[campaign_id] = rate
        seconds = eta.eta_s(
            rate,
            pending=by_state["pending"],
            calling=by_state["calling"],
            cps=cps,
            max_concurrent=max_concurrent,
        )
        return math.ceil(seconds) if math.isfinite(seconds) else None

    def _view(
        self,
        row: Campaign,
        targets: Sequence[TargetCount],
        attempts: AttemptCounts,
    ) -> dict[str, Any]:
        by_state = {"pending": 0, "calling": 0, "done": 0, "excluded": 0}
        outcomes = dict.fromkeys(OUTCOMES, 0)
        excluded: dict[str, int] = {}
        for entry in targets:
            by_state[entry.state] += entry.targets
            if entry.state == "done" and entry.outcome:
                outcomes[entry.outcome] = outcomes.get(entry.outcome, 0) + entry.targets
            elif entry.state == "excluded":
                excluded[entry.outcome or "unknown"] = entry.targets
        total = sum(by_state.values())
        current_cps = attempts.placed_recently / RATE_WINDOW_S
        view = self._summary(row)
        view["progress"] = {
            "targets": total,
            "by_state": by_state,
            "outcomes": outcomes,
            "excluded": excluded,
            "attempts": attempts.attempts,
            "live_calls": attempts.live,
            "current_cps": round(current_cps, 2),
            "first_call_at": attempts.first_placed,
            "last_call_at": attempts.last_placed,
            "eta_s": self._eta_s(row, by_state, attempts.first_placed),
        }
        view["estimate_s"] = math.ceil(
            estimate_duration_s(
                targets=total - by_state["excluded"],
                cps=row.cps,
                max_concurrent=row.max_concurrent,
            )
        )
        return view
