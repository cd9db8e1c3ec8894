"""Personalised ETR messages for a whole restoration campaign, from cached pieces.

For N customers (default 100,000) with varied ETRs (quarter hours over the next three days,
in two time zones and both languages), render the ETR message and assemble its audio through
PromptAudio with real espeak synthesis and a real database and audio folder. Reports engine
calls (which must equal the number of distinct pieces), the cache hit ratio and assembly time
per message. Baseline, same run: synthesizing each message as one whole sentence, for a
sample of customers, which is what a system without fragments does for every customer.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench._common import command_line, machine_line, percentile, scratch_database
from outage_voice.adapters.audio import join_wavs, wav_seconds
from outage_voice.adapters.audio_store import FileAudioStore
from outage_voice.adapters.catalog_files import load_catalogs
from outage_voice.adapters.clock import SystemClock
from outage_voice.adapters.db.pool import open_pool
from outage_voice.adapters.tts.espeak import EspeakEngine
from outage_voice.domain.prompts import Moment, render, spoken
from outage_voice.services.speech import PromptAudio

ZONES = ("America/Chicago", "America/Denver")


async def main(customers: int, sample: int) -> None:
    print(machine_line(command_line()))
    catalogs = load_catalogs()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = random.Random(11)
    jobs = []
    for index in range(customers):
        catalog = catalogs["es" if index % 5 == 0 else "en"]
        etr = now + timedelta(minutes=15 * rng.randrange(1, 4 * 72))
        jobs.append(
            render(
                catalog, "etr_known", {"etr": Moment(at=etr, timezone=ZONES[index % 2])}, now=now
            )
        )
    distinct_pieces = {(s.language, s.text) for segments in jobs for s in segments}
    distinct_messages = {tuple(s.text for s in segments) for segments in jobs}

    engine = EspeakEngine()

    async with (
        scratch_database("ov_bench_prompts") as dsn,
        open_pool(dsn, min_size=1, max_size=4) as pool,
    ):
        folder = Path(tempfile.mkdtemp(prefix="ov-audio-"))
        audio = PromptAudio(
            [engine],
            FileAudioStore(folder, pool),
            SystemClock(),
            duration_ms=lambda data: round(wav_seconds(data) * 1000),
            join=join_wavs,
        )
        timings = []
        started = time.perf_counter()
        for segments in jobs:
            t0 = time.perf_counter()
            info = await audio.message(segments)
            timings.append(time.perf_counter() - t0)
            assert info is not None
        total_s = time.perf_counter() - started

        whole = []
        for segments in rng.sample(jobs, sample):
            t0 = time.perf_counter()
            await engine.synthesize(spoken(segments), segments[0].language)
            whole.append(time.perf_counter() - t0)
    engine.close()

    calls = audio.engine_calls["espeak"]
    pieces_needed = sum(len(segments) for segments in jobs)
    ms = [t * 1000 for t in timings]
    whole_ms = [t * 1000 for t in whole]
    print(
        f"customers: {customers:,}; distinct pieces {len(distinct_pieces)}, "
        f"distinct messages {len(distinct_messages):,}"
    )
    print(
        f"engine calls: {calls} (distinct pieces: {len(distinct_pieces)}; "
        f"{'equal' if calls == len(distinct_pieces) else 'NOT EQUAL'})"
    )
    print(f"piece requests {pieces_needed:,}; cache hit ratio {1 - calls / pieces_needed:.4f}")
    p50, p95 = percentile(ms, 0.5), percentile(ms, 0.95)
    mean_s = total_s / customers
    print(f"assembly per message: p50 {p50:.3f} ms  p95 {p95:.3f} ms  mean {mean_s * 1000:.3f} ms")
    print(f"all {customers:,} messages assembled in {total_s:.1f} s")
    w50, w95 = percentile(whole_ms, 0.5), percentile(whole_ms, 0.95)
    print(
        f"baseline, whole-sentence synthesis ({sample} sampled): p50 {w50:.1f} ms  p95 {w95:.1f} ms"
    )
    mean_whole = sum(whole) / len(whole)
    print(f"ratio whole-sentence / assembled (mean per message): {mean_whole / mean_s:.1f}x")
    print(
        f"campaign: {mean_whole * customers / 60:.1f} min of synthesis as whole sentences, "
        f"{total_s / 60:.1f} min assembled from pieces"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=300)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.customers, arguments.sample))
