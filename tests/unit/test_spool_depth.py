"""The spool's depth is kept in memory: /metrics and the heartbeat read it on the event loop,
and in a storm the spool files can be tens of megabytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outage_voice.services.spool import RequestSpool


class Ivr:
    """Takes replayed requests (the spool's only caller of it)."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    async def report_outage(self, **request: Any) -> None:
        self.reports.append(request)

    # Only outage reports are spooled here.
    report_hazard = request_callback = report_outage


async def test_depth_is_counted_without_reading_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "spool"
    left = RequestSpool(folder)
    for number in range(3):
        await left.add("outage", call_sid=f"CA{number}", account="1001")
    # A restarted instance counts what the last run left, once, as it starts.
    spool = RequestSpool(folder)
    assert spool.pending() == 3

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the spool's depth read a file")

    monkeypatch.setattr(Path, "read_text", refuse)
    monkeypatch.setattr(Path, "read_bytes", refuse)
    monkeypatch.setattr(Path, "open", refuse)
    assert spool.pending() == 3
    monkeypatch.undo()

    await spool.add("outage", call_sid="CA9", account="1002")
    assert spool.pending() == 4
    ivr = Ivr()
    assert await spool.replay(ivr) == 4
    assert spool.pending() == 0 and len(ivr.reports) == 4
