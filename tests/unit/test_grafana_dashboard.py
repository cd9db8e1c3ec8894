"""docs/grafana-dashboard.json: a dashboard Grafana imports, with a panel for every metric."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from outage_voice.services.instruments import CampaignPace, PoolUse
from outage_voice.services.metrics import Metrics

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"


def _families() -> set[str]:
    """Every family /metrics can show, state gauges included (their sources all set)."""
    metrics = Metrics()
    metrics.state.leader = lambda: True
    metrics.state.spool_depth = lambda: 0
    metrics.state.pool = lambda: PoolUse(size=2, idle=1, max_size=20, waiting=0)
    metrics.state.campaigns = lambda: [
        CampaignPace(campaign_id=1, kind="restoration", cps=1, cps_cap=5, live=2, max_concurrent=9)
    ]
    return {family.name for family in metrics.registry.collect()}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def test_the_dashboard_is_one_grafana_imports() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 36
    # The Prometheus data source is picked at import, not named after someone's setup.
    (variable,) = dashboard["templating"]["list"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}  # fmt: skip
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
    for panel in _panels(dashboard):
        assert panel["type"] in ("timeseries", "stat")
        assert panel["datasource"]["uid"] == "${datasource}"
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")"), expr


def test_every_metric_family_has_a_panel() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = " ".join(t["expr"] for panel in _panels(dashboard) for t in panel["targets"])
    families = _families()
    assert len(families) == 25
    shown = set(re.findall(r"\b(outage_voice_\w+?)(?:_total|_bucket|_count|_sum)?\b", exprs))
    missing = families - shown
    assert not missing
