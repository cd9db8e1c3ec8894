"""The console's live feed: one reader per instance, whatever the number of open consoles.

Every open console subscribes; while any is subscribed, one task reads the campaigns list
with progress (through CampaignService's shared progress view) and, for each campaign some
console is looking at, that campaign's calls per second and waiting numbers, at most once
per `interval_s`, and hands the same text to every subscriber. The last to leave stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from outage_voice.domain.errors import NotFound
from outage_voice.services.campaigns import PROGRESS_REUSE_S, CampaignService
from outage_voice.services.console_ports import ConsoleStore
from outage_voice.services.ports import Clock
from outage_voice.services.request_context import detached_context

logger = logging.getLogger(__name__)

# At most one read of everything per second: the console says "live" and means it, and a
# wall of consoles costs the database what one does.
FEED_INTERVAL_S = 1.0
# The campaign page's chart: calls placed over the last ten minutes, in buckets this long.
CHART_SPAN_S = 600
CHART_BUCKET_S = 5
# A campaign's chart and waiting numbers are read again no sooner than its progress is.
DETAIL_REUSE_S = PROGRESS_REUSE_S
# Campaigns on the "campaigns now" page, newest first.
LIST_LIMIT = 100
FINAL_STATES = frozenset({"completed", "cancelled"})
# A campaign's fields the list shows; its audience (perhaps a long list of accounts) and
# message are on its own page.
LIST_FIELDS = (
    "id",
    "name",
    "kind",
    "state",
    "pacing",
    "automatic",
    "trigger",
    "created_at",
    "started_at",
    "finished_at",
    "starts_at",
    "estimate_s",
)
PROGRESS_FIELDS = (
    "targets",
    "by_state",
    "outcomes",
    "excluded",
    "live_calls",
    "current_cps",
    "eta_s",
    "attempts",
)
# A failing read is logged once per this many seconds, not once per second.
FAILURE_LOG_EVERY_S = 60.0
# What one signed-in person can make the shared reader do: streams open at once (a new one
# ends the oldest; a browser shows few tabs at once and hidden tabs hold none)...
MAX_STREAMS_PER_SESSION = 8
# ...and campaigns whose chart and waiting numbers are read, across all consoles of an
# instance (each costs a few statements every DETAIL_REUSE_S).
MAX_WATCHED_CAMPAIGNS = 50


class TooManyWatched(Exception):
    """Consoles already watch MAX_WATCHED_CAMPAIGNS different campaigns here."""


class Subscription:
    """One open console. Only the newest update is kept: a slow console skips updates
    rather than queueing them."""

    def __init__(self, campaign_id: int | None, owner: str | None = None) -> None:
        self.campaign_id = campaign_id
        self.owner = owner
        self._latest: str | None = None
        self._ready = asyncio.Event()
        self.closed = False
        self.superseded = False  # ended for a newer stream of the same session

    def put(self, text: str) -> None:
        self._latest = text
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self) -> str | None:
        """The next update's text; None once the feed has closed."""
        await self._ready.wait()
        self._ready.clear()
        if self.closed:
            return None
        text, self._latest = self._latest, None
        return text


@dataclass(kw_only=True, slots=True)
class _Update:
    """One read, encoded once for all who watch the same thing."""

    at: datetime
    campaigns: list[dict[str, Any]]
    details: dict[int, dict[str, Any]]
    texts: dict[int | None, str] = field(default_factory=dict)


class ConsoleFeed:
    def __init__(
        self,
        campaigns: CampaignService,
        store: ConsoleStore,
        clock: Clock,
        *,
        dumps: Callable[[Any], str],
        interval_s: float = FEED_INTERVAL_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._campaigns = campaigns
        self._store = store
        self._clock = clock
        self._dumps = dumps
        self._interval_s = interval_s
        # Public: a test drives the feed's ticks through it instead of waiting for time.
        self.sleep = sleep
        self._monotonic = monotonic
        # Oldest first (a dict keeps the order they came in).
        self._subscribers: dict[Subscription, None] = {}
        self._task: asyncio.Task[None] | None = None
        self._final: dict[int, dict[str, Any]] = {}  # finished campaigns' views never change
        self._details: dict[int, tuple[float, dict[str, Any]]] = {}
        self._listed: tuple[float, list[dict[str, Any]]] | None = None
        self._last: _Update | None = None
        self._failed_logged_at: float | None = None
        self._closed = False
        self.reads = 0  # how many times everything was read (the benchmark and tests count)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(
        self, campaign_id: int | None = None, *, owner: str | None = None
    ) -> Subscription:
        """A new stream; `owner` keys the streams of one session (the oldest beyond
        MAX_STREAMS_PER_SESSION is ended). Raises TooManyWatched for a campaign not yet
        watched when MAX_WATCHED_CAMPAIGNS already are."""
        subscription = Subscription(campaign_id, owner)
        if self._closed:
            subscription.close()
            return subscription
        if (
            campaign_id is not None
            and campaign_id not in self._watched()
            and len(self._watched()) >= MAX_WATCHED_CAMPAIGNS
        ):
            raise TooManyWatched
        if owner is not None:
            mine = [s for s in self._subscribers if s.owner == owner]
            for oldest in mine[: max(0, len(mine) + 1 - MAX_STREAMS_PER_SESSION)]:
                oldest.superseded = True
                oldest.close()
                self._subscribers.pop(oldest, None)
        self._subscribers[subscription] = None
        last = self._last
        if last is not None and (campaign_id is None or campaign_id in last.details):
            # What everyone else sees now, at once, rather than at the next read.
            subscription.put(self._text(last, campaign_id))
        if not self.running:
            # Shared by every console from now on: its lines are not this request's.
            self._task = asyncio.create_task(
                self._run(), name="console-feed", context=detached_context()
            )
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.pop(subscription, None)
        if not self._subscribers and self._task is not None:
            self._task.cancel()
            self._task = None
            self._last = None  # a console arriving later waits for a fresh read

    async def close(self) -> None:
        """At shutdown: every open stream ends (browsers reconnect to another instance or to
        this one restarted) and the reader stops."""
        self._closed = True
        for subscription in list(self._subscribers):
            subscription.close()
        self._subscribers.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while self._subscribers:
            began = self._monotonic()
            try:
                update = await self._read()
            except Exception as exc:  # the database away: consoles keep their last view
                if (
                    self._failed_logged_at is None
                    or began - self._failed_logged_at >= FAILURE_LOG_EVERY_S
                ):
                    self._failed_logged_at = began
                    logger.warning("console feed: reading campaigns failed: %r", exc)
            else:
                self._failed_logged_at = None
                self._last = update
                for subscription in list(self._subscribers):
                    subscription.put(self._text(update, subscription.campaign_id))
            await self.sleep(max(0.0, self._interval_s - (self._monotonic() - began)))

    def _text(self, update: _Update, campaign_id: int | None) -> str:
        text = update.texts.get(campaign_id)
        if text is None:
            if None not in update.texts:
                update.texts[None] = self._dumps({"at": update.at, "campaigns": update.campaigns})
            text = update.texts[None]
            if campaign_id is not None:
                detail = self._dumps(update.details.get(campaign_id))
                text = update.texts[campaign_id] = text[:-1] + ', "campaign": ' + detail + "}"
        return text

    async def current(self) -> dict[str, Any]:
        """The campaigns list as consoles see it now, for a page's first paint: the last
        update while the feed runs, else read now (through the same shared progress views)."""
        update = self._last if self.running else None
        if update is None:
            update = await self._read(watched=())
        return {"at": update.at, "campaigns": update.campaigns}

    async def _read(self, watched: Iterable[int] | None = None) -> _Update:
        self.reads += 1
        now = self._clock.now()
        views: dict[int, dict[str, Any]] = {}
        listed: list[dict[str, Any]] = []
        for summary in await self._recent():
            campaign_id = summary["id"]
            view = self._final.get(campaign_id)
            if view is None:
                view = await self._show(campaign_id)
                if view is None:
                    continue
                progress = view["progress"]
                if (
                    view["state"] in FINAL_STATES
                    and progress["live_calls"] == 0
                    and progress["by_state"]["calling"] == 0
                ):
                    # Ended, its last calls too: it will not change again.
                    self._final[campaign_id] = view
            views[campaign_id] = view
            listed.append(_list_entry(view))
        for gone in set(self._final) - set(views):
            del self._final[gone]  # fallen off the list: not kept
        details = {}
        for campaign_id in self._watched() if watched is None else watched:
            details[campaign_id] = await self._detail(campaign_id, views.get(campaign_id), now)
        if watched is None:
            for gone in set(self._details) - set(details):
                del self._details[gone]
        return _Update(at=now, campaigns=listed, details=details)

    async def _recent(self) -> list[dict[str, Any]]:
        """The campaigns listed, read again no sooner than their progress views are: between
        two reads the list would only repeat itself."""
        kept = self._listed
        if kept is not None and self._monotonic() - kept[0] <= PROGRESS_REUSE_S:
            return kept[1]
        began = self._monotonic()
        listed = await self._campaigns.recent(LIST_LIMIT)
        self._listed = (began, listed)
        return listed

    async def _show(self, campaign_id: int) -> dict[str, Any] | None:
        """The campaign's view through the shared progress view; None if there is none."""
        try:
            return await self._campaigns.show(campaign_id, reuse=True)
        except NotFound:
            return None

    def _watched(self) -> list[int]:
        return sorted({s.campaign_id for s in self._subscribers if s.campaign_id is not None})

    async def _detail(
        self, campaign_id: int, view: dict[str, Any] | None, now: datetime
    ) -> dict[str, Any]:
        kept = self._details.get(campaign_id)
        if kept is not None and self._monotonic() - kept[0] <= DETAIL_REUSE_S:
            return kept[1]
        began = self._monotonic()
        if view is None:
            view = await self._show(campaign_id)
            if view is None:
                detail: dict[str, Any] = {"id": campaign_id, "missing": True}
                self._details[campaign_id] = (began, detail)
                return detail
        since = now - timedelta(seconds=CHART_SPAN_S)
        placed = await self._store.calls_placed(
            campaign_id, since=since, until=now, bucket_s=CHART_BUCKET_S
        )
        buckets = CHART_SPAN_S // CHART_BUCKET_S
        waiting = await self._store.waiting(campaign_id, now)
        detail = {
            **_list_entry(view),
            "chart": {
                "since": since,
                "bucket_s": CHART_BUCKET_S,
                # Calls per second in each bucket, oldest first.
                "cps": [
                    round(placed.get(index, 0) / CHART_BUCKET_S, 2) for index in range(buckets)
                ],
            },
            "waiting": {
                "retries": waiting.retries,
                "next_retry_at": waiting.next_retry_at,
                "retries_due": [
                    {"at": due.at, "targets": due.targets} for due in waiting.retries_due
                ],
                "out_of_window": waiting.out_of_window,
                "next_window_at": waiting.next_window_at,
            },
        }
        self._details[campaign_id] = (began, detail)
        return detail


def _list_entry(view: dict[str, Any]) -> dict[str, Any]:
    entry = {key: view[key] for key in LIST_FIELDS}
    entry["progress"] = {key: view["progress"][key] for key in PROGRESS_FIELDS}
    audience = view.get("audience") or {}
    entry["outage_id"] = audience.get("outage_id")
    return entry
