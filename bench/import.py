"""Customer import throughput: `outage-voice import-customers` on a large CIS export.

Baseline, same run: a bare `COPY` of the same file into an unindexed table, i.e. what
PostgreSQL alone can ingest. The import does far more (parse, validate and normalize each
row, stage, upsert premises, accounts, phones and links), so the ratio says how much of raw
ingestion speed survives all that.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import asyncpg

from bench._common import command_line, machine_line, scratch_database
from outage_voice.adapters.db.customers import PgCustomerStore
from outage_voice.adapters.db.pool import open_pool
from outage_voice.domain.customers import CustomerDefaults
from outage_voice.services.customers import CustomerImportService
from outage_voice.synthetic import SyntheticUtility

GOAL_ROWS_PER_S = 50_000


async def raw_copy_seconds(dsn: str, path: Path) -> float:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "CREATE TABLE raw_customers (account_number text, name text, phone text,"
            " alt_phone text, premise_id text, service_address text, feeder_id text,"
            " timezone text, language text)"
        )
        started = time.perf_counter()
        await connection.copy_to_table("raw_customers", source=path, format="csv", header=True)
        return time.perf_counter() - started
    finally:
        await connection.close()


async def main(rows: int) -> None:
    print(machine_line(command_line()))
    with tempfile.TemporaryDirectory(prefix="ov-import-") as folder:
        path = Path(folder) / "customers.csv"
        started = time.perf_counter()
        with path.open("w", encoding="utf-8", newline="") as stream:
            SyntheticUtility(customers=rows, feeders=400).write_csv(stream)
        size_mb = path.stat().st_size / 1e6
        written_s = time.perf_counter() - started
        print(f"file: {rows:,} rows, {size_mb:.0f} MB, written in {written_s:.1f} s")

        async with scratch_database("ov_bench_import") as dsn:
            baseline_s = await raw_copy_seconds(dsn, path)
            async with open_pool(dsn, min_size=1, max_size=2) as pool:
                service = CustomerImportService(
                    PgCustomerStore(pool),
                    CustomerDefaults(timezone="America/Chicago", language="en", region="US"),
                )
                started = time.perf_counter()
                report = await service.import_file(path)
                first_s = time.perf_counter() - started
                started = time.perf_counter()
                again = await service.import_file(path)
                second_s = time.perf_counter() - started
        assert report.counts.imported == rows, report.summary
        assert not report.rejections, report.summary
        assert again.counts.unchanged == rows, again.summary

    baseline_rate = rows / baseline_s
    first_rate = rows / first_s
    print(f"baseline raw COPY:        {baseline_rate:>10,.0f} rows/s ({baseline_s:.1f} s)")
    print(
        f"import, new customers:    {first_rate:>10,.0f} rows/s ({first_s:.1f} s)  {report.summary}"
    )
    second_rate = rows / second_s
    print(
        f"import, same file again:  {second_rate:>10,.0f} rows/s ({second_s:.1f} s)", again.summary
    )
    print(f"ratio import/raw COPY: {first_rate / baseline_rate:.2f}")
    verdict = "meets" if first_rate >= GOAL_ROWS_PER_S else "MISSES"
    print(f"goal >= {GOAL_ROWS_PER_S:,} rows/s: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().rows))
