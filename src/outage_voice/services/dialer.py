"""The dialer: one leader per database paces and places outbound calls.

Every attempt row is committed before its REST call, and its callback URLs carry its id, so
a crash at any point neither loses a target nor calls anyone twice: attempts left "placing"
are settled with the carrier (was the call created?) before anything is dialed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from outage_voice.domain.campaigns import FINAL_STATUSES, CampaignKind
from outage_voice.domain.carrier_calls import CarrierCall
from outage_voice.domain.pacing import Pacer, Start
from outage_voice.domain.phones import mask_phone
from outage_voice.domain.windows import DailyWindow
from outage_voice.services.campaign_ports import (
    CallUrlBuilder,
    ClaimedAttempt,
    ClaimedBatch,
    DialerStore,
)
from outage_voice.services.instruments import NO_INSTRUMENTS, CampaignPace, Instruments
from outage_voice.services.ports import (
    CallPlacer,
    CarrierCallUnknown,
    CarrierRefused,
    CarrierThrottled,
    CarrierUnclear,
    Timer,
)

logger = logging.getLogger(__name__)

IDLE_POLL_S = 1.0  # wake-ups come by NOTIFY; this is the fallback when one is missed
MAX_IDLE_S = 30.0  # nothing due for a while: sleep until then, but look again this often
CLOCK_TICK_S = 1e-6
# Claim about this much pacing's worth of targets at a time: the database round trips between
# batches are time no call goes out (the pacer catches up only partly: the window cap limits
# it), so batches are long enough to make that pause small; a crash leaves at most this many
# attempts in doubt, each settled with one carrier lookup.
CLAIM_AHEAD_S = 4.0
MAX_CLAIM = 250
RING_TIMEOUT_S = 30
RECONCILE_EVERY_S = 5.0
IN_DOUBT_AFTER_S = 20.0  # a "placing" attempt older than this had no clear answer
LOOKUP_SLACK_S = 5.0
STALE_AFTER_S = 300.0
# Silent calls are asked about at a steady pace: a backlog of lost callbacks (a webhook outage,
# a restart) is thousands of GETs, which at once would trip the carrier's API limits and, in
# the server's own process, took the CPU the pacing needed (a 1-s hole every pass at 50 cps).
LOOKUP_SPACING_S = 0.05
SWEEP_BATCH = round(RECONCILE_EVERY_S / LOOKUP_SPACING_S)
# Calls live when a leader takes over are asked about at once and, while still live at the
# carrier, on every pass for this long: the new leader may ask before its server listens,
# and a call ending in between would have its final callback lost too.
TAKEOVER_CHECK_S = 60.0
# A call the carrier answers 404 / 20404 for (purged, or the in-process carrier restarted)
# is asked again this soon, and settled as lost after this many lookups spanning at least
# LOST_AFTER_S: one 404 may be a carrier's replica lagging behind its own call creation.
UNKNOWN_RECHECK_S = 30.0
LOST_AFTER_LOOKUPS = 3
LOST_AFTER_S = 60.0
RATE_WINDOW_S = 10.0  # the calls-per-second gauge counts the calls started this long back


@dataclass(kw_only=True, slots=True)
class _Campaign:
    id: int
    cps: float
    max_concurrent: int
    window: DailyWindow
    urgent: bool
    live: int
    pacer: Pacer
    kind: CampaignKind
    expires_at: datetime | None = None


class Dialer:
    def __init__(
        self,
        store: DialerStore,
        placer: CallPlacer,
        clock: Timer,
        *,
        call_urls: CallUrlBuilder,
        from_number: str,
        on_refused: Callable[[int, int | None], Awaitable[None]],
        on_settled: Callable[[int, CarrierCall], Awaitable[None]],
        on_lost: Callable[[int, str], Awaitable[None]],
        instruments: Instruments = NO_INSTRUMENTS,
    ) -> None:
        self._store = store
        self._instruments = instruments
        # For the pacing gauges: the running campaigns as last read, and when each one's
        # recent calls started (seconds, the last RATE_WINDOW_S only).
        self._running: list[_Campaign] = []
        self._started: dict[int, deque[float]] = {}
        self._placer = placer
        self._clock = clock
        self._call_urls = call_urls
        self._from = from_number
        # A refusal is the carrier's final "failed" for that attempt: it goes the way status
        # callbacks go, so the retry policy and permanent error codes apply in one place.
        self._on_refused = on_refused
        self._on_settled = on_settled
        self._on_lost = on_lost
        self._wake = asyncio.Event()
        self._campaign_changed = False
        self._pacers: dict[int, Pacer] = {}
        self._placing: set[asyncio.Task[None]] = set()
        # Attempts this dialer holds, claimed and not yet placed or handed back, or being
        # placed with the outcome not yet written: the in-doubt sweep leaves them alone.
        # Settled meanwhile, a held attempt's target went back in line and was called
        # twice; one being placed, a number the carrier had just refused was requeued.
        self._held: set[int] = set()
        # The next batch, claimed while the current one is placed: between batches no call
        # went out for as long as the claim took (11-190 ms a batch under load).
        self._next: tuple[int, asyncio.Future[ClaimedBatch]] | None = None
        # Calls the carrier could not tell us about: not asked again before this time.
        self._lookup_failed_until: dict[int, float] = {}
        self._last_reconcile = -math.inf
        # Carrier lookups (doubts, lost callbacks) run beside the placing, never in its way:
        # done inline, 500 lookups of unknown calls held 50 cps at 80% (a hole every pass),
        # and at a real carrier's 100 ms per lookup they would stop the dialer for a minute.
        self._lookups: asyncio.Task[None] | None = None
        # Ending the queued and ringing calls of a cancelled campaign runs apart from the
        # lookups: a sweep spacing its questions on the clock must not hold a cancel back
        # (on held virtual time it held it for good).
        self._cancelling: asyncio.Task[None] | None = None
        # After taking over, callbacks sent while no server listened are lost: every call live
        # then (adopted ones included) is asked about, and again while still live at the
        # carrier, until this time.
        self._takeover: dict[int, str] = {}
        self._takeover_until = -math.inf
        # Calls the carrier said it does not know: when first told (seconds), and how often.
        self._unknown: dict[int, tuple[float, int]] = {}
        # Calls of cancelled campaigns the carrier was asked to end; and whether to look for
        # such calls at the next step (a campaign changed).
        self._cancel_asked: set[int] = set()
        self._cancel_due = True
        self.placed = 0

    def wake(self, what: str = "") -> None:
        """Something changed: a campaign (paced, paused, ...) or, with "attempt", a call
        ended and freed a line. Either ends an idle wait; only the first makes a batch
        in progress look at its campaign again (an ended call is no reason to stop)."""
        if what != "attempt":
            self._campaign_changed = True
            self._cancel_due = True
        self._wake.set()

    def _seconds(self) -> float:
        return self._clock.now().timestamp()

    async def _pause(self, seconds: float, *, since_step: bool = False) -> None:
        """Sleeps up to `seconds` on the clock; a wake-up ends it early: one from now on, or,
        with `since_step`, one since this step began (it may have come while the step read)."""
        if seconds <= 0:
            return
        if not since_step:
            self._wake.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await self._clock.wait(
                asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            )
        finally:
            # Not awaited: awaiting here could swallow a cancellation of the dialer itself.
            sleeper.cancel()
            waker.cancel()

    async def run(self) -> None:
        """Places calls until cancelled, on the leader only (services/leadership.py): it is
        cancelled when leadership is lost, and started again after a failure (the database
        away, a carrier outage), settling what the last run left in doubt first."""
        try:
            logger.info("dialer: placing calls on this instance")
            # Calls in doubt are settled before anything else is placed; then every call
            # live now, adopted or not, is asked about beside the placing.
            await self.reconcile(everything=True)
            live = await self._store.live_calls()
            self._takeover = {call.attempt_id: call.call_sid for call in live}
            self._takeover_until = self._seconds() + TAKEOVER_CHECK_S
            logger.info("dialer: asking the carrier about %d live call(s)", len(live))
            self._lookups = self._clock.spawn(self.sweep())
            while True:
                await self.step()
        finally:
            await self._drain()

    async def _look_up(self) -> None:
        await self.reconcile(everything=False)
        await self.sweep()

    async def _cancel_calls(self) -> None:
        """Calls of cancelled campaigns still queued or ringing: the carrier ends them."""
        self._cancel_due = False
        found = await self._store.to_cancel()
        self._cancel_asked &= {call.attempt_id for call in found}
        for call in found:
            if call.attempt_id in self._cancel_asked:
                continue  # asked already; its final callback is on its way
            self._cancel_asked.add(call.attempt_id)
            try:
                await self._placer.cancel(call.call_sid)
            except CarrierCallUnknown:
                continue  # the sweep settles a call the carrier does not know
            except Exception as exc:
                self._cancel_asked.discard(call.attempt_id)  # asked again at the next pass
                logger.warning("attempt %d: could not cancel the call (%r)", call.attempt_id, exc)

    async def _drain(self) -> None:
        await self._hand_back_next()
        for task in (self._lookups, self._cancelling):
            if task is not None:
                # Another leader may be settling the same calls by now: stop asking.
                task.cancel()
                await self._clock.wait(asyncio.gather(task, return_exceptions=True))
        self._lookups = self._cancelling = None
        if self._placing:
            await self._clock.wait(asyncio.gather(*self._placing, return_exceptions=True))
        # Whatever is still held (a batch cut short by a database error) is in doubt now,
        # for whichever instance leads next, this one included.
        self._held.clear()

    async def step(self) -> None:
        """One pass: settle doubts now and then, then place calls for the first campaign
        (by priority) that has work; sleep when none has."""
        now = self._clock.now()
        # A call ending or a campaign resumed while this step reads must end the pause at its
        # end; cleared there instead, it was lost, and the dialer slept up to MAX_IDLE_S.
        self._wake.clear()
        if self._cancelling is not None and self._cancelling.done():
            cancelling, self._cancelling = self._cancelling, None
            cancelling.result()  # a database failure goes to run()'s retry like any other
        if self._cancelling is None and self._cancel_due:
            self._cancelling = self._clock.spawn(self._cancel_calls())
        if self._lookups is not None and self._lookups.done():
            lookups, self._lookups = self._lookups, None
            lookups.result()
        if self._lookups is None and self._seconds() - self._last_reconcile >= RECONCILE_EVERY_S:
            self._lookups = self._clock.spawn(self._look_up())
        # Cleared before the campaigns are read, not after a claim: a pause arriving while a
        # batch is claimed (ahead, even) must stop that batch, not wait for the next.
        self._campaign_changed = False
        campaigns = await self._campaigns(now)
        for campaign in campaigns:
            if await self._dial(campaign):
                return
        # Nothing to place right now: a campaign may have just finished.
        await self._hand_back_next()
        await self._store.finish_campaigns(now)
        await self._pause(await self._idle_s(campaigns, now), since_step=True)

    async def _idle_s(self, campaigns: list[_Campaign], now: datetime) -> float:
        """How long to wait for work: until the next retry or window opening when that is
        later (a change wakes us by NOTIFY), else the polling fallback."""
        if not campaigns:
            return IDLE_POLL_S
        next_due = await self._store.next_due([c.id for c in campaigns])
        if next_due is None:
            return IDLE_POLL_S
        until_due_s = (next_due - now).total_seconds()
        return min(max(until_due_s, IDLE_POLL_S), MAX_IDLE_S)

    async def _campaigns(self, now: datetime) -> list[_Campaign]:
        campaigns = []
        for running in await self._store.running(now):
            pacer = self._pacers.get(running.id)
            if pacer is None:
                pacer = self._pacers[running.id] = Pacer(running.cps)
            elif pacer.cps != running.cps:
                pacer.set_rate(running.cps)
            campaigns.append(
                _Campaign(
                    id=running.id,
                    cps=running.cps,
                    max_concurrent=running.max_concurrent,
                    window=running.window,
                    urgent=running.urgent,
                    live=running.live,
                    pacer=pacer,
                    kind=running.kind,
                    expires_at=running.expires_at,
                )
            )
        self._running = campaigns
        return campaigns

    async def _dial(self, campaign: _Campaign) -> bool:
        """Places a paced batch for this campaign; False when it had nothing to place."""
        # A batch claimed ahead is placed even with no line free: its attempts are already
        # counted live, and were claimed within the free lines.
        batch = await self._claimed_ahead(campaign)
        free = campaign.max_concurrent - campaign.live
        if batch is None and free <= 0:
            return False
        now = self._clock.now()
        limit = min(free, MAX_CLAIM, math.ceil(campaign.cps * CLAIM_AHEAD_S) + 1)
        if batch is None:
            batch = await self._claim(campaign, now, limit)
        claimed = batch.attempts
        if batch.out_of_window:
            # Deferred at once: left due, they would be read past by every later claim.
            await self._defer_closed_zones(campaign, now)
            if not claimed:
                return True  # more targets never tried may follow them
        if not claimed:
            if not campaign.urgent:
                await self._defer_closed_zones(campaign, now)
            return False
        # A full batch means more may follow: the next is claimed halfway through this one,
        # on the lines this one leaves free even if none of its calls has ended by then.
        ahead_at = len(claimed) // 2 if len(claimed) == limit and free > limit else None
        spawned = 0
        try:
            for index, attempt in enumerate(claimed):
                if index == ahead_at:
                    self._claim_ahead(campaign, min(limit, free - limit))
                slot = campaign.pacer.earliest(self._seconds())
                await self._pause(slot - self._seconds())
                if self._campaign_changed and not await self._still_running(campaign):
                    # Paused or cancelled mid-batch (a re-paced one goes on at its new pace):
                    # hand the rest back untouched.
                    await self._hand_back(claimed[index:])
                    await self._hand_back_next()
                    return True
                slot = await self._due(campaign.pacer, slot)
                if campaign.expires_at is not None and self._clock.now() >= campaign.expires_at:
                    # Claimed ahead before its end, but a notice once the work has started
                    # is stale: the rest go back, and the schedule's tick expires them.
                    await self._hand_back(claimed[index:])
                    await self._hand_back_next()
                    return True
                start = campaign.pacer.started(slot, actual=self._seconds())
                task = self._clock.spawn(self._place(campaign, attempt, start))
                self._placing.add(task)
                task.add_done_callback(self._placing.discard)
                spawned = index + 1
                # Let the request leave now, before this loop does anything else.
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            # The server stopping: the rest of the batch goes back in line now, not left in
            # doubt for the next leader (nor counted live meanwhile).
            with contextlib.suppress(Exception):
                await self._hand_back(claimed[spawned:])
            raise
        return True

    async def _claim(self, campaign: _Campaign, now: datetime, limit: int) -> ClaimedBatch:
        window = (campaign.window.opens, campaign.window.closes)
        batch = await self._store.claim(
            campaign.id, now=now, limit=limit, urgent=campaign.urgent, window=window
        )
        self._held.update(attempt.id for attempt in batch.attempts)
        return batch

    def _claim_ahead(self, campaign: _Campaign, limit: int) -> None:
        """Starts claiming the campaign's next batch. Held until placed (see _held): it may
        wait longer than the in-doubt sweep's age when the campaign is re-paced slower."""
        if self._next is not None:
            return
        claimed: asyncio.Future[ClaimedBatch] = asyncio.get_running_loop().create_future()

        async def claim() -> None:
            try:
                claimed.set_result(await self._claim(campaign, self._clock.now(), limit))
            except asyncio.CancelledError:
                claimed.cancel()
                raise
            except Exception as exc:
                claimed.set_exception(exc)

        self._clock.spawn(claim())
        self._next = (campaign.id, claimed)

    async def _claimed_ahead(self, campaign: _Campaign) -> ClaimedBatch | None:
        """The batch claimed ahead for this campaign, if any; one claimed for another (a
        campaign of higher priority came first, say) goes back in line."""
        if self._next is None:
            return None
        if self._next[0] != campaign.id:
            await self._hand_back_next()
            return None
        # Shielded: a dialer stopped while it waits leaves the batch to _drain, and the
        # claim's result somewhere to go.
        batch = await self._clock.wait(asyncio.shield(self._next[1]))
        self._next = None
        return batch

    async def _hand_back_next(self) -> None:
        if self._next is None:
            return
        claimed = self._next[1]
        self._next = None
        try:
            batch = await self._clock.wait(asyncio.shield(claimed))
        except Exception:
            return  # the claim failed and was rolled back: nothing to hand back
        try:
            await self._hand_back(batch.attempts)
        except Exception as exc:
            # Left "placing", they are settled by the in-doubt sweep like any other: no
            # longer held, or the sweep would pass them by until the next leader change.
            self._held.difference_update(attempt.id for attempt in batch.attempts)
            logger.warning("dialer: a batch claimed ahead was not handed back: %r", exc)

    async def _hand_back(self, attempts: Sequence[ClaimedAttempt]) -> None:
        """Claimed attempts that will not be placed now: their targets go back in line."""
        now = self._clock.now()
        for attempt in attempts:
            await self._store.not_placed(attempt.id, now=now, error_code=None, retry_at=now)
            self._held.discard(attempt.id)

    async def _due(self, pacer: Pacer, slot: float) -> float:
        """Waits until the pacer lets a call start; returns its slot on the grid. A timer
        fires late (a millisecond, often): the slot stays the one asked for, so that
        lateness is not carried into every later slot (it cost 4% of 50 cps)."""
        while (later := pacer.earliest(self._seconds())) > self._seconds():
            # Early (a wake-up), re-paced, or a request still out: wait some more.
            slot = later
            # At least a clock tick: float seconds since 1970 are finer than datetimes.
            await self._clock.sleep(max(later - self._seconds(), CLOCK_TICK_S))
        return min(slot, self._seconds())

    async def _still_running(self, campaign: _Campaign) -> bool:
        self._campaign_changed = False
        for current in await self._campaigns(self._clock.now()):
            if current.id == campaign.id:
                campaign.pacer = current.pacer
                return True
        return False

    async def _defer_closed_zones(self, campaign: _Campaign, now: datetime) -> None:
        """Due targets whose local time is outside the window wait for its next opening."""
        for zone in await self._store.due_zones(campaign.id, now):
            if not campaign.window.is_open(now, zone):
                opens = campaign.window.next_open(now, zone)
                await self._store.defer_zone(campaign.id, zone, now=now, until=opens)

    async def _place(self, campaign: _Campaign, attempt: ClaimedAttempt, start: Start) -> None:
        try:
            await self._place_one(campaign, attempt, start)
        finally:
            self._held.discard(attempt.id)

    async def _place_one(self, campaign: _Campaign, attempt: ClaimedAttempt, start: Start) -> None:
        attempt_id = attempt.id
        urls = self._call_urls(attempt, campaign_id=campaign.id, kind=campaign.kind)
        try:
            try:
                sid = await self._placer.place(
                    to=attempt.phone,
                    from_=self._from,
                    url=urls.answer,
                    status_callback=urls.status,
                    timeout_s=RING_TIMEOUT_S,
                    machine_detection=True,
                )
            finally:
                # Answered or not, the carrier has stamped it by now (or never will).
                start.land(self._seconds())
        except CarrierThrottled:
            backoff_s = campaign.pacer.rejected(self._seconds())
            self._instruments.carrier_throttled(campaign.kind.value)
            logger.warning("carrier throttled (429); backing off %.1f s", backoff_s)
            now = self._clock.now()
            await self._store.not_placed(attempt_id, now=now, error_code=20429, retry_at=now)
            return
        except CarrierRefused as exc:
            logger.info("carrier refused a call to %s: %s", mask_phone(attempt.phone), exc)
            await self._on_refused(attempt_id, exc.code)
            return
        except CarrierUnclear as exc:
            # Left "placing": reconciliation asks the carrier whether the call exists.
            logger.warning("attempt %d in doubt: %s", attempt_id, exc)
            return
        campaign.pacer.accepted()
        self.placed += 1
        self._instruments.call_placed(campaign.kind.value)
        self._count_start(campaign.id)
        await self._store.placed(attempt_id, sid, self._clock.now())

    def _count_start(self, campaign_id: int) -> None:
        seconds = self._seconds()
        started = self._started.setdefault(campaign_id, deque())
        started.append(seconds)
        while started[0] < seconds - RATE_WINDOW_S:  # bounded whether scraped or not
            started.popleft()

    def pacing(self) -> list[CampaignPace]:
        """The running campaigns as paced now: calls started per second over the last
        RATE_WINDOW_S, against their caps."""
        since = self._seconds() - RATE_WINDOW_S
        running = {campaign.id for campaign in self._running}
        for campaign_id in [c for c in self._started if c not in running]:
            del self._started[campaign_id]
        paces = []
        for campaign in self._running:
            started = self._started.get(campaign.id, deque())
            while started and started[0] < since:
                started.popleft()
            paces.append(
                CampaignPace(
                    campaign_id=campaign.id,
                    kind=campaign.kind.value,
                    cps=len(started) / RATE_WINDOW_S,
                    cps_cap=campaign.cps,
                    live=campaign.live,
                    max_concurrent=campaign.max_concurrent,
                )
            )
        return paces

    async def sweep(self) -> None:
        """Calls whose final callback never came: asked about, so their targets don't hold a
        line forever. Those live at a takeover and those the carrier said it did not know
        are asked first; then calls silent for STALE_AFTER_S."""
        seconds = self._seconds()
        failed = self._lookup_failed_until
        for attempt_id in [a for a, until in failed.items() if until <= seconds]:
            del failed[attempt_id]
        if seconds >= self._takeover_until:
            self._takeover.clear()
        watched = [*self._takeover, *(a for a in self._unknown if a not in self._takeover)]
        asked: list[int] = []
        still_live: dict[int, str] = {}
        for call in await self._store.live_calls(watched) if watched else []:
            if call.attempt_id in failed:
                still_live[call.attempt_id] = call.call_sid
                continue
            if asked:
                await self._clock.sleep(LOOKUP_SPACING_S)
            asked.append(call.attempt_id)
            if not await self._ask(call.attempt_id, call.call_sid):
                still_live[call.attempt_id] = call.call_sid
        # Those ended meanwhile (a callback came) are no longer watched.
        self._takeover = {a: sid for a, sid in still_live.items() if a in self._takeover}
        for attempt_id in [a for a in self._unknown if a not in still_live]:
            del self._unknown[attempt_id]
        placed_before = self._clock.now() - timedelta(seconds=STALE_AFTER_S)
        stale = await self._store.stale(placed_before, SWEEP_BATCH, skip=[*failed, *asked])
        for index, call in enumerate(stale):
            if index or asked:
                await self._clock.sleep(LOOKUP_SPACING_S)
            await self._ask(call.attempt_id, call.call_sid)

    async def _ask(self, attempt_id: int, call_sid: str) -> bool:
        """Asks the carrier about one call; True when it is over and settled."""
        try:
            call = await self._placer.fetch(call_sid)
        except CarrierCallUnknown:
            return await self._not_known(attempt_id, call_sid)
        except Exception as exc:
            logger.warning("attempt %d: carrier lookup failed (%r)", attempt_id, exc)
            self._lookup_failed_until[attempt_id] = self._seconds() + STALE_AFTER_S
            return False
        self._unknown.pop(attempt_id, None)
        if call.status not in FINAL_STATUSES:
            return False
        logger.info("attempt %d: final status %s fetched", attempt_id, call.status)
        await self._on_settled(attempt_id, call)
        return True

    async def _not_known(self, attempt_id: int, call_sid: str) -> bool:
        """The carrier has no such call: asked again soon, and settled as lost once it has
        said so LOST_AFTER_LOOKUPS times over at least LOST_AFTER_S."""
        seconds = self._seconds()
        first_s, lookups = self._unknown.get(attempt_id, (seconds, 0))
        lookups += 1
        if lookups >= LOST_AFTER_LOOKUPS and seconds - first_s >= LOST_AFTER_S:
            self._unknown.pop(attempt_id, None)
            logger.warning(
                "attempt %d: the carrier has no record of its call (%d lookups over %.0f s):"
                " settled as lost",
                attempt_id,
                lookups,
                seconds - first_s,
            )
            await self._on_lost(attempt_id, call_sid)
            return True
        self._unknown[attempt_id] = (first_s, lookups)
        self._lookup_failed_until[attempt_id] = seconds + UNKNOWN_RECHECK_S
        return False

    async def reconcile(self, *, everything: bool, placer: CallPlacer | None = None) -> None:
        """Attempts committed but never confirmed: ask the carrier (`placer`, by default the
        one calls are placed through) before dialing again."""
        placer = placer or self._placer
        self._last_reconcile = self._seconds()
        now = self._clock.now()
        for attempt in await self._store.in_doubt():
            age_s = (now - attempt.created_at).total_seconds()
            if not everything and age_s < IN_DOUBT_AFTER_S:
                continue
            if attempt.id in self._held:
                continue  # still to be placed, or its answer is on its way
            since = attempt.created_at - timedelta(seconds=LOOKUP_SLACK_S)
            found = await placer.find(to=attempt.phone, started_after=since)
            known = await self._store.known_sids([call.sid for call in found])
            fresh = [call for call in found if call.sid not in known]
            if fresh:
                # The call exists: adopt it; its callbacks carry this attempt's id.
                call = fresh[-1]
                await self._store.placed(attempt.id, call.sid, now)
                logger.info("attempt %d was placed before a restart: adopted", attempt.id)
                if call.status in FINAL_STATUSES:
                    # Over already, its final callback sent while no server listened.
                    await self._on_settled(attempt.id, call)
            else:
                await self._store.not_placed(attempt.id, now=now, error_code=None, retry_at=now)
                logger.info("attempt %d never reached the carrier: target requeued", attempt.id)
        if everything:  # a crash can leave a target marked busy with no live call
            await self._store.release_orphans(now)
