"""The call-record buffer: what a flush promises when the background writer is mid-write."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

import pytest

from outage_voice.domain.inbound_calls import CallRecordDelta, CallStep, OutcomeTally
from outage_voice.services.call_records import CallRecorder
from tests.support import T0


class SlowStore:
    """Holds each write until the test lets it finish (or fail)."""

    def __init__(self) -> None:
        self.written: list[CallRecordDelta] = []
        self.writing = asyncio.Event()
        self.release: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def merge(self, deltas: Sequence[CallRecordDelta]) -> None:
        self.writing.set()
        await self.release
        self.written.extend(deltas)

    async def summary(self, since: datetime, until: datetime) -> list[OutcomeTally]:
        return []


def step(call_sid: str) -> CallStep:
    return CallStep(call_sid=call_sid, caller="+15125550100", at=T0, step="greeting")


async def flush_during_a_write(
    store: SlowStore,
) -> tuple[CallRecorder, asyncio.Task[int], asyncio.Task[int]]:
    """One record; the background writer's flush is mid-write when another flush is asked."""
    recorder = CallRecorder(store)
    recorder.step(step("CA1"))
    background = asyncio.create_task(recorder.flush())
    await store.writing.wait()
    asked = asyncio.create_task(recorder.flush())
    await asyncio.sleep(0)
    return recorder, background, asked


async def test_a_flush_waits_for_the_write_already_under_way() -> None:
    store = SlowStore()
    _, background, asked = await flush_during_a_write(store)
    # The buffer is empty, but the record is not written yet: the caller must not be told so.
    assert not asked.done()
    store.release.set_result(None)
    assert await background == 1
    assert await asked == 0
    assert [d.call_sid for d in store.written] == ["CA1"]


async def test_a_flush_after_a_failed_write_writes_what_was_put_back() -> None:
    store = SlowStore()
    recorder, background, asked = await flush_during_a_write(store)
    store.release.set_exception(ConnectionError("database away"))
    with pytest.raises(ConnectionError):
        await background
    # The failed write put the record back; the waiting flush tries it again (and fails the
    # same way here, so the record is still buffered, never lost).
    with pytest.raises(ConnectionError):
        await asked
    assert recorder.pending == 1
    store.release = asyncio.get_running_loop().create_future()
    store.release.set_result(None)
    assert await recorder.flush() == 1
    assert [d.call_sid for d in store.written] == ["CA1"]
