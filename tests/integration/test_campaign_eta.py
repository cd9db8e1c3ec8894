"""The ETA a supervisor reads follows the smoothed completion rate, read after read."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import asyncpg

from outage_voice.adapters.clock import ManualClock
from outage_voice.bootstrap import Services
from outage_voice.web.campaign_json import parse_campaign_spec
from tests.support import csv_text

CPS = 2


async def finish(pool: asyncpg.Pool, campaign_id: int, count: int) -> None:
    await pool.execute(
        """UPDATE campaign_targets SET state = 'done', outcome = 'reached'
           WHERE id IN (SELECT id FROM campaign_targets WHERE campaign_id = $1
                        AND state = 'pending' ORDER BY id LIMIT $2)""",
        campaign_id,
        count,
    )


async def test_a_lull_raises_the_eta_gently_and_a_pause_does_not(
    services: Services, clock: ManualClock, tmp_path: Path
) -> None:
    rows = [f"{1000 + i},Customer {i},512-555-{i:04d},,P{i},{i} Oak St,F1,," for i in range(200)]
    customers = tmp_path / "customers.csv"
    customers.write_text(csv_text(*rows))
    await services.customers.import_file(customers)
    campaigns = services.campaigns
    spec = parse_campaign_spec(
        {
            "name": "eta",
            "kind": "custom",
            "audience": {"feeders": ["F1"]},
            "message": {"text": "Crews are out tonight."},
            "pacing": {"cps": CPS, "max_concurrent": 100},
        }
    )
    view = await campaigns.create(spec, actor="test")
    campaign_id = view["id"]
    await campaigns.act(campaign_id, "start")

    async def eta_after(seconds: int, finished: int) -> int:
        clock.advance(timedelta(seconds=seconds))
        if finished:
            await finish(services.pool, campaign_id, finished)
        eta: int = (await campaigns.show(campaign_id))["progress"]["eta_s"]
        return eta

    steady = [await eta_after(1, CPS) for _ in range(30)]  # 60 done, 140 left
    assert steady[-1] == 70  # 140 at the pacing's 2 a second
    lull = [await eta_after(1, 0) for _ in range(10)]  # nothing finishes for 10 s
    assert lull[-1] > 70  # it noticed the slowdown...
    assert lull[-1] <= 1.3 * 70  # ...without leaping
    for before, after in zip([steady[-1], *lull], lull, strict=False):
        assert after <= before * 1.05

    await campaigns.act(campaign_id, "pause")
    clock.advance(timedelta(minutes=30))
    paused = (await campaigns.show(campaign_id))["progress"]["eta_s"]
    await campaigns.act(campaign_id, "resume")
    resumed = await eta_after(1, CPS)
    assert abs(resumed - paused) <= 2  # half an hour paused is no slowdown
