"""Status lookups by caller phone: the outage line's hot path.

On a database of N customers (default 100,000) with a storm in progress (a tenth of the
feeders out), C concurrent workers look up random customers' phones through the real
LookupService for D seconds. Baseline, same run, same pool: a primary-key SELECT of one
account, the cheapest query the server can answer. Closed loop, so the figure is capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bench._common import (
    command_line,
    import_synthetic,
    machine_line,
    percentile,
    scratch_database,
)
from outage_voice.adapters.db.outages import PgOutageStore
from outage_voice.adapters.db.pool import open_pool
from outage_voice.adapters.db.status import PgStatusStore
from outage_voice.domain.outages import parse_outage_state
from outage_voice.domain.phones import normalize_phone
from outage_voice.services.lookup import LookupService
from outage_voice.synthetic import SyntheticUtility

FEEDERS = 400


async def closed_loop(
    operation: Callable[[int], Awaitable[object]], *, workers: int, seconds: float, keys: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        while (started := time.perf_counter()) < deadline:
            await operation(rng.randrange(keys))
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker(seed) for seed in range(workers)))
    return len(latencies) / (time.perf_counter() - started), latencies


def line(label: str, rate: float, latencies: list[float]) -> str:
    ms = [value * 1000 for value in latencies]
    return (
        f"{label:<28} {rate:>9,.0f}/s  p50 {percentile(ms, 0.5):6.2f} ms  "
        f"p99 {percentile(ms, 0.99):6.2f} ms"
    )


async def main(customers: int, workers: int, seconds: float) -> None:
    print(machine_line(command_line()))
    utility = SyntheticUtility(customers=customers, feeders=FEEDERS)
    async with (
        scratch_database("ov_bench_lookup") as dsn,
        open_pool(dsn, min_size=workers, max_size=workers) as pool,
    ):
        report = await import_synthetic(pool, utility)
        outages = PgOutageStore(pool)
        now = datetime.now(UTC)
        for number in range(FEEDERS // 10):
            state = parse_outage_state(
                {
                    "status": "crew_dispatched",
                    "etr": (now + timedelta(hours=3)).isoformat(),
                    "feeder_ids": [utility.feeder_of(number)],
                },
                now=now,
            )
            await outages.upsert(f"STORM-{number}", state, actor="bench", now=now)
        await pool.execute("ANALYZE")
        print(f"database: {report.summary}; {FEEDERS // 10} feeder outages")

        lookup = LookupService(PgStatusStore(pool), region="US")
        phones = [normalize_phone(utility.primary_phone_of(i), "US") for i in range(customers)]
        account_numbers = [str(100000000 + i) for i in range(customers)]

        async def by_phone(index: int) -> object:
            result = await lookup.by_phone(phones[index])
            assert result.found
            return result

        async def by_primary_key(index: int) -> object:
            return await pool.fetchrow(
                "SELECT * FROM accounts WHERE account_number = $1", account_numbers[index]
            )

        print(f"closed loop: {workers} workers, {seconds:.0f} s each")
        for _ in range(2):  # warm the statement caches and buffers
            await closed_loop(by_phone, workers=workers, seconds=1, keys=customers)
            await closed_loop(by_primary_key, workers=workers, seconds=1, keys=customers)
        base_rate, base_lat = await closed_loop(
            by_primary_key, workers=workers, seconds=seconds, keys=customers
        )
        rate, lat = await closed_loop(by_phone, workers=workers, seconds=seconds, keys=customers)
        one_rate, one_lat = await closed_loop(by_phone, workers=1, seconds=seconds, keys=customers)
        print(line("baseline primary-key SELECT", base_rate, base_lat))
        print(line("status lookup by phone", rate, lat))
        print(line("status lookup, 1 worker", one_rate, one_lat))
        print(f"ratio lookup/baseline throughput: {rate / base_rate:.2f}")
        sample = range(0, customers, max(1, customers // 2000))
        inside = [bool((await lookup.by_phone(phones[i])).with_outage) for i in sample]
        print(f"share of sampled callers inside an outage: {sum(inside) / len(inside):.0%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.customers, arguments.workers, arguments.seconds))
