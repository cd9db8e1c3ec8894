"""Instances sharing one spool folder (one volume for all of them): each request is replayed
once, by the instance that claimed its file, and none is lost to a file being replayed."""

from __future__ import annotations

import asyncio
import fcntl
import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from outage_voice.services import spool as spool_module
from outage_voice.services.spool import RequestSpool


class Ivr:
    """Takes replayed requests; with a gate, the first waits until the test opens it."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.reports: list[str] = []
        self.started = asyncio.Event()
        self._gate = gate

    async def report_outage(self, **request: Any) -> None:
        self.started.set()
        if self._gate is not None:
            await self._gate.wait()
        self.reports.append(request["call_sid"])

    # Only outage reports are spooled here.
    report_hazard = request_callback = report_outage


async def test_a_file_one_instance_replays_is_not_replayed_by_another(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    first, second = RequestSpool(folder), RequestSpool(folder)
    for number in range(3):
        await first.add("outage", call_sid=f"CA{number}", premise_id=None)
    gate = asyncio.Event()
    slow, fast = Ivr(gate), Ivr()
    replaying = asyncio.create_task(first.replay(slow))
    async with asyncio.timeout(10):
        await slow.started.wait()  # mid-replay, its file claimed
    assert await second.replay(fast) == 0
    # A request taken meanwhile goes to a fresh file, not the one being replayed.
    await second.add("outage", call_sid="CA9", premise_id=None)
    gate.set()
    assert await replaying == 3
    assert await second.replay(fast) == 1
    assert sorted(slow.reports + fast.reports) == ["CA0", "CA1", "CA2", "CA9"]
    assert list(folder.iterdir()) == []
    assert await first.replay(fast) == 0
    assert (first.pending(), second.pending()) == (0, 0)


async def test_a_file_left_claimed_by_a_stopped_instance_is_replayed(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    # What an instance (of this release or an earlier one) left when it stopped mid-replay.
    for name, sid in (("requests.replaying.jsonl", "CA1"), ("requests.replaying.ab.jsonl", "CA2")):
        line = json.dumps({"kind": "outage", "call_sid": sid, "premise_id": None})
        (folder / name).write_text(line + "\n")
    (folder / "requests.jsonl").write_text(
        json.dumps({"kind": "outage", "call_sid": "CA3", "premise_id": None}) + "\n"
    )
    spool = RequestSpool(folder)
    assert spool.pending() == 3
    ivr = Ivr()
    assert await spool.replay(ivr) == 2
    assert spool.pending() == 1
    assert await spool.replay(ivr) == 1
    assert ivr.reports == ["CA2", "CA1", "CA3"] or sorted(ivr.reports) == ["CA1", "CA2", "CA3"]
    assert spool.pending() == 0 and list(folder.iterdir()) == []


async def test_a_writer_never_waits_for_another_instances_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst moment: an instance has opened the spool to append, and before it locks
    the file another instance claims it for a replay that takes long (a slow database).
    The writer finds its file claimed and writes to a fresh one at once."""
    folder = tmp_path / "spool"
    replayer, writer = RequestSpool(folder), RequestSpool(folder)
    for number in range(2):
        await replayer.add("outage", call_sid=f"CA{number}", premise_id=None)
    # The writer's first lock waits until the test lets it go, its file already open.
    opened, go = threading.Event(), threading.Event()
    first = [True]

    def flock(fd: int, operation: int) -> None:
        if first[0]:
            first[0] = False
            opened.set()
            go.wait(timeout=10)
        fcntl.flock(fd, operation)

    shim = SimpleNamespace(flock=flock, LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB)
    monkeypatch.setattr(spool_module, "fcntl", shim)
    writing = asyncio.create_task(writer.add("outage", call_sid="CA9", premise_id=None))
    assert await asyncio.to_thread(opened.wait, 10)
    gate = asyncio.Event()
    slow = Ivr(gate)
    replaying = asyncio.create_task(replayer.replay(slow))
    try:
        async with asyncio.timeout(10):
            await slow.started.wait()  # the writer's file claimed, its replay held up
        go.set()
        async with asyncio.timeout(1):
            await writing
        assert not replaying.done()
    finally:
        go.set()
        gate.set()
        await asyncio.wait({replaying, writing}, timeout=10)
    assert await replaying == 2
    assert writer.pending() == 1
    fast = Ivr()
    assert await writer.replay(fast) == 1
    assert (slow.reports, fast.reports) == (["CA0", "CA1"], ["CA9"])
    assert list(folder.iterdir()) == []
