"""Every Prometheus metric the server exposes at `/metrics`, with its help text, in one place.

One `Metrics` per application, each with its own registry (never the process-global one), so
several servers in one process (tests, a bench) keep their numbers apart. Counters and
histograms move as things happen, through the `Instruments` services are given; state (live
calls, pacing, leadership, spool depth, the database pool) is read when Prometheus scrapes,
by `StateCollector`, from small sources the server registers as they start.

Label values are bounded: a route, an outcome, a campaign kind, an engine name, and for
campaigns that are running their id. Never a phone number, an account or a campaign's name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from outage_voice.domain.campaigns import CampaignKind
from outage_voice.domain.inbound_calls import CALL_PATHS, CallOutcome
from outage_voice.services.instruments import CampaignPace, PoolUse

logger = logging.getLogger(__name__)

PREFIX = "outage_voice"
# Twilio waits 15 s for a webhook's answer; callers notice long before.
WEBHOOK_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
# The OMS's change to its calls starting: seconds normally, minutes when the leader is away.
AUTOMATION_LAG_BUCKETS_S = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
KINDS = frozenset(kind.value for kind in CampaignKind)
CALL_OUTCOMES = frozenset(
    {"reached", "voicemail", "busy", "no_answer", "failed", "invalid", "canceled", "lost"}
)
INBOUND_OUTCOMES = frozenset(outcome.value for outcome in CallOutcome)
DEGRADED_REASONS = frozenset({"lookup", "fallback"})
AUDIO_KINDS = frozenset({"piece", "message"})
OTHER = "other"


def bounded(value: str, allowed: frozenset[str]) -> str:
    """`value` when it is one of the names expected, else "other": a label never takes a
    value nobody listed (a bug elsewhere must not grow a series per call)."""
    return value if value in allowed else OTHER


def webhook_outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status == 403:  # a signature refused: a wrong public URL or token, or a forgery
        return "forbidden"
    return "client_error" if status < 500 else "server_error"


class StateSources:
    """Where the state gauges are read from at scrape time; each is set by the part of the
    server that owns it once it runs, and left None where it does not (no dialer here)."""

    def __init__(self) -> None:
        self.leader: Callable[[], bool] | None = None
        self.campaigns: Callable[[], Sequence[CampaignPace]] | None = None
        self.spool_depth: Callable[[], int] | None = None
        self.pool: Callable[[], PoolUse] | None = None


class StateCollector(Collector):
    def __init__(self, sources: StateSources) -> None:
        self._sources = sources

    def describe(self) -> list[Metric]:
        return []  # read at scrape: what exists depends on what this instance runs

    def collect(self) -> Iterator[Metric]:
        for read in (self._leader, self._campaigns, self._spool, self._pool):
            try:
                yield from read()
            except Exception as exc:  # one unreadable source must not cost the whole scrape
                logger.warning("metrics: %s not read: %r", read.__name__.strip("_"), exc)

    def _leader(self) -> Iterator[Metric]:
        leader = self._sources.leader
        if leader is None:
            return
        family = GaugeMetricFamily(
            f"{PREFIX}_dialer_leader",
            "1 when this instance is the dialer leader (places calls, runs the automation "
            "and the schedule), else 0. Exactly one instance per database should say 1.",
        )
        family.add_metric([], 1.0 if leader() else 0.0)
        yield family

    def _campaigns(self) -> Iterator[Metric]:
        read = self._sources.campaigns
        if read is None:
            return
        labels = ["campaign_id", "kind"]
        cps = GaugeMetricFamily(
            f"{PREFIX}_campaign_calls_per_second",
            "Calls started per second by each running campaign over the last 10 s "
            "(reported by the dialer leader only).",
            labels=labels,
        )
        cap = GaugeMetricFamily(
            f"{PREFIX}_campaign_max_calls_per_second",
            "Each running campaign's calls-per-second cap, as its pacing says now.",
            labels=labels,
        )
        live = GaugeMetricFamily(
            f"{PREFIX}_campaign_live_calls",
            "Calls of each running campaign placed and not yet ended.",
            labels=labels,
        )
        concurrent = GaugeMetricFamily(
            f"{PREFIX}_campaign_max_concurrent",
            "Each running campaign's cap on concurrent live calls.",
            labels=labels,
        )
        total = GaugeMetricFamily(
            f"{PREFIX}_live_calls",
            "Campaign calls placed and not yet ended, all running campaigns together "
            "(reported by the dialer leader only).",
        )
        live_total = 0
        for pace in read():
            values = [str(pace.campaign_id), bounded(pace.kind, KINDS)]
            cps.add_metric(values, pace.cps)
            cap.add_metric(values, pace.cps_cap)
            live.add_metric(values, float(pace.live))
            concurrent.add_metric(values, float(pace.max_concurrent))
            live_total += pace.live
        total.add_metric([], float(live_total))
        yield from (cps, cap, live, concurrent, total)

    def _spool(self) -> Iterator[Metric]:
        depth = self._sources.spool_depth
        if depth is None:
            return
        family = GaugeMetricFamily(
            f"{PREFIX}_spool_depth",
            "Callers' requests (outage reports, hazards, call backs) taken while the database "
            "was away, kept on this instance's disk and not yet written to the database.",
        )
        family.add_metric([], float(depth()))
        yield family

    def _pool(self) -> Iterator[Metric]:
        read = self._sources.pool
        if read is None:
            return
        use = read()
        connections = GaugeMetricFamily(
            f"{PREFIX}_db_pool_connections",
            "This instance's database connections by state (in_use: lent to a request).",
            labels=["state"],
        )
        connections.add_metric(["in_use"], float(use.size - use.idle))
        connections.add_metric(["idle"], float(use.idle))
        maximum = GaugeMetricFamily(
            f"{PREFIX}_db_pool_max_connections", "The most connections the pool may open."
        )
        maximum.add_metric([], float(use.max_size))
        waiting = GaugeMetricFamily(
            f"{PREFIX}_db_pool_waiting",
            "Requests waiting for a database connection right now (all are in use).",
        )
        waiting.add_metric([], float(use.waiting))
        waits = CounterMetricFamily(
            f"{PREFIX}_db_pool_waits",
            "Database connections asked for when every connection was in use or asked for "
            "already: the request waited.",
        )
        waits.add_metric([], float(use.waits))
        wait_seconds = CounterMetricFamily(
            f"{PREFIX}_db_pool_wait_seconds",
            "Seconds requests waited for a database connection, all waits together.",
        )
        wait_seconds.add_metric([], use.wait_s)
        yield from (connections, maximum, waiting, waits, wait_seconds)


class Registry(CollectorRegistry):
    """A registry without `_created` series: a gauge beside every counter and histogram
    doubles the series for a timestamp Prometheus' text format does not use. prometheus-client
    can turn them off only for the whole process (`disable_created_metrics()`), which would
    also change any other registry in it; this drops them from this registry's scrapes."""

    def collect(self) -> Iterator[Metric]:
        for family in super().collect():
            if family.type in ("counter", "histogram", "summary"):
                family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


def metric_total(metric: MetricWrapperBase) -> float:
    """A counter's or histogram's count over all its labels, as this process has it."""
    return sum(
        sample.value
        for family in metric.collect()
        for sample in family.samples
        if sample.name.endswith(("_total", "_count"))
    )


class Metrics:
    """The application's registry and every metric in it; also its `Instruments`."""

    def __init__(self) -> None:
        self.registry = Registry(auto_describe=True)
        self.state = StateSources()
        r = self.registry
        self.webhook_seconds = Histogram(
            f"{PREFIX}_webhook_duration_seconds",
            "Time to answer a carrier webhook (/twilio/...), by route and outcome "
            "(ok, forbidden: signature refused, client_error, server_error).",
            ["route", "outcome"],
            buckets=WEBHOOK_BUCKETS_S,
            registry=r,
        )
        self.inbound_calls = Counter(
            f"{PREFIX}_inbound_calls",
            "Outage-line calls ended, by how the caller was identified (path: caller_id, "
            "entered_number, unidentified, degraded, none) and containment outcome.",
            ["path", "outcome"],
            registry=r,
        )
        self.degraded_answers = Counter(
            f"{PREFIX}_degraded_answers",
            "Outage-line answers given without the database (reason: lookup, the database "
            "was away or slow during a call; fallback, the number's fallback URL was used).",
            ["reason"],
            registry=r,
        )
        self.calls_placed = Counter(
            f"{PREFIX}_campaign_calls_placed",
            "Campaign calls the carrier accepted, by campaign kind.",
            ["kind"],
            registry=r,
        )
        self.calls_answered = Counter(
            f"{PREFIX}_campaign_calls_answered",
            "Campaign calls answered (by a person or a machine), by campaign kind.",
            ["kind"],
            registry=r,
        )
        self.call_outcomes = Counter(
            f"{PREFIX}_campaign_call_outcomes",
            "Campaign calls ended, by campaign kind and outcome (reached, voicemail, busy, "
            "no_answer, failed, invalid, canceled, lost).",
            ["kind", "outcome"],
            registry=r,
        )
        self.retries_scheduled = Counter(
            f"{PREFIX}_campaign_retries_scheduled",
            "Campaign calls whose target is to be called again later, by kind and the "
            "outcome that calls for the retry.",
            ["kind", "outcome"],
            registry=r,
        )
        self.throttled = Counter(
            f"{PREFIX}_carrier_throttled",
            "Calls the carrier refused with 429 / 20429 (too many requests): each one makes "
            "the dialer back off. By campaign kind.",
            ["kind"],
            registry=r,
        )
        self.automation_events = Counter(
            f"{PREFIX}_automation_events_consumed",
            "Outage changes from the OMS consumed by the automation (on the leader).",
            registry=r,
        )
        self.automation_lag = Histogram(
            f"{PREFIX}_automation_lag_seconds",
            "Time from the OMS's change being stored to the automation consuming it.",
            buckets=AUTOMATION_LAG_BUCKETS_S,
            registry=r,
        )
        self.tts_engine_calls = Counter(
            f"{PREFIX}_tts_engine_calls",
            "Pieces of speech asked of a text-to-speech engine, by engine and result (ok, failed).",
            ["engine", "result"],
            registry=r,
        )
        self.tts_cache_hits = Counter(
            f"{PREFIX}_tts_cache_hits",
            "Prompt audio found made already (in memory or on disk), by kind (piece, message).",
            ["kind"],
            registry=r,
        )
        self.tts_cache_misses = Counter(
            f"{PREFIX}_tts_cache_misses",
            "Prompt audio that had to be made (synthesized or joined), by kind.",
            ["kind"],
            registry=r,
        )
        r.register(StateCollector(self.state))
        # A webhook's histogram child, looked up once per route and outcome, not per request.
        self._webhook_children: dict[tuple[str, str], Histogram] = {}

    def webhook(self, route: str, status: int, seconds: float) -> None:
        key = (route, webhook_outcome(status))
        child = self._webhook_children.get(key)
        if child is None:
            child = self._webhook_children[key] = self.webhook_seconds.labels(*key)
        child.observe(seconds)

    # --- Instruments --------------------------------------------------------------------

    def call_placed(self, kind: str) -> None:
        self.calls_placed.labels(bounded(kind, KINDS)).inc()

    def carrier_throttled(self, kind: str) -> None:
        self.throttled.labels(bounded(kind, KINDS)).inc()

    def call_ended(self, kind: str, outcome: str, *, answered: bool, retry: bool) -> None:
        kind = bounded(kind, KINDS)
        outcome = bounded(outcome, CALL_OUTCOMES)
        self.call_outcomes.labels(kind, outcome).inc()
        if answered:
            self.calls_answered.labels(kind).inc()
        if retry:
            self.retries_scheduled.labels(kind, outcome).inc()

    def inbound_call_ended(self, path: str, outcome: str) -> None:
        self.inbound_calls.labels(
            bounded(path, CALL_PATHS), bounded(outcome, INBOUND_OUTCOMES)
        ).inc()

    def degraded_answer(self, reason: str) -> None:
        self.degraded_answers.labels(bounded(reason, DEGRADED_REASONS)).inc()

    def automation_consumed(self, lag_s: float) -> None:
        self.automation_events.inc()
        self.automation_lag.observe(max(0.0, lag_s))

    def speech_engine_call(self, engine: str, *, ok: bool) -> None:
        # Engine names are this product's own (espeak, gtts), not outside input.
        self.tts_engine_calls.labels(engine, "ok" if ok else "failed").inc()

    def speech_cache(self, kind: str, *, hit: bool) -> None:
        counter = self.tts_cache_hits if hit else self.tts_cache_misses
        counter.labels(bounded(kind, AUDIO_KINDS)).inc()
