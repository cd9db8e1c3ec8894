"""The application's registry leaves out `_created` series without changing the rest of the
process (another library's registry keeps them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from outage_voice.services.metrics import Metrics, metric_total


def test_created_series_are_dropped_from_ours_only() -> None:
    metrics = Metrics()
    metrics.call_placed("restoration")
    metrics.call_placed("restoration")
    ours = generate_latest(metrics.registry).decode()
    assert "outage_voice_campaign_calls_placed_total" in ours
    assert "_created" not in ours
    assert metric_total(metrics.calls_placed) == 2

    theirs = CollectorRegistry()
    Counter("someone_elses", "Another library's counter.", registry=theirs).inc()
    assert "someone_elses_created" in generate_latest(theirs).decode()
