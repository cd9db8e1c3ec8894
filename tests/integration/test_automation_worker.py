"""The automation's worker when things fail: a change whose actions keep failing does not hold
up the other outages' changes, and the rest of a plan that failed to be written is written
when it can be."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from outage_voice.adapters.clock import ManualClock
from outage_voice.bootstrap import Services
from outage_voice.carrier.clock import VirtualClock
from outage_voice.domain.outages import parse_outage_state
from outage_voice.services.automation import MAX_EVENT_ATTEMPTS, AutomationWorker
from outage_voice.services.automation_ports import AutomaticPlan, PlanStarted
from outage_voice.services.instruments import NoInstruments
from tests.support import T0, csv_text

CUSTOMERS = csv_text(
    *(f"10{i:02d},C {i},512-555-01{i:02d},,P{i},{i} Oak Street,F{i % 2 + 1},," for i in range(8))
)


async def _outages(services: Services, tmp_path: Path, *names: str) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(CUSTOMERS)
    await services.customers.import_file(customers)
    await services.automation.update_rules({"acknowledge": {"blink_hold_s": 0}}, actor="test")
    for number, name in enumerate(names):
        state = parse_outage_state(
            {"status": "confirmed", "feeder_ids": [f"F{number + 1}"]}, now=T0
        )
        await services.outages.put(name, state, actor="oms")


async def test_a_change_that_keeps_failing_is_set_aside_and_the_others_go_on(
    services: Services, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _outages(services, tmp_path, "BROKEN", "FINE")
    store = services.automatic_campaigns
    start = store.start

    async def failing_start(plan: AutomaticPlan, **kwargs: Any) -> PlanStarted:
        if plan.spec.audience.outage_id == "BROKEN":
            raise RuntimeError("a bug in planning this outage")
        return await start(plan, **kwargs)

    monkeypatch.setattr(store, "start", failing_start)
    worker = AutomationWorker(services.automation_store, store, clock)
    for _ in range(MAX_EVENT_ATTEMPTS - 1):
        with pytest.raises(RuntimeError):
            await worker.step(T0)
    assert await worker.step(T0) == 2  # given up on BROKEN's change; FINE's applied
    pool = services.pool
    assert await pool.fetchval("SELECT count(*) FROM outage_events WHERE consumed_at IS NULL") == 0
    campaigns = await pool.fetch(
        "SELECT o.oms_id FROM campaigns c JOIN outages o ON o.id = c.outage_id"
    )
    assert [row["oms_id"] for row in campaigns] == ["FINE"]
    ledger = await services.automation.notifications("BROKEN", account=None)
    (failed,) = ledger.decisions
    assert failed.decision.verdict.value == "skipped"
    assert "could not be carried out" in (failed.decision.reason or "")


async def test_the_rest_of_a_plan_that_failed_is_written_when_it_can_be(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _outages(services, tmp_path, "BIG")
    store = services.automatic_campaigns
    plan_rest = store.plan_rest
    failures = []

    async def flaky_plan_rest(campaign_id: int, plan: AutomaticPlan, **kwargs: Any) -> int:
        if not failures:
            failures.append(campaign_id)
            raise ConnectionResetError("the database connection dropped")
        return await plan_rest(campaign_id, plan, **kwargs)

    monkeypatch.setattr(store, "plan_rest", flaky_plan_rest)
    clock = VirtualClock(T0)
    # One premise in the first batch: the rest of the outage is left to plan_rest.
    worker = AutomationWorker(services.automation_store, store, clock, first_batch=1)
    job = clock.spawn(worker.run())

    async def planned() -> bool:
        return not await services.pool.fetchval("SELECT bool_or(planning) FROM campaigns")

    async with asyncio.timeout(30):
        while not failures or not await planned():  # noqa: ASYNC110 - another task's work
            await asyncio.sleep(0.02)
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)
    targets = await services.pool.fetchval("SELECT count(*) FROM campaign_targets")
    assert targets == 4  # F1's four customers, three of them written by the retried rest


class Consumed(NoInstruments):
    def __init__(self) -> None:
        self.lags: list[float] = []

    def automation_consumed(self, lag_s: float) -> None:
        self.lags.append(lag_s)


async def test_an_event_another_leader_consumed_first_is_counted_by_that_one_only(
    services: Services, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _outages(services, tmp_path, "OAK")
    store = services.automation_store
    campaigns = services.automatic_campaigns
    late, first = Consumed(), Consumed()
    # A leader handing over: the new one consumes the event while the old one still
    # carries it out; the old one's consume then finds it consumed already.
    other = AutomationWorker(store, campaigns, clock, instruments=first)
    consume = store.consume

    async def overtaken(*args: Any, **kwargs: Any) -> bool:
        monkeypatch.setattr(store, "consume", consume)
        assert await other.step(T0) == 1
        return await consume(*args, **kwargs)

    monkeypatch.setattr(store, "consume", overtaken)
    worker = AutomationWorker(store, campaigns, clock, instruments=late)
    assert await worker.step(T0) == 1
    assert len(first.lags) == 1
    assert late.lags == []
